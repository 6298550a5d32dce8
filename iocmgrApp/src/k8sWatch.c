/* k8sWatch.c - list+watch state machine; see k8sWatch.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8sWatch.h"
#include "k8sObject.h"
#include "k8sLog.h"

static const char *driverName = "k8sWatch";

static void startList(k8sWatch *w);
static void startWatch(k8sWatch *w);

void k8sWatchInit(k8sWatch *w, k8sNet *net, const char *what, const char *path, const char *query,
                  double silentTimeout, const k8sWatchHandler *h)
{
    memset(w, 0, sizeof *w);
    snprintf(w->what, sizeof w->what, "%s", what);
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->query, sizeof w->query, "%s", query ? query : "");
    w->silentTimeout = silentTimeout > 0 ? silentTimeout : 300.0;
    w->net = net;
    w->h = *h;
    w->stateNow = K8S_STREAM_IDLE;
    snprintf(w->message, sizeof w->message, "%s: not started", what);
    k8sBackoffInit(&w->backoff);
    k8sLineBufferInit(&w->lines, 0);
    w->rnd = (unsigned)time(NULL) ^ (unsigned)(size_t)w;
}

void k8sWatchFree(k8sWatch *w)
{
    k8sLineBufferFree(&w->lines);
}

static double nextRandom(k8sWatch *w)
{
    /* xorshift: jitter only needs to decorrelate clients, not be secure */
    w->rnd ^= w->rnd << 13;
    w->rnd ^= w->rnd >> 17;
    w->rnd ^= w->rnd << 5;
    return (w->rnd & 0xFFFFFF) / (double)0x1000000;
}

static void setSynced(k8sWatch *w, int synced, const char *msg)
{
    int changed = w->synced != synced || (msg && strncmp(w->message, msg, sizeof w->message - 1) != 0);

    w->synced = synced;
    if (msg)
        k8sCopyString(w->message, sizeof w->message, msg);
    if (changed && w->h.state)
        w->h.state(w->h.arg);
}

void k8sWatchSetOptional(k8sWatch *w, double recheck, const char *description, const char *hint)
{
    w->recheck = recheck > 0 ? recheck : 300.0;
    k8sCopyString(w->description, sizeof w->description, description);
    k8sCopyString(w->absentHint, sizeof w->absentHint, hint ? hint : "");
}

/* An optional collection the API does not serve (404) or grant (403): said
 * once, then checked again every w->recheck s (±10 %) without a word. */
static void unavailable(k8sWatch *w, long httpStatus, const char *msg)
{
    char words[1100];
    double delay = w->recheck * (0.9 + 0.2 * nextRandom(w));

    w->failures++;
    w->lastHttpStatus = httpStatus;
    w->stateNow = K8S_STREAM_BACKOFF;
    w->retryAt = k8sNow() + delay;
    /* what to do first, the API's own words last: an IOC's log line holds 256 bytes */
    if (httpStatus == 404)
        snprintf(words, sizeof words, "%s: not served (404)%s%s; carrying on without them, checking again "
                 "every %.0f s", w->description, w->absentHint[0] ? ": " : "", w->absentHint, w->recheck);
    else
        snprintf(words, sizeof words, "%s: forbidden (403); carrying on without them, checking again every "
                 "%.0f s: %.300s", w->description, w->recheck, msg);
    k8sLog(w->unavailable == httpStatus ? 2 : 0, "%s: %s", driverName, words);
    if (httpStatus == 404)
        k8sLog(2, "%s: %s", driverName, msg);
    w->unavailable = httpStatus;
    setSynced(w, 0, words);
}

static void fail(k8sWatch *w, long httpStatus, const char *msg)
{
    double delay;

    if (w->recheck > 0 && (httpStatus == 403 || httpStatus == 404)) {
        unavailable(w, httpStatus, msg);
        return;
    }
    delay = k8sBackoffFailure(&w->backoff, k8sNow(), nextRandom(w));

    w->failures++;
    w->lastHttpStatus = httpStatus;
    w->stateNow = K8S_STREAM_BACKOFF;
    w->retryAt = k8sNow() + delay;
    k8sLog(1, "%s: %s; retry in %.1f s", driverName, msg, delay);
    setSynced(w, 0, msg);
}

