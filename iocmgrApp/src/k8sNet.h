/* k8sNet.h - the network thread: one curl multi handle, a request queue fed
 * from any thread, completion by callback on the network thread.
 *
 * Connections are kept alive and, over TLS, HTTP/2 is negotiated so watches
 * and commands share one multiplexed connection. TCP keepalive (15 s idle,
 * 5 s interval, 3 probes) finds a dead peer on a silent connection.
 */
#ifndef INC_k8sNet_H
#define INC_k8sNet_H

#include <stddef.h>
#include "k8sConfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8sNet k8sNet;
typedef struct k8sRequest k8sRequest;

typedef struct k8sHttpResponse {
    long status;           /* HTTP status, 0 when there was no response */
    const char *error;     /* NULL on a completed exchange (any status), else words:
                              curl's error text, "aborted", "client stopped" */
    char *body;            /* accumulated body (for a stream: only a non-2xx body); owned by the library */
    size_t bodyLen;
    int maybeSent;         /* with error: the request may have reached the server (it failed after
                              curl began to send it: timeout, reset stream), so it may have acted */
} k8sHttpResponse;

/* Called exactly once per submitted request, on the network thread. */
typedef void (*k8sHttpDoneFn)(void *arg, const k8sHttpResponse *res);
/* Streaming: called when the final response headers are in (status known),
 * and for each chunk of a 2xx body. Return -1 from dataFn to abort. */
typedef void (*k8sHttpHeadersFn)(void *arg, long status);
typedef int (*k8sHttpDataFn)(void *arg, const char *data, size_t len);

/* path begins with '/' and includes any query. Returns NULL when out of memory. */
k8sRequest *k8sRequestNew(const char *method, const char *path, k8sHttpDoneFn done, void *arg);
/* Body is copied. */
int k8sRequestSetBody(k8sRequest *r, const char *contentType, const char *body);
/* Seconds for the whole exchange; default 30; 0 = none (watches). */
void k8sRequestSetTimeout(k8sRequest *r, double seconds);
void k8sRequestSetStream(k8sRequest *r, k8sHttpHeadersFn headers, k8sHttpDataFn data);
/* Free a request that was never submitted. */
void k8sRequestFree(k8sRequest *r);

/* Called on the network thread at every loop turn; returns the seconds
 * until it wants to be called again. */
typedef double (*k8sNetTickFn)(void *arg, double now);
/* Work to run on the network thread. cancelled=1 when the thread stops
 * before running it: the function must then only release what it holds
 * (and complete any callback it owes). */
typedef void (*k8sNetWorkFn)(void *arg, int cancelled);

/* cfg is borrowed and must outlive the net. */
k8sNet *k8sNetCreate(k8sConfig *cfg, k8sNetTickFn tick, void *tickArg, char *err, size_t errlen);
int k8sNetStart(k8sNet *n, char *err, size_t errlen);
/* Joins the thread; in-flight and queued requests complete with error
 * "client stopped". Idempotent. */
void k8sNetStop(k8sNet *n);
void k8sNetDestroy(k8sNet *n);

/* Any thread. 0: the request is owned by the net and done will be called;
 * -1: not queued (stopped, or not started), request freed, done not called. */
int k8sNetSubmit(k8sNet *n, k8sRequest *r, char *err, size_t errlen);
int k8sNetPost(k8sNet *n, k8sNetWorkFn fn, void *arg, char *err, size_t errlen);
/* Network thread only: ask a submitted request to stop; its done callback
 * follows with error "aborted" (within about a second). */
void k8sNetAbort(k8sNet *n, k8sRequest *r);

/* Run one request on the calling thread, blocking (boot-time listing).
 * done is called before return. Returns 0 (done called), -1 (err set). */
int k8sNetPerformBlocking(k8sConfig *cfg, k8sRequest *r, char *err, size_t errlen);

/* How many credentials an exec plugin has given so far: a change tells the
 * tick function that requests failed for want of one may go again. */
unsigned k8sNetCredentials(k8sNet *n);

/* Monotonic clock, seconds. */
double k8sNow(void);

#ifdef __cplusplus
}
#endif
#endif
