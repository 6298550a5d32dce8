/* k8sOps.h - write operations and log reads, queued on the network thread.
 *
 * Each returns 0 when queued (done WILL be called exactly once, on the
 * network thread) or -1 with err set (done not called). The k8sResult
 * carries the HTTP status and, on failure, the API's own Status message.
 */
#ifndef INC_k8sOps_H
#define INC_k8sOps_H

#include <stddef.h>
#include "k8sNet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8sResult {
    int ok;                 /* 2xx */
    long httpStatus;        /* 0 when no HTTP response (connection refused, TLS error, timeout) */
    char message[1024];     /* Status.message for 4xx/5xx, curl's words otherwise, or a short success text */
    char *body; size_t bodyLen;  /* response body (logs); owned by the library, valid only during the callback */
    int maybeSent;          /* failed with no HTTP answer after the request began to go out:
                               the API may have acted on it (k8sHttpResponse.maybeSent) */
} k8sResult;
typedef void (*k8sDoneFn)(void *arg, const k8sResult *res);

/* Kubernetes object name (DNS subdomain): 0 valid, -1 with err. */
int k8sOpsValidName(const char *what, const char *name, char *err, size_t errlen);

/* Request bodies, malloc'd (exposed for tests). container NULL/"" gives a
 * JSON patch of containers/0, else a strategic merge patch by name. */
char *k8sOpsScaleBody(int replicas);
/* DeleteOptions with preconditions.uid: the API refuses (409) to delete a
 * pod of the same name that is not this one. uid NULL/"": no precondition. */
char *k8sOpsDeleteBody(const char *uid);
char *k8sOpsImagePatch(const char *container, const char *image, const char **contentType);

/* kind: "StatefulSet" or "Deployment". PATCH .../<kind>s/<name>/scale (merge patch). */
int k8sOpsScale(k8sNet *net, const char *ns, const char *kind, const char *name, int replicas,
                k8sDoneFn done, void *arg, char *err, size_t errlen);
/* Delete each named pod; one callback when all are answered: ok when all
 * deletions succeeded. uids (NULL, or one per pod) makes each DELETE apply
 * only to the pod seen: a late or repeated DELETE never removes the
 * replacement. 404 (gone) and 409 (the name now belongs to a replacement)
 * count as done: the pod that was seen is gone either way.
 * Network thread only (k8sClientRestart posts it there). */
int k8sOpsDeletePods(k8sNet *net, const char *ns, const char *instance, const char *const *pods,
                     const char *const *uids, size_t npods, k8sDoneFn done, void *arg,
                     char *err, size_t errlen);
/* Validates image with k8sImageRef first. */
int k8sOpsSetImage(k8sNet *net, const char *ns, const char *kind, const char *name,
                   const char *container, const char *image,
                   k8sDoneFn done, void *arg, char *err, size_t errlen);
/* tailLines <= 0: whole log (capped by limitBytes=1 MiB). container NULL: the pod's only/default one. */
int k8sOpsGetLog(k8sNet *net, const char *ns, const char *pod, const char *container, int tailLines,
                 int previous, k8sDoneFn done, void *arg, char *err, size_t errlen);

/* HTTP response to k8sResult (exposed for tests). success: text when 2xx. */
void k8sOpsResult(const k8sHttpResponse *res, const char *success, k8sResult *out);

#ifdef __cplusplus
}
#endif
#endif
