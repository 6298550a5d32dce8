/* iocmgrManager.c - the manager: owns the Kubernetes client, the table of
 * managed instances and what their records show.
 *
 * Values flow one way: the network thread's callbacks re-derive an
 * instance's view from the cache, store it under the lock, then
 * scanIoRequest() so the I/O Intr records read it. Nothing here waits on the
 * network from a record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <asTrapWrite.h>
#include <callback.h>
#include <cantProceed.h>
#include <dbAccess.h>
#include <dbScan.h>
#include <epicsExit.h>
#include <epicsMutex.h>
#include <epicsString.h>
#include <epicsThread.h>
#include <errlog.h>
#include <initHooks.h>
#include <macLib.h>
#include <epicsExport.h>

#include "k8sClient.h"
#include "iocmgrArgo.h"
#include "iocmgrExpected.h"
#include "iocmgrManager.h"

static const char *driverName = "iocmgr";

int iocmgrDebug = 0;
epicsExportAddress(int, iocmgrDebug);
/* the Kubernetes layer's own level (k8sLog.h): "var k8sDebug 2" logs every request */
epicsExportAddress(int, k8sDebug);

#define MAX_PODS 8

typedef struct nameList {
    char **names;
    size_t count, cap;
} nameList;

static struct {
    epicsMutexId lock;
    /* configuration, fixed before iocInit */
    char *kubeconfig, *context, *namespace_, *selector;
    char *appNamespace, *rootApp, *instanceLabel;
    nameList expected;
    double pendingGrace;
    double crashSettle;
    double watchTimeout;
    int readOnly;
    k8sClient *client;
    char prefix[64];
    /* the table, fixed at iocmgrLoadInstances(); sorted by name */
    iocmgrInst **insts;
    size_t ninst;
    IOSCANPVT scan;
    iocmgrScanGate gate;
    epicsMutexId scanLock;  /* the gates */
    /* under lock */
    int connected;
    int runningCount, faultCount;
    char lastError[512];    /* the last error, stamped with its time; never progress */
    char syncMessage[512];  /* why the cache is not in sync now, progress included */
    nameList unmanaged;
    char argoRootName[254];  /* the root named in st.cmd/EC_TARGET, else the first one found */
    /* lifetime */
    epicsThreadId ticker;
    volatile int stopping;
    epicsThreadPrivateId writer;
} mgr;

static epicsThreadOnceId onceId = EPICS_THREAD_ONCE_INIT;

/* ---- coalesced I/O Intr requests ----------------------------------------
 * A relist or a resync re-derives every instance at once. Queuing one
 * callback per change (and one more for the manager's list, whose NAMES
 * copies every name) overflowed Base's callback queue (2000 entries) from
 * about 1000 instances on ("callbackRequest: cbLow ring buffer full"), and a
 * dropped request leaves records stale until the instance changes again
 * (tests/bench, docs/performance.md). A list is now queued at most once; a
 * request made while it is queued or being processed asks for one more pass
 * when it completes, so no change is missed. */
static void scanDone(void *usr, IOSCANPVT scan, int prio)
{
    iocmgrScanGate *g = usr;
    epicsMutexMustLock(mgr.scanLock);
    g->pending &= ~(1u << prio);
    if (!g->pending && g->again) {
        g->again = 0;
        g->pending = scanIoRequest(scan);
    }
    epicsMutexUnlock(mgr.scanLock);
}

static void requestScan(IOSCANPVT scan, iocmgrScanGate *g)
{
    epicsMutexMustLock(mgr.scanLock);
    if (g->pending) g->again = 1;
    else g->pending = scanIoRequest(scan);
    epicsMutexUnlock(mgr.scanLock);
}

#define requestInstScan(inst) requestScan((inst)->scan, &(inst)->gate)
#define requestMgrScan() requestScan(mgr.scan, &mgr.gate)

static void onceInit(void *arg)
{
    (void)arg;
    mgr.lock = epicsMutexMustCreate();
    mgr.scanLock = epicsMutexMustCreate();
    scanIoInit(&mgr.scan);
    scanIoSetComplete(mgr.scan, scanDone, &mgr.gate);
    mgr.pendingGrace = 60.0;
    mgr.crashSettle = 120.0;
    mgr.watchTimeout = 120.0;
    mgr.writer = epicsThreadPrivateCreate();
}

static void ensureInit(void)
{
    epicsThreadOnce(&onceId, onceInit, NULL);
}

void iocmgrLock(void) { epicsMutexMustLock(mgr.lock); }
void iocmgrUnlock(void) { epicsMutexUnlock(mgr.lock); }
IOSCANPVT iocmgrManagerScan(void) { ensureInit(); return mgr.scan; }

static char *dupOrNull(const char *s)
{
    return (s && s[0]) ? epicsStrDup(s) : NULL;
}

static int listHas(const nameList *l, const char *name)
{
    size_t i;
    for (i = 0; i < l->count; i++)
        if (strcmp(l->names[i], name) == 0) return 1;
    return 0;
}

