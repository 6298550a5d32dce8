/* iocmgrManager.c - the manager: its configuration, the Kubernetes client and
 * what its callbacks mean, the instances loaded at boot and those it cannot
 * serve, what the manager-wide records show, and its lifetime.
 *
 * Values flow one way: the network thread's callbacks ask the deriver
 * (iocmgrDeriver.c) to re-derive an instance; it stores the view under the
 * lock and requests the I/O Intr scans. The table is iocmgrTable.c, commands
 * iocmgrCommand.c. Nothing here waits on the network from a record.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <callback.h>
#include <cantProceed.h>
#include <dbAccess.h>
#include <dbDefs.h>
#include <epicsExit.h>
#include <epicsMutex.h>
#include <epicsString.h>
#include <epicsThread.h>
#include <errlog.h>
#include <initHooks.h>
#include <epicsExport.h>

#include "iocmgrArgo.h"
#include "iocmgrDeriver.h"
#include "iocmgrExpected.h"
#include "iocmgrPvt.h"
#include "iocmgrTemplate.h"
#include "iocmgrWriter.h"

static const char *driverName = "iocmgr";

int iocmgrDebug = 0;
epicsExportAddress(int, iocmgrDebug);
/* the Kubernetes layer's own level (k8sLog.h): "var k8sDebug 2" logs every request */
epicsExportAddress(int, k8sDebug);

/* Exit status when the boot-time list failed and the API then showed
 * instances that have no records: Kubernetes restarts the manager with them. */
#define EXIT_INCOMPLETE 3

typedef struct nameList {
    char **names;
    size_t count, cap;
} nameList;

/* Why an instance of the cluster has no records (UNMANAGED). */
typedef enum {
    UNMANAGED_LATE,       /* not in the list at boot: REBOOT loads it */
    UNMANAGED_NAME,       /* a record name would exceed EPICS' 60 characters */
    UNMANAGED_LOAD        /* dbLoadRecords refused its records */
} unmanagedWhy;

typedef struct unmanagedList {
    char **names;
    unmanagedWhy *why;
    size_t count, cap;
} unmanagedList;

static struct {
    epicsMutexId lock;
    /* configuration, fixed before iocInit */
    char *kubeconfig, *context, *namespace_, *selector;
    char *appNamespace, *rootApp, *instanceLabel;
    nameList expected;
    double pendingGrace;
    double crashSettle;
    double watchTimeout;
    k8sClient *client;
    iocmgrTemplate *templ;  /* the instance template's names, for instances seen later */
    char *templMacros;      /* its extra macros */
    IOSCANPVT scan;
    iocmgrScanGate gate;
    /* under lock */
    int readOnly;
    int connected;          /* as the records show it: the cache consistent and derived */
    int wantConnected;      /* as the client last said */
    unsigned syncSeq;       /* resyncs so far */
    char lastError[512];    /* the last error, stamped with its time; never progress */
    char syncMessage[512];  /* why the cache is not in sync now, progress included */
    char bootListError[512];/* the list at boot failed: the table may lack instances */
    unmanagedList unmanaged;
    char argoRootName[254]; /* the root named in st.cmd/EC_TARGET, else the first one found */
    /* lifetime */
    volatile int stopping;
} mgr;

static epicsThreadOnceId onceId = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    mgr.lock = epicsMutexMustCreate();
    iocmgrScanInit(&mgr.scan, &mgr.gate);
    mgr.pendingGrace = 60.0;
    mgr.crashSettle = 120.0;
    mgr.watchTimeout = 120.0;
}

static void ensureInit(void)
{
    epicsThreadOnce(&onceId, onceInit, NULL);
}

void iocmgrLock(void) { epicsMutexMustLock(mgr.lock); }
void iocmgrUnlock(void) { epicsMutexUnlock(mgr.lock); }
IOSCANPVT iocmgrManagerScan(void) { ensureInit(); return mgr.scan; }
void iocmgrRequestMgrScan(void) { iocmgrScanRequest(mgr.scan, &mgr.gate); }

k8sClient *iocmgrClient(void) { return mgr.client; }
double iocmgrPendingGraceSetting(void) { return mgr.pendingGrace; }
double iocmgrCrashSettleSetting(void) { return mgr.crashSettle; }
int iocmgrConnectedLocked(void) { return mgr.connected; }
const char *iocmgrSyncMessageLocked(void) { return mgr.syncMessage; }
int iocmgrReadOnlyLocked(void) { return mgr.readOnly; }
unsigned iocmgrSyncSeqLocked(void) { return mgr.syncSeq; }

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

