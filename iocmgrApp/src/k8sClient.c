/* k8sClient.c - facade over config, network thread, watches, caches and ops; see k8sClient.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sClient.h"
#include "k8sApply.h"
#include "k8sArgoOps.h"
#include "k8sConfig.h"
#include "k8sNet.h"
#include "k8sWatch.h"

static const char *driverName = "k8sClient";

enum { W_STS, W_DEPLOY, W_PODS, W_EVENTS, W_APPS, W_COUNT };

typedef struct stream {
    k8sClient *client;
    int index;
    k8sCache *cache;
    k8sWatch watch;
    int optional;     /* may be forbidden by a least-privilege Role without breaking sync */
    char seedRv[64];  /* the boot list filled the cache at this resourceVersion: watch from it */
} stream;

/* "ns/root svc" of a service whose parameters were said not to fit (noteOversized) */
typedef struct oversizedNote {
    struct oversizedNote *next;
    char key[];
} oversizedNote;

struct k8sClient {
    k8sConfig *cfg;
    k8sNet *net;
    k8sClientCallbacks cb;
    char namespace_[254];
    char selectors[512];
    char container[64];
    char appNamespace[64];      /* "" : no Applications watched */
    char rootApp[254];
    char instanceLabel[128];
    char describe[1024];
    double watchTimeout;
    stream streams[W_COUNT];
    int started;
    int appsAnnounced;          /* "Argo CD Applications watched" said (network thread) */
    unsigned credentials;       /* k8sNetCredentials when last looked at (network thread) */

    pthread_mutex_t syncLock;   /* guards connected/syncMessage for readers on other threads */
    int connected;              /* -1 before the first report */
    char syncMessage[600];
    char appsMessage[600];      /* why the Applications are not listed, "" when they are */
    oversizedNote *oversized;   /* services whose parameters did not fit a copy, said in the log */
};

/* ------------------------------------------------------ cache callbacks */

static void instanceChange(void *arg, k8sChange change, const void *obj)
{
    k8sClient *c = arg;
    /* before the streams start only the boot list fills the cache (a seed):
     * the first sync reports everything at once */
    if (c->cb.instanceChanged && c->started)
        c->cb.instanceChanged(c->cb.arg, change, obj);
}

static void podChange(void *arg, k8sChange change, const void *obj)
{
    k8sClient *c = arg;
    if (c->cb.podChanged)
        c->cb.podChanged(c->cb.arg, change, obj);
}

static void appChange(void *arg, k8sChange change, const void *obj)
{
    k8sClient *c = arg;
    if (c->cb.appChanged)
        c->cb.appChanged(c->cb.arg, change, &((const k8sAppStored *)obj)->app);
}

/* ---------------------------------------------------- watch handlers */

static void hListBegin(void *arg)
{
    stream *s = arg;
    k8sCacheReplaceBegin(s->cache);
}

static void hListEnd(void *arg)
{
    stream *s = arg;
    k8sCacheReplaceEnd(s->cache);
    /* said when it is true, once: k8sWatch says when they are not there */
    if (s->index == W_APPS && !s->client->appsAnnounced) {
        s->client->appsAnnounced = 1;
        k8sLog(0, "%s: Argo CD Applications watched in namespace %s (%zu listed)", driverName,
               s->client->appNamespace, k8sCacheCount(s->cache));
    }
}

/* stream index -> what it holds */
static const k8sKind streamKind[W_COUNT] = {
    K8S_KIND_STATEFULSET, K8S_KIND_DEPLOYMENT, K8S_KIND_POD, K8S_KIND_EVENT, K8S_KIND_APPLICATION
};

static void hObject(void *arg, const cJSON *obj, int deleted)
{
    stream *s = arg;
    k8sClient *c = s->client;
    char err[500];

    switch (k8sApplyObject(s->cache, streamKind[s->index], obj, deleted,
                           c->container[0] ? c->container : NULL, c->selectors, err, sizeof err)) {
    case -1:
        k8sLog(0, "%s: ignoring an undecodable %s: %s", driverName, s->watch.what, err);
        break;
    case -2:
        k8sLog(0, "%s: %s", driverName, err);
        break;
    }
}

