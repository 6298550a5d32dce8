/* k8sNet.c - network thread around a curl multi handle; see k8sNet.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "k8sNet.h"
#include "k8sLog.h"

static const char *driverName = "k8sNet";

#define MAX_BODY ((size_t)256 << 20)

struct k8sRequest {
    k8sRequest *next;            /* queue link; also the list of requests waiting for credentials */
    k8sRequest *activeNext;      /* in-flight list link */
    char method[8];
    char *path;
    char *contentType;
    char *body;
    double timeout;
    k8sHttpDoneFn done;
    void *arg;
    k8sHttpHeadersFn headersFn;
    k8sHttpDataFn dataFn;
    k8sNetWorkFn work;           /* set: a posted closure, not an HTTP request */

    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    long status;
    int headersSeen;
    int abortFlag;
    char *resp;
    size_t respLen, respCap;
    const char *failure;         /* our own reason to abort (body too large) */
    unsigned long credGeneration; /* of the exec credential it carries (a 401 drops that one) */
    double waitingSince;         /* held for an exec plugin's credential since (k8sNow) */
};

struct k8sNet {
    k8sConfig *cfg;
    CURLM *multi;
    pthread_t thread;
    int started, stopping;
    pthread_mutex_t lock;        /* guards queue, stopping */
    k8sRequest *queueHead, *queueTail;
    k8sNetTickFn tick;
    void *tickArg;
    k8sRequest *active;          /* in-flight transfers, network thread only */
    k8sRequest *waiting;         /* held until an exec plugin's credential is ready, network thread only */
    unsigned credentials;        /* credentials an exec plugin gave (any thread: atomic) */
};

static pthread_once_t curlOnce = PTHREAD_ONCE_INIT;
static void curlInit(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

double k8sNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

k8sRequest *k8sRequestNew(const char *method, const char *path, k8sHttpDoneFn done, void *arg)
{
    k8sRequest *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = strdup(path);
    if (!r->path) {
        free(r);
        return NULL;
    }
    r->timeout = 30.0;
    r->done = done;
    r->arg = arg;
    return r;
}

int k8sRequestSetBody(k8sRequest *r, const char *contentType, const char *body)
{
    free(r->contentType);
    free(r->body);
    r->contentType = strdup(contentType);
    r->body = strdup(body);
    return r->contentType && r->body ? 0 : -1;
}

void k8sRequestSetTimeout(k8sRequest *r, double seconds) { r->timeout = seconds; }

void k8sRequestSetStream(k8sRequest *r, k8sHttpHeadersFn headers, k8sHttpDataFn data)
{
    r->headersFn = headers;
    r->dataFn = data;
}

void k8sRequestFree(k8sRequest *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->path);
    free(r->contentType);
    free(r->body);
    free(r->resp);
    free(r);
}

/* ------------------------------------------------------ transfer setup */

static void noteHeaders(k8sRequest *r)
{
    if (r->headersSeen)
        return;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status < 200)
        return;   /* 100 Continue and friends: the final response follows */
    r->headersSeen = 1;
    if (r->headersFn)
        r->headersFn(r->arg, r->status);
}

static size_t headerCb(char *data, size_t size, size_t nitems, void *userp)
{
    k8sRequest *r = userp;
    size_t n = size * nitems;

    if (n <= 2 && (data[0] == '\r' || data[0] == '\n'))
        noteHeaders(r);
    return n;
}

static int appendResp(k8sRequest *r, const char *data, size_t n)
{
    if (r->respLen + n + 1 > r->respCap) {
        size_t cap = r->respCap ? r->respCap : 16384;
        char *nb;
        while (cap < r->respLen + n + 1)
            cap *= 2;
        if (cap > MAX_BODY + 1) {
            r->failure = "response body larger than 256 MiB";
            return -1;
        }
        nb = realloc(r->resp, cap);
        if (!nb) {
            r->failure = "out of memory buffering the response";
            return -1;
        }
        r->resp = nb;
        r->respCap = cap;
    }
    memcpy(r->resp + r->respLen, data, n);
    r->respLen += n;
    r->resp[r->respLen] = '\0';
    return 0;
}

