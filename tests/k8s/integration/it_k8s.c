/* Integration tests against the local control plane (tests/cluster/up.sh +
 * demo.sh). Run by run.sh with the cluster's env sourced. Own objects live
 * in namespace iocmgr-k8s-test; the demo namespace is only read (and a
 * forbidden write is attempted against the test namespace). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "k8sArgo.h"
#include "k8sClient.h"
#include "k8sNet.h"
#include "k8sWatch.h"
#include "k8sCache.h"

#define NS "iocmgr-k8s-test"
#define DEMO "bl46p-iocs"

static const char *clusterDir;

/* ------------------------------------------------------------ recorder */

typedef struct recorder {
    pthread_mutex_t lock;
    char log[4096][160];
    int n;
    int connected;
    char syncMsg[600];
    double disconnectedAt;
} recorder;

static recorder rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&rec.lock);
    if (rec.n < 4096) {
        va_start(ap, fmt);
        vsnprintf(rec.log[rec.n++], sizeof rec.log[0], fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&rec.lock);
}

static const char *chName(k8sChange c) { return c == K8S_ADDED ? "ADDED" : c == K8S_MODIFIED ? "MODIFIED" : "DELETED"; }

static void onInstance(void *arg, k8sChange ch, const k8sInstance *i)
{
    (void)arg;
    note("%s instance %s %s desc=%s", chName(ch), i->name, i->uid, i->labelDescription);
}

static void onPod(void *arg, k8sChange ch, const k8sPod *p)
{
    (void)arg;
    note("%s pod %s %s", chName(ch), p->name, p->uid);
}

static void onSync(void *arg, int connected, const char *msg)
{
    (void)arg;
    pthread_mutex_lock(&rec.lock);
    if (rec.connected && !connected)
        rec.disconnectedAt = k8sNow();
    rec.connected = connected;
    snprintf(rec.syncMsg, sizeof rec.syncMsg, "%s", msg);
    pthread_mutex_unlock(&rec.lock);
    note("SYNC %d %s", connected, msg);
}

/* index of the first log line at or after `from` containing all of a and b */
static int seen(int from, const char *a, const char *b)
{
    int i, found = -1;
    pthread_mutex_lock(&rec.lock);
    for (i = from; i < rec.n && found < 0; i++)
        if (strstr(rec.log[i], a) && (!b || strstr(rec.log[i], b)))
            found = i;
    pthread_mutex_unlock(&rec.lock);
    return found;
}