static void hState(void *arg)
{
    stream *s = arg;
    k8sClient *c = s->client;
    const char *msg = "";
    int connected = 1, i, changed, wasConnected;

    for (i = 0; i < W_COUNT; i++) {
        stream *t = &c->streams[i];
        if (t->watch.synced)
            continue;
        if (t->optional && (t->watch.lastHttpStatus == 403 || t->watch.lastHttpStatus == 404))
            continue;
        if (t->optional && t->watch.stateNow == K8S_STREAM_IDLE)
            continue;
        connected = 0;
        msg = t->watch.message;
        break;
    }
    pthread_mutex_lock(&c->syncLock);
    snprintf(c->appsMessage, sizeof c->appsMessage, "%s", c->streams[W_APPS].watch.synced ? ""
             : c->streams[W_APPS].watch.message[0] ? c->streams[W_APPS].watch.message : "not listed yet");
    changed = c->connected != connected || strcmp(c->syncMessage, msg) != 0;
    wasConnected = c->connected == 1;
    c->connected = connected;
    snprintf(c->syncMessage, sizeof c->syncMessage, "%s", msg);
    pthread_mutex_unlock(&c->syncLock);
    if (!changed)
        return;
    /* losing sync is news; the steps of getting there are debug detail */
    k8sLog(!connected && wasConnected ? 0 : 1, "%s: %s%s", driverName,
           connected ? "in sync with " : "not in sync: ", connected ? c->describe : msg);
    if (c->cb.syncChanged)
        c->cb.syncChanged(c->cb.arg, connected, msg);
}

/* ------------------------------------------------------------ lifecycle */

static double clientTick(void *arg, double now)
{
    k8sClient *c = arg;
    double wait = 5.0;
    int i;

    if (!c->started)
        return wait;
    /* an exec plugin gave a credential: streams that failed for want of it go now,
     * not after their backoff (up to 30 s) */
    if (k8sNetCredentials(c->net) != c->credentials) {
        c->credentials = k8sNetCredentials(c->net);
        for (i = 0; i < W_COUNT; i++)
            k8sWatchRetryNow(&c->streams[i].watch);
    }
    for (i = 0; i < W_COUNT; i++) {
        double t = k8sWatchTick(&c->streams[i].watch, now);
        if (t < wait)
            wait = t;
    }
    return wait;
}

