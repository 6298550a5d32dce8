/* iocmgrArgo.h - what an instance's Argo CD Application means for what its
 * records show and which way a command goes. No EPICS headers (cmocka-tested
 * in testIocmgrInstance).
 */
#ifndef IOCMGR_ARGO_H
#define IOCMGR_ARGO_H

#include <stddef.h>
#include "k8sArgo.h"
#include "iocmgrInstance.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SYNC and HEALTH mbbi state order; keep them in step with the templates. */
typedef enum { IOCMGR_SYNC_NA = 0, IOCMGR_SYNC_SYNCED, IOCMGR_SYNC_OUTOFSYNC, IOCMGR_SYNC_UNKNOWN } iocmgrSync;
typedef enum {
    IOCMGR_HEALTH_NA = 0, IOCMGR_HEALTH_HEALTHY, IOCMGR_HEALTH_PROGRESSING, IOCMGR_HEALTH_DEGRADED,
    IOCMGR_HEALTH_SUSPENDED, IOCMGR_HEALTH_MISSING, IOCMGR_HEALTH_UNKNOWN
} iocmgrHealth;

/* Argo CD's words to the mbbi values ("" and unknown words: Unknown; an
 * Application that has no status yet is not known to be anything). */
int iocmgrArgoSyncOf(const char *status);
int iocmgrArgoHealthOf(const char *status);

/* Adds the Application's part to a view made by iocmgrDerive: ARGO_APP,
 * SYNC, HEALTH, REVISION, OVERRIDE, SYNC_MSG, and ENABLED/STATUS severity/
 * MESSAGE from what the root asks for (services.<svc>.enabled) and what
 * Argo CD has done about it. Does nothing when !owner->managed. */
void iocmgrArgoDerive(const k8sArgoOwner *owner, iocmgrView *v);

typedef enum { IOCMGR_ARGO_START, IOCMGR_ARGO_STOP, IOCMGR_ARGO_REVISION, IOCMGR_ARGO_IMAGE } iocmgrArgoAction;
typedef enum { IOCMGR_PATH_DIRECT, IOCMGR_PATH_ROOT_PARAM, IOCMGR_PATH_REFUSE } iocmgrCmdPath;

typedef struct iocmgrArgoPlan {
    iocmgrCmdPath path;
    char app[254];            /* ROOT_PARAM: the root Application (its namespace is the watched one) */
    char param[300], value[256];
    int forceString;
    char msg[700];            /* REFUSE: why, in words */
} iocmgrArgoPlan;

/* Which way a command on instance `name` goes: DIRECT (as without Argo CD:
 * scale, patch the image), ROOT_PARAM (a Helm parameter on the root), or
 * REFUSE. A managed instance is never scaled or patched directly. arg: the
 * revision for IOCMGR_ARGO_REVISION. Returns plan->path. */
iocmgrCmdPath iocmgrArgoPlanCommand(const k8sArgoOwner *owner, const char *name, iocmgrArgoAction action,
                                    const char *arg, iocmgrArgoPlan *plan);

#ifdef __cplusplus
}
#endif
#endif
