/* k8sWatch.h - list+watch of one resource collection, on the network thread.
 *
 * States: LISTING (paged GET, limit=500, continue tokens) -> WATCHING
 * (?watch=1&resourceVersion=<list rv>&allowWatchBookmarks=true) ->
 * re-watch from the last seen resourceVersion when the server ends the
 * watch normally (its timeoutSeconds) or the stream was silent longer than
 * the timeout; relist immediately on 410 Gone (HTTP status or an ERROR event
 * with code 410); on any other failure (connection refused / dropped,
 * 401/403, 5xx, undecodable line) back off (k8sBackoff) then relist.
 * A relist replaces the cache contents (see k8sCache.h), so nothing is
 * missed or duplicated across a reconnect.
 *
 * An optional collection (k8sWatchSetOptional: Deployments, Events, Argo CD
 * Applications) that the API answers 404 (not served: no CRD) or 403 (not
 * granted) is unavailable, not broken: said once at level 0, re-checked
 * quietly (level 2) every `recheck` seconds instead of backing off, and
 * announced at level 0 when it becomes available.
 */
#ifndef INC_k8sWatch_H
#define INC_k8sWatch_H

#include <cjson/cJSON.h>

#include "k8sNet.h"
#include "k8sBackoff.h"
#include "k8sLineBuffer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { K8S_STREAM_IDLE, K8S_STREAM_LISTING, K8S_STREAM_WATCHING, K8S_STREAM_BACKOFF } k8sStreamState;

typedef struct k8sWatchHandler {
    void *arg;
    void (*listBegin)(void *arg);
    /* deleted=0: ADDED/MODIFIED or a listed item; 1: DELETED */
    void (*object)(void *arg, const cJSON *obj, int deleted);
    void (*listEnd)(void *arg);
    /* synced or message changed (see k8sWatch.synced / .message) */
    void (*state)(void *arg);
} k8sWatchHandler;

typedef struct k8sWatch {
    char what[64];            /* "statefulsets" (for messages) */
    char path[512];           /* collection path, "/apis/apps/v1/namespaces/ns/statefulsets" */
    char query[256];          /* extra query terms ("fieldSelector=..."), may be "" */
    double silentTimeout;     /* s */
    k8sNet *net;
    k8sWatchHandler h;

    k8sStreamState stateNow;
    int synced;               /* listed and the watch is established */
    char message[600];        /* why not synced, in words */
    long lastHttpStatus;      /* of the last failure, 0 when there was no response */
    char resourceVersion[32];
    char continueToken[1024];
    k8sRequest *req;          /* in flight, NULL when none */
    int relistWanted;         /* 410 seen on the current watch */
    int silentAbort;          /* we aborted a silent watch */
    double lastData, retryAt;
    k8sBackoff backoff;
    k8sLineBuffer lines;
    unsigned rnd;
    double recheck;           /* > 0: optional; seconds between checks while unavailable */
    char description[160];    /* optional: what it is, for the log ("Argo CD Applications in namespace x") */
    char absentHint[160];     /* optional: what a 404 means ("Argo CD is not installed in this cluster") */
    long unavailable;         /* optional: 403 or 404 while unavailable, 0 when available */
    /* counters, for diagnostics and tests */
    unsigned long lists, watches, relists410, failures, events, rechecks;
} k8sWatch;

void k8sWatchInit(k8sWatch *w, k8sNet *net, const char *what, const char *path, const char *query,
                  double silentTimeout, const k8sWatchHandler *h);
/* Before the stream starts: mark it optional (see above). recheck <= 0: 300 s.
 * hint (may be NULL): what a 404 means, in words. */
void k8sWatchSetOptional(k8sWatch *w, double recheck, const char *description, const char *hint);
/* Network thread only. Starts listing. */
void k8sWatchStart(k8sWatch *w);
/* Network thread only. Watches from a known resourceVersion without
 * listing first (a resume); one the server no longer has gives 410 and a
 * relist. */
void k8sWatchResume(k8sWatch *w, const char *resourceVersion);
/* Network thread: a stream backing off after a failure (not an unavailable
 * optional one) tries again now, e.g. when the credential it lacked is there. */
void k8sWatchRetryNow(k8sWatch *w);
/* Network thread: timers (backoff expiry, silent stream). Returns seconds
 * until it needs to run again. */
double k8sWatchTick(k8sWatch *w, double now);
void k8sWatchFree(k8sWatch *w);

/* Feed raw watch body bytes (exposed for tests and the benchmark). Returns
 * 0, or -1 when the stream must end (410, ERROR event, undecodable line). */
int k8sWatchFeed(k8sWatch *w, const char *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
