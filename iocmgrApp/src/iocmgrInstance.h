/* iocmgrInstance.h - what an operator sees of one IOC instance, derived from
 * the Kubernetes cache. No EPICS headers: unit-tested alone.
 */
#ifndef IOCMGR_INSTANCE_H
#define IOCMGR_INSTANCE_H

#include <stddef.h>
#include "k8sObject.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Order is the STATUS mbbi's state order (ZRST..EIST); keep them in step. */
typedef enum {
    IOCMGR_UNKNOWN = 0,
    IOCMGR_RUNNING,
    IOCMGR_STARTING,
    IOCMGR_STOPPED,
    IOCMGR_PENDING,
    IOCMGR_CRASHLOOP,
    IOCMGR_FAILED,
    IOCMGR_TERMINATING,
    IOCMGR_ABSENT
} iocmgrStatus;

/* Same values as EPICS' epicsAlarmSeverity, without its header. */
typedef enum {
    IOCMGR_SEV_NONE = 0,
    IOCMGR_SEV_MINOR,
    IOCMGR_SEV_MAJOR,
    IOCMGR_SEV_INVALID
} iocmgrSeverity;

/* Sizes follow the records that show them: a stringin holds 39 characters,
 * an lsi its SIZV (iocmgrInstance.template). What can be longer than 39 and
 * must survive whole (a pod name, an Application, a commit SHA) is an lsi. */
typedef struct iocmgrView {
    iocmgrStatus status;
    iocmgrSeverity severity;
    int running, ready, enabled;
    int restarts, lastExit;
    long long startedEpoch;           /* 0: not running */
    long long pendingSince;           /* epoch seconds the instance became not-ready-but-wanted; 0 otherwise */
    long long crashSince;             /* epoch seconds a crash loop was first seen; 0: none held */
    long long readySince;             /* while crashSince: since when the container is Ready; 0: not Ready */
    char image[512];
    char version[40];
    char desc[40];
    char lastReason[40];
    char started[40];
    char pod[64];                     /* the pod of a managed instance: its name + at most 17 */
    char node[40], ip[40];
    char podUid[64];
    char crashWhy[96];                /* "12 restarts, last exit 1 (Error)": the loop's latest crash */
    char message[512];
    /* Argo CD (iocmgrArgo.h); argo 0: no Application manages the instance */
    int argo;
    int sync, health;                 /* SYNC and HEALTH mbbi state order */
    int override;                     /* a parameter on the root overrides git */
    char argoApp[320];                /* "ns/name" of the child Application */
    char revision[128];               /* the child's targetRevision: a tag, a branch, a 40-hex SHA */
    char syncMsg[512];
} iocmgrView;

extern const char *const iocmgrStatusNames[];

/* The pod an instance shows: a live one rather than one being deleted, and
 * among those the newest (a restart shows the replacement). NULL when none. */
const k8sPod *iocmgrCurrentPod(const k8sPod *pods, size_t npods);

/* VERSION: what operators and `ec` call the IOC's version. The tag of the
 * image it runs (the Generic IOC release); for an image pinned by digest
 * alone, the version label (ioc_version / app.kubernetes.io/version, the Helm
 * app version), else "sha256:" and the digest's first 12 hex digits. */
void iocmgrVersion(const char *image, const char *labelVersion, char *out, size_t len);

/* Derive what the records show for one instance.
 * inst: NULL when the instance is not in the cluster (expected but absent).
 * pods/npods: the instance's pods from the cache.
 * event: latest Warning event message for the instance or its pod, or NULL.
 * now: epoch seconds; pendingGrace: seconds a wanted instance may stay
 * Pending/Starting before that is a MAJOR alarm.
 * Always fills *out.
 */
void iocmgrDerive(const k8sInstance *inst, const k8sPod *pods, size_t npods,
                  const char *event, long long now, double pendingGrace,
                  iocmgrView *out);

/* Hold a crash loop across its restart cycles, so an alarm handler sees one
 * alarm, not one per cycle. iocmgrDerive() sees one moment: CrashLoop while the
 * container waits in CrashLoopBackOff, but Starting (MINOR) or even Running
 * (NONE) while it runs again between crashes. Once a crash loop was seen (in
 * prev), the instance stays CrashLoop (MAJOR) while it is wanted and on its way
 * (Starting, Running, Terminating: a restart or a fixed image rolling out)
 * until its container has been Ready for settle seconds. Stopping the instance
 * or another fault (Failed, Pending unschedulable, Absent, Unknown) ends the
 * hold and shows that instead.
 * prev: the instance's previous view (NULL: none); view: iocmgrDerive()'s
 * result for now, changed in place. */
void iocmgrHoldCrashLoop(const iocmgrView *prev, long long now, double settle,
                         iocmgrView *view);

/* 1 when a held crash loop is due to clear at now (Ready for settle seconds):
 * the ticker re-derives it, as no event comes. */
int iocmgrCrashSettled(const iocmgrView *view, long long now, double settle);

/* The view shown while the API is unreachable: status Unknown, INVALID, and
 * every value kept only so that nothing shows as good. */
void iocmgrDeriveDisconnected(iocmgrView *view, const char *why);

/* 1 when the instance's status counts as a fault for FAULT_COUNT. */
int iocmgrIsFault(const iocmgrView *view);

/* ALIVE: the IOC answers over CA. It reads its own $(I):UPTIME, which iocStats
 * serves as a string ("HH:MM:SS", "1 day, HH:MM:SS", "N days, HH:MM:SS") new
 * every second: the IOC is alive while that string changes. Not alive is an
 * alarm only once the pod has been Ready for the window: a pod that is booting,
 * crash-looping or stopped is what STATUS alarms on, one alarm per fault. */
#define IOCMGR_ALIVE_WINDOW 5     /* seconds UPTIME may stay the same */

typedef struct iocmgrAlive {
    char last[40];                    /* UPTIME as last read */
    long long lastChange;             /* when it last changed; 0: not read since the link came up */
    long long readySince;             /* since when the pod is Ready; 0: not Ready */
} iocmgrAlive;

/* One reading. answered: the CA link is connected and gave uptime; ready:
 * the pod's Ready condition as derived. Returns 1 when alive; *alarm is 1 when
 * not alive and that is a fault. */
int iocmgrAliveUpdate(iocmgrAlive *a, int answered, const char *uptime, int ready, long long now,
                      int *alarm);

#ifdef __cplusplus
}
#endif
#endif