static size_t writeCb(char *data, size_t size, size_t nmemb, void *userp)
{
    k8sRequest *r = userp;
    size_t n = size * nmemb;

    noteHeaders(r);
    if (r->dataFn && r->status >= 200 && r->status < 300) {
        if (r->dataFn(r->arg, data, n) != 0) {
            r->failure = "aborted";
            return 0;
        }
        return n;
    }
    return appendResp(r, data, n) == 0 ? n : 0;
}

static int progressCb(void *userp, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    k8sRequest *r = userp;
    (void)dt; (void)dn; (void)ut; (void)un;
    return r->abortFlag;
}

static int sockoptCb(void *userp, curl_socket_t fd, curlsocktype purpose)
{
    int cnt = 3;
    unsigned int userTimeoutMs = 30000;
    (void)userp;

    if (purpose == CURLSOCKTYPE_IPCXN) {
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        /* unacknowledged data (e.g. a request to a vanished peer) fails the
         * connection after 30 s instead of the kernel's ~15 minutes */
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &userTimeoutMs, sizeof userTimeoutMs);
    }
    return CURL_SOCKOPT_OK;
}

/* cr: the credentials to send, consumed. */
static int setupEasy(k8sConfig *cfg, k8sRequest *r, k8sCredentials *crIn, char *err, size_t errlen)
{
    k8sCredentials cr = *crIn;
    CURL *e;
    char *url = NULL;
    size_t caLen;
    const char *ca = k8sConfigCa(cfg, &caLen);

    r->credGeneration = cr.generation;
    e = r->easy = curl_easy_init();
    if (!e || asprintf(&url, "%s%s", k8sConfigServer(cfg), r->path) < 0) {
        snprintf(err, errlen, "out of memory setting up a request");
        k8sCredentialsFree(&cr);
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 15L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, sockoptCb);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "iocmgr-k8s/1.0");
    if (r->timeout > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, writeCb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, headerCb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progressCb);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);

    if (k8sConfigInsecure(cfg)) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (ca) {
        struct curl_blob blob = { (void *)ca, caLen, CURL_BLOB_COPY };
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (cr.certPem) {
        struct curl_blob cb = { cr.certPem, cr.certLen, CURL_BLOB_COPY };
        struct curl_blob kb = { cr.keyPem, cr.keyLen, CURL_BLOB_COPY };
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    if (cr.token) {
        char *h = NULL;
        if (asprintf(&h, "Authorization: Bearer %s", cr.token) >= 0) {
            r->headers = curl_slist_append(r->headers, h);
            free(h);
        }
    }
    k8sCredentialsFree(&cr);
    if (strcmp(r->method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body) {
        char *h = NULL;
        if (asprintf(&h, "Content-Type: %s", r->contentType) >= 0) {
            r->headers = curl_slist_append(r->headers, h);
            free(h);
        }
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    return 0;
}

static void complete(k8sConfig *cfg, k8sRequest *r, CURLcode rc, const char *forced)
{
    k8sHttpResponse res;

    memset(&res, 0, sizeof res);
    if (r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    res.status = r->status;
    if (forced)
        res.error = forced;
    else if (rc == CURLE_ABORTED_BY_CALLBACK && r->abortFlag)
        res.error = "aborted";
    else if (rc != CURLE_OK)
        res.error = r->failure ? r->failure : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    res.body = r->resp;
    res.bodyLen = r->respLen;
    if (res.error && r->easy && !forced) {
        curl_off_t pretransfer = 0;
        long sent = 0;
        curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
        curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
        res.maybeSent = pretransfer > 0 || sent > 0;
    }
    if (res.status == 401 && cfg)
        k8sConfigInvalidate(cfg, r->credGeneration);
    k8sLog(2, "%s: %s %s -> %ld%s%s", driverName, r->method, r->path, res.status,
           res.error ? " " : "", res.error ? res.error : "");
    if (r->done)
        r->done(r->arg, &res);
}

/* ------------------------------------------------------------- thread */

/* An exec plugin's credential is not ready: hold the request (never run the
 * plugin here: it may take 30 s), retried at every loop turn and when the
 * plugin's run ends (k8sConfigSetNotify wakes the loop). */
static void holdRequest(k8sNet *n, k8sRequest *r)
{
    if (!r->waitingSince)
        r->waitingSince = k8sNow();
    r->next = n->waiting;
    n->waiting = r;
}

/* 0: ready to add (r->easy set up); 1: held for the credential; -1: err. */
static int prepare(k8sNet *n, k8sRequest *r, char *err, size_t errlen)
{
    k8sCredentials cr;
    int rc;

    if (r->abortFlag) {          /* k8sNetAbort while it was held */
        snprintf(err, errlen, "aborted");
        return -1;
    }
    rc = k8sConfigTryCredentials(n->cfg, &cr, err, errlen);
    if (rc == 0)
        return setupEasy(n->cfg, r, &cr, err, errlen);
    if (rc < 0)
        return -1;
    /* a request with a timeout of its own does not wait longer than that */
    if (r->timeout > 0 && r->waitingSince && k8sNow() - r->waitingSince > r->timeout) {
        snprintf(err, errlen, "no credential from the exec plugin within %.0f s", r->timeout);
        return -1;
    }
    holdRequest(n, r);
    return 1;
}

static void startRequest(k8sNet *n, k8sRequest *r)
{
    char err[512];

    switch (prepare(n, r, err, sizeof err)) {
    case 1:
        return;
    case 0:
        if (curl_multi_add_handle(n->multi, r->easy) == CURLM_OK) {
            r->activeNext = n->active;
            n->active = r;
            return;
        }
        snprintf(err, sizeof err, "curl refused the transfer");
        break;
    }
    complete(n->cfg, r, CURLE_OK, err);
    k8sRequestFree(r);
}

static void unlinkActive(k8sNet *n, k8sRequest *r)
{
    k8sRequest **pp = &n->active;
    while (*pp && *pp != r)
        pp = &(*pp)->activeNext;
    if (*pp)
        *pp = r->activeNext;
}

static k8sRequest *takeQueue(k8sNet *n)
{
    k8sRequest *q;

    pthread_mutex_lock(&n->lock);
    q = n->queueHead;
    n->queueHead = n->queueTail = NULL;
    pthread_mutex_unlock(&n->lock);
    return q;
}

static void runQueue(k8sNet *n, k8sRequest *q, int cancelled)
{
    while (q) {
        k8sRequest *next = q->next;
        q->next = NULL;
        if (q->work) {
            q->work(q->arg, cancelled);
            free(q);
        } else if (cancelled) {
            complete(n->cfg, q, CURLE_OK, "client stopped");
            k8sRequestFree(q);
        } else {
            startRequest(n, q);
        }
        q = next;
    }
}

static void finishDone(k8sNet *n)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(n->multi, &left)) != NULL) {
        k8sRequest *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(n->multi, msg->easy_handle);
        unlinkActive(n, r);
        complete(n->cfg, r, msg->data.result, NULL);
        k8sRequestFree(r);
    }
}

/* The held requests, in the order they came, once more. */
static void retryWaiting(k8sNet *n)
{
    k8sRequest *q = n->waiting, *rev = NULL;

    n->waiting = NULL;
    while (q) {
        k8sRequest *next = q->next;
        q->next = rev;
        rev = q;
        q = next;
    }
    while (rev) {
        k8sRequest *next = rev->next;
        rev->next = NULL;
        startRequest(n, rev);
        rev = next;
    }
}

static void *netThread(void *arg)
{
    k8sNet *n = arg;
    int stopping = 0;

    while (!stopping) {
        int running = 0;
        double wait = 1.0;

        retryWaiting(n);
        runQueue(n, takeQueue(n), 0);
        curl_multi_perform(n->multi, &running);
        finishDone(n);
        if (n->tick) {
            double t = n->tick(n->tickArg, k8sNow());
            if (t < wait)
                wait = t;
        }
        pthread_mutex_lock(&n->lock);
        stopping = n->stopping;
        pthread_mutex_unlock(&n->lock);
        if (!stopping)
            curl_multi_poll(n->multi, NULL, 0, wait > 0 ? (int)(wait * 1000) + 1 : 0, NULL);
    }

    /* complete everything still in flight or held, exactly once */
    while (n->waiting) {
        k8sRequest *r = n->waiting;
        n->waiting = r->next;
        complete(n->cfg, r, CURLE_OK, "client stopped");
        k8sRequestFree(r);
    }
    while (n->active) {
        k8sRequest *r = n->active;
        n->active = r->activeNext;
        curl_multi_remove_handle(n->multi, r->easy);
        complete(n->cfg, r, CURLE_OK, "client stopped");
        k8sRequestFree(r);
    }
    runQueue(n, takeQueue(n), 1);
    return NULL;
}

/* The exec plugin's thread: a run ended, held requests may go (or fail). */
static void credentialReady(void *arg, int got)
{
    k8sNet *n = arg;
    if (got)
        __atomic_add_fetch(&n->credentials, 1, __ATOMIC_SEQ_CST);
    curl_multi_wakeup(n->multi);
}

unsigned k8sNetCredentials(k8sNet *n)
{
    return __atomic_load_n(&n->credentials, __ATOMIC_SEQ_CST);
}

k8sNet *k8sNetCreate(k8sConfig *cfg, k8sNetTickFn tick, void *tickArg, char *err, size_t errlen)
{
    k8sNet *n;

    pthread_once(&curlOnce, curlInit);
    n = calloc(1, sizeof *n);
    if (!n || !(n->multi = curl_multi_init())) {
        free(n);
        snprintf(err, errlen, "out of memory creating the network handle");
        return NULL;
    }
    curl_multi_setopt(n->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    pthread_mutex_init(&n->lock, NULL);
    n->cfg = cfg;
    k8sConfigSetNotify(cfg, credentialReady, n);
    n->tick = tick;
    n->tickArg = tickArg;
    return n;
}

int k8sNetStart(k8sNet *n, char *err, size_t errlen)
{
    int rc;

    if (n->started) {
        snprintf(err, errlen, "network thread already started");
        return -1;
    }
    rc = pthread_create(&n->thread, NULL, netThread, n);
    if (rc) {
        snprintf(err, errlen, "cannot start the network thread: %s", strerror(rc));
        return -1;
    }
    n->started = 1;
    return 0;
}

void k8sNetStop(k8sNet *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->stopping = 1;
    pthread_mutex_unlock(&n->lock);
    if (n->started) {
        curl_multi_wakeup(n->multi);
        pthread_join(n->thread, NULL);
        n->started = 0;
    }
}

void k8sNetDestroy(k8sNet *n)
{
    if (!n)
        return;
    k8sNetStop(n);
    k8sConfigSetNotify(n->cfg, NULL, NULL);
    runQueue(n, takeQueue(n), 1);
    curl_multi_cleanup(n->multi);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static int enqueue(k8sNet *n, k8sRequest *r, char *err, size_t errlen)
{
    pthread_mutex_lock(&n->lock);
    if (n->stopping || !n->started) {
        pthread_mutex_unlock(&n->lock);
        snprintf(err, errlen, n->stopping ? "the Kubernetes client is stopping"
                                          : "the Kubernetes client is not started");
        return -1;
    }
    if (n->queueTail)
        n->queueTail->next = r;
    else
        n->queueHead = r;
    n->queueTail = r;
    pthread_mutex_unlock(&n->lock);
    curl_multi_wakeup(n->multi);
    return 0;
}

int k8sNetSubmit(k8sNet *n, k8sRequest *r, char *err, size_t errlen)
{
    if (enqueue(n, r, err, errlen)) {
        k8sRequestFree(r);
        return -1;
    }
    return 0;
}

int k8sNetPost(k8sNet *n, k8sNetWorkFn fn, void *arg, char *err, size_t errlen)
{
    k8sRequest *r = calloc(1, sizeof *r);

    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->work = fn;
    r->arg = arg;
    if (enqueue(n, r, err, errlen)) {
        free(r);
        return -1;
    }
    return 0;
}

void k8sNetAbort(k8sNet *n, k8sRequest *r)
{
    (void)n;
    r->abortFlag = 1;
}

int k8sNetPerformBlocking(k8sConfig *cfg, k8sRequest *r, char *err, size_t errlen)
{
    CURLcode rc;
    k8sCredentials cr;

    pthread_once(&curlOnce, curlInit);
    /* the caller's own thread (boot, the CLI): it may wait for an exec plugin */
    if (k8sConfigGetCredentials(cfg, &cr, err, errlen) != 0 || setupEasy(cfg, r, &cr, err, errlen) != 0) {
        k8sRequestFree(r);
        return -1;
    }
    rc = curl_easy_perform(r->easy);
    complete(cfg, r, rc, NULL);
    k8sRequestFree(r);
    return 0;
}