static void listAdd(nameList *l, const char *name)
{
    if (listHas(l, name)) return;
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        if (!l->names) cantProceed("iocmgr: out of memory");
    }
    l->names[l->count++] = epicsStrDup(name);
}

static int listRemove(nameList *l, const char *name)
{
    size_t i;
    for (i = 0; i < l->count; i++) {
        if (strcmp(l->names[i], name) == 0) {
            free(l->names[i]);
            l->names[i] = l->names[--l->count];
            return 1;
        }
    }
    return 0;
}

/* Under the lock. LAST_ERROR says when, so an operator can tell an old error
 * from a new one and match it to the log. */
static void stampError(const char *msg)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(mgr.lastError, sizeof mgr.lastError, "%s %s", when, msg);
}

static void setLastError(const char *msg)
{
    epicsMutexMustLock(mgr.lock);
    stampError(msg);
    epicsMutexUnlock(mgr.lock);
    requestMgrScan();
}

/* An error that keeps the manager from getting in sync: also what the
 * instances' MESSAGE and refused commands give as the reason. */
static void setSyncError(const char *msg)
{
    epicsMutexMustLock(mgr.lock);
    snprintf(mgr.syncMessage, sizeof mgr.syncMessage, "%s", msg);
    epicsMutexUnlock(mgr.lock);
    setLastError(msg);
}

/* While a watch gets in sync its message is progress ("pods: listing", "pods:
 * relisting (resourceVersion too old, 410 Gone)"); a failed request or a
 * silent watch is worded "list pods: ..." or "watch pods: ..." (k8sWatch.c).
 * Only those are errors. */
static int isSyncError(const char *msg)
{
    return strncmp(msg, "list ", 5) == 0 || strncmp(msg, "watch ", 6) == 0;
}

/* ---- configuration ---------------------------------------------------- */

static int beforeLoad(const char *what)
{
    ensureInit();
    if (mgr.client || interruptAccept) {
        errlogPrintf("%s: %s must come before iocmgrLoadInstances and iocInit\n", driverName, what);
        return -1;
    }
    return 0;
}

int iocmgrConfigure(const char *kubeconfig, const char *context, const char *namespace_)
{
    if (beforeLoad("iocmgrConfigure")) return -1;
    free(mgr.kubeconfig); free(mgr.context); free(mgr.namespace_);
    mgr.kubeconfig = dupOrNull(kubeconfig);
    mgr.context = dupOrNull(context);
    mgr.namespace_ = dupOrNull(namespace_);
    return 0;
}

int iocmgrSetSelector(const char *selectors)
{
    if (beforeLoad("iocmgrSetSelector")) return -1;
    free(mgr.selector);
    mgr.selector = dupOrNull(selectors);
    return 0;
}

int iocmgrExpect(const char *name)
{
    if (beforeLoad("iocmgrExpect")) return -1;
    if (iocmgrValidName(name) != 0) {
        errlogPrintf("%s: iocmgrExpect: '%s' is not a Kubernetes object name (lower case letters, digits, '-')\n",
                     driverName, name ? name : "");
        return -1;
    }
    listAdd(&mgr.expected, name);
    return 0;
}

static int addExpected(void *arg, const char *name)
{
    (void)arg;
    listAdd(&mgr.expected, name);
    return 0;
}

int iocmgrExpectFile(const char *path)
{
    char err[512];
    if (beforeLoad("iocmgrExpectFile")) return -1;
    if (!path || !path[0]) return 0;   /* st.cmd passes "" when there is none */
    if (iocmgrExpectedRead(path, addExpected, NULL, err, sizeof err) != 0) {
        errlogPrintf("%s: iocmgrExpectFile: %s\n", driverName, err);
        return -1;
    }
    return 0;
}

void iocmgrSetReadOnly(int readOnly)
{
    ensureInit();
    epicsMutexMustLock(mgr.lock);
    mgr.readOnly = readOnly != 0;
    epicsMutexUnlock(mgr.lock);
    errlogPrintf("%s: read-only mode %s\n", driverName, readOnly ? "on: every command is refused" : "off");
    requestMgrScan();
}

int iocmgrSetArgoCD(const char *appNamespace, const char *rootApp, const char *instanceLabel)
{
    if (beforeLoad("iocmgrArgoCD")) return -1;
    free(mgr.appNamespace); free(mgr.rootApp); free(mgr.instanceLabel);
    mgr.appNamespace = dupOrNull(appNamespace);
    mgr.rootApp = dupOrNull(rootApp);
    /* "-" for none: "" already means the default */
    mgr.instanceLabel = instanceLabel && strcmp(instanceLabel, "-") == 0 ? epicsStrDup("") : dupOrNull(instanceLabel);
    return 0;
}

void iocmgrSetPendingGrace(double seconds)
{
    ensureInit();
    mgr.pendingGrace = seconds;
}

void iocmgrSetCrashSettle(double seconds)
{
    ensureInit();
    if (!(seconds >= 0.0)) {
        errlogPrintf("%s: iocmgrCrashSettle: %g s is not a time; keeping %g s\n",
                     driverName, seconds, mgr.crashSettle);
        return;
    }
    mgr.crashSettle = seconds;
}