/* ---------------------------------------------------------------- list */

static void listDone(void *arg, const k8sHttpResponse *res)
{
    k8sWatch *w = arg;
    char msg[1024];
    cJSON *root, *item;
    const cJSON *meta;
    const char *rv, *cont;

    w->req = NULL;
    if (res->error) {
        if (strcmp(res->error, "client stopped") == 0)
            return;
        snprintf(msg, sizeof msg, "list %s: %.900s", w->what, res->error);
        fail(w, res->status, msg);
        return;
    }
    if (res->status == 410 && w->continueToken[0]) {
        /* the continue token expired between pages: take a fresh snapshot */
        w->continueToken[0] = '\0';
        startList(w);
        return;
    }
    if (res->status != 200) {
        char status[1024];
        k8sStatusMessage(res->status, res->body, res->bodyLen, 1, status, sizeof status);
        snprintf(msg, sizeof msg, "list %s: %.900s", w->what, status);
        fail(w, res->status, msg);
        return;
    }
    root = cJSON_ParseWithLength(res->body, res->bodyLen);
    meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
    if (!root || !rv) {
        snprintf(msg, sizeof msg, "list %s: response is not a List with metadata.resourceVersion", w->what);
        cJSON_Delete(root);
        fail(w, res->status, msg);
        return;
    }
    if (w->unavailable) {
        k8sLog(0, "%s: %s: available now: listing and watching them", driverName, w->description);
        w->unavailable = 0;
    }
    if (!w->continueToken[0])
        w->h.listBegin(w->h.arg);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "items"))
        w->h.object(w->h.arg, item, 0);
    cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
    if (cont && *cont) {
        snprintf(w->continueToken, sizeof w->continueToken, "%s", cont);
        cJSON_Delete(root);
        startList(w);
        return;
    }
    w->continueToken[0] = '\0';
    snprintf(w->resourceVersion, sizeof w->resourceVersion, "%s", rv);
    cJSON_Delete(root);
    w->h.listEnd(w->h.arg);
    k8sLog(2, "%s: listed %s at resourceVersion %s", driverName, w->what, w->resourceVersion);
    startWatch(w);
}

static void appendQuery(char *url, size_t len, const char *term)
{
    size_t n = strlen(url);
    snprintf(url + n, len - n, "%s%s", strchr(url, '?') ? "&" : "?", term);
}

static void startList(k8sWatch *w)
{
    char url[2048], err[256];
    k8sRequest *r;

    snprintf(url, sizeof url, "%s", w->path);
    if (w->query[0])
        appendQuery(url, sizeof url, w->query);
    appendQuery(url, sizeof url, "limit=500");
    if (w->continueToken[0]) {
        char term[1100];
        char *esc = NULL;
        size_t i, o = 0;
        /* continue tokens are base64url-ish; escape the few reserved characters */
        esc = malloc(strlen(w->continueToken) * 3 + 1);
        if (esc) {
            for (i = 0; w->continueToken[i]; i++) {
                unsigned char ch = (unsigned char)w->continueToken[i];
                if (ch == '=' || ch == '+' || ch == '/' || ch == '&')
                    o += (size_t)sprintf(esc + o, "%%%02X", ch);
                else
                    esc[o++] = (char)ch;
            }
            esc[o] = '\0';
            snprintf(term, sizeof term, "continue=%s", esc);
            free(esc);
            appendQuery(url, sizeof url, term);
        }
    }
    w->stateNow = K8S_STREAM_LISTING;
    if (!w->continueToken[0])
        w->lists++;
    if (w->unavailable)
        w->rechecks++;
    r = k8sRequestNew("GET", url, listDone, w);
    if (!r) {
        fail(w, 0, "out of memory");
        return;
    }
    k8sRequestSetTimeout(r, 60);
    w->req = r;
    if (k8sNetSubmit(w->net, r, err, sizeof err) != 0)
        w->req = NULL;
}

