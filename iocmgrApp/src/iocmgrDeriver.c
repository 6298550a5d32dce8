/* iocmgrDeriver.c - the one thread that derives what the records show
 * (iocmgrDeriver.h).
 *
 * Before, the network thread and a once-a-second ticker both derived: each
 * read the cache without the manager lock and stored under it, so a ticker
 * pass that read the cache just before a change could store its older result
 * (Pending, MAJOR) over the newer one the network thread had just stored
 * (Running), and nothing corrected it while the pod stayed steady. Now a
 * request only queues the instance; the deriver reads the cache after the
 * change that asked, and a derivation begun before a newer request is
 * dropped, since the newer one follows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cantProceed.h>
#include <epicsEvent.h>
#include <epicsMutex.h>
#include <epicsThread.h>
#include <errlog.h>
#include <epicsExport.h>

#include "iocmgrArgo.h"
#include "iocmgrDeriver.h"
#include "iocmgrPvt.h"

static const char *driverName = "iocmgr";

double iocmgrDueHold = 0.0;
epicsExportAddress(double, iocmgrDueHold);

#define MAX_PODS 8
/* The longest sleep: wall-clock moments are epoch seconds, and a clock set
 * back must not postpone a due derivation for long. */
#define MAX_SLEEP 60.0

static struct {
    epicsEventId wake;
    epicsThreadId thread;
    volatile int stopping;
    /* under iocmgrLock() */
    iocmgrInst *head, *tail;   /* queued instances, in request order */
    int all;                   /* every instance asked for */
    double nextDue;            /* epoch seconds of the earliest time-based change; 0: none */
    int runningCount, faultCount;
} drv;

static epicsThreadOnceId once = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    drv.wake = epicsEventMustCreate(epicsEventEmpty);
}

static void ensureInit(void)
{
    epicsThreadOnce(&once, onceInit, NULL);
}

void iocmgrDeriveLater(iocmgrInst *inst)
{
    ensureInit();
    iocmgrLock();
    inst->changes++;
    if (!inst->queued) {
        inst->queued = 1;
        inst->nextQueued = NULL;
        if (drv.tail) drv.tail->nextQueued = inst;
        else drv.head = inst;
        drv.tail = inst;
    }
    iocmgrUnlock();
    epicsEventSignal(drv.wake);
}

void iocmgrDeriveAllLater(void)
{
    ensureInit();
    iocmgrLock();
    drv.all = 1;
    iocmgrUnlock();
    epicsEventSignal(drv.wake);
}

size_t iocmgrDeriveForApp(const char *appName)
{
    size_t i, n = iocmgrInstanceCount(), found = 0;
    iocmgrInst **hits;

    if (!appName || !appName[0] || !n) return 0;
    hits = callocMustSucceed(n, sizeof *hits, "iocmgrDeriveForApp");
    iocmgrLock();
    for (i = 0; i < n; i++) {
        iocmgrInst *inst = iocmgrInstanceAt(i);
        if (strcmp(inst->argoChild, appName) == 0 || strcmp(inst->argoRoot, appName) == 0)
            hits[found++] = inst;
    }
    iocmgrUnlock();
    for (i = 0; i < found; i++) iocmgrDeriveLater(hits[i]);
    free(hits);
    return found;
}

void iocmgrDerivedCounts(int *running, int *faults)
{
    *running = drv.runningCount;
    *faults = drv.faultCount;
}

/* Under the lock. Counts follow derived views only: the placeholder shown
 * before the first derivation is never counted. */
static void countView(iocmgrInst *inst, int sign)
{
    const iocmgrView *v = &inst->view;
    if (sign < 0 && !inst->counted) return;
    inst->counted = sign > 0;
    if (v->status == IOCMGR_RUNNING) drv.runningCount += sign;
    if (iocmgrIsFault(v)) drv.faultCount += sign;
}

/* When time alone changes the view (epoch seconds; 0: never), and whether it
 * has come: a wanted instance Pending or Starting past its grace turns MAJOR,
 * a held crash loop clears after its settle time (iocmgrInstance.h). */
static double dueAt(const iocmgrView *v)
{
    double due = 0.0;
    if (v->pendingSince > 0 && v->severity == IOCMGR_SEV_MINOR)
        due = floor((double)v->pendingSince + iocmgrPendingGraceSetting()) + 1.0;
    if (v->crashSince > 0 && v->readySince > 0) {
        double settled = ceil((double)v->readySince + iocmgrCrashSettleSetting());
        if (!due || settled < due) due = settled;
    }
    return due;
}