static int logSize(void)
{
    int n;
    pthread_mutex_lock(&rec.lock);
    n = rec.n;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

static int countSeen(int from, const char *a, const char *b)
{
    int i, n = 0;
    pthread_mutex_lock(&rec.lock);
    for (i = from; i < rec.n; i++)
        if (strstr(rec.log[i], a) && (!b || strstr(rec.log[i], b)))
            n++;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

static int isConnected(void)
{
    int c;
    pthread_mutex_lock(&rec.lock);
    c = rec.connected;
    pthread_mutex_unlock(&rec.lock);
    return c;
}

#define WAIT_FOR(cond, seconds)                                                      \
    do {                                                                             \
        double t0_ = k8sNow();                                                       \
        while (!(cond)) {                                                            \
            if (k8sNow() - t0_ > (seconds))                                          \
                fail_msg("timed out after %.0f s waiting for: %s", (double)(seconds), #cond); \
            usleep(100000);                                                          \
        }                                                                            \
    } while (0)

/* -------------------------------------------------------------- helpers */

static int sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        cmd = NULL;
    va_end(ap);
    assert_non_null(cmd);
    rc = system(cmd);
    free(cmd);
    return rc;
}

static void applySts(const char *name, int replicas, const char *labels)
{
    assert_int_equal(sh("kubectl apply -n " NS " -f - >/dev/null <<'EOF'\n"
                        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: %s\n  labels: {app: %s%s}\n"
                        "spec:\n  replicas: %d\n  serviceName: %s\n  selector: {matchLabels: {app: %s}}\n"
                        "  template:\n    metadata: {labels: {app: %s}}\n    spec:\n"
                        "      terminationGracePeriodSeconds: 0\n"
                        "      tolerations: [{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}]\n"
                        "      containers: [{name: ioc, image: 'ghcr.io/epics-containers/ioc-test:1.0'}]\n"
                        "EOF",
                        name, name, labels, replicas, name, name, name), 0);
}

static k8sClient *newClient(const char *kubeconfig, const char *ns, k8sClientCallbacks *cb)
{
    k8sClientOptions o;
    k8sClient *c = NULL;
    char err[1024];
    memset(&o, 0, sizeof o);
    o.kubeconfig = kubeconfig;
    o.namespace_ = ns;
    o.watchTimeoutSeconds = 60;
    if (k8sClientCreate(&o, cb, &c, err, sizeof err))
        fail_msg("create: %s", err);
    return c;
}

static k8sClient *client;   /* on NS, admin, started */

typedef struct waiter {
    pthread_mutex_t lock;
    int done;
    k8sResult res;
    char body[4096];
} waiter;

static void onDone(void *arg, const k8sResult *r)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->res = *r;
    w->res.body = NULL;
    if (r->body)
        snprintf(w->body, sizeof w->body, "%.*s", (int)(r->bodyLen < 4000 ? r->bodyLen : 4000), r->body);
    w->done = 1;
    pthread_mutex_unlock(&w->lock);
}

static int isDone(waiter *w)
{
    int d;
    pthread_mutex_lock(&w->lock);
    d = w->done;
    pthread_mutex_unlock(&w->lock);
    return d;
}

static void waitDone(waiter *w)
{
    WAIT_FOR(isDone(w), 30);
}

static int podRunning(const char *instance, const char *notUid)
{
    k8sPod p[4];
    size_t n = 0;
    k8sClientGetPods(client, instance, p, 4, &n);
    return n == 1 && strcmp(p[0].phase, "Running") == 0 && !p[0].deleting && (!notUid || strcmp(p[0].uid, notUid) != 0);
}

static size_t podCount(const char *instance)
{
    k8sPod p[4];
    size_t n = 0;
    k8sClientGetPods(client, instance, p, 4, &n);
    return n;
}

static int instanceImage(const char *name, const char *image)
{
    k8sInstance i;
    return k8sClientGetInstance(client, name, &i) == 0 && strcmp(i.image, image) == 0;
}

static int podImage(const char *instance, const char *image)
{
    k8sPod p[4];
    size_t n = 0;
    k8sClientGetPods(client, instance, p, 4, &n);
    return n == 1 && strcmp(p[0].image, image) == 0 && strcmp(p[0].phase, "Running") == 0;
}

/* ---------------------------------------------------------------- setup */

static int groupSetup(void **state)
{
    k8sClientCallbacks cb = { NULL, onInstance, onPod, onSync, NULL };
    char err[512];
    (void)state;
    clusterDir = getenv("IOCMGR_CLUSTER_DIR");
    assert_non_null(clusterDir);
    sh("kubectl delete namespace " NS " --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1");
    assert_int_equal(sh("kubectl create namespace " NS " >/dev/null"), 0);
    client = newClient(NULL, NS, &cb);
    if (k8sClientStart(client, err, sizeof err))
        fail_msg("start: %s", err);
    WAIT_FOR(isConnected(), 20);
    return 0;
}

static int groupTeardown(void **state)
{
    (void)state;
    k8sClientDestroy(client);
    sh("kubectl delete namespace " NS " --wait=false >/dev/null 2>&1");
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_list_demo(void **state)
{
    k8sClient *c = newClient(NULL, DEMO, NULL);
    k8sInstance *list = NULL;
    size_t n = 0, i;
    int sts = 0, oldLabel = 0, deploy = 0;
    char err[1024];
    (void)state;
    if (k8sClientListInstances(c, 20, &list, &n, err, sizeof err))
        fail_msg("%s", err);
    for (i = 0; i < n; i++) {
        sts += strcmp(list[i].name, "bl46p-ea-ioc-01") == 0 && strcmp(list[i].kind, "StatefulSet") == 0;
        oldLabel += strcmp(list[i].name, "bl46p-di-dcam-01") == 0 && list[i].isIocLabel;
        deploy += strcmp(list[i].name, "bl46p-va-ioc-01") == 0 && strcmp(list[i].kind, "Deployment") == 0;
    }
    assert_true(n >= 5);
    assert_int_equal(sts, 1);
    assert_int_equal(oldLabel, 1);
    assert_int_equal(deploy, 1);
    free(list);
    k8sClientDestroy(c);
}

static void test_watch_lifecycle(void **state)
{
    int mark = logSize();
    k8sInstance inst;
    (void)state;
    applySts("it-plain", 0, "");          /* no ioc label: never managed */
    applySts("it-a", 1, ", ioc: 'true'");
    WAIT_FOR(seen(mark, "ADDED instance it-a", NULL) >= 0, 15);
    WAIT_FOR(seen(mark, "ADDED pod it-a-0", NULL) >= 0, 30);
    WAIT_FOR(podRunning("it-a", NULL), 30);
    assert_int_equal(sh("kubectl label -n " NS " sts it-a description=changed >/dev/null"), 0);
    WAIT_FOR(seen(mark, "MODIFIED instance it-a", "desc=changed") >= 0, 15);
    assert_int_equal(sh("kubectl delete -n " NS " sts it-a --wait=false >/dev/null"), 0);
    WAIT_FOR(seen(mark, "DELETED instance it-a", NULL) >= 0, 15);
    WAIT_FOR(seen(mark, "DELETED pod it-a-0", NULL) >= 0, 60);
    assert_int_equal(k8sClientGetInstance(client, "it-a", &inst), -1);
    assert_int_equal(k8sClientGetInstance(client, "it-plain", &inst), -1);
    assert_int_equal(seen(mark, "instance it-plain", NULL), -1);
    assert_int_equal(countSeen(mark, "ADDED instance it-a", NULL), 1);
}

/* The boot-time list (k8sClientListInstances) fills the StatefulSet cache and
 * the watch starts from that list's resourceVersion instead of listing again:
 * the cache answers before the start, and a change made between the list and
 * the start arrives as MODIFIED (a second list would report the instance as
 * ADDED). */
typedef struct seedRecorder {
    pthread_mutex_t lock;
    int added, modified;
    char desc[sizeof ((k8sInstance *)0)->labelDescription];
} seedRecorder;

static seedRecorder seedRec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void onSeedInstance(void *arg, k8sChange ch, const k8sInstance *i)
{
    seedRecorder *r = arg;
    if (strcmp(i->name, "it-seed") != 0)
        return;
    pthread_mutex_lock(&r->lock);
    r->added += ch == K8S_ADDED;
    r->modified += ch == K8S_MODIFIED;
    snprintf(r->desc, sizeof r->desc, "%s", i->labelDescription);
    pthread_mutex_unlock(&r->lock);
}

static int seedShows(const char *desc)
{
    int yes;
    pthread_mutex_lock(&seedRec.lock);
    yes = strcmp(seedRec.desc, desc) == 0;
    pthread_mutex_unlock(&seedRec.lock);
    return yes;
}

static void test_boot_list_seeds_the_watch(void **state)
{
    k8sClientCallbacks cb = { &seedRec, onSeedInstance, NULL, NULL, NULL };
    k8sInstance *list = NULL, inst;
    size_t n = 0;
    char err[1024];
    k8sClient *c;
    (void)state;
    applySts("it-seed", 0, ", ioc: 'true', description: before");
    WAIT_FOR(k8sClientGetInstance(client, "it-seed", &inst) == 0, 15);
    c = newClient(NULL, NS, &cb);
    if (k8sClientListInstances(c, 20, &list, &n, err, sizeof err))
        fail_msg("%s", err);
    free(list);
    assert_int_equal(k8sClientGetInstance(c, "it-seed", &inst), 0);
    assert_string_equal(inst.labelDescription, "before");
    assert_int_equal(sh("kubectl label -n " NS " sts it-seed description=between --overwrite >/dev/null"), 0);
    if (k8sClientStart(c, err, sizeof err))
        fail_msg("start: %s", err);
    WAIT_FOR(seedShows("between"), 15);
    pthread_mutex_lock(&seedRec.lock);
    assert_int_equal(seedRec.added, 0);
    assert_true(seedRec.modified >= 1);
    pthread_mutex_unlock(&seedRec.lock);
    assert_int_equal(k8sClientGetInstance(c, "it-seed", &inst), 0);
    assert_string_equal(inst.labelDescription, "between");
    k8sClientDestroy(c);
    sh("kubectl delete -n " NS " sts it-seed --wait=false >/dev/null");
}

static void test_scale(void **state)
{
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    waiter w2 = { .lock = PTHREAD_MUTEX_INITIALIZER };
    char err[512];
    k8sInstance inst;
    (void)state;
    applySts("it-b", 1, ", ioc: 'true'");
    WAIT_FOR(podRunning("it-b", NULL), 60);
    assert_int_equal(k8sClientScale(client, "it-b", 0, onDone, &w, err, sizeof err), 0);
    waitDone(&w);
    assert_true(w.res.ok);
    assert_string_equal(w.res.message, "scaled it-b to 0");
    WAIT_FOR(podCount("it-b") == 0, 60);
    assert_int_equal(k8sClientGetInstance(client, "it-b", &inst), 0);
    assert_int_equal(inst.specReplicas, 0);
    assert_int_equal(k8sClientScale(client, "it-b", 1, onDone, &w2, err, sizeof err), 0);
    waitDone(&w2);
    assert_true(w2.res.ok);
    WAIT_FOR(podRunning("it-b", NULL), 60);
}

/* A DELETE of it-b-0 carrying the uid of the pod it replaced (a late or
 * repeated RESTART): the API refuses it (409), the replacement stays. */
typedef struct staleDelete {
    k8sNet *net;
    const char *pod, *uid;
    waiter *w;
} staleDelete;

static void staleDeleteRun(void *arg, int cancelled)
{
    staleDelete *d = arg;
    const char *pods[1] = {d->pod}, *uids[1] = {d->uid};
    char err[256];
    if (cancelled || k8sOpsDeletePods(d->net, NS, "it-b", pods, uids, 1, onDone, d->w, err, sizeof err) != 0) {
        k8sResult r;
        memset(&r, 0, sizeof r);
        snprintf(r.message, sizeof r.message, "not sent: %s", cancelled ? "cancelled" : err);
        onDone(d->w, &r);
    }
}

static void staleDeleteSparesTheReplacement(const char *pod, const char *staleUid)
{
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    k8sConfig *cfg = NULL;
    staleDelete d = {NULL, pod, staleUid, &w};
    k8sPod p[2];
    size_t n = 0;
    char err[512], now[64];

    k8sClientGetPods(client, "it-b", p, 2, &n);
    assert_int_equal(n, 1);
    snprintf(now, sizeof now, "%s", p[0].uid);
    assert_int_equal(k8sConfigLoad(NULL, NULL, &cfg, err, sizeof err), 0);
    d.net = k8sNetCreate(cfg, NULL, NULL, err, sizeof err);
    assert_non_null(d.net);
    assert_int_equal(k8sNetStart(d.net, err, sizeof err), 0);
    assert_int_equal(k8sNetPost(d.net, staleDeleteRun, &d, err, sizeof err), 0);
    waitDone(&w);
    k8sNetStop(d.net);
    k8sNetDestroy(d.net);
    k8sConfigFree(cfg);
    assert_true(w.res.ok);                /* the pod that was seen is gone: done */
    /* "never touched", from the API itself rather than after a sleep for the watch: a
     * DELETE takes effect before it is answered (deletionTimestamp set, or gone), and
     * its answer has come. Then the cache, which must agree. */
    assert_int_equal(sh("test \"$(kubectl get pods -n " NS " -l app=it-b -o "
                        "jsonpath='{range .items[*]}{.metadata.uid}/{.metadata.deletionTimestamp};{end}')\" = '%s/;'",
                        now), 0);
    k8sClientGetPods(client, "it-b", p, 2, &n);
    assert_int_equal(n, 1);
    assert_string_equal(p[0].uid, now);   /* and the replacement was not touched */
    assert_false(p[0].deleting);
    print_message("# a DELETE with the replaced pod's uid: refused by the API, replacement %s kept\n", now);
}

static void test_restart(void **state)
{
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    k8sPod p[2];
    size_t n = 0;
    char err[512], uid[64];
    (void)state;
    WAIT_FOR(podRunning("it-b", NULL), 60);
    k8sClientGetPods(client, "it-b", p, 2, &n);
    snprintf(uid, sizeof uid, "%s", p[0].uid);
    assert_int_equal(k8sClientRestart(client, "it-b", onDone, &w, err, sizeof err), 0);
    waitDone(&w);
    assert_true(w.res.ok);
    assert_non_null(strstr(w.res.message, "restart requested"));
    WAIT_FOR(podRunning("it-b", uid), 60);
    assert_int_equal(k8sClientRestart(client, "it-nothing", onDone, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "has no pod to restart"));
    staleDeleteSparesTheReplacement("it-b-0", uid);
}

static void test_set_image(void **state)
{
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    const char *img = "ghcr.io/epics-containers/ioc-test:2.0";
    char err[512];
    (void)state;
    assert_int_equal(k8sClientSetImage(client, "it-b", "ghcr.io/Bad/Ref", onDone, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid image reference"));
    assert_false(isDone(&w));
    assert_int_equal(k8sClientSetImage(client, "it-b", img, onDone, &w, err, sizeof err), 0);
    waitDone(&w);
    if (!w.res.ok)
        fail_msg("%ld %s", w.res.httpStatus, w.res.message);
    WAIT_FOR(instanceImage("it-b", img), 15);
    WAIT_FOR(podImage("it-b", img), 90);    /* the StatefulSet controller rolled the pod */
}

static void test_logs(void **state)
{
    k8sClient *c = newClient(NULL, DEMO, NULL);
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    waiter w2 = { .lock = PTHREAD_MUTEX_INITIALIZER };
    waiter w3 = { .lock = PTHREAD_MUTEX_INITIALIZER };
    char err[512];
    (void)state;
    assert_int_equal(k8sClientStart(c, err, sizeof err), 0);
    assert_int_equal(k8sClientGetLog(c, "bl46p-ea-ioc-01-0", 5, 0, onDone, &w, err, sizeof err), 0);
    waitDone(&w);
    if (!w.res.ok)
        fail_msg("%ld %s", w.res.httpStatus, w.res.message);
    assert_true(w.res.bodyLen > 0);
    assert_true(strlen(w.body) > 0);
    assert_int_equal(k8sClientGetLog(c, "bl46p-ea-ioc-04-0", 5, 1, onDone, &w2, err, sizeof err), 0);
    waitDone(&w2);
    if (!w2.res.ok)
        fail_msg("previous: %ld %s", w2.res.httpStatus, w2.res.message);
    assert_int_equal(k8sClientGetLog(c, "no-such-pod-0", 5, 0, onDone, &w3, err, sizeof err), 0);
    waitDone(&w3);
    assert_false(w3.res.ok);
    assert_int_equal(w3.res.httpStatus, 404);
    assert_string_equal(w3.res.message, "pods \"no-such-pod-0\" not found");
    k8sClientDestroy(c);
}

static int limitedConnected;
static void onLimitedSync(void *arg, int connected, const char *msg)
{
    (void)arg;
    (void)msg;
    __atomic_store_n(&limitedConnected, connected, __ATOMIC_SEQ_CST);
}

static void test_forbidden(void **state)
{
    char kc[600], err[512];
    k8sClientCallbacks cb = { NULL, NULL, NULL, onLimitedSync, NULL };
    k8sClient *c;
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    (void)state;
    snprintf(kc, sizeof kc, "%s/limited.kubeconfig", clusterDir);
    /* least privilege is enough to be in sync in the beamline namespace */
    c = newClient(kc, DEMO, &cb);
    assert_int_equal(k8sClientStart(c, err, sizeof err), 0);
    WAIT_FOR(__atomic_load_n(&limitedConnected, __ATOMIC_SEQ_CST), 20);
    k8sClientDestroy(c);
    /* ...and nothing outside it */
    c = newClient(kc, NS, NULL);
    assert_int_equal(k8sClientStart(c, err, sizeof err), 0);
    assert_int_equal(k8sClientScale(c, "it-b", 0, onDone, &w, err, sizeof err), 0);
    waitDone(&w);
    assert_false(w.res.ok);
    assert_int_equal(w.res.httpStatus, 403);
    assert_string_equal(w.res.message,
                        "statefulsets.apps \"it-b\" is forbidden: User \"system:serviceaccount:bl46p-iocs:iocmgr\" "
                        "cannot patch resource \"statefulsets/scale\" in API group \"apps\" in the namespace \"" NS "\"");
    k8sClientDestroy(c);
}


static int collectInstance(k8sClient *c, const char *name)
{
    k8sInstance i;
    return k8sClientGetInstance(c, name, &i) == 0;
}

static void test_apiserver_restart(void **state)
{
    int mark = logSize();
    double t0, detect;
    char cmd[600];
    FILE *f;
    char line[256];
    int kubectlCount = 0;
    (void)state;
    applySts("it-c", 1, ", ioc: 'true'");
    WAIT_FOR(podRunning("it-c", NULL), 60);
    WAIT_FOR(isConnected(), 10);
    t0 = k8sNow();
    assert_int_equal(sh("../cluster/apiserver.sh stop >/dev/null 2>&1"), 0);
    /* a figure, not a threshold: the bound is apiserver.sh's own stop (SIGKILL after 3 s)
     * plus a margin for a loaded 2-core machine; the connection reset is seen at once */
    WAIT_FOR(!isConnected(), 30);
    detect = rec.disconnectedAt - t0;
    print_message("# disconnection reported %.2f s after the stop began: %s\n", detect, rec.syncMsg);
    sleep(2);   /* let the client retry against a dead port */
    assert_int_equal(sh("../cluster/apiserver.sh start >/dev/null 2>&1"), 0);
    /* changes made as soon as the API is back, probably while the client is
     * still backing off: the relist must bring them, deletes included */
    assert_int_equal(sh("kubectl delete -n " NS " sts it-c --wait=false >/dev/null"), 0);
    applySts("it-d", 0, ", is_ioc: 'true'");
    WAIT_FOR(isConnected(), 40);
    WAIT_FOR(seen(mark, "DELETED instance it-c", NULL) >= 0, 20);
    WAIT_FOR(seen(mark, "ADDED instance it-d", NULL) >= 0, 20);
    /* converged: the cache holds exactly what the API server has */
    snprintf(cmd, sizeof cmd, "kubectl get sts -n " NS " -l ioc=true -o name; kubectl get sts -n " NS " -l is_ioc=true -o name");
    f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        char *name = strchr(line, '/');
        assert_non_null(name);
        name[strcspn(name, "\n")] = '\0';
        assert_true(collectInstance(client, name + 1));
        kubectlCount++;
    }
    pclose(f);
    {
        k8sInstance i;
        assert_int_equal(k8sClientGetInstance(client, "it-c", &i), -1);
    }
    assert_true(kubectlCount >= 2);   /* it-b, it-d */
}

/* ------------------------------------------------------- forced 410 Gone */

typedef struct bare {
    k8sConfig *cfg;
    k8sNet *net;
    k8sCache *cache;
    k8sWatch w;
    char rv[32];
} bare;

static void bBegin(void *arg) { k8sCacheReplaceBegin(((bare *)arg)->cache); }
static void bEnd(void *arg) { k8sCacheReplaceEnd(((bare *)arg)->cache); }
static void bState(void *arg) { (void)arg; }
static void bObject(void *arg, const cJSON *obj, int deleted)
{
    bare *b = arg;
    k8sInstance i;
    char err[128], key[300];
    if (k8sInstanceFromJson(obj, "StatefulSet", NULL, &i, err, sizeof err))
        return;
    k8sCacheKey(key, sizeof key, i.namespace_, i.name);
    if (deleted)
        k8sCacheDelete(b->cache, key);
    else
        k8sCacheUpsert(b->cache, key, i.uid, i.resourceVersion, &i);
}
static double bTick(void *arg, double now) { return k8sWatchTick(&((bare *)arg)->w, now); }
static void bResume(void *arg, int cancelled)
{
    bare *b = arg;
    if (!cancelled)
        k8sWatchResume(&b->w, b->rv);
}

static void test_forced_410(void **state)
{
    bare b;
    k8sWatchHandler h = { &b, bBegin, bObject, bEnd, bState };
    char err[512];
    const char *port = getenv("IOCMGR_ETCD_CLIENT_PORT");
    (void)state;
    memset(&b, 0, sizeof b);
    /* compact etcd to its current revision: every older resourceVersion is gone */
    applySts("it-e", 0, ", ioc: 'true'");
    assert_int_equal(sh("rev=$(curl -sf -X POST http://127.0.0.1:%s/v3/kv/range -d '{\"key\":\"Lw==\"}' | "
                        "sed -n 's/.*\"revision\":\"\\([0-9]*\\)\".*/\\1/p') && [ -n \"$rev\" ] && "
                        "curl -sf -X POST http://127.0.0.1:%s/v3/kv/compaction -d \"{\\\"revision\\\":$rev}\" >/dev/null",
                        port ? port : "12379", port ? port : "12379"), 0);
    assert_int_equal(k8sConfigLoad(NULL, NULL, &b.cfg, err, sizeof err), 0);
    b.cache = k8sCacheCreate(sizeof(k8sInstance), NULL, NULL);
    b.net = k8sNetCreate(b.cfg, bTick, &b, err, sizeof err);
    assert_non_null(b.net);
    k8sWatchInit(&b.w, b.net, "statefulsets", "/apis/apps/v1/namespaces/" NS "/statefulsets", "", 60, &h);
    snprintf(b.rv, sizeof b.rv, "2");
    assert_int_equal(k8sNetStart(b.net, err, sizeof err), 0);
    assert_int_equal(k8sNetPost(b.net, bResume, &b, err, sizeof err), 0);
    WAIT_FOR(__atomic_load_n(&b.w.relists410, __ATOMIC_SEQ_CST) >= 1 &&
             __atomic_load_n(&b.w.synced, __ATOMIC_SEQ_CST), 20);
    assert_true(k8sCacheCount(b.cache) >= 1);   /* the relist filled the cache */
    k8sNetStop(b.net);
    print_message("# 410 relists: %lu, lists: %lu\n", b.w.relists410, b.w.lists);
    k8sNetDestroy(b.net);
    k8sWatchFree(&b.w);
    k8sCacheDestroy(b.cache);
    k8sConfigFree(b.cfg);
}


/* ---------------------------------------------------------- Argo CD ---- */

/* With Argo CD's own Application CRD (run.sh applies it; argo-crd.sh) and no
 * Argo CD running: the Applications list+watch, who owns an instance, and
 * the root's parameter patch against the real API, with its resourceVersion
 * guard, RBAC and the bad cases. The controller's reaction is the test bed's
 * business (tests/argocd). */

#define ROOT_TRACKING "argocd.argoproj.io/tracking-id: " NS "_it-root:argoproj.io/Application:" NS "/it-argo"

static void applyApp(const char *name, const char *annotations, const char *source)
{
    assert_int_equal(sh("kubectl apply -n " NS " -f - >/dev/null <<'EOF'\n"
                        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: %s\n"
                        "  annotations: {%s}\n"
                        "spec:\n  project: default\n  destination: {name: in-cluster, namespace: " NS "}\n%s\n"
                        "status:\n  sourceType: Helm\n  sync: {status: Synced}\n  health: {status: Healthy}\n"
                        "EOF", name, annotations, source), 0);
}

static int appRv(const char *name, char *rv, size_t len)
{
    k8sApp a;
    if (k8sClientGetApp(client, NS, name, &a) != 0)
        return 0;
    snprintf(rv, len, "%s", a.resourceVersion);
    return 1;
}

static int appHas(const char *name, const char *param, const char *value)
{
    k8sApp a;
    char v[256];
    return k8sClientGetApp(client, NS, name, &a) == 0 && k8sAppParam(&a, param, v, sizeof v) == 0 &&
           strcmp(v, value) == 0;
}

static int ownerProblem(const char *instance, const char *words)
{
    k8sArgoOwner o;
    k8sClientArgoOwner(client, instance, &o);
    return o.managed && strstr(o.problem, words) != NULL;
}

static void setParam(k8sClient *c, const char *app, const char *param, const char *value, waiter *w)
{
    char err[512];
    memset(&w->res, 0, sizeof w->res);
    w->done = 0;
    if (k8sClientSetAppParam(c, app, param, value, 0, onDone, w, err, sizeof err))
        fail_msg("not queued: %s", err);
    waitDone(w);
}

static void test_argo(void **state)
{
    waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER };
    k8sArgoOwner o;
    k8sInstance inst;
    char rv[32], kc[600], out[4096];
    FILE *f;
    size_t n;
    (void)state;
    if (!getenv("IOCMGR_ARGO_CRD")) {
        skip();   /* run.sh says why: argo-crd.sh could not get the CRD */
        return;
    }
    applyApp("it-root", "",
             "  source:\n    repoURL: file:///nowhere/deploy.git\n    path: apps\n    targetRevision: main\n"
             "    helm: {parameters: [{name: other.thing, value: '1.10', forceString: true}]}\n"
             "  syncPolicy: {automated: {prune: true, selfHeal: true}}");
    applyApp("it-argo", ROOT_TRACKING,
             "  source:\n    repoURL: file:///nowhere/services.git\n    path: services/it-argo\n"
             "    targetRevision: '2024.4.1'\n    helm: {parameters: [{name: global.enabled, value: 'true'}]}");
    applySts("it-argo", 1, ", ioc: 'true'");
    assert_int_equal(sh("kubectl annotate -n " NS " sts it-argo --overwrite "
                        "argocd.argoproj.io/tracking-id=" NS "_it-argo:apps/StatefulSet:" NS "/it-argo >/dev/null"), 0);
    WAIT_FOR(appRv("it-root", rv, sizeof rv) && appRv("it-argo", rv, sizeof rv), 20);
    WAIT_FOR(k8sClientGetInstance(client, "it-argo", &inst) == 0 && inst.argoTrackingId[0], 20);

    k8sClientArgoOwner(client, "it-argo", &o);
    assert_true(o.managed);
    assert_true(o.haveRoot);
    assert_string_equal(o.svc, "it-argo");
    assert_string_equal(o.root.name, "it-root");
    assert_string_equal(o.child.targetRevision, "2024.4.1");
    assert_string_equal(o.child.syncStatus, "Synced");
    assert_string_equal(o.problem, "");
    /* a StatefulSet without the annotation is no Application's */
    k8sClientArgoOwner(client, "it-b", &o);
    assert_false(o.managed);

    /* stop: the parameter is added, the other one kept as it was, the StatefulSet untouched */
    setParam(client, "it-root", "services.it-argo.enabled", "false", &w);
    assert_true(w.res.ok);
    assert_string_equal(w.res.message, "services.it-argo.enabled=false on Application " NS "/it-root");
    WAIT_FOR(appHas("it-root", "services.it-argo.enabled", "false"), 20);
    f = popen("kubectl get -n " NS " application it-root -o jsonpath='{.spec.source.helm.parameters}'", "r");
    assert_non_null(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    pclose(f);
    assert_non_null(strstr(out, "{\"forceString\":true,\"name\":\"other.thing\",\"value\":\"1.10\"}"));
    assert_non_null(strstr(out, "{\"name\":\"services.it-argo.enabled\",\"value\":\"false\"}"));
    assert_int_equal(k8sClientGetInstance(client, "it-argo", &inst), 0);
    assert_int_equal(inst.specReplicas, 1);
    /* start: replaced, not added twice */
    setParam(client, "it-root", "services.it-argo.enabled", "true", &w);
    assert_true(w.res.ok);
    WAIT_FOR(appHas("it-root", "services.it-argo.enabled", "true"), 20);
    assert_int_equal(sh("test $(kubectl get -n " NS " application it-root -o jsonpath='{.spec.source.helm.parameters[*].name}'"
                        " | wc -w) -eq 2"), 0);

    /* the guard: a merge patch with a resourceVersion the object no longer has is a 409 */
    assert_int_equal(sh("kubectl patch -n " NS " application it-root --type merge "
                        "-p '{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"source\":{\"helm\":{\"parameters\":[]}}}}' "
                        ">/dev/null 2>%s/it-argo-409.txt; grep -q 'the object has been modified' %s/it-argo-409.txt",
                        clusterDir, clusterDir), 0);
    /* a writer racing the command: it still lands, and nothing the writer did is lost */
    assert_int_equal(sh("(for i in $(seq 1 15); do kubectl annotate -n " NS " application it-root --overwrite "
                        "racer=$i >/dev/null; done) & echo $! > %s/it-argo-racer.pid", clusterDir), 0);
    setParam(client, "it-root", "services.it-argo.targetRevision", "1.10", &w);
    assert_int_equal(sh("wait_pid=$(cat %s/it-argo-racer.pid); while kill -0 $wait_pid 2>/dev/null; do sleep 0.2; done",
                        clusterDir), 0);
    assert_true(w.res.ok);
    WAIT_FOR(appHas("it-root", "services.it-argo.targetRevision", "1.10"), 20);
    assert_int_equal(sh("kubectl get -n " NS " application it-root -o jsonpath='{.metadata.annotations.racer}' | grep -qx 15"), 0);
    assert_true(appHas("it-root", "services.it-argo.enabled", "true"));

    /* 403: a ServiceAccount without applications.argoproj.io */
    {
        k8sClient *c;
        k8sClientOptions opt;
        char err[512];
        snprintf(kc, sizeof kc, "%s/limited.kubeconfig", clusterDir);
        memset(&opt, 0, sizeof opt);
        opt.kubeconfig = kc;
        opt.namespace_ = NS;
        if (k8sClientCreate(&opt, NULL, &c, err, sizeof err))
            fail_msg("create: %s", err);
        assert_int_equal(k8sClientStart(c, err, sizeof err), 0);
        setParam(c, "it-root", "services.it-argo.enabled", "false", &w);
        assert_false(w.res.ok);
        assert_int_equal(w.res.httpStatus, 403);
        assert_non_null(strstr(w.res.message, "setting services.it-argo.enabled=false on Application " NS "/it-root: "
                               "reading the Application: applications.argoproj.io \"it-root\" is forbidden"));
        k8sClientDestroy(c);
    }
    assert_true(appHas("it-root", "services.it-argo.enabled", "true"));

    /* the root itself tracked by another Application: refused before any write */
    assert_int_equal(sh("kubectl annotate -n " NS " application it-root --overwrite "
                        "argocd.argoproj.io/tracking-id=argocd_facility:argoproj.io/Application:" NS "/it-root >/dev/null"), 0);
    WAIT_FOR(ownerProblem("it-argo", "is itself tracked by Application argocd/facility"), 20);
    setParam(client, "it-root", "services.it-argo.enabled", "false", &w);
    assert_false(w.res.ok);
    assert_int_equal(w.res.httpStatus, 0);
    assert_non_null(strstr(w.res.message, "refused: root Application " NS "/it-root is itself tracked"));
    assert_true(appHas("it-root", "services.it-argo.enabled", "true"));
    assert_int_equal(sh("kubectl annotate -n " NS " application it-root argocd.argoproj.io/tracking-id- >/dev/null"), 0);

    /* multi-source root: no Helm parameters to set */
    assert_int_equal(sh("kubectl patch -n " NS " application it-root --type json -p '["
                        "{\"op\":\"remove\",\"path\":\"/spec/source\"},"
                        "{\"op\":\"add\",\"path\":\"/spec/sources\",\"value\":[{\"repoURL\":\"file:///x\",\"path\":\"apps\"}]}]' "
                        ">/dev/null"), 0);
    WAIT_FOR(ownerProblem("it-argo", "has no single spec.source"), 20);
    setParam(client, "it-root", "services.it-argo.enabled", "false", &w);
    assert_false(w.res.ok);
    assert_non_null(strstr(w.res.message, "no single spec.source"));

    /* root, then child, deleted */
    assert_int_equal(sh("kubectl delete -n " NS " application it-root --wait=true >/dev/null"), 0);
    WAIT_FOR(ownerProblem("it-argo", "root Application " NS "/it-root of it-argo not found"), 20);
    setParam(client, "it-root", "services.it-argo.enabled", "false", &w);
    assert_false(w.res.ok);
    assert_int_equal(w.res.httpStatus, 404);
    assert_int_equal(sh("kubectl delete -n " NS " application it-argo --wait=true >/dev/null"), 0);
    WAIT_FOR(ownerProblem("it-argo", "(named by the tracking-id) not found"), 20);
    assert_int_equal(k8sClientGetInstance(client, "it-argo", &inst), 0);
    assert_int_equal(inst.specReplicas, 1);
    sh("kubectl delete -n " NS " sts it-argo --wait=false >/dev/null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_demo),
        cmocka_unit_test(test_watch_lifecycle),
        cmocka_unit_test(test_boot_list_seeds_the_watch),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_set_image),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_forbidden),
        cmocka_unit_test(test_apiserver_restart),
        cmocka_unit_test(test_forced_410),
        cmocka_unit_test(test_argo),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8s-integration", tests, groupSetup, groupTeardown);
}