void k8sWatchStart(k8sWatch *w)
{
    if (w->stateNow == K8S_STREAM_IDLE)
        snprintf(w->message, sizeof w->message, "%s: listing", w->what);
    w->continueToken[0] = '\0';
    startList(w);
}

void k8sWatchResume(k8sWatch *w, const char *resourceVersion)
{
    if (w->stateNow == K8S_STREAM_IDLE)
        snprintf(w->message, sizeof w->message, "%s: watching from resourceVersion %.40s", w->what,
                 resourceVersion);
    snprintf(w->resourceVersion, sizeof w->resourceVersion, "%s", resourceVersion);
    startWatch(w);
}

/* --------------------------------------------------------------- watch */

static int onLine(void *arg, char *line, size_t len)
{
    k8sWatch *w = arg;
    k8sWatchEvent ev;
    char err[256];

    if (k8sWatchEventParse(line, len, &ev, err, sizeof err) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "watch %s: %s", w->what, err);
        snprintf(w->message, sizeof w->message, "%s", msg);
        return -1;
    }
    w->events++;
    switch (ev.type) {
    case K8S_WATCH_ADDED:
    case K8S_WATCH_MODIFIED:
    case K8S_WATCH_DELETED:
        w->h.object(w->h.arg, ev.object, ev.type == K8S_WATCH_DELETED);
        snprintf(w->resourceVersion, sizeof w->resourceVersion, "%s", ev.resourceVersion);
        break;
    case K8S_WATCH_BOOKMARK:
        snprintf(w->resourceVersion, sizeof w->resourceVersion, "%s", ev.resourceVersion);
        break;
    case K8S_WATCH_ERROR:
        if (ev.errorCode == 410) {
            w->relistWanted = 1;
        } else {
            snprintf(w->message, sizeof w->message, "watch %s: error %ld: %s", w->what,
                     ev.errorCode, ev.errorMessage);
        }
        k8sWatchEventFree(&ev);
        return -1;
    }
    k8sWatchEventFree(&ev);
    return 0;
}

int k8sWatchFeed(k8sWatch *w, const char *data, size_t len)
{
    char err[256];

    if (k8sLineBufferFeed(&w->lines, data, len, onLine, w, err, sizeof err) != 0) {
        if (strcmp(err, "stopped by caller") != 0)
            snprintf(w->message, sizeof w->message, "watch %s: %s", w->what, err);
        return -1;
    }
    return 0;
}

static int watchData(void *arg, const char *data, size_t len)
{
    k8sWatch *w = arg;

    w->lastData = k8sNow();
    return k8sWatchFeed(w, data, len);
}

static void watchHeaders(void *arg, long status)
{
    k8sWatch *w = arg;

    w->lastData = k8sNow();
    if (status == 200) {
        k8sBackoffSuccess(&w->backoff, k8sNow());
        setSynced(w, 1, "");
    }
}

