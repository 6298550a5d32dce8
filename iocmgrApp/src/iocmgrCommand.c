/* iocmgrCommand.c - commands from the records to the cluster: decided and
 * claimed under the lock, sent on the network thread, answered in words
 * (CMD_MSG, CMD_STAT, BUSY) and in the log with the CA client's user@host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cantProceed.h>
#include <epicsExit.h>
#include <errlog.h>

#include "iocmgrArgo.h"
#include "iocmgrPvt.h"

static const char *driverName = "iocmgr";

/* The pods a LOG_FETCH looks among: a StatefulSet has one, a Deployment
 * rolling out two or three. */
#define MAX_LOG_PODS 8

typedef struct cmdCtx {
    iocmgrInst *inst;
    iocmgrCmdKind kind;
    int viaRoot;          /* a parameter on the root Application, not the instance itself */
    char who[128];
    char image[512];
    iocmgrCmdDone done;
    void *doneArg;
} cmdCtx;

const char *iocmgrCmdName(iocmgrCmdKind kind)
{
    switch (kind) {
    case IOCMGR_CMD_START: return "START";
    case IOCMGR_CMD_STOP: return "STOP";
    case IOCMGR_CMD_RESTART: return "RESTART";
    case IOCMGR_CMD_SET_IMAGE: return "IMAGE_SP";
    case IOCMGR_CMD_LOG: return "LOG_FETCH";
    case IOCMGR_CMD_LOG_PREV: return "LOG_PREV_FETCH";
    case IOCMGR_CMD_SET_REVISION: return "REVISION_SP";
    }
    return "?";
}

static void setFeedback(iocmgrInst *inst, int busy, int stat, const char *msg)
{
    iocmgrLock();
    inst->busy = busy;
    inst->cmdStat = stat;
    snprintf(inst->cmdMsg, sizeof inst->cmdMsg, "%s", msg);
    iocmgrUnlock();
    iocmgrScanRequest(inst->scan, &inst->gate);
}

void iocmgrSetLogKeep(iocmgrInst *inst, int previous, size_t bytes)
{
    iocmgrLock();
    inst->logKeep[previous != 0] = bytes;
    iocmgrUnlock();
}

/* Only what LOG / LOG_PREV can show is kept (their NELM - 1 bytes, the tail:
 * the last lines are what an operator wants), from the first whole line in it;
 * a fetched log may be a megabyte. */
void iocmgrStoreLog(iocmgrInst *inst, int previous, const char *body, size_t len)
{
    size_t keep, start = 0;
    char *copy = NULL;
    int which = previous != 0;

    iocmgrLock();
    keep = inst->logKeep[which];
    iocmgrUnlock();
    if (len > keep) {
        const char *nl;
        start = len - keep;
        nl = start > 0 ? memchr(body + start, '\n', len - start) : NULL;
        if (nl && (size_t)(nl + 1 - body) < len) start = (size_t)(nl + 1 - body);
    }
    if (len - start > 0) {
        copy = malloc(len - start + 1);
        if (!copy) return;
        memcpy(copy, body + start, len - start);
        copy[len - start] = '\0';
    }
    iocmgrLock();
    free(inst->log[which]);
    inst->log[which] = copy;
    inst->logLen[which] = copy ? len - start : 0;
    iocmgrUnlock();
    iocmgrScanRequest(inst->logScan, &inst->logGate);
}

static void cmdFinished(void *arg, const k8sResult *res)
{
    cmdCtx *ctx = arg;
    iocmgrInst *inst = ctx->inst;
    const char *what = iocmgrCmdName(ctx->kind);
    char msg[1100];

    if (!res->ok && ctx->viaRoot) {
        /* k8sArgoOps' words already name the parameter, the root and the HTTP status */
        snprintf(msg, sizeof msg, "%s %s: %s", what,
                 res->maybeSent ? "outcome unknown, check OVERRIDE before repeating" : "failed", res->message);
    } else if (ctx->viaRoot) {
        snprintf(msg, sizeof msg, "%s requested: %s", ctx->kind == IOCMGR_CMD_START ? "start"
                 : ctx->kind == IOCMGR_CMD_STOP ? "stop" : "revision", res->message);
    } else if (!res->ok) {
        if (res->httpStatus)
            snprintf(msg, sizeof msg, "%s failed: HTTP %ld: %s", what, res->httpStatus, res->message);
        else if (res->maybeSent)
            /* no answer, but the request went out: the API may have acted on it */
            snprintf(msg, sizeof msg, "%s outcome unknown (%s): it may have been applied, check STATUS "
                     "before repeating", what, res->message);
        else
            snprintf(msg, sizeof msg, "%s failed: %s", what, res->message);
    } else {
        switch (ctx->kind) {
        case IOCMGR_CMD_START: snprintf(msg, sizeof msg, "start requested: scaled to 1 replica"); break;
        case IOCMGR_CMD_STOP: snprintf(msg, sizeof msg, "stop requested: scaled to 0 replicas"); break;
        case IOCMGR_CMD_RESTART: snprintf(msg, sizeof msg, "restart requested: pod deleted, it is recreated"); break;
        case IOCMGR_CMD_SET_IMAGE: snprintf(msg, sizeof msg, "image set to %s: the pod is rolled", ctx->image); break;
        case IOCMGR_CMD_SET_REVISION: break;   /* always through the root */
        case IOCMGR_CMD_LOG:
        case IOCMGR_CMD_LOG_PREV:
            iocmgrStoreLog(inst, ctx->kind == IOCMGR_CMD_LOG_PREV, res->body ? res->body : "",
                           res->body ? res->bodyLen : 0);
            snprintf(msg, sizeof msg, "%s log read: %zu bytes",
                     ctx->kind == IOCMGR_CMD_LOG_PREV ? "previous container's" : "console", res->bodyLen);
            break;
        }
    }
    errlogPrintf("%s: %s %s by %s: %s\n", driverName, what, inst->name, ctx->who, msg);
    setFeedback(inst, 0, res->ok ? IOCMGR_CMDSTAT_OK : IOCMGR_CMDSTAT_ERROR, msg);
    ctx->done(ctx->doneArg, res->ok, msg);
    free(ctx);
}