static const char *envOr(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* group names of the pod and event caches (k8sCacheSetGroup) */
static const char *podOwner(const void *obj) { return ((const k8sPod *)obj)->ownerName; }
static const char *eventObject(const void *obj) { return ((const k8sEvent *)obj)->involvedName; }

/* Where the Applications are and which is the root: options, else ec's
 * EC_TARGET=<app-namespace>/<root-app>, else the instances' namespace. */
static int argoOptions(k8sClient *c, const k8sClientOptions *opt, char *err, size_t errlen)
{
    const char *target = envOr("EC_TARGET"), *slash = target ? strchr(target, '/') : NULL;
    char targetNs[64] = "";

    if (slash && (size_t)(slash - target) < sizeof targetNs) {
        memcpy(targetNs, target, (size_t)(slash - target));
        targetNs[slash - target] = '\0';
    }
    k8sCopyString(c->appNamespace, sizeof c->appNamespace,
                  opt->appNamespace && *opt->appNamespace ? opt->appNamespace : targetNs[0] ? targetNs : c->namespace_);
    k8sCopyString(c->rootApp, sizeof c->rootApp, opt->rootApp && *opt->rootApp ? opt->rootApp : slash ? slash + 1 : "");
    k8sCopyString(c->instanceLabel, sizeof c->instanceLabel,
                  opt->instanceLabel ? opt->instanceLabel : K8S_ARGO_DEFAULT_INSTANCE_LABEL);
    if (strcmp(c->appNamespace, "none") == 0) {
        c->appNamespace[0] = '\0';
        c->rootApp[0] = '\0';
    }
    if ((c->appNamespace[0] && k8sOpsValidName("Application namespace", c->appNamespace, err, errlen)) ||
        (c->rootApp[0] && k8sOpsValidName("root Application", c->rootApp, err, errlen)))
        return -1;
    k8sObjectSetInstanceLabel(c->instanceLabel);
    return 0;
}

int k8sClientCreate(const k8sClientOptions *opt, const k8sClientCallbacks *cb, k8sClient **out,
                    char *err, size_t errlen)
{
    k8sClientOptions none;
    k8sClient *c;
    const char *ns;
    char path[600];
    int i;
    static const char *what[W_COUNT] = { "statefulsets", "deployments", "pods", "events", "applications" };
    static const char *api[W_COUNT] = { "/apis/apps/v1", "/apis/apps/v1", "/api/v1", "/api/v1",
                                        "/apis/argoproj.io/v1alpha1" };
    static const size_t objSize[W_COUNT] = { sizeof(k8sInstance), sizeof(k8sInstance), sizeof(k8sPod),
                                             sizeof(k8sEvent), sizeof(k8sAppStored) };
    static const k8sCacheChangeFn changeFn[W_COUNT] = { instanceChange, instanceChange, podChange, NULL,
                                                        appChange };

    *out = NULL;
    if (!opt) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&c->syncLock, NULL);
    c->connected = -1;
    if (cb)
        c->cb = *cb;
    if (k8sConfigLoad(opt->kubeconfig, opt->context, &c->cfg, err, errlen)) {
        k8sClientDestroy(c);
        return -1;
    }
    ns = opt->namespace_ && *opt->namespace_ ? opt->namespace_ : NULL;
    if (!ns && *k8sConfigNamespace(c->cfg))
        ns = k8sConfigNamespace(c->cfg);
    /* ec's ARGOCD form "<app-namespace>/<root-app>" names Applications, not the instances' namespace */
    if (!ns && !strchr(envOr("EC_TARGET") ? envOr("EC_TARGET") : "/", '/'))
        ns = envOr("EC_TARGET");
    if (!ns)
        ns = envOr("EC_K8S_NAMESPACE");
    snprintf(c->namespace_, sizeof c->namespace_, "%s", ns ? ns : "default");
    if (k8sOpsValidName("namespace", c->namespace_, err, errlen)) {
        k8sClientDestroy(c);
        return -1;
    }
    snprintf(c->selectors, sizeof c->selectors, "%s",
             opt->labelSelectors ? opt->labelSelectors : "ioc=true,is_ioc=true");
    snprintf(c->container, sizeof c->container, "%s", opt->container ? opt->container : "");
    if (argoOptions(c, opt, err, errlen)) {
        k8sClientDestroy(c);
        return -1;
    }
    c->watchTimeout = opt->watchTimeoutSeconds > 0 ? opt->watchTimeoutSeconds : 300.0;
    snprintf(c->describe, sizeof c->describe, "%s namespace %s (context \"%s\", %s)",
             k8sConfigServer(c->cfg), c->namespace_, k8sConfigContext(c->cfg), k8sConfigAuthKind(c->cfg));

    c->net = k8sNetCreate(c->cfg, clientTick, c, err, errlen);
    if (!c->net) {
        k8sClientDestroy(c);
        return -1;
    }
    for (i = 0; i < W_COUNT; i++) {
        stream *s = &c->streams[i];
        k8sWatchHandler h = { s, hListBegin, hObject, hListEnd, hState };

        s->client = c;
        s->index = i;
        /* a Role without Applications, or a cluster without Argo CD's CRD, is a beamline without it */
        s->optional = i == W_DEPLOY || i == W_EVENTS || i == W_APPS;
        s->cache = k8sCacheCreate(objSize[i], changeFn[i], c);
        /* an instance's pods and an object's events without visiting them all:
         * every change re-derives its instance, and a relist changes them all */
        if (s->cache && (i == W_PODS || i == W_EVENTS) &&
            k8sCacheSetGroup(s->cache, i == W_PODS ? podOwner : eventObject) != 0) {
            k8sCacheDestroy(s->cache);
            s->cache = NULL;
        }
        if (!s->cache) {
            snprintf(err, errlen, "out of memory");
            k8sClientDestroy(c);
            return -1;
        }
        if (i == W_APPS)
            k8sCacheSetRelease(s->cache, k8sAppStoredRelease);
        snprintf(path, sizeof path, "%s/namespaces/%s/%s", api[i],
                 i == W_APPS ? c->appNamespace : c->namespace_, what[i]);
        k8sWatchInit(&s->watch, c->net, what[i], path, i == W_EVENTS ? "fieldSelector=type%3DWarning" : "",
                     c->watchTimeout, &h);
        if (s->optional) {
            char description[160];
            snprintf(description, sizeof description, "%s in namespace %.63s",
                     i == W_APPS ? "Argo CD Applications (applications.argoproj.io)"
                                 : i == W_DEPLOY ? "Deployments" : "Warning Events",
                     i == W_APPS ? c->appNamespace : c->namespace_);
            k8sWatchSetOptional(&s->watch, opt->optionalRecheckSeconds, description,
                                i == W_APPS ? "Argo CD is not installed in this cluster" : NULL);
        }
    }
    *out = c;
    return 0;
}

