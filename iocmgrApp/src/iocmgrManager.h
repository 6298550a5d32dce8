/* iocmgrManager.h - the manager: one Kubernetes client, the table of managed
 * instances, and the values the records show. EPICS side.
 *
 * All functions returning int return 0 on success, -1 on failure (with a
 * message in words logged or written to the caller's buffer).
 */
#ifndef IOCMGR_MANAGER_H
#define IOCMGR_MANAGER_H

#include <stddef.h>
#include <dbScan.h>

#include "iocmgrInstance.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { IOCMGR_CMDSTAT_IDLE = 0, IOCMGR_CMDSTAT_OK, IOCMGR_CMDSTAT_ERROR };

typedef enum {
    IOCMGR_CMD_START, IOCMGR_CMD_STOP, IOCMGR_CMD_RESTART,
    IOCMGR_CMD_SET_IMAGE, IOCMGR_CMD_LOG, IOCMGR_CMD_LOG_PREV,
    IOCMGR_CMD_SET_REVISION       /* Argo CD: services.<svc>.targetRevision on the root */
} iocmgrCmdKind;

/* I/O Intr requests of one list, coalesced (iocmgrManager.c, requestScan) */
typedef struct iocmgrScanGate {
    unsigned pending;     /* priorities queued or being processed */
    int again;            /* requested again meanwhile: one more pass */
} iocmgrScanGate;

typedef struct iocmgrInst {
    char name[64];        /* Kubernetes name, e.g. bl46p-ea-ioc-01 */
    char pvName[64];      /* upper-cased, e.g. BL46P-EA-IOC-01 */
    int expected;         /* named in st.cmd or the expected-instances file */
    char domain[128];     /* domain label (else location) at boot, for grouping alarms */
    IOSCANPVT scan;       /* every I/O Intr record of the instance */
    iocmgrScanGate gate;  /* iocmgrManager.c: scan queued at most once at a time */
    /* below: under iocmgrLock() */
    iocmgrView view;      /* derived from the cache; see iocmgrReadView() */
    int busy;
    int cmdStat;
    char cmdMsg[512];
    char *log[2];         /* current and previous container's log */
    size_t logLen[2];
    int counted;          /* view counted in RUNNING_COUNT/FAULT_COUNT */
} iocmgrInst;

typedef struct iocmgrSummary {
    int connected, readOnly;
    int count, runningCount, faultCount;
    char namespace_[64];
    char apiUrl[256];
    char lastError[512];
    /* Argo CD: the root Application ("ns/name", "" when none), its SYNC and HEALTH */
    char argoRoot[128];
    int argoSync, argoHealth;
} iocmgrSummary;

/* Configuration, before iocmgrLoadInstances(). NULL or "" means the default. */
int  iocmgrConfigure(const char *kubeconfig, const char *context, const char *namespace_);
int  iocmgrSetSelector(const char *selectors);
int  iocmgrExpect(const char *name);
int  iocmgrExpectFile(const char *path);
void iocmgrSetReadOnly(int readOnly);
void iocmgrSetPendingGrace(double seconds);
/* Argo CD: the namespace of the Applications ("none": watch none), the root
 * Application, the instance label of label tracking ("" none); NULL or ""
 * keeps the default (k8sClient.h: EC_TARGET=<ns>/<root>, the instances'
 * namespace, app.kubernetes.io/instance). */
int  iocmgrSetArgoCD(const char *appNamespace, const char *rootApp, const char *instanceLabel);
/* A crash-looping instance stays CrashLoop (MAJOR) until its container has
 * been Ready this long (default 120 s; iocmgrInstance.h iocmgrHoldCrashLoop). */
void iocmgrSetCrashSettle(double seconds);
/* A watch silent this long (no event, no bookmark) counts as broken:
 * CONNECTED 0 and a new watch. Default 120 s; the apiserver sends a
 * bookmark about every minute. */
void iocmgrSetWatchTimeout(double seconds);

/* Lists the cluster (blocking, bounded by timeout), merges the expected
 * instances and loads the instance template once per instance with macros
 * P, I (upper-cased name), NAME plus extraMacros. Before iocInit only. */
int  iocmgrLoadInstances(const char *prefix, const char *templ, const char *extraMacros,
                         double timeout);

/* The table, sorted by name; fixed once iocmgrLoadInstances() returned. */
size_t iocmgrInstanceCount(void);
const char *iocmgrPrefix(void);
iocmgrInst *iocmgrInstanceAt(size_t index);

/* Files for operators, from the table: Phoebus overview screen into dir,
 * Phoebus alarm-server configuration at path. "" or NULL skips. After
 * iocmgrLoadInstances(). */
int iocmgrWriteScreens(const char *dir);
int iocmgrWriteAlarmConfig(const char *path, const char *configName);

/* Lookups for device support. */
iocmgrInst *iocmgrFindInstance(const char *name);
/* By the PV base "$(P)$(I)", for records that carry no instance name. */
iocmgrInst *iocmgrFindInstanceByPv(const char *pvBase);
IOSCANPVT   iocmgrManagerScan(void);
void iocmgrLock(void);
void iocmgrUnlock(void);

/* Under the lock: the view as shown, with the disconnected override applied. */
void iocmgrReadView(const iocmgrInst *inst, iocmgrView *out, int *connected);
/* Under the lock: what the once-a-second records (UPTIME, ALIVE) need, without
 * copying the whole view (at 5,000 instances they read 10,000 times a second).
 * Returns the view's running flag. */
int iocmgrReadRunning(const iocmgrInst *inst, long long *startedEpoch, int *connected);
void iocmgrReadSummary(iocmgrSummary *out);
/* Under the lock: names for NAMES / UNMANAGED, up to max entries of 40 chars. */
size_t iocmgrReadNames(char (*out)[40], size_t max, int unmanaged);

/* Commands. Returns 0 when the request went to the network thread: done is
 * then called exactly once, on that thread, with ok and a message. Returns -1
 * when refused (disconnected, read-only, busy, bad input); msg says why and
 * CMD_MSG shows it. who: "user@host" of the CA client. */
typedef void (*iocmgrCmdDone)(void *arg, int ok, const char *msg);
int iocmgrCommand(iocmgrInst *inst, iocmgrCmdKind kind, const char *arg, const char *who,
                  iocmgrCmdDone done, void *doneArg, char *msg, size_t msgLen);

/* REBOOT: the manager exits so that Kubernetes restarts it with the new set. */
int iocmgrReboot(const char *who, char *msg, size_t msgLen);

/* "user@host" of the CA client whose put is being processed on this thread,
 * or a stand-in when the put did not come through access security. */
const char *iocmgrCurrentWriter(void);

extern int iocmgrDebug;

#ifdef __cplusplus
}
#endif
#endif
