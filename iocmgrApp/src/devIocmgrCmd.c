/* devIocmgrCmd.c - device support for the command records (bo: START, STOP,
 * RESTART, LOG_FETCH, LOG_PREV_FETCH, REBOOT; lso: IMAGE_SP, REVISION_SP).
 *
 * A command is asynchronous: the record stays active (PACT) while the
 * network thread works, and completes from a callback. Two things happen
 * around PACT that the record must not get wrong:
 *  - a write that lands while the record's own command is in flight is only
 *    processed after it completes (Base reprocesses the record, or restarts a
 *    put with completion), on a callback thread. It is refused in words
 *    ("busy: ... in flight"), never run late and never lost, and the writer
 *    it carries is the one noted when it arrived (iocmgrWriter.h): the
 *    callback thread's own is nobody's;
 *  - the completion request can meet a full callback queue: it is retried
 *    from a timer until the queue takes it, or the record would stay active
 *    for ever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alarm.h>
#include <callback.h>
#include <cantProceed.h>
#include <dbAccess.h>
#include <dbLock.h>
#include <devSup.h>
#include <epicsString.h>
#include <epicsThread.h>
#include <epicsTimer.h>
#include <errlog.h>
#include <recGbl.h>
#include <boRecord.h>
#include <lsoRecord.h>
#include <epicsExport.h>

#include "devIocmgr.h"
#include "iocmgrWriter.h"

#define RETRY_FIRST 0.01
#define RETRY_MAX 1.0

typedef struct devCmd {
    CALLBACK cb;
    int ok;                 /* result of the command in flight */
    int wroteMeanwhile;     /* a put landed while it was in flight: Base processes it again */
    char *lateWriter;       /* who wrote while it was in flight, noted when the write arrived */
    epicsTimerId retry;     /* the completion request again, while the callback queue is full */
    double retryDelay;
} devCmd;

static epicsTimerQueueId retryQueue;
static epicsThreadOnceId once = EPICS_THREAD_ONCE_INIT;

static void notePut(dbCommon *prec, const char *who);

static void onceInit(void *arg)
{
    (void)arg;
    retryQueue = epicsTimerQueueAllocate(1, epicsThreadPriorityScanLow);
    iocmgrWriterObserve(notePut);
}

static long initCmd(dbCommon *prec, const DBLINK *link, const char *rtype)
{
    long status = devIocmgrInit(prec, link, rtype);
    devPvt *d = prec->dpvt;
    if (status) return status;
    epicsThreadOnce(&once, onceInit, NULL);
    d->cmd = callocMustSucceed(1, sizeof *d->cmd, "devIocmgrCmd");
    /* A command record's value is known from boot: Idle (bo) or no request
     * (an empty lso). Left UDF, iocInit would give it INVALID severity until
     * the first write, and every client would draw an alarm on a healthy
     * manager. */
    prec->udf = FALSE;
    prec->stat = NO_ALARM;
    prec->sevr = NO_ALARM;
    return 0;
}

static void retryCompletion(void *arg);

static void requestCompletion(dbCommon *prec)
{
    devCmd *c = ((devPvt *)prec->dpvt)->cmd;
    if (callbackRequestProcessCallback(&c->cb, priorityLow, prec) == 0) {
        if (c->retryDelay > 0.0)
            errlogPrintf("iocmgr: %s: callback queue took the completion at last\n", prec->name);
        c->retryDelay = 0.0;
        return;
    }
    if (c->retryDelay == 0.0)
        errlogPrintf("iocmgr: %s: callback queue full; retrying the command's completion\n", prec->name);
    c->retryDelay = c->retryDelay == 0.0 ? RETRY_FIRST
                  : c->retryDelay * 2 > RETRY_MAX ? RETRY_MAX : c->retryDelay * 2;
    if (!c->retry) c->retry = epicsTimerQueueCreateTimer(retryQueue, retryCompletion, prec);
    if (c->retry) epicsTimerStartDelay(c->retry, c->retryDelay);
    else errlogPrintf("iocmgr: %s: cannot retry the completion: no timer; the record stays active\n", prec->name);
}

static void retryCompletion(void *arg)
{
    requestCompletion(arg);
}

void devIocmgrCommandDone(void *arg, int ok, const char *msg)
{
    dbCommon *prec = arg;
    (void)msg;
    ((devPvt *)prec->dpvt)->cmd->ok = ok;
    requestCompletion(prec);
}

/* The completion (PACT): the result's alarm; and whether a put arrived
 * meanwhile (Base flagged the record for reprocessing). */
static void completed(dbCommon *prec, devCmd *c)
{
    c->wroteMeanwhile = prec->rpro;
    if (!c->ok) recGblSetSevr(prec, WRITE_ALARM, MAJOR_ALARM);
}

