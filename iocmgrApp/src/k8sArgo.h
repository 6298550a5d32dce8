/* k8sArgo.h - Argo CD Applications (argoproj.io/v1alpha1): decoding, the
 * tracking-id, which Application owns an instance and through which root it
 * is started and stopped, and the root's Helm parameter patch. No EPICS
 * headers (cmocka-tested alone, fuzzed in tests/fuzz).
 *
 * epics-containers beamlines: a root Application (app-of-apps) per beamline,
 * one child Application per service, both with automated sync and selfHeal.
 * The child's name is the service's key under `services:` in the root's
 * values; the child carries its root's tracking-id. A change sticks only as
 * a Helm parameter of the ROOT (`services.<svc>.enabled`, ...): anything
 * else is put back by self-heal within about a second.
 *
 * Functions return 0, or -1 with a reason in err, unless said otherwise.
 */
#ifndef INC_k8sArgo_H
#define INC_k8sArgo_H

#include <stddef.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define K8S_ARGO_TRACKING_ANNOTATION "argocd.argoproj.io/tracking-id"
#define K8S_ARGO_DEFAULT_INSTANCE_LABEL "app.kubernetes.io/instance"

typedef struct k8sApp {
    char name[254]; char namespace_[64]; char uid[64]; char resourceVersion[32];
    int deleting;                     /* metadata.deletionTimestamp set */
    char trackingId[320];             /* its own tracking-id: a child carries its root's */
    int hasSource;                    /* a single spec.source (not multi-source spec.sources) */
    char sourceType[16];              /* status.sourceType: Helm, Kustomize, Directory, Plugin or "" */
    char targetRevision[128];         /* spec.source.targetRevision */
    char syncStatus[16];              /* status.sync.status: Synced, OutOfSync, Unknown or "" */
    char healthStatus[16];            /* status.health.status */
    char healthMessage[256];
    char opPhase[16];                 /* status.operationState.phase: Running, Succeeded, Failed, Error, Terminating */
    char opMessage[512];
    char reconciledAt[32];            /* status.reconciledAt: the controller's last look at it */
    int globalEnabled;                /* Helm parameter global.enabled: 1, 0, or -1 when absent */
    /* The Helm parameters of ONE service, "services.<svc>.*", as "name=value\n"
     * lines, enabled and targetRevision first: in the root of a k8sArgoOwner,
     * those of the owner's service (what its records read). "" in other
     * copies. An Application's parameters are kept whole elsewhere, however
     * many (k8sAppParamsFromJson, k8sAppStored, k8sClientAppParam). */
    char params[2048];
    int paramsTruncated;              /* that service's own parameters did not all fit (the
                                         client says so in its log); enabled and targetRevision
                                         come first, so only a value of more than ~1.7 KB of
                                         theirs is cut */
} k8sApp;

/* The fixed fields; params is left "". */
int k8sAppFromJson(const cJSON *obj, k8sApp *out, char *err, size_t errlen);

/* Every Helm parameter of the Application whose name begins with "services."
 * (a root's overrides: ec start/stop/deploy), whole, as "name=value\n" lines
 * in their order, in a malloc'd string ("" when none). A number or boolean
 * value is written as Helm reads it. A name or value holding a newline cannot
 * be carried by a line: it is left out and counted in *skipped (may be NULL);
 * it cannot be a service's enabled or targetRevision. NULL when out of memory. */
char *k8sAppParamsFromJson(const cJSON *obj, size_t *skipped);

/* The first parameter called name among "name=value\n" lines: 0 found (the
 * value copied into value, cut to len - 1 characters), -1 not. */
int k8sParamLookup(const char *lines, const char *name, char *value, size_t len);
/* The same among k8sApp.params. */
int k8sAppParam(const k8sApp *app, const char *name, char *value, size_t len);

/* The lines of service svc ("services.<svc>.*") among all, copied into buf
 * (size len): enabled and targetRevision first, then the others in their
 * order. 0 when every one fits; -1 when not, buf then holds the whole lines
 * that fit. */
int k8sArgoServiceParams(const char *all, const char *svc, char *buf, size_t len);

/* An Application as a cache keeps it: the fixed fields (app.params "") and
 * every services.* parameter whole (k8sAppParamsFromJson, malloc'd; may be
 * NULL). The cache owns params: k8sAppStoredRelease is its k8sCache release
 * function. */
typedef struct k8sAppStored {
    k8sApp app;
    char *params;
} k8sAppStored;
void k8sAppStoredRelease(void *stored);

/* "true"/"false" as Helm reads a --set value (True, FALSE, 1, 0 too):
 * 1, 0, or -1 when it is neither. */
int k8sArgoBool(const char *v);

/* <instance>:<group>/<kind>:<namespace>/<name>; <instance> is <appNs>_<app>
 * for an Application outside the controller's namespace, else <app>
 * (appNamespace ""). group and namespace may be empty (core, cluster-scoped). */
typedef struct k8sTrackingId {
    char appNamespace[64], app[254];
    char group[64], kind[64], namespace_[64], name[254];
} k8sTrackingId;

int k8sArgoParseTrackingId(const char *id, k8sTrackingId *out, char *err, size_t errlen);

/* Who owns an instance (a StatefulSet or Deployment). */
typedef struct k8sArgoConfig {
    const char *appNamespace;   /* where the Applications are (watched); also the namespace of
                                   a tracking-id without one, and of label-tracked apps */
    const char *rootApp;        /* root named explicitly (EC_TARGET <ns>/<root>, iocsh), or "" */
    const char *instanceLabel;  /* label tracking: "" for none */
} k8sArgoConfig;

/* 0 and *out when the Application ns/name is known, -1 when not. */
typedef int (*k8sAppLookupFn)(void *arg, const char *ns, const char *name, k8sApp *out);

typedef struct k8sArgoOwner {
    int managed;                /* an Application tracks the instance: never scale it */
    int haveChild, haveRoot;
    k8sApp child, root;
    char svc[254];              /* the key under services: (the child's name) */
    char problem[512];          /* managed, but no command can go through the root: why, in words */
} k8sArgoOwner;

/* kind, ns, name: the instance's object; trackingId, labelValue: its
 * annotation and the configured instance label's value ("" when absent).
 * Always fills *out: managed 0 means behave as without Argo CD. A label
 * counts only when it names a known Application (charts set
 * app.kubernetes.io/instance on their own); a tracking-id counts when it
 * names this very object, as Argo CD itself checks. */
void k8sArgoResolve(const char *kind, const char *ns, const char *name, const char *trackingId,
                    const char *labelValue, const k8sArgoConfig *cfg, k8sAppLookupFn lookup,
                    void *arg, k8sArgoOwner *out);

/* Why a root cannot take an override ("" when it can): tracked by another
 * Application (its self-heal would revert it), multi-source, not Helm,
 * being deleted. Fills why; returns 0 when fine, -1 when not. */
int k8sArgoRootUsable(const k8sApp *root, char *why, size_t len);

/* The merge patch that sets one Helm parameter on an Application (its JSON
 * as read): the whole spec.source.helm.parameters list with `name` added or
 * replaced (other parameters and members kept), and metadata.resourceVersion
 * of the object read, so that the API answers 409 when it changed since.
 * forceString: pass the value to Helm as a string ("1.10" stays a tag).
 * Returns a malloc'd string, or NULL with err (no spec.source, no
 * resourceVersion, out of memory). */
char *k8sArgoParamPatch(const cJSON *app, const char *name, const char *value, int forceString,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