void iocmgrSetWatchTimeout(double seconds)
{
    ensureInit();
    if (mgr.client) {
        errlogPrintf("%s: iocmgrWatchTimeout: too late, the watches have started; "
                     "call it before iocmgrLoadInstances\n", driverName);
        return;
    }
    if (!(seconds >= 10.0)) {
        errlogPrintf("%s: iocmgrWatchTimeout: %g s is too short (at least 10 s); keeping %g s\n",
                     driverName, seconds, mgr.watchTimeout);
        return;
    }
    mgr.watchTimeout = seconds;
}

/* ---- the table -------------------------------------------------------- */

static int byName(const void *a, const void *b)
{
    return strcmp((*(iocmgrInst *const *)a)->name, (*(iocmgrInst *const *)b)->name);
}

iocmgrInst *iocmgrFindInstance(const char *name)
{
    iocmgrInst key, *pkey = &key, **found;
    if (!mgr.insts || !name) return NULL;
    snprintf(key.name, sizeof key.name, "%s", name);
    found = bsearch(&pkey, mgr.insts, mgr.ninst, sizeof *mgr.insts, byName);
    return found ? *found : NULL;
}

iocmgrInst *iocmgrFindInstanceByPv(const char *pvBase)
{
    size_t i, pl = strlen(mgr.prefix);
    if (strncmp(pvBase, mgr.prefix, pl) != 0) return NULL;
    for (i = 0; i < mgr.ninst; i++)
        if (strcmp(mgr.insts[i]->pvName, pvBase + pl) == 0) return mgr.insts[i];
    return NULL;
}

size_t iocmgrInstanceCount(void) { return mgr.ninst; }
const char *iocmgrPrefix(void) { return mgr.prefix; }
iocmgrInst *iocmgrInstanceAt(size_t index) { return index < mgr.ninst ? mgr.insts[index] : NULL; }

/* Counts follow derived views only: the placeholder shown before the first
 * derivation is never counted. */
static void countView(iocmgrInst *inst, int sign)
{
    const iocmgrView *v = &inst->view;
    if (sign < 0 && !inst->counted) return;
    inst->counted = sign > 0;
    if (v->status == IOCMGR_RUNNING) mgr.runningCount += sign;
    if (iocmgrIsFault(v)) mgr.faultCount += sign;
}

/* The manager's ARGO_APP/SYNC/HEALTH: the root named in the configuration,
 * else the first one an instance led to. */
static void noteRoot(const k8sApp *root)
{
    epicsMutexMustLock(mgr.lock);
    if (!mgr.argoRootName[0]) snprintf(mgr.argoRootName, sizeof mgr.argoRootName, "%s", root->name);
    epicsMutexUnlock(mgr.lock);
}

/* The Application's part of the view (iocmgrArgo.c). The owner is two
 * Applications big: from the heap, since the ticker's stack is shared with
 * the pod copies already here. */
static void deriveArgo(iocmgrInst *inst, iocmgrView *view)
{
    k8sArgoOwner *owner;
    if (!k8sClientAppNamespace(mgr.client)[0]) return;
    owner = malloc(sizeof *owner);
    if (!owner) return;
    k8sClientArgoOwner(mgr.client, inst->name, owner);
    iocmgrArgoDerive(owner, view);
    if (owner->haveRoot) noteRoot(&owner->root);
    free(owner);
}

/* Re-derive one instance from the cache; called on the network thread or
 * the ticker, never from a record. */
static void refresh(iocmgrInst *inst)
{
    k8sInstance ki;
    k8sPod pods[MAX_PODS];
    size_t npods = 0;
    char event[512] = "";
    iocmgrView view;
    long long now = (long long)time(NULL);
    int have;

    have = k8sClientGetInstance(mgr.client, inst->name, &ki) == 0;
    if (have) {
        k8sClientGetPods(mgr.client, inst->name, pods, MAX_PODS, &npods);
        if (npods > MAX_PODS) npods = MAX_PODS;   /* count is the total found */
        if (k8sClientLatestEvent(mgr.client, inst->name, event, sizeof event) != 0 && npods > 0)
            k8sClientLatestEvent(mgr.client, pods[0].name, event, sizeof event);
    }
    iocmgrDerive(have ? &ki : NULL, pods, npods, event, now, mgr.pendingGrace, &view);
    if (have) deriveArgo(inst, &view);

    epicsMutexMustLock(mgr.lock);
    /* under the lock: the ticker and the network thread both refresh */
    iocmgrHoldCrashLoop(&inst->view, now, mgr.crashSettle, &view);
    countView(inst, -1);
    inst->view = view;
    countView(inst, +1);
    epicsMutexUnlock(mgr.lock);
    if (iocmgrDebug)
        errlogPrintf("%s: %s -> %s (%s)\n", driverName, inst->name,
                     iocmgrStatusNames[view.status], view.message);
    requestInstScan(inst);
    requestMgrScan();
}

