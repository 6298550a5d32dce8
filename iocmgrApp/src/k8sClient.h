/* k8sClient.h - the Kubernetes layer as the IOC sees it (no EPICS headers).
 *
 * One client = one namespace. It lists and watches StatefulSets and
 * Deployments (the IOC instances), their Pods, and Warning Events, keeps
 * them in caches, and reports changes by callback from its network thread.
 * Commands are queued and completed by callback; no call here blocks on
 * the network except k8sClientListInstances (boot only).
 * Functions return 0 / -1 with words in err unless said otherwise.
 */
#ifndef INC_k8sClient_H
#define INC_k8sClient_H

#include <stddef.h>

#include "k8sObject.h"
#include "k8sArgo.h"
#include "k8sCache.h"
#include "k8sOps.h"
#include "k8sLog.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8sClient k8sClient;

typedef struct k8sClientOptions {
    const char *kubeconfig;   /* NULL: $KUBECONFIG or ~/.kube/config; "incluster": service account */
    const char *context;      /* NULL: current-context */
    const char *namespace_;   /* NULL: context's namespace, else $EC_TARGET, else $EC_K8S_NAMESPACE, else "default" */
    const char *labelSelectors; /* NULL: "ioc=true,is_ioc=true". Comma-separated "key=value" or "key"
                                   terms, an object is managed when ANY term matches (client-side
                                   filter over one list+watch per kind; NOT kubectl's AND) */
    double watchTimeoutSeconds;   /* silent-stream restart; default 300 (bookmarks arrive ~every minute) */
    const char *container;    /* addition: container whose image/status is reported; NULL: the first */
    /* Argo CD (k8sArgo.h). Applications are listed and watched in appNamespace: NULL takes
     * it from $EC_TARGET when that has ec's ARGOCD form "<app-namespace>/<root-app>", else
     * the instances' namespace; "none" watches no Applications. rootApp: the root named
     * explicitly (NULL: EC_TARGET's). instanceLabel: label tracking (NULL: "app.kubernetes.io/instance",
     * "" none). */
    const char *appNamespace, *rootApp, *instanceLabel;
    /* Deployments, Events and Applications are optional: when the API answers 404 (not
     * served: Argo CD's CRD not installed) or 403 (not in the Role), that is said once in
     * the log and checked again quietly every this many seconds (0: 300), so that Argo CD
     * installed later is picked up. */
    double optionalRecheckSeconds;
} k8sClientOptions;

typedef struct k8sClientCallbacks {
    void *arg;
    /* called on the network thread, with NO lock held; copy what you need and return fast */
    void (*instanceChanged)(void *arg, k8sChange change, const k8sInstance *inst);
    void (*podChanged)(void *arg, k8sChange change, const k8sPod *pod);
    /* connected=1 only when every list+watch stream has listed and is watching (cache
     * consistent); 0 with a message in words otherwise. Fired on each change of either. */
    void (*syncChanged)(void *arg, int connected, const char *message);
    /* an Argo CD Application of the watched namespace (k8sClientOptions.appNamespace) */
    void (*appChanged)(void *arg, k8sChange change, const k8sApp *app);
} k8sClientCallbacks;

/* Loads the configuration; does not start I/O. cb may be NULL. */
int  k8sClientCreate(const k8sClientOptions *opt, const k8sClientCallbacks *cb, k8sClient **out,
                     char *err, size_t errlen);
const char *k8sClientNamespace(const k8sClient *c);
const char *k8sClientServer(const k8sClient *c);
/* Addition: "context \"x\" as client certificate" etc., for startup logs. */
const char *k8sClientDescribe(const k8sClient *c);

/* Blocking list for boot (StatefulSets + Deployments matching the selectors);
 * *out is malloc'd (caller frees; may be NULL when *count is 0). */
int  k8sClientListInstances(k8sClient *c, double timeout, k8sInstance **out, size_t *count,
                            char *err, size_t errlen);
/* Starts the network thread and the list/watch streams; callbacks begin. Once only. */
int  k8sClientStart(k8sClient *c, char *err, size_t errlen);
void k8sClientStop(k8sClient *c);       /* joins the network thread; idempotent */
void k8sClientDestroy(k8sClient *c);    /* stop + free; NULL is fine */

/* Cache lookups (copies under the cache lock): 0 found, -1 not found. */
int  k8sClientGetInstance(k8sClient *c, const char *name, k8sInstance *out);
/* Fills up to max pods; *count is the number of pods of the instance (may exceed max). */
int  k8sClientGetPods(k8sClient *c, const char *instanceName, k8sPod *out, size_t max, size_t *count);
/* Latest Warning event message about an instance or pod. */
int  k8sClientLatestEvent(k8sClient *c, const char *objectName, char *msg, size_t len);
/* Addition: connected as last reported by syncChanged, with its message. */
int  k8sClientConnected(k8sClient *c, char *msg, size_t len);

/* Argo CD. The Application namespace ("" when none is watched) and the root
 * named explicitly ("" when none). */
const char *k8sClientAppNamespace(const k8sClient *c);
const char *k8sClientRootApp(const k8sClient *c);
/* An Application from the cache (its params ""): 0 found, -1 not. */
int  k8sClientGetApp(k8sClient *c, const char *ns, const char *name, k8sApp *out);
/* One Helm parameter services.* of a cached Application, among all of them
 * (the value cut to len - 1): 0 found, -1 not. */
int  k8sClientAppParam(k8sClient *c, const char *ns, const char *app, const char *param, char *value,
                       size_t len);
/* Every services.* parameter of a cached Application, whole, as "name=value\n"
 * lines: malloc'd (caller frees), NULL when not cached. */
char *k8sClientAppParams(k8sClient *c, const char *ns, const char *app);
/* Who owns the instance (k8sArgoResolve over the caches); always fills *out.
 * out->root.params holds the root's parameters of the instance's service
 * (k8sArgoServiceParams; one that does not fit is said once in the log).
 * A problem caused by the Applications watch itself (403, no CRD) says so. */
void k8sClientArgoOwner(k8sClient *c, const char *instance, k8sArgoOwner *out);

/* Asynchronous writes: 0 queued (done WILL be called exactly once, on the network
 * thread), -1 not queued (err says why; done not called). */
int k8sClientScale(k8sClient *c, const char *instance, int replicas, k8sDoneFn done, void *arg,
                   char *err, size_t errlen);
int k8sClientRestart(k8sClient *c, const char *instance, k8sDoneFn done, void *arg,
                     char *err, size_t errlen);
int k8sClientSetImage(k8sClient *c, const char *instance, const char *image, k8sDoneFn done, void *arg,
                      char *err, size_t errlen);
/* k8sArgoSetParam on an Application of the watched namespace. */
int k8sClientSetAppParam(k8sClient *c, const char *app, const char *param, const char *value,
                         int forceString, k8sDoneFn done, void *arg, char *err, size_t errlen);
int k8sClientGetLog(k8sClient *c, const char *pod, int tailLines, int previous, k8sDoneFn done, void *arg,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
