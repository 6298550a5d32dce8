/* k8sApply.c - one listed or watched object into its cache; see k8sApply.h */
#include <stdio.h>
#include <string.h>

#include "k8sApply.h"
#include "k8sArgo.h"
#include "k8sObject.h"

int k8sApplyObject(k8sCache *cache, k8sKind kind, const cJSON *obj, int deleted,
                   const char *container, const char *selectors, char *err, size_t errlen)
{
    char key[400];
    union { k8sInstance inst; k8sPod pod; k8sEvent ev; k8sAppStored app; } u;
    const char *ns, *name, *uid, *rv;
    int keep = !deleted;

    switch (kind) {
    case K8S_KIND_STATEFULSET:
    case K8S_KIND_DEPLOYMENT:
        if (k8sInstanceFromJson(obj, kind == K8S_KIND_STATEFULSET ? "StatefulSet" : "Deployment",
                                container, &u.inst, err, errlen))
            return -1;
        keep = keep && k8sLabelsMatchAny(obj, selectors);
        ns = u.inst.namespace_; name = u.inst.name; uid = u.inst.uid; rv = u.inst.resourceVersion;
        break;
    case K8S_KIND_POD:
        if (k8sPodFromJson(obj, container, &u.pod, err, errlen))
            return -1;
        keep = keep && u.pod.ownerName[0];
        ns = u.pod.namespace_; name = u.pod.name; uid = u.pod.uid; rv = u.pod.resourceVersion;
        break;
    case K8S_KIND_APPLICATION:
        if (k8sAppFromJson(obj, &u.app.app, err, errlen))
            return -1;
        u.app.params = NULL;
        if (keep && !(u.app.params = k8sAppParamsFromJson(obj, NULL))) {
            snprintf(err, errlen, "out of memory decoding the parameters of Application %.64s/%.253s",
                     u.app.app.namespace_, u.app.app.name);
            return -2;
        }
        ns = u.app.app.namespace_; name = u.app.app.name; uid = u.app.app.uid; rv = u.app.app.resourceVersion;
        break;
    default:
        if (k8sEventFromJson(obj, &u.ev, err, errlen))
            return -1;
        keep = keep && strcmp(u.ev.type, "Warning") == 0 &&
               (strcmp(u.ev.involvedKind, "Pod") == 0 || strcmp(u.ev.involvedKind, "StatefulSet") == 0 ||
                strcmp(u.ev.involvedKind, "Deployment") == 0);
        ns = u.ev.namespace_; name = u.ev.name; uid = NULL; rv = u.ev.resourceVersion;
        break;
    }
    k8sCacheKey(key, sizeof key, ns, name);
    if (!keep) {
        k8sCacheDelete(cache, key);
        return 0;
    }
    /* a cache of Applications owns their parameters from here on (k8sCacheSetRelease) */
    if (k8sCacheUpsert(cache, key, uid, rv, &u) != 0) {
        snprintf(err, errlen, "out of memory caching %s", key);
        return -2;
    }
    return 0;
}