static void refreshAll(void)
{
    size_t i;
    for (i = 0; i < mgr.ninst; i++) refresh(mgr.insts[i]);
}

static void onInstance(void *arg, k8sChange change, const k8sInstance *ki)
{
    iocmgrInst *inst = iocmgrFindInstance(ki->name);
    (void)arg;
    if (inst) {
        refresh(inst);
        return;
    }
    /* Records exist only for what was known at boot; REBOOT picks this up. */
    epicsMutexMustLock(mgr.lock);
    if (change == K8S_DELETED) listRemove(&mgr.unmanaged, ki->name);
    else if (!listHas(&mgr.unmanaged, ki->name)) {
        listAdd(&mgr.unmanaged, ki->name);
        errlogPrintf("%s: instance %s appeared after boot: listed in UNMANAGED; write REBOOT to manage it\n",
                     driverName, ki->name);
    }
    epicsMutexUnlock(mgr.lock);
    requestMgrScan();
}

/* A child changes its instance (same name: the service is the release); any
 * other Application may be a root, whose parameters concern every instance. */
static void onApp(void *arg, k8sChange change, const k8sApp *app)
{
    iocmgrInst *inst = iocmgrFindInstance(app->name);
    (void)arg; (void)change;
    if (inst) refresh(inst);
    else refreshAll();
    requestMgrScan();
}

static void onPod(void *arg, k8sChange change, const k8sPod *pod)
{
    iocmgrInst *inst = iocmgrFindInstance(pod->ownerName);
    (void)arg; (void)change;
    if (inst) refresh(inst);
}

/* Hand memory malloc holds free back to the system after a list, whose
 * response buffers are free once the cache is filled. */
static void releaseFreedMemory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* While records initialise, blocks of a page or more come from their own
 * mappings: record support callocs every LOG and LOG_PREV buffer (16 KB each by
 * default), devIocmgr replaces them with lazily backed ones and frees these. From
 * the heap, calloc would clear them, making them resident, and a page-aligned
 * trim cannot give all of them back (34 MB at 5,000 instances). Mapped blocks are
 * handed back whole when freed. Afterwards malloc's threshold is its default
 * again (128 KB, now fixed: large list responses, too, go back when freed). */
static void mapLargeBlocksDuringRecordInit(int on)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, on ? 4096 : 128 * 1024);
#else
    (void)on;
#endif
}

static void onSync(void *arg, int connected, const char *message)
{
    size_t i;
    (void)arg;
    epicsMutexMustLock(mgr.lock);
    if (mgr.connected != connected)
        errlogPrintf("%s: Kubernetes API %s%s%s\n", driverName,
                     connected ? "connected, cache consistent" : "unreachable",
                     message && message[0] ? ": " : "", message ? message : "");
    mgr.connected = connected;
    if (!connected && message && message[0]) {
        snprintf(mgr.syncMessage, sizeof mgr.syncMessage, "%s", message);
        if (isSyncError(message)) stampError(message);
    }
    epicsMutexUnlock(mgr.lock);
    if (connected) refreshAll();
    for (i = 0; i < mgr.ninst; i++) requestInstScan(mgr.insts[i]);
    requestMgrScan();
    /* The lists that led here left their response buffers (~70 MB of JSON at
     * 5,000 instances) free. */
    if (connected) releaseFreedMemory();
}

static void k8sLogger(int level, const char *msg)
{
    if (level <= 1 || iocmgrDebug) errlogPrintf("%s: k8s: %s\n", driverName, msg);
}

static int createClient(void)
{
    k8sClientOptions opt;
    k8sClientCallbacks cb;
    char err[512];

    memset(&opt, 0, sizeof opt);
    memset(&cb, 0, sizeof cb);
    opt.kubeconfig = mgr.kubeconfig;
    opt.context = mgr.context;
    opt.namespace_ = mgr.namespace_;
    opt.labelSelectors = mgr.selector;
    opt.watchTimeoutSeconds = mgr.watchTimeout;
    opt.appNamespace = mgr.appNamespace;
    opt.rootApp = mgr.rootApp;
    opt.instanceLabel = mgr.instanceLabel;
    cb.instanceChanged = onInstance;
    cb.podChanged = onPod;
    cb.appChanged = onApp;
    cb.syncChanged = onSync;
    k8sSetLogger(k8sLogger);
    /* Level 1 is a failed list or watch and its retry ("...; retry in 4.1 s"):
     * without it a stalled sync leaves nothing in the log to act on. */
    if (k8sDebug < (iocmgrDebug ? 2 : 1))
        k8sDebug = iocmgrDebug ? 2 : 1;
    if (k8sClientCreate(&opt, &cb, &mgr.client, err, sizeof err) != 0) {
        errlogPrintf("%s: Kubernetes configuration: %s\n", driverName, err);
        setSyncError(err);
        return -1;
    }
    errlogPrintf("%s: Kubernetes API %s, namespace %s\n", driverName,
                 k8sClientServer(mgr.client), k8sClientNamespace(mgr.client));
    /* whether Argo CD is there the Kubernetes layer says once it has asked:
     * "Argo CD Applications watched ..." or "... Argo CD is not installed ..." */
    if (k8sClientAppNamespace(mgr.client)[0])
        errlogPrintf("%s: Argo CD: looking for Applications in namespace %s%s%s\n", driverName,
                     k8sClientAppNamespace(mgr.client), k8sClientRootApp(mgr.client)[0] ? ", root " : "",
                     k8sClientRootApp(mgr.client));
    snprintf(mgr.argoRootName, sizeof mgr.argoRootName, "%s", k8sClientRootApp(mgr.client));
    return 0;
}