const char *k8sClientNamespace(const k8sClient *c) { return c->namespace_; }
const char *k8sClientAppNamespace(const k8sClient *c) { return c->appNamespace; }
const char *k8sClientRootApp(const k8sClient *c) { return c->rootApp; }
const char *k8sClientServer(const k8sClient *c) { return k8sConfigServer(c->cfg); }
const char *k8sClientDescribe(const k8sClient *c) { return c->describe; }

static void startStreams(void *arg, int cancelled)
{
    k8sClient *c = arg;
    int i;

    if (cancelled)
        return;
    c->started = 1;
    for (i = 0; i < W_COUNT; i++) {
        stream *s = &c->streams[i];
        if (i == W_APPS && !c->appNamespace[0])
            continue;
        if (s->seedRv[0])
            k8sWatchResume(&s->watch, s->seedRv);
        else
            k8sWatchStart(&s->watch);
    }
}

int k8sClientStart(k8sClient *c, char *err, size_t errlen)
{
    if (k8sNetStart(c->net, err, errlen))
        return -1;
    k8sLog(1, "%s: watching %s", driverName, c->describe);
    return k8sNetPost(c->net, startStreams, c, err, errlen);
}

void k8sClientStop(k8sClient *c)
{
    if (c && c->net)
        k8sNetStop(c->net);
}

void k8sClientDestroy(k8sClient *c)
{
    int i;

    if (!c)
        return;
    k8sClientStop(c);
    k8sNetDestroy(c->net);
    for (i = 0; i < W_COUNT; i++) {
        if (c->net)
            k8sWatchFree(&c->streams[i].watch);
        k8sCacheDestroy(c->streams[i].cache);
    }
    k8sConfigFree(c->cfg);
    while (c->oversized) {
        oversizedNote *next = c->oversized->next;
        free(c->oversized);
        c->oversized = next;
    }
    pthread_mutex_destroy(&c->syncLock);
    free(c);
}

/* --------------------------------------------------------- boot listing */

typedef struct listCtx {
    k8sClient *c;
    stream *seed;           /* the stream whose cache this list fills, or NULL */
    const char *kind;
    k8sInstance *items;
    size_t count, cap;
    char err[1100];
    int failed;
    long status;
} listCtx;

