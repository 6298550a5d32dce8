/* k8sArgoOps.h - set a Helm parameter on an Argo CD Application (the root of
 * an app-of-apps), the way `argocd app set NS/ROOT -p name=value` does.
 * No EPICS headers.
 *
 * A JSON merge patch cannot edit one element of a list, so the object is
 * read, its parameters list rebuilt (k8sArgoParamPatch) and sent with the
 * resourceVersion read: the API answers 409 when the object changed in
 * between (Argo CD writes status to the same object all the time), and the
 * read-patch is repeated, at most K8S_ARGO_ATTEMPTS times.
 */
#ifndef INC_k8sArgoOps_H
#define INC_k8sArgoOps_H

#include <stddef.h>
#include "k8sNet.h"
#include "k8sOps.h"

#ifdef __cplusplus
extern "C" {
#endif

#define K8S_ARGO_ATTEMPTS 4

/* Any thread. 0 when queued (done WILL be called exactly once, on the
 * network thread), -1 with err (done not called). Before patching, the root
 * as read is checked again with k8sArgoRootUsable: a root that has become
 * tracked by another Application is refused (done with ok 0, httpStatus 0).
 * On success the message says "<param>=<value> on Application <ns>/<app>". */
int k8sArgoSetParam(k8sNet *net, const char *ns, const char *app, const char *param,
                    const char *value, int forceString, k8sDoneFn done, void *arg,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