static int refuse(iocmgrInst *inst, const char *what, const char *who, const char *msg)
{
    int busy;
    iocmgrLock();
    busy = inst->busy;
    iocmgrUnlock();
    errlogPrintf("%s: %s %s by %s refused: %s\n", driverName, what, inst->name, who, msg);
    setFeedback(inst, busy, IOCMGR_CMDSTAT_ERROR, msg);
    return -1;
}

void iocmgrRefuseInFlight(iocmgrInst *inst, iocmgrCmdKind kind, const char *who)
{
    char msg[1100], result[512];
    const char *what = iocmgrCmdName(kind);
    iocmgrLock();
    snprintf(result, sizeof result, "%s", inst->cmdMsg);
    iocmgrUnlock();
    snprintf(msg, sizeof msg, "%s refused: busy: %s was in flight when %s wrote it (its result: %s); "
             "write again if still wanted", what, what, who, result);
    refuse(inst, what, who, msg);
}

/* Which way a command goes on an instance Argo CD may own (iocmgrArgo.c):
 * the plan, or -1 with msg when it is refused. */
static int planCommand(iocmgrInst *inst, iocmgrCmdKind kind, const char *arg, iocmgrArgoPlan *plan,
                       char *msg, size_t len)
{
    k8sArgoOwner *owner;
    iocmgrArgoAction action = kind == IOCMGR_CMD_START ? IOCMGR_ARGO_START
                            : kind == IOCMGR_CMD_STOP ? IOCMGR_ARGO_STOP
                            : kind == IOCMGR_CMD_SET_IMAGE ? IOCMGR_ARGO_IMAGE : IOCMGR_ARGO_REVISION;

    memset(plan, 0, sizeof *plan);
    if (kind == IOCMGR_CMD_RESTART || kind == IOCMGR_CMD_LOG || kind == IOCMGR_CMD_LOG_PREV)
        return 0;     /* deleting a pod or reading a log is the same under Argo CD */
    owner = malloc(sizeof *owner);
    if (!owner) {
        snprintf(msg, len, "%s refused: out of memory", iocmgrCmdName(kind));
        return -1;
    }
    k8sClientArgoOwner(iocmgrClient(), inst->name, owner);
    iocmgrArgoPlanCommand(owner, inst->name, action, arg, plan);
    free(owner);
    if (plan->path == IOCMGR_PATH_REFUSE) {
        snprintf(msg, len, "%s", plan->msg);
        return -1;
    }
    return 0;
}

/* The pod whose log is read, looked up in the cache now: POD shows it, but a
 * record's copy may be older than the pod (a restart) or, from an older
 * record layout, cut. "" when the instance has none. */
static void logPod(iocmgrInst *inst, char *pod, size_t len)
{
    k8sPod *pods = malloc(MAX_LOG_PODS * sizeof *pods);
    size_t n = 0;
    const k8sPod *cur;

    pod[0] = '\0';
    if (!pods) return;
    if (iocmgrClient()) k8sClientGetPods(iocmgrClient(), inst->name, pods, MAX_LOG_PODS, &n);
    if (n > MAX_LOG_PODS) n = MAX_LOG_PODS;
    cur = iocmgrCurrentPod(pods, n);
    if (cur) snprintf(pod, len, "%s", cur->name);
    free(pods);
}