static void pvNameOf(const char *name, char *out, size_t len)
{
    size_t i;
    for (i = 0; name[i] && i + 1 < len; i++) out[i] = (char)toupper((unsigned char)name[i]);
    out[i] = '\0';
}

static iocmgrInst *newInstance(const char *name, int expected)
{
    iocmgrInst *inst = callocMustSucceed(1, sizeof *inst, "iocmgr instance");
    snprintf(inst->name, sizeof inst->name, "%s", name);
    pvNameOf(name, inst->pvName, sizeof inst->pvName);
    inst->expected = expected;
    scanIoInit(&inst->scan);
    scanIoSetComplete(inst->scan, scanDone, &inst->gate);
    iocmgrDeriveDisconnected(&inst->view, "not yet connected");
    return inst;
}

static void initHook(initHookState state);
static void atExit(void *arg);

int iocmgrLoadInstances(const char *prefix, const char *templ, const char *extraMacros,
                        double timeout)
{
    k8sInstance *list = NULL;
    size_t n = 0, i;
    nameList names = { NULL, 0, 0 };
    char err[512];

    ensureInit();
    if (interruptAccept || mgr.insts) {
        errlogPrintf("%s: iocmgrLoadInstances runs once, before iocInit\n", driverName);
        return -1;
    }
    if (!prefix || !templ || !templ[0]) {
        errlogPrintf("%s: usage: iocmgrLoadInstances(prefix, template, [macros], [timeout])\n", driverName);
        return -1;
    }
    if (timeout <= 0) timeout = 10.0;
    snprintf(mgr.prefix, sizeof mgr.prefix, "%s", prefix);
    if (!mgr.client && createClient() == 0) {
        if (k8sClientListInstances(mgr.client, timeout, &list, &n, err, sizeof err) != 0) {
            errlogPrintf("%s: listing instances failed: %s; loading only the %zu expected instance(s), "
                         "the watch will keep trying\n", driverName, err, mgr.expected.count);
            setSyncError(err);
        }
    }
    for (i = 0; i < n; i++) {
        if (iocmgrValidName(list[i].name) == 0) listAdd(&names, list[i].name);
        else errlogPrintf("%s: skipping instance '%s': not a usable name\n", driverName, list[i].name);
    }
    for (i = 0; i < mgr.expected.count; i++) listAdd(&names, mgr.expected.names[i]);

    mgr.insts = callocMustSucceed(names.count ? names.count : 1, sizeof *mgr.insts, "iocmgr table");
    for (i = 0; i < names.count; i++)
        mgr.insts[i] = newInstance(names.names[i], listHas(&mgr.expected, names.names[i]));
    mgr.ninst = names.count;
    for (i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < names.count; j++) {
            if (strcmp(mgr.insts[j]->name, list[i].name) == 0) {
                snprintf(mgr.insts[j]->domain, sizeof mgr.insts[j]->domain, "%s",
                         list[i].labelDomain[0] ? list[i].labelDomain : list[i].labelLocation);
                break;
            }
        }
    }
    free(list);
    qsort(mgr.insts, mgr.ninst, sizeof *mgr.insts, byName);
    /* Each instance has an I/O Intr list of its own and a resync queues them
     * all at once (once each, see requestScan): the callback queues must hold
     * them. Base's default is 2000 entries; a st.cmd may still set a larger
     * size with callbackSetQueueSize() after iocmgrLoadInstances. */
    if (mgr.ninst > 1000)
        callbackSetQueueSize((int)mgr.ninst + 2000);

    for (i = 0; i < mgr.ninst; i++) {
        iocmgrInst *inst = mgr.insts[i];
        char macros[1024];
        if (strlen(prefix) + strlen(inst->pvName) + 12 > 60)
            errlogPrintf("%s: warning: PV names for %s exceed EPICS' 60 characters with prefix %s\n",
                         driverName, inst->name, prefix);
        if (strlen(inst->name) > 39)
            errlogPrintf("%s: warning: %s is longer than a NAMES entry (39 characters)\n",
                         driverName, inst->name);
        snprintf(macros, sizeof macros, "P=%s,I=%s,NAME=%s%s%s", prefix, inst->pvName, inst->name,
                 extraMacros && extraMacros[0] ? "," : "", extraMacros ? extraMacros : "");
        if (dbLoadRecords(templ, macros) != 0) {
            errlogPrintf("%s: dbLoadRecords(%s, %s) failed\n", driverName, templ, macros);
            return -1;
        }
        free(names.names[i]);
    }
    free(names.names);
    errlogPrintf("%s: managing %zu instance(s)\n", driverName, mgr.ninst);
    initHookRegister(initHook);
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