static void watchDone(void *arg, const k8sHttpResponse *res)
{
    k8sWatch *w = arg;
    char msg[1200];

    w->req = NULL;
    k8sLineBufferReset(&w->lines);
    if (res->error && strcmp(res->error, "client stopped") == 0)
        return;
    if (w->relistWanted || res->status == 410) {
        w->relistWanted = 0;
        w->relists410++;
        k8sLog(1, "%s: %s: resourceVersion %s too old (410 Gone), relisting", driverName, w->what,
               w->resourceVersion);
        snprintf(msg, sizeof msg, "%s: relisting (resourceVersion too old, 410 Gone)", w->what);
        setSynced(w, 0, msg);
        k8sWatchStart(w);
        return;
    }
    if (w->silentAbort) {
        w->silentAbort = 0;
        k8sLog(1, "%s: %s watch silent for %.0f s, restarting it", driverName, w->what, w->silentTimeout);
        /* A healthy server ends the watch (timeoutSeconds) or sends bookmarks before
         * this limit, so silence means a path that swallows everything (a hung API or
         * a black-holed connection, which TCP keepalive cannot see while the next hop
         * answers): the cache is no longer known to be current. Without this, CONNECTED
         * stayed 1 and stale values showed as good for as long as the silence lasted
         * (tests/integration/test_cluster_faults.py, black hole). The re-watch's 200
         * sets it back. */
        snprintf(msg, sizeof msg, "watch %s: no data for %.0f s (API not answering), reconnecting",
                 w->what, w->silentTimeout);
        setSynced(w, 0, msg);
        startWatch(w);
        return;
    }
    if (res->error) {
        /* an undecodable line or ERROR event left its words in w->message */
        if (strcmp(res->error, "aborted") == 0)
            snprintf(msg, sizeof msg, "%s", w->message);
        else
            snprintf(msg, sizeof msg, "watch %s: %.900s", w->what, res->error);
        fail(w, res->status, msg);
        return;
    }
    if (res->status != 200) {
        char status[1024];
        k8sStatusMessage(res->status, res->body, res->bodyLen, 1, status, sizeof status);
        snprintf(msg, sizeof msg, "watch %s: %.900s", w->what, status);
        fail(w, res->status, msg);
        return;
    }
    /* the server closed the watch at its timeoutSeconds: carry on from where we are */
    startWatch(w);
}

static void startWatch(k8sWatch *w)
{
    char url[2048], term[128], err[256];
    k8sRequest *r;
    int serverTimeout;

    snprintf(url, sizeof url, "%s", w->path);
    if (w->query[0])
        appendQuery(url, sizeof url, w->query);
    appendQuery(url, sizeof url, "watch=1&allowWatchBookmarks=true");
    snprintf(term, sizeof term, "resourceVersion=%s", w->resourceVersion);
    appendQuery(url, sizeof url, term);
    /* the server ends the watch a little before we would call it silent,
     * spread so that streams do not all reconnect together */
    serverTimeout = (int)(w->silentTimeout * (0.8 + 0.15 * nextRandom(w)));
    if (serverTimeout < 1)
        serverTimeout = 1;
    snprintf(term, sizeof term, "timeoutSeconds=%d", serverTimeout);
    appendQuery(url, sizeof url, term);

    r = k8sRequestNew("GET", url, watchDone, w);
    if (!r) {
        fail(w, 0, "out of memory");
        return;
    }
    k8sRequestSetTimeout(r, 0);
    k8sRequestSetStream(r, watchHeaders, watchData);
    w->stateNow = K8S_STREAM_WATCHING;
    w->relistWanted = 0;
    w->silentAbort = 0;
    w->lastData = k8sNow();
    w->watches++;
    k8sLineBufferReset(&w->lines);
    w->req = r;
    if (k8sNetSubmit(w->net, r, err, sizeof err) != 0)
        w->req = NULL;
}

void k8sWatchRetryNow(k8sWatch *w)
{
    if (w->stateNow == K8S_STREAM_BACKOFF && !w->unavailable)
        w->retryAt = k8sNow();
}

double k8sWatchTick(k8sWatch *w, double now)
{
    switch (w->stateNow) {
    case K8S_STREAM_BACKOFF:
        if (now >= w->retryAt) {
            k8sWatchStart(w);
            return 1.0;
        }
        return w->retryAt - now;
    case K8S_STREAM_WATCHING:
        if (w->req && !w->silentAbort && now - w->lastData > w->silentTimeout) {
            w->silentAbort = 1;
            k8sNetAbort(w->net, w->req);
            return 0.5;
        }
        return w->lastData + w->silentTimeout - now + 0.01;
    default:
        return 1.0;
    }
}
