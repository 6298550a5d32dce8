/* iocmgrManager.h - the manager as device support, iocsh and other servers
 * (pvAccess) see it: configuration, the instances (iocmgrTable.h), the values
 * the records show, commands. EPICS side.
 *
 * All functions returning int return 0 on success, -1 on failure (with a
 * message in words logged or written to the caller's buffer).
 */
#ifndef IOCMGR_MANAGER_H
#define IOCMGR_MANAGER_H

#include <stddef.h>
#include <dbScan.h>

#include "iocmgrInstance.h"
#include "iocmgrTable.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { IOCMGR_CMDSTAT_IDLE = 0, IOCMGR_CMDSTAT_OK, IOCMGR_CMDSTAT_ERROR };

typedef enum {
    IOCMGR_CMD_START, IOCMGR_CMD_STOP, IOCMGR_CMD_RESTART,
    IOCMGR_CMD_SET_IMAGE, IOCMGR_CMD_LOG, IOCMGR_CMD_LOG_PREV,
    IOCMGR_CMD_SET_REVISION       /* Argo CD: services.<svc>.targetRevision on the root */
} iocmgrCmdKind;

typedef struct iocmgrSummary {
    int connected, readOnly;
    int count, runningCount, faultCount;
    char namespace_[64];
    char apiUrl[256];
    char lastError[512];
    /* Argo CD: the root Application ("ns/name", "" when none), its SYNC and HEALTH */
    char argoRoot[320];
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
 * P, I (upper-cased name), NAME plus extraMacros. An instance whose longest
 * record name would exceed EPICS' 60 characters gets no records: it is listed
 * in UNMANAGED and LAST_ERROR, and the others are loaded. When the list
 * fails, only the expected instances are loaded and the manager exits once
 * the API shows others (docs/reliability.md). Before iocInit only; -1 only
 * on a usage error. */
int  iocmgrLoadInstances(const char *prefix, const char *templ, const char *extraMacros,
                         double timeout);

/* Files for operators, from the table: Phoebus overview screen into dir,
 * Phoebus alarm-server configuration at path. "" or NULL skips. After
 * iocmgrLoadInstances(). */
int iocmgrWriteScreens(const char *dir);
int iocmgrWriteAlarmConfig(const char *path, const char *configName);

IOSCANPVT iocmgrManagerScan(void);
void iocmgrLock(void);
void iocmgrUnlock(void);

/* Under the lock: the view as shown, with the disconnected override applied. */
void iocmgrReadView(const iocmgrInst *inst, iocmgrView *out, int *connected);
/* Under the lock: what the once-a-second records (UPTIME, ALIVE) need, without
 * copying the whole view (at 5,000 instances they read 10,000 times a second). */
typedef struct iocmgrLiveness {
    int running, ready, connected;
    long long startedEpoch;
} iocmgrLiveness;
void iocmgrReadLiveness(const iocmgrInst *inst, iocmgrLiveness *out);
void iocmgrReadSummary(iocmgrSummary *out);
/* Under the lock: the instances the manager cannot serve, joined by sep, into
 * out (len bytes with the NUL). A name that does not fit is left out whole;
 * returns how many were left out. */
size_t iocmgrReadUnmanaged(char *out, size_t len, const char *sep);

/* Commands. Returns 0 when the request went to the network thread: done is
 * then called exactly once, on that thread, with ok and a message. Returns -1
 * when refused (disconnected, read-only, busy, bad input); msg says why and
 * CMD_MSG shows it. who: "user@host" of the CA client. */
typedef void (*iocmgrCmdDone)(void *arg, int ok, const char *msg);
int iocmgrCommand(iocmgrInst *inst, iocmgrCmdKind kind, const char *arg, const char *who,
                  iocmgrCmdDone done, void *doneArg, char *msg, size_t msgLen);
const char *iocmgrCmdName(iocmgrCmdKind kind);
/* A write to a command record that arrived while the record's own command
 * was in flight, processed only after it (a reprocess, a put with completion
 * restarted): refused in words on CMD_MSG, and logged with who wrote it. */
void iocmgrRefuseInFlight(iocmgrInst *inst, iocmgrCmdKind kind, const char *who);

/* LOG / LOG_PREV (previous 1): how many bytes the record shows (NELM - 1),
 * all a fetched log keeps of its tail. */
void iocmgrSetLogKeep(iocmgrInst *inst, int previous, size_t bytes);
/* A fetched log, stored as LOG / LOG_PREV show it (its tail); their scan
 * follows. */
void iocmgrStoreLog(iocmgrInst *inst, int previous, const char *body, size_t len);

/* REBOOT: the manager exits so that Kubernetes restarts it with the new set. */
int iocmgrReboot(const char *who, char *msg, size_t msgLen);

extern int iocmgrDebug;

#ifdef __cplusplus
}
#endif
#endif