void iocmgrReadView(const iocmgrInst *inst, iocmgrView *out, int *connected)
{
    *out = inst->view;
    *connected = mgr.connected;
    if (!mgr.connected) iocmgrDeriveDisconnected(out, mgr.syncMessage);
}

int iocmgrReadRunning(const iocmgrInst *inst, long long *startedEpoch, int *connected)
{
    /* iocmgrDeriveDisconnected changes neither of these */
    *startedEpoch = inst->view.startedEpoch;
    *connected = mgr.connected;
    return inst->view.running;
}

/* Under the lock: the root from the cache (a copy under the cache's own lock). */
static void readRoot(iocmgrSummary *out)
{
    k8sApp *root;
    const char *ns = mgr.client ? k8sClientAppNamespace(mgr.client) : "";
    if (!ns[0] || !mgr.argoRootName[0]) return;
    snprintf(out->argoRoot, sizeof out->argoRoot, "%s/%s", ns, mgr.argoRootName);
    out->argoSync = out->argoHealth = 0;
    root = malloc(sizeof *root);
    if (root && k8sClientGetApp(mgr.client, ns, mgr.argoRootName, root) == 0) {
        out->argoSync = iocmgrArgoSyncOf(root->syncStatus);
        out->argoHealth = iocmgrArgoHealthOf(root->healthStatus);
    } else {
        out->argoSync = IOCMGR_SYNC_UNKNOWN;
        out->argoHealth = IOCMGR_HEALTH_MISSING;
    }
    free(root);
}

void iocmgrReadSummary(iocmgrSummary *out)
{
    memset(out, 0, sizeof *out);
    out->connected = mgr.connected;
    out->readOnly = mgr.readOnly;
    out->count = (int)mgr.ninst;
    out->runningCount = mgr.runningCount;
    out->faultCount = mgr.faultCount;
    if (mgr.client) {
        snprintf(out->namespace_, sizeof out->namespace_, "%s", k8sClientNamespace(mgr.client));
        snprintf(out->apiUrl, sizeof out->apiUrl, "%s", k8sClientServer(mgr.client));
    }
    snprintf(out->lastError, sizeof out->lastError, "%s", mgr.lastError);
    readRoot(out);
}

size_t iocmgrReadNames(char (*out)[40], size_t max, int unmanaged)
{
    size_t i, n = unmanaged ? mgr.unmanaged.count : mgr.ninst;
    if (n > max) n = max;
    for (i = 0; i < n; i++)
        snprintf(out[i], 40, "%s", unmanaged ? mgr.unmanaged.names[i] : mgr.insts[i]->name);
    return n;
}

/* ---- commands --------------------------------------------------------- */

typedef struct cmdCtx {
    iocmgrInst *inst;
    iocmgrCmdKind kind;
    int viaRoot;          /* a parameter on the root Application, not the instance itself */
    char who[128];
    char image[512];
    iocmgrCmdDone done;
    void *doneArg;
} cmdCtx;

static const char *cmdName(iocmgrCmdKind kind)
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
    epicsMutexMustLock(mgr.lock);
    inst->busy = busy;
    inst->cmdStat = stat;
    snprintf(inst->cmdMsg, sizeof inst->cmdMsg, "%s", msg);
    epicsMutexUnlock(mgr.lock);
    requestInstScan(inst);
}

static void storeLog(iocmgrInst *inst, int which, const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, body, len);
    copy[len] = '\0';
    epicsMutexMustLock(mgr.lock);
    free(inst->log[which]);
    inst->log[which] = copy;
    inst->logLen[which] = len;
    epicsMutexUnlock(mgr.lock);
}

