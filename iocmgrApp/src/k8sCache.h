/* k8sCache.h - in-memory store of one kind of object, keyed by
 * "namespace/name", with change callbacks.
 *
 * Consistency rules (what makes list+watch safe across reconnects):
 *  - an upsert whose resourceVersion equals the stored one emits nothing
 *    (duplicates from a re-watch or relist are swallowed);
 *  - an upsert of an unknown key emits ADDED, of a known key MODIFIED;
 *    if the uid changed (deleted and recreated under the same name while we
 *    were not watching) it emits DELETED for the old object, then ADDED;
 *  - a delete of an unknown key emits nothing;
 *  - a replace (relist) emits the above for every listed object and DELETED
 *    for every stored object the list no longer has.
 * Only one thread (the network thread) may modify a cache; any thread may
 * read. Callbacks run on the modifying thread with no lock held.
 */
#ifndef INC_k8sCache_H
#define INC_k8sCache_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { K8S_ADDED, K8S_MODIFIED, K8S_DELETED } k8sChange;

typedef struct k8sCache k8sCache;

/* obj points at an objSize-byte struct, valid only during the call. */
typedef void (*k8sCacheChangeFn)(void *arg, k8sChange change, const void *obj);
/* Return non-zero to stop the iteration. Called with the cache lock held:
 * copy and return, never call back into the cache. */
typedef int (*k8sCacheVisitFn)(void *arg, const void *obj);

/* Returns NULL only when out of memory. fn may be NULL. */
k8sCache *k8sCacheCreate(size_t objSize, k8sCacheChangeFn fn, void *arg);
void k8sCacheDestroy(k8sCache *c);

/* Watch ADDED/MODIFIED; returns 0, -1 when out of memory. */
int k8sCacheUpsert(k8sCache *c, const char *key, const char *uid, const char *rv, const void *obj);
/* Watch DELETED. */
void k8sCacheDelete(k8sCache *c, const char *key);

/* Relist: Begin, Upsert each listed object, End. End emits DELETED for what
 * the list did not contain. */
void k8sCacheReplaceBegin(k8sCache *c);
void k8sCacheReplaceEnd(k8sCache *c);

/* A group index: objects whose groupOf() names the same group (a pod's
 * owner, an event's object) are visited by k8sCacheForEachInGroup without
 * visiting every object. groupOf must depend only on the object and return
 * NULL or "" for none. Set it once, before the network thread runs;
 * 0, or -1 when out of memory. */
typedef const char *(*k8sCacheGroupFn)(const void *obj);
int k8sCacheSetGroup(k8sCache *c, k8sCacheGroupFn groupOf);
/* Visit the objects of one group, as k8sCacheForEach (lock held). */
void k8sCacheForEachInGroup(k8sCache *c, const char *group, k8sCacheVisitFn fn, void *arg);

/* Objects that own memory through a pointer member (an Application's
 * parameters): release frees what one object owns. Set it once, before the
 * cache is used. The cache then owns what an object passed to
 * k8sCacheUpsert points to, from the call on, whatever it returns: released
 * when the object is replaced, deleted (after its DELETED callback) or
 * cleared, and at once when the upsert stores nothing (same resourceVersion,
 * out of memory). k8sCacheGet would copy the pointer: read such objects with
 * k8sCacheWith, copying what the pointer leads to. */
typedef void (*k8sCacheReleaseFn)(void *obj);
void k8sCacheSetRelease(k8sCache *c, k8sCacheReleaseFn release);

/* Copy of the object under key: 0 found, -1 not found. */
int k8sCacheGet(k8sCache *c, const char *key, void *out);
/* Visit the object under key with the cache lock held (copy and return,
 * never call back into the cache): 0 found (fn called), -1 not found. */
int k8sCacheWith(k8sCache *c, const char *key, k8sCacheVisitFn fn, void *arg);
void k8sCacheForEach(k8sCache *c, k8sCacheVisitFn fn, void *arg);
size_t k8sCacheCount(k8sCache *c);
/* Drop everything silently (no callbacks). */
void k8sCacheClear(k8sCache *c);

/* "namespace/name" into buf; returns buf. */
char *k8sCacheKey(char *buf, size_t len, const char *ns, const char *name);

#ifdef __cplusplus
}
#endif
#endif