static void listInstancesDone(void *arg, const k8sHttpResponse *res)
{
    listCtx *l = arg;
    cJSON *root, *item;
    const char *rv;
    char err[200];

    l->status = res->status;
    if (res->error || res->status != 200) {
        char msg[900];
        if (res->error)
            snprintf(msg, sizeof msg, "%s", res->error);
        else
            k8sStatusMessage(res->status, res->body, res->bodyLen, 1, msg, sizeof msg);
        snprintf(l->err, sizeof l->err, "list %ss in %.63s: %.900s", l->kind, l->c->namespace_, msg);
        l->failed = 1;
        return;
    }
    root = cJSON_ParseWithLength(res->body, res->bodyLen);
    if (!root) {
        snprintf(l->err, sizeof l->err, "list %ss: response is not JSON", l->kind);
        l->failed = 1;
        return;
    }
    /* The watch would list the same collection again a moment later (1.2 s for
     * 5,000 StatefulSets): this list fills its cache, and the watch starts from
     * the list's resourceVersion, as after its own list. */
    rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
             cJSON_GetObjectItemCaseSensitive(root, "metadata"), "resourceVersion"));
    if (l->seed && rv && strlen(rv) < sizeof l->seed->seedRv)
        hListBegin(l->seed);
    else
        l->seed = NULL;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "items")) {
        if (l->seed)
            hObject(l->seed, item, 0);
        if (!k8sLabelsMatchAny(item, l->c->selectors))
            continue;
        if (l->count == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            k8sInstance *n = realloc(l->items, cap * sizeof *n);
            if (!n) {
                snprintf(l->err, sizeof l->err, "out of memory");
                l->failed = 1;
                break;
            }
            l->items = n;
            l->cap = cap;
        }
        if (k8sInstanceFromJson(item, l->kind, l->c->container[0] ? l->c->container : NULL,
                                &l->items[l->count], err, sizeof err) == 0)
            l->count++;
    }
    if (l->seed) {
        hListEnd(l->seed);
        snprintf(l->seed->seedRv, sizeof l->seed->seedRv, "%s", rv);
    }
    cJSON_Delete(root);
}

static int listBlocking(k8sClient *c, listCtx *l, const char *collection, double timeout,
                        char *err, size_t errlen)
{
    char path[600];
    k8sRequest *r;

    snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/%s", c->namespace_, collection);
    r = k8sRequestNew("GET", path, listInstancesDone, l);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k8sRequestSetTimeout(r, timeout > 0 ? timeout : 30);
    return k8sNetPerformBlocking(c->cfg, r, err, errlen);
}

int k8sClientListInstances(k8sClient *c, double timeout, k8sInstance **out, size_t *count,
                           char *err, size_t errlen)
{
    listCtx l;

    *out = NULL;
    *count = 0;
    memset(&l, 0, sizeof l);
    l.c = c;
    l.kind = "StatefulSet";
    l.seed = c->started ? NULL : &c->streams[W_STS];
    if (listBlocking(c, &l, "statefulsets", timeout, err, errlen))
        goto fail;
    if (l.failed) {
        snprintf(err, errlen, "%s", l.err);
        goto fail;
    }
    l.kind = "Deployment";
    l.seed = c->started ? NULL : &c->streams[W_DEPLOY];
    if (listBlocking(c, &l, "deployments", timeout, err, errlen))
        goto fail;
    if (l.failed) {
        /* a Role without deployments is normal for StatefulSet-only beamlines */
        if (l.status != 403 && l.status != 404) {
            snprintf(err, errlen, "%s", l.err);
            goto fail;
        }
        k8sLog(1, "%s: %s (carrying on with StatefulSets only)", driverName, l.err);
    }
    *out = l.items;
    *count = l.count;
    return 0;
fail:
    free(l.items);
    return -1;
}

/* -------------------------------------------------------------- lookups */

int k8sClientGetInstance(k8sClient *c, const char *name, k8sInstance *out)
{
    char key[400];

    k8sCacheKey(key, sizeof key, c->namespace_, name);
    if (k8sCacheGet(c->streams[W_STS].cache, key, out) == 0)
        return 0;
    return k8sCacheGet(c->streams[W_DEPLOY].cache, key, out);
}

typedef struct podVisit {
    const char *owner;
    k8sPod *out;
    size_t max, count;
} podVisit;