static int isDue(const iocmgrView *v, long long now)
{
    return (v->pendingSince > 0 && v->severity == IOCMGR_SEV_MINOR
            && (double)(now - v->pendingSince) > iocmgrPendingGraceSetting())
        || iocmgrCrashSettled(v, now, iocmgrCrashSettleSetting());
}

/* The Application that tracks the instance (found or not yet) and its root,
 * so that an Application event re-derives only what it concerns. */
static void argoNames(const k8sInstance *ki, const k8sArgoOwner *owner, char *child, char *root)
{
    k8sTrackingId id;
    char err[128];

    child[0] = root[0] = '\0';
    if (owner->haveChild)
        snprintf(child, IOCMGR_APP_NAME_SIZE, "%s", owner->child.name);
    else if (ki->argoTrackingId[0] && k8sArgoParseTrackingId(ki->argoTrackingId, &id, err, sizeof err) == 0)
        snprintf(child, IOCMGR_APP_NAME_SIZE, "%s", id.app);
    else
        snprintf(child, IOCMGR_APP_NAME_SIZE, "%s", ki->argoInstanceLabel);
    if (owner->haveRoot)
        snprintf(root, IOCMGR_APP_NAME_SIZE, "%s", owner->root.name);
    else if (owner->haveChild && owner->child.trackingId[0]
             && k8sArgoParseTrackingId(owner->child.trackingId, &id, err, sizeof err) == 0)
        snprintf(root, IOCMGR_APP_NAME_SIZE, "%s", id.app);
    else if (child[0])
        snprintf(root, IOCMGR_APP_NAME_SIZE, "%s", k8sClientRootApp(iocmgrClient()));
}

/* The Application's part of the view (iocmgrArgo.c). The owner is two
 * Applications big: from the heap, the stack already holds the pods. */
static void deriveArgo(iocmgrInst *inst, const k8sInstance *ki, iocmgrView *view, char *child, char *root)
{
    k8sClient *client = iocmgrClient();
    k8sArgoOwner *owner;

    child[0] = root[0] = '\0';
    if (!k8sClientAppNamespace(client)[0]) return;
    owner = malloc(sizeof *owner);
    if (!owner) return;
    k8sClientArgoOwner(client, inst->name, owner);
    iocmgrArgoDerive(owner, view);
    argoNames(ki, owner, child, root);
    if (owner->haveRoot) iocmgrNoteRoot(owner->root.name);
    free(owner);
}

static void holdForTest(const iocmgrInst *inst)
{
    double hold = iocmgrDueHold;
    if (!(hold > 0.0)) return;
    errlogPrintf("%s: iocmgrDueHold: holding the time-based derivation of %s for %g s\n",
                 driverName, inst->name, hold);
    epicsThreadSleep(hold);
    errlogPrintf("%s: iocmgrDueHold: %s released\n", driverName, inst->name);
}

static void derive(iocmgrInst *inst, int due)
{
    k8sClient *client = iocmgrClient();
    k8sInstance ki;
    k8sPod *pods = NULL;
    size_t npods = 0;
    char event[512] = "", child[IOCMGR_APP_NAME_SIZE] = "", root[IOCMGR_APP_NAME_SIZE] = "";
    iocmgrView view;
    long long now = (long long)time(NULL);
    unsigned asked;
    double dueNext;
    int have;

    iocmgrLock();
    asked = inst->changes;
    iocmgrUnlock();
    have = client && k8sClientGetInstance(client, inst->name, &ki) == 0;
    if (have) {
        pods = malloc(MAX_PODS * sizeof *pods);
        if (pods) k8sClientGetPods(client, inst->name, pods, MAX_PODS, &npods);
        if (npods > MAX_PODS) npods = MAX_PODS;   /* count is the total found */
        if (k8sClientLatestEvent(client, inst->name, event, sizeof event) != 0 && npods > 0)
            k8sClientLatestEvent(client, pods[0].name, event, sizeof event);
    }
    iocmgrDerive(have ? &ki : NULL, pods, npods, event, now, iocmgrPendingGraceSetting(), &view);
    free(pods);
    if (have) deriveArgo(inst, &ki, &view, child, root);
    if (due) holdForTest(inst);

    iocmgrLock();
    if (inst->changes != asked) {     /* the cache changed since it was read: the queued one follows */
        iocmgrUnlock();
        return;
    }
    iocmgrHoldCrashLoop(&inst->view, now, iocmgrCrashSettleSetting(), &view);
    countView(inst, -1);
    inst->view = view;
    countView(inst, +1);
    snprintf(inst->argoChild, sizeof inst->argoChild, "%s", child);
    snprintf(inst->argoRoot, sizeof inst->argoRoot, "%s", root);
    dueNext = dueAt(&view);
    if (dueNext && (!drv.nextDue || dueNext < drv.nextDue)) drv.nextDue = dueNext;
    iocmgrUnlock();
    if (iocmgrDebug)
        errlogPrintf("%s: %s -> %s (%s)\n", driverName, inst->name,
                     iocmgrStatusNames[view.status], view.message);
    iocmgrScanRequest(inst->scan, &inst->gate);
    iocmgrRequestMgrScan();
}