static void cmdFinished(void *arg, const k8sResult *res)
{
    cmdCtx *ctx = arg;
    iocmgrInst *inst = ctx->inst;
    char msg[1100];

    if (!res->ok && ctx->viaRoot) {
        /* k8sArgoOps' words already name the parameter, the root and the HTTP status */
        snprintf(msg, sizeof msg, "%s %s: %s", cmdName(ctx->kind),
                 res->maybeSent ? "outcome unknown, check OVERRIDE before repeating" : "failed", res->message);
    } else if (ctx->viaRoot) {
        snprintf(msg, sizeof msg, "%s requested: %s", ctx->kind == IOCMGR_CMD_START ? "start"
                 : ctx->kind == IOCMGR_CMD_STOP ? "stop" : "revision", res->message);
    } else if (!res->ok) {
        if (res->httpStatus)
            snprintf(msg, sizeof msg, "%s failed: HTTP %ld: %s", cmdName(ctx->kind), res->httpStatus, res->message);
        else if (res->maybeSent)
            /* no answer, but the request went out: the API may have acted on it */
            snprintf(msg, sizeof msg, "%s outcome unknown (%s): it may have been applied, check STATUS "
                     "before repeating", cmdName(ctx->kind), res->message);
        else
            snprintf(msg, sizeof msg, "%s failed: %s", cmdName(ctx->kind), res->message);
    } else {
        switch (ctx->kind) {
        case IOCMGR_CMD_START: snprintf(msg, sizeof msg, "start requested: scaled to 1 replica"); break;
        case IOCMGR_CMD_STOP: snprintf(msg, sizeof msg, "stop requested: scaled to 0 replicas"); break;
        case IOCMGR_CMD_RESTART: snprintf(msg, sizeof msg, "restart requested: pod deleted, it is recreated"); break;
        case IOCMGR_CMD_SET_IMAGE: snprintf(msg, sizeof msg, "image set to %s: the pod is rolled", ctx->image); break;
        case IOCMGR_CMD_SET_REVISION: break;   /* always through the root */
        case IOCMGR_CMD_LOG:
        case IOCMGR_CMD_LOG_PREV:
            storeLog(inst, ctx->kind == IOCMGR_CMD_LOG_PREV, res->body ? res->body : "", res->body ? res->bodyLen : 0);
            snprintf(msg, sizeof msg, "%s log read: %zu bytes",
                     ctx->kind == IOCMGR_CMD_LOG_PREV ? "previous container's" : "console", res->bodyLen);
            break;
        }
    }
    errlogPrintf("%s: %s %s by %s: %s\n", driverName, cmdName(ctx->kind), inst->name, ctx->who, msg);
    setFeedback(inst, 0, res->ok ? IOCMGR_CMDSTAT_OK : IOCMGR_CMDSTAT_ERROR, msg);
    ctx->done(ctx->doneArg, res->ok, msg);
    free(ctx);
}

static int refuse(iocmgrInst *inst, const char *what, const char *who, const char *msg)
{
    int busy;
    epicsMutexMustLock(mgr.lock);
    busy = inst->busy;
    epicsMutexUnlock(mgr.lock);
    errlogPrintf("%s: %s %s by %s refused: %s\n", driverName, what, inst->name, who, msg);
    setFeedback(inst, busy, IOCMGR_CMDSTAT_ERROR, msg);
    return -1;
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
        snprintf(msg, len, "%s refused: out of memory", cmdName(kind));
        return -1;
    }
    k8sClientArgoOwner(mgr.client, inst->name, owner);
    iocmgrArgoPlanCommand(owner, inst->name, action, arg, plan);
    free(owner);
    if (plan->path == IOCMGR_PATH_REFUSE) {
        snprintf(msg, len, "%s", plan->msg);
        return -1;
    }
    return 0;
}