static int visitPod(void *arg, const void *obj)
{
    podVisit *v = arg;
    const k8sPod *p = obj;

    if (strcmp(p->ownerName, v->owner) == 0) {
        if (v->count < v->max)
            v->out[v->count] = *p;
        v->count++;
    }
    return 0;
}

int k8sClientGetPods(k8sClient *c, const char *instanceName, k8sPod *out, size_t max, size_t *count)
{
    podVisit v = { instanceName, out, max, 0 };

    k8sCacheForEachInGroup(c->streams[W_PODS].cache, instanceName, visitPod, &v);
    if (count)
        *count = v.count;
    return v.count ? 0 : -1;
}

typedef struct eventVisit {
    const char *name;
    char *msg;
    size_t len;
    long long best;
    int found;
} eventVisit;

static int visitEvent(void *arg, const void *obj)
{
    eventVisit *v = arg;
    const k8sEvent *e = obj;

    if (strcmp(e->involvedName, v->name) == 0 && (!v->found || e->timeEpoch >= v->best)) {
        v->found = 1;
        v->best = e->timeEpoch;
        snprintf(v->msg, v->len, "%s: %s", e->reason, e->message);
    }
    return 0;
}

int k8sClientLatestEvent(k8sClient *c, const char *objectName, char *msg, size_t len)
{
    eventVisit v = { objectName, msg, len, 0, 0 };

    k8sCacheForEachInGroup(c->streams[W_EVENTS].cache, objectName, visitEvent, &v);
    return v.found ? 0 : -1;
}

int k8sClientConnected(k8sClient *c, char *msg, size_t len)
{
    int connected;

    pthread_mutex_lock(&c->syncLock);
    connected = c->connected == 1;
    if (msg && len)
        snprintf(msg, len, "%s", c->connected < 0 ? "not started" : c->syncMessage);
    pthread_mutex_unlock(&c->syncLock);
    return connected;
}

/* ------------------------------------------------------------- commands */

static const char *kindOf(k8sClient *c, const char *instance, k8sInstance *inst)
{
    if (k8sClientGetInstance(c, instance, inst) == 0)
        return inst->kind;
    inst->containerName[0] = '\0';
    return "StatefulSet";
}

int k8sClientScale(k8sClient *c, const char *instance, int replicas, k8sDoneFn done, void *arg,
                   char *err, size_t errlen)
{
    k8sInstance inst;
    return k8sOpsScale(c->net, c->namespace_, kindOf(c, instance, &inst), instance, replicas,
                       done, arg, err, errlen);
}

typedef struct restartWork {
    k8sClient *c;
    k8sDoneFn done;
    void *arg;
    char instance[254];
    size_t npods;
    char (*pods)[254];
    char (*uids)[64];
} restartWork;

static void restartWorkFree(restartWork *w)
{
    free(w->pods);
    free(w->uids);
    free(w);
}

static void restartRun(void *arg, int cancelled)
{
    restartWork *w = arg;
    const char *names[64], *uids[64];
    char err[512];
    size_t i;

    for (i = 0; i < w->npods; i++) {
        names[i] = w->pods[i];
        uids[i] = w->uids[i];
    }
    if (cancelled) {
        snprintf(err, sizeof err, "client stopped");
    } else if (k8sOpsDeletePods(w->c->net, w->c->namespace_, w->instance, names, uids, w->npods,
                                w->done, w->arg, err, sizeof err) == 0) {
        restartWorkFree(w);
        return;
    }
    {
        k8sResult r;
        memset(&r, 0, sizeof r);
        k8sCopyString(r.message, sizeof r.message, err);
        w->done(w->arg, &r);
    }
    restartWorkFree(w);
}

typedef struct podNames {
    const char *owner;
    char (*names)[254];
    char (*uids)[64];
    size_t max, count;
} podNames;