/* The instances time has changed, and when the next one will be: one pass
 * under the lock, only when something is due (not once a second). */
static size_t collectDue(iocmgrInst **due, size_t cap, long long now)
{
    size_t i, n = 0, count = iocmgrInstanceCount();
    double next = 0.0;

    iocmgrLock();
    for (i = 0; i < count; i++) {
        iocmgrInst *inst = iocmgrInstanceAt(i);
        double at;
        if (isDue(&inst->view, now)) {
            if (n < cap) due[n++] = inst;
            continue;
        }
        at = dueAt(&inst->view);
        if (at && (!next || at < next)) next = at;
    }
    drv.nextDue = next;
    iocmgrUnlock();
    return n;
}

static void deriverMain(void *arg)
{
    size_t cap = iocmgrInstanceCount() ? iocmgrInstanceCount() : 1;
    iocmgrInst **due = callocMustSucceed(cap, sizeof *due, "iocmgrDeriver");

    (void)arg;
    while (!drv.stopping) {
        iocmgrInst *inst, *next;
        double sleep = MAX_SLEEP, now = (double)time(NULL);
        unsigned seq;
        int all;
        size_t i, n;

        iocmgrLock();
        if (drv.nextDue && drv.nextDue - now < sleep) sleep = drv.nextDue > now ? drv.nextDue - now : 0.0;
        if (drv.head || drv.all) sleep = 0.0;
        iocmgrUnlock();
        if (sleep > 0.0) epicsEventWaitWithTimeout(drv.wake, sleep);
        if (drv.stopping) break;

        iocmgrLock();
        all = drv.all;
        drv.all = 0;
        seq = iocmgrSyncSeqLocked();
        inst = drv.head;
        drv.head = drv.tail = NULL;
        for (next = inst; next; next = next->nextQueued) next->queued = 0;
        iocmgrUnlock();
        if (all) {
            for (i = 0; i < iocmgrInstanceCount() && !drv.stopping; i++)
                derive(iocmgrInstanceAt(i), 0);
        } else {
            for (; inst && !drv.stopping; inst = next) {
                next = inst->nextQueued;
                derive(inst, 0);
            }
        }
        if (drv.nextDue && (double)time(NULL) >= drv.nextDue) {
            n = collectDue(due, cap, (long long)time(NULL));
            for (i = 0; i < n && !drv.stopping; i++)
                derive(due[i], 1);
        }
        if (all) iocmgrAllDerived(seq);
    }
    free(due);
}

int iocmgrDeriverStart(void)
{
    epicsThreadOpts opts = EPICS_THREAD_OPTS_INIT;
    ensureInit();
    opts.joinable = 1;
    opts.stackSize = epicsThreadGetStackSize(epicsThreadStackBig);
    opts.priority = epicsThreadPriorityMedium;
    drv.thread = epicsThreadCreateOpt("iocmgrDeriver", deriverMain, NULL, &opts);
    return drv.thread ? 0 : -1;
}

void iocmgrDeriverStop(void)
{
    if (!drv.thread) return;
    drv.stopping = 1;
    epicsEventSignal(drv.wake);
    epicsThreadMustJoin(drv.thread);
    drv.thread = NULL;
}
