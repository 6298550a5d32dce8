/* devIocmgr.h - what the manager's device support shares between its files:
 * the INST_IO fields, the private part of a record, its parsing, and the
 * completion of a command (for the IOC tests too).
 */
#ifndef DEV_IOCMGR_H
#define DEV_IOCMGR_H

#include <dbCommon.h>
#include <link.h>

#include "iocmgrManager.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    F_STATUS, F_RUNNING, F_READY, F_ENABLED, F_START, F_STOP, F_RESTART,
    F_IMAGE, F_IMAGE_SP, F_VERSION, F_DESC, F_RESTARTS, F_LAST_EXIT,
    F_LAST_REASON, F_STARTED, F_UPTIME, F_POD, F_NODE, F_IP, F_MESSAGE,
    F_LOG, F_LOG_PREV, F_LOG_FETCH, F_LOG_PREV_FETCH, F_BUSY, F_CMD_STAT, F_CMD_MSG,
    F_ARGO_APP, F_SYNC, F_HEALTH, F_REVISION, F_REVISION_SP, F_OVERRIDE, F_SYNC_MSG,
    /* manager-wide */
    F_CONNECTED, F_NAMESPACE, F_API_URL, F_LAST_ERROR, F_COUNT, F_RUNNING_COUNT,
    F_FAULT_COUNT, F_NAMES, F_UNMANAGED, F_UNMANAGED_TEXT, F_REBOOT, F_READONLY, F_MGR_VERSION,
    F_ROOT_APP, F_ROOT_SYNC, F_ROOT_HEALTH
} fieldId;

struct devCmd;

typedef struct devPvt {
    iocmgrInst *inst;     /* NULL for manager-wide records */
    fieldId field;
    struct devCmd *cmd;   /* command records (devIocmgrCmd.c) */
} devPvt;

/* Parse "@[instance ]FIELD" once into a new dpvt; errors name the record
 * and the problem. rtype: the record type the field must be on. */
long devIocmgrInit(dbCommon *prec, const DBLINK *link, const char *rtype);

/* The network thread's answer to a command record's request (iocmgrCmdDone):
 * the record completes (PACT) on a callback thread; a full callback queue is
 * retried until it takes the request. */
void devIocmgrCommandDone(void *prec, int ok, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
