/* k8sApply.h - one listed or watched object into its cache (no EPICS headers).
 *
 * The rules of what the client keeps: StatefulSets and Deployments that match
 * the label selectors (a relabelled object that no longer matches leaves the
 * managed set), pods with an owner, Warning events about a Pod, StatefulSet
 * or Deployment. Anything else, and every DELETED object, is removed from
 * the cache (a delete of an unknown key emits nothing).
 */
#ifndef INC_k8sApply_H
#define INC_k8sApply_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "k8sCache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { K8S_KIND_STATEFULSET, K8S_KIND_DEPLOYMENT, K8S_KIND_POD, K8S_KIND_EVENT, K8S_KIND_APPLICATION } k8sKind;

/* The cache holds k8sInstance (StatefulSet, Deployment), k8sPod, k8sEvent or
 * k8sAppStored (every Argo CD Application of the namespace, its parameters
 * whole: such a cache must have k8sAppStoredRelease as its release function).
 * container NULL: the pod's only or first container. selectors: as
 * k8sLabelsMatchAny. Returns 0 when applied; -1 when obj cannot be decoded
 * (err says why, the cache is unchanged); -2 when out of memory (err names
 * the object). */
int k8sApplyObject(k8sCache *cache, k8sKind kind, const cJSON *obj, int deleted,
                   const char *container, const char *selectors, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