/* Processing that is not a put's own: after the completion, Base reprocesses
 * a record written meanwhile (putf is clear by then) or restarts a put with
 * completion that waited (ppn set, putf clear). Refused: it was written while
 * busy. 1 when it was such a write. */
static int lateWrite(dbCommon *prec, devPvt *d, iocmgrCmdKind kind)
{
    devCmd *c = d->cmd;
    if (prec->putf || (!c->wroteMeanwhile && !prec->ppn)) return 0;
    iocmgrRefuseInFlight(d->inst, kind, c->lateWriter ? c->lateWriter
                         : "a client not known (the write did not come through CA access security)");
    free(c->lateWriter);
    c->lateWriter = NULL;
    c->wroteMeanwhile = 0;
    recGblSetSevr(prec, WRITE_ALARM, MAJOR_ALARM);
    return 1;
}

/* The command on its way: the record stays active until the answer. */
static long request(dbCommon *prec, devPvt *d, iocmgrCmdKind kind, const char *arg)
{
    char msg[600];
    if (iocmgrCommand(d->inst, kind, arg, iocmgrCurrentWriter(), devIocmgrCommandDone, prec,
                      msg, sizeof msg) != 0) {
        recGblSetSevr(prec, WRITE_ALARM, MAJOR_ALARM);
        return 0;
    }
    prec->pact = TRUE;
    return 0;
}

/* ---- bo --------------------------------------------------------------- */

static iocmgrCmdKind boKind(fieldId f)
{
    switch (f) {
    case F_START: return IOCMGR_CMD_START;
    case F_STOP: return IOCMGR_CMD_STOP;
    case F_RESTART: return IOCMGR_CMD_RESTART;
    case F_LOG_FETCH: return IOCMGR_CMD_LOG;
    default: return IOCMGR_CMD_LOG_PREV;
    }
}

static long initBo(boRecord *prec)
{
    long status = initCmd((dbCommon *)prec, &prec->out, "bo");
    if (status) return status;
    prec->val = 0;
    return 2;
}

static long writeBo(boRecord *prec)
{
    devPvt *d = prec->dpvt;
    char msg[600];
    if (!d) return S_dev_NoInit;
    if (prec->pact) {           /* the network thread answered */
        completed((dbCommon *)prec, d->cmd);
        prec->val = 0;
        return 0;
    }
    if (d->field != F_REBOOT && lateWrite((dbCommon *)prec, d, boKind(d->field))) {
        prec->val = 0;
        return 0;
    }
    if (prec->val == 0) return 0;
    prec->val = 0;              /* a command record returns to 0 */
    if (d->field == F_REBOOT) {
        if (iocmgrReboot(iocmgrCurrentWriter(), msg, sizeof msg) != 0)
            recGblSetSevr(prec, WRITE_ALARM, MAJOR_ALARM);
        return 0;
    }
    return request((dbCommon *)prec, d, boKind(d->field), NULL);
}

/* ---- lso -------------------------------------------------------------- */

static long initLso(lsoRecord *prec)
{
    long status = initCmd((dbCommon *)prec, &prec->out, "lso");
    if (status) return status;
    /* The empty string with its NUL, as after a put of "": with LEN 0 a read of
     * VAL$ returns no characters and clients show stale buffer bytes. */
    prec->len = 1;
    return 0;
}

static long writeLso(lsoRecord *prec)
{
    devPvt *d = prec->dpvt;
    iocmgrCmdKind kind;
    if (!d) return S_dev_NoInit;
    kind = d->field == F_REVISION_SP ? IOCMGR_CMD_SET_REVISION : IOCMGR_CMD_SET_IMAGE;
    if (prec->pact) {
        completed((dbCommon *)prec, d->cmd);
        return 0;
    }
    if (lateWrite((dbCommon *)prec, d, kind)) return 0;
    return request((dbCommon *)prec, d, kind, prec->val);
}

#define DSET(type, name, init, rw)                                           \
    static struct { dset common; long (*rw_)(type##Record *); } name = {     \
        { 5, NULL, NULL, (long (*)(dbCommon *))init, NULL }, rw };           \
    epicsExportAddress(dset, name)

DSET(bo, devBoIocmgr, initBo, writeBo);
DSET(lso, devLsoIocmgr, initLso, writeLso);

/* On the CA client's thread, before the put: a put to a command record whose
 * command is in flight will be processed on another thread; keep its writer. */
static void notePut(dbCommon *prec, const char *who)
{
    devPvt *d;
    if ((void *)prec->dset != (void *)&devBoIocmgr && (void *)prec->dset != (void *)&devLsoIocmgr)
        return;
    dbScanLock(prec);
    d = prec->dpvt;
    if (prec->pact && d && d->cmd) {
        free(d->cmd->lateWriter);
        d->cmd->lateWriter = epicsStrDup(who);
    }
    dbScanUnlock(prec);
}