int iocmgrCommand(iocmgrInst *inst, iocmgrCmdKind kind, const char *arg, const char *who,
                  iocmgrCmdDone done, void *doneArg, char *msg, size_t len)
{
    k8sClient *client = iocmgrClient();
    const char *what = iocmgrCmdName(kind);
    int isRead = kind == IOCMGR_CMD_LOG || kind == IOCMGR_CMD_LOG_PREV;
    int rc;
    char pod[254] = "", err[512];
    cmdCtx *ctx;
    iocmgrArgoPlan *plan;

    if (isRead) logPod(inst, pod, sizeof pod);
    /* Decide and claim the instance in one step, so two writers cannot both
     * pass the busy check. */
    msg[0] = '\0';
    iocmgrLock();
    if (iocmgrReadOnlyLocked() && !isRead)
        snprintf(msg, len, "%s refused: the manager is read-only", what);
    else if (!iocmgrConnectedLocked() || !client)
        snprintf(msg, len, "%s refused: Kubernetes API unreachable, nothing sent (%s)", what,
                 iocmgrSyncMessageLocked());
    else if (inst->busy)
        snprintf(msg, len, "%s refused: busy: %s in flight for %s", what, iocmgrCmdName(inst->busyKind),
                 inst->name);
    else if (isRead && !pod[0])
        snprintf(msg, len, "%s refused: %s has no pod", what, inst->name);
    else {
        inst->busy = 1;
        inst->busyKind = kind;
    }
    iocmgrUnlock();
    if (msg[0]) return refuse(inst, what, who, msg);

    plan = callocMustSucceed(1, sizeof *plan, "iocmgr command plan");
    if (planCommand(inst, kind, arg, plan, msg, len) != 0) {
        free(plan);
        iocmgrLock();
        inst->busy = 0;
        iocmgrUnlock();
        return refuse(inst, what, who, msg);
    }
    ctx = callocMustSucceed(1, sizeof *ctx, "iocmgr command");
    ctx->viaRoot = plan->path == IOCMGR_PATH_ROOT_PARAM;
    ctx->inst = inst;
    ctx->kind = kind;
    ctx->done = done;
    ctx->doneArg = doneArg;
    snprintf(ctx->who, sizeof ctx->who, "%s", who);
    snprintf(ctx->image, sizeof ctx->image, "%s", arg ? arg : "");

    /* Feedback first: once queued, the answer may arrive before we return. */
    snprintf(msg, len, "%s sent by %s", what, who);
    errlogPrintf("%s: %s %s%s%s%s%s requested by %s\n", driverName, what, inst->name,
                 kind == IOCMGR_CMD_SET_IMAGE || kind == IOCMGR_CMD_SET_REVISION ? " to " : "",
                 kind == IOCMGR_CMD_SET_IMAGE || kind == IOCMGR_CMD_SET_REVISION ? ctx->image : "",
                 ctx->viaRoot ? " through Application parameter " : "", ctx->viaRoot ? plan->param : "", who);
    setFeedback(inst, 1, IOCMGR_CMDSTAT_IDLE, msg);

    err[0] = '\0';
    if (ctx->viaRoot)
        rc = k8sClientSetAppParam(client, plan->app, plan->param, plan->value, plan->forceString,
                                  cmdFinished, ctx, err, sizeof err);
    else switch (kind) {
    case IOCMGR_CMD_START: rc = k8sClientScale(client, inst->name, 1, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_STOP: rc = k8sClientScale(client, inst->name, 0, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_RESTART: rc = k8sClientRestart(client, inst->name, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_SET_IMAGE: rc = k8sClientSetImage(client, inst->name, ctx->image, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_LOG: rc = k8sClientGetLog(client, pod, 500, 0, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_LOG_PREV: rc = k8sClientGetLog(client, pod, 500, 1, cmdFinished, ctx, err, sizeof err); break;
    default: rc = -1; snprintf(err, sizeof err, "not an Argo CD-managed instance"); break;
    }
    free(plan);
    if (rc != 0) {   /* not queued: the callback will not come */
        free(ctx);
        snprintf(msg, len, "%s refused: %s", what, err);
        iocmgrLock();
        inst->busy = 0;
        iocmgrUnlock();
        return refuse(inst, what, who, msg);
    }
    return 0;
}

int iocmgrReboot(const char *who, char *msg, size_t len)
{
    int readOnly;
    iocmgrLock();
    readOnly = iocmgrReadOnlyLocked();
    iocmgrUnlock();
    if (readOnly) {
        snprintf(msg, len, "REBOOT refused: the manager is read-only");
        errlogPrintf("%s: REBOOT by %s refused: read-only\n", driverName, who);
        iocmgrSetLastError(msg);
        return -1;
    }
    snprintf(msg, len, "REBOOT by %s: exiting so that Kubernetes restarts the manager", who);
    errlogPrintf("%s: %s\n", driverName, msg);
    epicsExitLater(0);
    return 0;
}