static int visitPodName(void *arg, const void *obj)
{
    podNames *v = arg;
    const k8sPod *p = obj;

    if (strcmp(p->ownerName, v->owner) == 0 && v->count < v->max) {
        k8sCopyString(v->names[v->count], sizeof v->names[0], p->name);
        k8sCopyString(v->uids[v->count], sizeof v->uids[0], p->uid);
        v->count++;
    }
    return 0;
}

int k8sClientRestart(k8sClient *c, const char *instance, k8sDoneFn done, void *arg,
                     char *err, size_t errlen)
{
    restartWork *w;
    podNames v;

    if (!done) {
        snprintf(err, errlen, "no completion callback given");
        return -1;
    }
    if (k8sOpsValidName("instance", instance, err, errlen))
        return -1;
    w = calloc(1, sizeof *w);
    if (w) {
        w->pods = calloc(64, sizeof *w->pods);
        w->uids = calloc(64, sizeof *w->uids);
    }
    if (!w || !w->pods || !w->uids) {
        if (w)
            restartWorkFree(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    v.owner = instance;
    v.names = w->pods;
    v.uids = w->uids;
    v.max = 64;
    v.count = 0;
    k8sCacheForEachInGroup(c->streams[W_PODS].cache, instance, visitPodName, &v);
    if (v.count == 0) {
        snprintf(err, errlen, "%.200s has no pod to restart (is it stopped?)", instance);
        restartWorkFree(w);
        return -1;
    }
    w->c = c;
    w->done = done;
    w->arg = arg;
    w->npods = v.count;
    k8sCopyString(w->instance, sizeof w->instance, instance);
    /* the deletions are issued from the network thread so that their
     * completions, counted in one context, never race the submission */
    if (k8sNetPost(c->net, restartRun, w, err, errlen)) {
        restartWorkFree(w);
        return -1;
    }
    return 0;
}

int k8sClientSetImage(k8sClient *c, const char *instance, const char *image, k8sDoneFn done, void *arg,
                      char *err, size_t errlen)
{
    k8sInstance inst;
    const char *kind = kindOf(c, instance, &inst);
    const char *container = c->container[0] ? c->container : inst.containerName;

    return k8sOpsSetImage(c->net, c->namespace_, kind, instance, container, image, done, arg, err, errlen);
}

/* ------------------------------------------------------------- Argo CD */

/* The Application cache holds k8sAppStored: copies out never carry its
 * parameters' pointer (k8sCacheSetRelease). */
static int withApp(k8sClient *c, const char *ns, const char *name, k8sCacheVisitFn fn, void *arg)
{
    char key[400];

    if (!c->appNamespace[0] || strcmp(ns, c->appNamespace) != 0)
        return -1;
    k8sCacheKey(key, sizeof key, ns, name);
    return k8sCacheWith(c->streams[W_APPS].cache, key, fn, arg);
}

static int copyApp(void *arg, const void *obj)
{
    *(k8sApp *)arg = ((const k8sAppStored *)obj)->app;
    return 0;
}

int k8sClientGetApp(k8sClient *c, const char *ns, const char *name, k8sApp *out)
{
    return withApp(c, ns, name, copyApp, out);
}

typedef struct paramVisit {
    const char *name, *svc;
    char *value, *copy;
    size_t len;
    int found;
} paramVisit;

static int visitParam(void *arg, const void *obj)
{
    paramVisit *v = arg;
    v->found = k8sParamLookup(((const k8sAppStored *)obj)->params, v->name, v->value, v->len) == 0;
    return 0;
}

int k8sClientAppParam(k8sClient *c, const char *ns, const char *app, const char *param, char *value, size_t len)
{
    paramVisit v = { param, NULL, value, NULL, len, 0 };
    return withApp(c, ns, app, visitParam, &v) == 0 && v.found ? 0 : -1;
}

static int visitParams(void *arg, const void *obj)
{
    const char *p = ((const k8sAppStored *)obj)->params;
    ((paramVisit *)arg)->copy = strdup(p ? p : "");
    return 0;
}

char *k8sClientAppParams(k8sClient *c, const char *ns, const char *app)
{
    paramVisit v = { NULL, NULL, NULL, NULL, 0, 0 };
    withApp(c, ns, app, visitParams, &v);
    return v.copy;
}

static int visitServiceParams(void *arg, const void *obj)
{
    paramVisit *v = arg;
    v->found = k8sArgoServiceParams(((const k8sAppStored *)obj)->params, v->svc, v->value, v->len) == 0;
    return 0;
}

static int lookupApp(void *arg, const char *ns, const char *name, k8sApp *out)
{
    return k8sClientGetApp(arg, ns, name, out);
}

/* A service whose own parameters do not fit k8sApp.params is said once in the
 * log, and again only after they fitted in between. */
static void noteOversized(k8sClient *c, const k8sArgoOwner *o, int fits)
{
    char key[600];
    oversizedNote **p, *hit;

    snprintf(key, sizeof key, "%s/%s %s", o->root.namespace_, o->root.name, o->svc);
    pthread_mutex_lock(&c->syncLock);
    for (p = &c->oversized; *p && strcmp((*p)->key, key) != 0; p = &(*p)->next)
        ;
    hit = *p;
    if (fits && hit) {
        *p = hit->next;
        free(hit);
    } else if (!fits && !hit && (hit = malloc(sizeof *hit + strlen(key) + 1)) != NULL) {
        strcpy(hit->key, key);
        hit->next = c->oversized;
        c->oversized = hit;
        k8sLog(0, "%s: Application %s/%s: the parameters of service %s (services.%s.*) take more than the "
               "%zu bytes kept per service: its records read only those that fit (enabled and "
               "targetRevision come first)", driverName, o->root.namespace_, o->root.name, o->svc, o->svc,
               sizeof o->root.params - 1);
    }
    pthread_mutex_unlock(&c->syncLock);
}

void k8sClientArgoOwner(k8sClient *c, const char *instance, k8sArgoOwner *out)
{
    k8sInstance inst;
    k8sArgoConfig cfg = { c->appNamespace, c->rootApp, c->instanceLabel };

    if (!c->appNamespace[0] || k8sClientGetInstance(c, instance, &inst) != 0) {
        memset(out, 0, sizeof *out);
        return;
    }
    k8sArgoResolve(inst.kind, inst.namespace_, inst.name, inst.argoTrackingId, inst.argoInstanceLabel,
                   &cfg, lookupApp, c, out);
    /* the root's parameters of this instance's service, from every one kept whole */
    if (out->haveRoot) {
        paramVisit v = { NULL, out->svc, out->root.params, NULL, sizeof out->root.params, 0 };
        if (withApp(c, out->root.namespace_, out->root.name, visitServiceParams, &v) == 0) {
            out->root.paramsTruncated = !v.found;
            noteOversized(c, out, v.found);
        }
    }
    /* the watch's own state belongs to the network thread: its words are kept under syncLock */
    pthread_mutex_lock(&c->syncLock);
    if (out->problem[0] && c->appsMessage[0]) {
        size_t n = strlen(out->problem);
        snprintf(out->problem + n, sizeof out->problem - n, " (Applications: %s)", c->appsMessage);
    }
    pthread_mutex_unlock(&c->syncLock);
}

int k8sClientSetAppParam(k8sClient *c, const char *app, const char *param, const char *value,
                         int forceString, k8sDoneFn done, void *arg, char *err, size_t errlen)
{
    if (!c->appNamespace[0]) {
        snprintf(err, errlen, "no Application namespace is watched");
        return -1;
    }
    return k8sArgoSetParam(c->net, c->appNamespace, app, param, value, forceString, done, arg, err, errlen);
}

int k8sClientGetLog(k8sClient *c, const char *pod, int tailLines, int previous, k8sDoneFn done, void *arg,
                    char *err, size_t errlen)
{
    return k8sOpsGetLog(c->net, c->namespace_, pod, c->container[0] ? c->container : NULL, tailLines,
                        previous, done, arg, err, errlen);
}