static void listFree(nameList *l)
{
    size_t i;
    for (i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Under the lock. */
static int unmanagedFind(const char *name)
{
    size_t i;
    for (i = 0; i < mgr.unmanaged.count; i++)
        if (strcmp(mgr.unmanaged.names[i], name) == 0) return (int)i;
    return -1;
}

/* Under the lock; 1 when added. */
static int unmanagedAdd(const char *name, unmanagedWhy why)
{
    unmanagedList *l = &mgr.unmanaged;
    if (unmanagedFind(name) >= 0) return 0;
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        l->why = realloc(l->why, l->cap * sizeof *l->why);
        if (!l->names || !l->why) cantProceed("iocmgr: out of memory");
    }
    l->names[l->count] = epicsStrDup(name);
    l->why[l->count++] = why;
    return 1;
}

/* Under the lock. */
static void unmanagedRemove(const char *name)
{
    unmanagedList *l = &mgr.unmanaged;
    int i = unmanagedFind(name);
    if (i < 0) return;
    free(l->names[i]);
    l->count--;
    l->names[i] = l->names[l->count];
    l->why[i] = l->why[l->count];
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

void iocmgrSetLastError(const char *msg)
{
    iocmgrLock();
    stampError(msg);
    iocmgrUnlock();
    iocmgrRequestMgrScan();
}

/* An error that keeps the manager from getting in sync: also what the
 * instances' MESSAGE and refused commands give as the reason. */
static void setSyncError(const char *msg)
{
    iocmgrLock();
    snprintf(mgr.syncMessage, sizeof mgr.syncMessage, "%s", msg);
    iocmgrUnlock();
    iocmgrSetLastError(msg);
}

/* While a watch gets in sync its message is progress ("pods: listing", "pods:
 * relisting (resourceVersion too old, 410 Gone)"); a failed request or a
 * silent watch is worded "list pods: ..." or "watch pods: ..." (k8sWatch.c).
 * Only those are errors. */
static int isSyncError(const char *msg)
{
    return strncmp(msg, "list ", 5) == 0 || strncmp(msg, "watch ", 6) == 0;
}

void iocmgrNoteRoot(const char *root)
{
    iocmgrLock();
    if (!mgr.argoRootName[0]) snprintf(mgr.argoRootName, sizeof mgr.argoRootName, "%s", root);
    iocmgrUnlock();
}

int iocmgrIsManagerRoot(const char *name)
{
    int is;
    iocmgrLock();
    is = mgr.argoRootName[0] && strcmp(mgr.argoRootName, name) == 0;
    iocmgrUnlock();
    return is;
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
    iocmgrLock();
    mgr.readOnly = readOnly != 0;
    iocmgrUnlock();
    errlogPrintf("%s: read-only mode %s\n", driverName, readOnly ? "on: every command is refused" : "off");
    iocmgrRequestMgrScan();
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

/* ---- what the client's callbacks mean ---------------------------------- */

/* The longest record name an instance would have, over EPICS' limit: its
 * length (0 when it fits or the template is not known) and that name. */
static size_t nameTooLong(const char *name, char *longest, size_t len)
{
    char pv[IOCMGR_NAME_SIZE * 4], macros[1024];
    size_t i, n;
    for (i = 0; name[i] && i + 1 < sizeof pv; i++) pv[i] = (char)toupper((unsigned char)name[i]);
    pv[i] = '\0';
    snprintf(macros, sizeof macros, "P=%s,I=%s,NAME=%s%s%s", iocmgrPrefix(), pv, name,
             mgr.templMacros && mgr.templMacros[0] ? "," : "", mgr.templMacros ? mgr.templMacros : "");
    n = iocmgrTemplateLongest(mgr.templ, macros, longest, len);
    return n > PVNAME_SZ || strlen(name) >= IOCMGR_NAME_SIZE ? n : 0;
}

static void onInstance(void *arg, k8sChange change, const k8sInstance *ki)
{
    iocmgrInst *inst = iocmgrFindInstance(ki->name);
    char longest[256];
    size_t tooLong;
    (void)arg;
    if (inst) {
        iocmgrDeriveLater(inst);
        return;
    }
    /* Records exist only for what was known at boot; REBOOT picks this up,
     * unless its names cannot be records at all. */
    tooLong = change == K8S_DELETED ? 0 : nameTooLong(ki->name, longest, sizeof longest);
    iocmgrLock();
    if (change == K8S_DELETED) unmanagedRemove(ki->name);
    else if (unmanagedAdd(ki->name, tooLong ? UNMANAGED_NAME : UNMANAGED_LATE)) {
        if (tooLong)
            errlogPrintf("%s: instance %s has no records and cannot have: %s would be %zu characters, "
                         "EPICS allows %d; listed in UNMANAGED\n", driverName, ki->name, longest, tooLong,
                         PVNAME_SZ);
        else if (mgr.bootListError[0])
            errlogPrintf("%s: instance %s has no records (the list at boot failed): listed in UNMANAGED\n",
                         driverName, ki->name);
        else
            errlogPrintf("%s: instance %s appeared after boot: listed in UNMANAGED; write REBOOT to manage it\n",
                         driverName, ki->name);
    }
    iocmgrUnlock();
    iocmgrRequestMgrScan();
}

/* An Application concerns the instances it tracks (a child: named as its
 * service, which is the instance) and, as their root, every instance whose
 * child it roots. Another beamline's Applications in a shared namespace
 * concern nothing here: each of their reconciles used to re-derive the whole
 * beamline. */
static void onApp(void *arg, k8sChange change, const k8sApp *app)
{
    iocmgrInst *inst = iocmgrFindInstance(app->name);
    (void)arg; (void)change;
    if (inst) iocmgrDeriveLater(inst);
    iocmgrDeriveForApp(app->name);
    if (iocmgrIsManagerRoot(app->name)) iocmgrRequestMgrScan();
}

static void onPod(void *arg, k8sChange change, const k8sPod *pod)
{
    iocmgrInst *inst = iocmgrFindInstance(pod->ownerName);
    (void)arg; (void)change;
    if (inst) iocmgrDeriveLater(inst);
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

/* The connection lost or back: every record, logs too, shows it (INVALID
 * while the API is unreachable); rare, unlike an instance's changes. */
static void scanEveryInstance(void)
{
    size_t i;
    for (i = 0; i < iocmgrInstanceCount(); i++) {
        iocmgrInst *inst = iocmgrInstanceAt(i);
        iocmgrScanRequest(inst->scan, &inst->gate);
        iocmgrScanRequest(inst->logScan, &inst->logGate);
    }
    iocmgrRequestMgrScan();
}

/* Disconnected is shown at once (stale values are never shown as good);
 * connected only once the deriver has derived every instance from the
 * consistent cache (iocmgrAllDerived). */
static void onSync(void *arg, int connected, const char *message)
{
    (void)arg;
    iocmgrLock();
    if (mgr.wantConnected != connected && !connected)
        errlogPrintf("%s: Kubernetes API unreachable%s%s\n", driverName,
                     message && message[0] ? ": " : "", message ? message : "");
    mgr.wantConnected = connected;
    if (!connected) {
        mgr.connected = 0;
        if (message && message[0]) {
            snprintf(mgr.syncMessage, sizeof mgr.syncMessage, "%s", message);
            if (isSyncError(message) && mgr.bootListError[0]) {
                /* the boot-time failure is what matters most: keep saying it */
                char msg[512];
                snprintf(msg, sizeof msg, "%.250s; and the instance list at boot failed: the manager serves "
                         "only the %zu instance(s) it expected until the API answers, then restarts", message,
                         iocmgrInstanceCount());
                stampError(msg);
            } else if (isSyncError(message)) {
                stampError(message);
            }
        }
    } else {
        mgr.syncSeq++;
    }
    iocmgrUnlock();
    if (connected) iocmgrDeriveAllLater();
    else scanEveryInstance();
}

void iocmgrAllDerived(unsigned seq)
{
    int publish = 0;
    size_t missing = 0, i;
    char msg[700];

    iocmgrLock();
    if (mgr.wantConnected && !mgr.connected && seq == mgr.syncSeq) {
        for (i = 0; mgr.bootListError[0] && i < mgr.unmanaged.count; i++)
            missing += mgr.unmanaged.why[i] == UNMANAGED_LATE;
        if (!missing) {
            mgr.connected = 1;
            mgr.bootListError[0] = '\0';
            publish = 1;
        } else {
            snprintf(msg, sizeof msg, "the API now shows %zu instance(s) with no records, as the list at boot "
                     "failed: exiting (status %d) so that Kubernetes restarts the manager with them",
                     missing, EXIT_INCOMPLETE);
            stampError(msg);
        }
    }
    iocmgrUnlock();
    if (missing) {
        errlogPrintf("%s: %s\n", driverName, msg);
        iocmgrRequestMgrScan();
        epicsExitLater(EXIT_INCOMPLETE);
        return;
    }
    if (!publish) return;
    errlogPrintf("%s: Kubernetes API connected, cache consistent\n", driverName);
    scanEveryInstance();
    /* The lists that led here left their response buffers (~70 MB of JSON at
     * 5,000 instances) free. */
    releaseFreedMemory();
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
    if (k8sClientAppNamespace(mgr.client)[0])
        errlogPrintf("%s: Argo CD Applications watched in namespace %s%s%s\n", driverName,
                     k8sClientAppNamespace(mgr.client), k8sClientRootApp(mgr.client)[0] ? ", root " : "",
                     k8sClientRootApp(mgr.client));
    snprintf(mgr.argoRootName, sizeof mgr.argoRootName, "%s", k8sClientRootApp(mgr.client));
    return 0;
}

/* ---- the instances at boot -------------------------------------------- */

static int byName(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *domainOf(const k8sInstance *list, size_t n, const char *name)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return list[i].labelDomain[0] ? list[i].labelDomain : list[i].labelLocation;
    return "";
}

/* LAST_ERROR for the instances skipped at boot: which, how long, the limit. */
static void reportSkipped(const nameList *skipped, const char *firstLongest, size_t firstLen)
{
    char msg[512];
    size_t i, used;
    if (!skipped->count) return;
    used = (size_t)snprintf(msg, sizeof msg, "%zu instance(s) not managed, listed in UNMANAGED: record names "
                            "would exceed EPICS' %d characters (%s: %zu) with prefix %s (%zu characters): ",
                            skipped->count, PVNAME_SZ, firstLongest, firstLen, iocmgrPrefix(),
                            strlen(iocmgrPrefix()));
    for (i = 0; i < skipped->count && used < sizeof msg; i++)
        used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s", i ? ", " : "", skipped->names[i]);
    iocmgrSetLastError(msg);
}

/* Loads one instance's records, unless its names cannot be records; 0 when
 * loaded. The reason goes to the log and UNMANAGED. */
static int loadOne(const char *templ, const char *name, nameList *skipped, char *firstLongest,
                   size_t firstLen, size_t *firstN)
{
    char macros[1024], longest[256], pv[IOCMGR_NAME_SIZE * 4];
    size_t n, i;

    for (i = 0; name[i] && i + 1 < sizeof pv; i++) pv[i] = (char)toupper((unsigned char)name[i]);
    pv[i] = '\0';
    if ((n = nameTooLong(name, longest, sizeof longest)) != 0) {
        errlogPrintf("%s: instance %s not managed: its record %s would be %zu characters, EPICS allows %d "
                     "(prefix %s: %zu characters); listed in UNMANAGED\n", driverName, name, longest, n,
                     PVNAME_SZ, iocmgrPrefix(), strlen(iocmgrPrefix()));
        if (!skipped->count) {
            snprintf(firstLongest, firstLen, "%s", longest);
            *firstN = n;
        }
        listAdd(skipped, name);
        iocmgrLock();
        unmanagedAdd(name, UNMANAGED_NAME);
        iocmgrUnlock();
        return -1;
    }
    snprintf(macros, sizeof macros, "P=%s,I=%s,NAME=%s%s%s", iocmgrPrefix(), pv, name,
             mgr.templMacros && mgr.templMacros[0] ? "," : "", mgr.templMacros ? mgr.templMacros : "");
    if (dbLoadRecords(templ, macros) != 0) {
        errlogPrintf("%s: instance %s not managed: dbLoadRecords(%s, %s) failed; listed in UNMANAGED\n",
                     driverName, name, templ, macros);
        iocmgrLock();
        unmanagedAdd(name, UNMANAGED_LOAD);
        iocmgrUnlock();
        return -1;
    }
    return 0;
}

static void initHook(initHookState state);

int iocmgrLoadInstances(const char *prefix, const char *templ, const char *extraMacros,
                        double timeout)
{
    k8sInstance *list = NULL;
    size_t n = 0, i, firstN = 0;
    nameList names = { NULL, 0, 0 }, skipped = { NULL, 0, 0 };
    char err[512], firstLongest[256] = "";

    ensureInit();
    if (interruptAccept || iocmgrInstanceCount() || mgr.templMacros) {
        errlogPrintf("%s: iocmgrLoadInstances runs once, before iocInit\n", driverName);
        return -1;
    }
    if (!prefix || !templ || !templ[0]) {
        errlogPrintf("%s: usage: iocmgrLoadInstances(prefix, template, [macros], [timeout])\n", driverName);
        return -1;
    }
    if (timeout <= 0) timeout = 10.0;
    iocmgrTableSetPrefix(prefix);
    mgr.templMacros = epicsStrDup(extraMacros ? extraMacros : "");
    if (iocmgrTemplateRead(templ, &mgr.templ, err, sizeof err) != 0)
        errlogPrintf("%s: warning: %s: record name lengths are not checked before loading\n", driverName, err);
    if (!mgr.client && createClient() == 0) {
        if (k8sClientListInstances(mgr.client, timeout, &list, &n, err, sizeof err) != 0) {
            char msg[700];
            snprintf(mgr.bootListError, sizeof mgr.bootListError, "%s", err);
            snprintf(msg, sizeof msg, "the instance list at boot failed: %.400s", err);
            errlogPrintf("%s: %s\n", driverName, msg);
            errlogPrintf("%s: managing only the %zu expected instance(s); once the API answers and shows "
                         "others, the manager exits (status %d) to be restarted with them\n", driverName,
                         mgr.expected.count, EXIT_INCOMPLETE);
            setSyncError(msg);
        }
    }
    for (i = 0; i < n; i++) {
        if (iocmgrValidName(list[i].name) == 0) listAdd(&names, list[i].name);
        else errlogPrintf("%s: skipping instance '%s': not a usable name\n", driverName, list[i].name);
    }
    for (i = 0; i < mgr.expected.count; i++) listAdd(&names, mgr.expected.names[i]);
    if (names.count) qsort(names.names, names.count, sizeof *names.names, byName);

    iocmgrTableReserve(names.count);
    for (i = 0; i < names.count; i++) {
        const char *name = names.names[i];
        if (loadOne(templ, name, &skipped, firstLongest, sizeof firstLongest, &firstN) == 0)
            iocmgrTableAdd(name, listHas(&mgr.expected, name), domainOf(list, n, name));
    }
    reportSkipped(&skipped, firstLongest, firstN);
    free(list);
    listFree(&names);
    listFree(&skipped);
    /* Each instance has I/O Intr lists of its own and a resync queues them
     * all at once (once each, iocmgrScan.c): the callback queues must hold
     * them. Base's default is 2000 entries; a st.cmd may still set a larger
     * size with callbackSetQueueSize() after iocmgrLoadInstances. */
    if (iocmgrInstanceCount() > 1000)
        callbackSetQueueSize((int)iocmgrInstanceCount() + 2000);
    errlogPrintf("%s: managing %zu instance(s)\n", driverName, iocmgrInstanceCount());
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

void iocmgrReadLiveness(const iocmgrInst *inst, iocmgrLiveness *out)
{
    /* iocmgrDeriveDisconnected changes none of these */
    out->running = inst->view.running;
    out->ready = inst->view.ready;
    out->startedEpoch = inst->view.startedEpoch;
    out->connected = mgr.connected;
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
    out->count = (int)iocmgrInstanceCount();
    iocmgrDerivedCounts(&out->runningCount, &out->faultCount);
    if (mgr.client) {
        snprintf(out->namespace_, sizeof out->namespace_, "%s", k8sClientNamespace(mgr.client));
        snprintf(out->apiUrl, sizeof out->apiUrl, "%s", k8sClientServer(mgr.client));
    }
    snprintf(out->lastError, sizeof out->lastError, "%s", mgr.lastError);
    readRoot(out);
}

size_t iocmgrReadUnmanaged(char *out, size_t len, const char *sep)
{
    size_t i, used = 0, left = 0, sl = strlen(sep);
    if (!len) return mgr.unmanaged.count;
    out[0] = '\0';
    for (i = 0; i < mgr.unmanaged.count; i++) {
        const char *name = mgr.unmanaged.names[i];
        size_t need = strlen(name) + (used ? sl : 0);
        if (used + need + 1 > len) {
            left++;
            continue;
        }
        used += (size_t)sprintf(out + used, "%s%s", used ? sep : "", name);
    }
    return left;
}

/* ---- lifetime --------------------------------------------------------- */

static void atExit(void *arg)
{
    (void)arg;
    mgr.stopping = 1;
    if (mgr.client) k8sClientStop(mgr.client);
    iocmgrDeriverStop();
}

static void initHook(initHookState state)
{
    char err[512];
    if (state == initHookAtBeginning) {
        iocmgrWriterInit();
        return;
    }
    if (state == initHookAfterInitDevSup || state == initHookAfterInitDatabase) {
        mapLargeBlocksDuringRecordInit(state == initHookAfterInitDevSup);
        return;
    }
    if (state != initHookAfterIocRunning || !mgr.client) return;
    if (iocmgrDeriverStart() != 0) {
        errlogPrintf("%s: cannot start the deriver thread\n", driverName);
        setSyncError("cannot start the deriver thread");
        return;
    }
    epicsAtExit(atExit, NULL);
    if (k8sClientStart(mgr.client, err, sizeof err) != 0) {
        errlogPrintf("%s: cannot start the watch: %s\n", driverName, err);
        setSyncError(err);
    }
}