int iocmgrCommand(iocmgrInst *inst, iocmgrCmdKind kind, const char *arg, const char *who,
                  iocmgrCmdDone done, void *doneArg, char *msg, size_t len)
{
    const char *what = cmdName(kind);
    int isRead = kind == IOCMGR_CMD_LOG || kind == IOCMGR_CMD_LOG_PREV;
    int rc;
    char pod[64], err[512];
    cmdCtx *ctx;
    iocmgrArgoPlan *plan;

    /* Decide and claim the instance in one step, so two writers cannot both
     * pass the busy check. */
    msg[0] = '\0';
    epicsMutexMustLock(mgr.lock);
    snprintf(pod, sizeof pod, "%s", inst->view.pod);
    if (mgr.readOnly && !isRead)
        snprintf(msg, len, "%s refused: the manager is read-only", what);
    else if (!mgr.connected)
        snprintf(msg, len, "%s refused: Kubernetes API unreachable, nothing sent (%s)", what, mgr.syncMessage);
    else if (inst->busy)
        snprintf(msg, len, "%s refused: a command is already in flight for %s", what, inst->name);
    else if (isRead && !pod[0])
        snprintf(msg, len, "%s refused: %s has no pod", what, inst->name);
    else
        inst->busy = 1;
    epicsMutexUnlock(mgr.lock);
    if (msg[0]) return refuse(inst, what, who, msg);

    plan = callocMustSucceed(1, sizeof *plan, "iocmgr command plan");
    if (planCommand(inst, kind, arg, plan, msg, len) != 0) {
        free(plan);
        epicsMutexMustLock(mgr.lock);
        inst->busy = 0;
        epicsMutexUnlock(mgr.lock);
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
        rc = k8sClientSetAppParam(mgr.client, plan->app, plan->param, plan->value, plan->forceString,
                                  cmdFinished, ctx, err, sizeof err);
    else switch (kind) {
    case IOCMGR_CMD_START: rc = k8sClientScale(mgr.client, inst->name, 1, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_STOP: rc = k8sClientScale(mgr.client, inst->name, 0, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_RESTART: rc = k8sClientRestart(mgr.client, inst->name, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_SET_IMAGE: rc = k8sClientSetImage(mgr.client, inst->name, ctx->image, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_LOG: rc = k8sClientGetLog(mgr.client, pod, 500, 0, cmdFinished, ctx, err, sizeof err); break;
    case IOCMGR_CMD_LOG_PREV: rc = k8sClientGetLog(mgr.client, pod, 500, 1, cmdFinished, ctx, err, sizeof err); break;
    default: rc = -1; snprintf(err, sizeof err, "not an Argo CD-managed instance"); break;
    }
    free(plan);
    if (rc != 0) {   /* not queued: the callback will not come */
        free(ctx);
        snprintf(msg, len, "%s refused: %s", what, err);
        epicsMutexMustLock(mgr.lock);
        inst->busy = 0;
        epicsMutexUnlock(mgr.lock);
        return refuse(inst, what, who, msg);
    }
    return 0;
}

int iocmgrReboot(const char *who, char *msg, size_t len)
{
    if (mgr.readOnly) {
        snprintf(msg, len, "REBOOT refused: the manager is read-only");
        errlogPrintf("%s: REBOOT by %s refused: read-only\n", driverName, who);
        setLastError(msg);
        return -1;
    }
    snprintf(msg, len, "REBOOT by %s: exiting so that Kubernetes restarts the manager", who);
    errlogPrintf("%s: %s\n", driverName, msg);
    epicsExitLater(0);
    return 0;
}

/* ---- who writes ------------------------------------------------------- */

/* rsrv calls the "before" half on the CA client's own thread, where the record then
 * processes, but for a put with completion (caput -c) the "after" half on the client's
 * event thread: a buffer freed by "after" through thread-private storage was never
 * found there, and 256 bytes leaked per such write (tools/sanitize.sh, LeakSanitizer).
 * So each thread keeps one buffer, freed when the thread exits; a CA server thread
 * serves one client, so what it holds is always that client's user@host. */
static void trapWrite(asTrapWriteMessage *m, int after)
{
    char *who;
    if (after) return;
    who = epicsThreadPrivateGet(mgr.writer);
    if (!who) {
        who = malloc(256);
        if (!who) return;
        epicsThreadPrivateSet(mgr.writer, who);
        epicsAtThreadExit(free, who);
    }
    snprintf(who, 256, "%s@%s", m->userid ? m->userid : "?", m->hostid ? m->hostid : "?");
}

const char *iocmgrCurrentWriter(void)
{
    const char *who;
    ensureInit();
    who = epicsThreadPrivateGet(mgr.writer);
    return who ? who : "local (not through CA access security)";
}

/* ---- lifetime --------------------------------------------------------- */

/* Pending and Starting turn MAJOR after the grace period, and a held crash
 * loop clears after its settle time, with no new event, so time alone must
 * re-derive them. This reads the cache, not the API.
 * One pass under the lock a second (not a lock per instance: at thousands of
 * instances that alone was a visible share of the idle IOC's CPU); the
 * instance table is fixed after iocInit. */
static void tickerMain(void *arg)
{
    size_t cap = mgr.ninst ? mgr.ninst : 1;
    iocmgrInst **due = callocMustSucceed(cap, sizeof *due, "iocmgrTicker");

    (void)arg;
    while (!mgr.stopping) {
        long long now = (long long)time(NULL);
        size_t i, n = 0;

        epicsMutexMustLock(mgr.lock);
        for (i = 0; i < mgr.ninst && n < cap; i++) {
            iocmgrInst *inst = mgr.insts[i];
            if ((inst->view.pendingSince > 0 && inst->view.severity == IOCMGR_SEV_MINOR
                 && (double)(now - inst->view.pendingSince) > mgr.pendingGrace)
                || iocmgrCrashSettled(&inst->view, now, mgr.crashSettle))
                due[n++] = inst;
        }
        epicsMutexUnlock(mgr.lock);
        for (i = 0; i < n && !mgr.stopping; i++)
            refresh(due[i]);
        epicsThreadSleep(1.0);
    }
    free(due);
}

static void initHook(initHookState state)
{
    char err[512];
    if (state == initHookAtBeginning) {
        asTrapWriteRegisterListener(trapWrite);
        return;
    }
    if (state == initHookAfterInitDevSup || state == initHookAfterInitDatabase) {
        mapLargeBlocksDuringRecordInit(state == initHookAfterInitDevSup);
        return;
    }
    if (state != initHookAfterIocRunning || !mgr.client) return;
    if (k8sClientStart(mgr.client, err, sizeof err) != 0) {
        errlogPrintf("%s: cannot start the watch: %s\n", driverName, err);
        setSyncError(err);
        return;
    }
    epicsThreadOpts opts = EPICS_THREAD_OPTS_INIT;
    opts.joinable = 1;
    opts.stackSize = epicsThreadGetStackSize(epicsThreadStackBig);
    mgr.ticker = epicsThreadCreateOpt("iocmgrTicker", tickerMain, NULL, &opts);
    epicsAtExit(atExit, NULL);
}

static void atExit(void *arg)
{
    (void)arg;
    mgr.stopping = 1;
    if (mgr.client) k8sClientStop(mgr.client);
    if (mgr.ticker) epicsThreadMustJoin(mgr.ticker);
}
