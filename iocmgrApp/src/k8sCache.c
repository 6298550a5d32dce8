/* k8sCache.c - keyed object store with consistency rules; see k8sCache.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "k8sCache.h"

struct group;

typedef struct entry {
    struct entry *next;
    struct group *grp;               /* NULL: no group function, or not linked */
    struct entry *gprev, *gnext;     /* the group's members */
    char *key;
    char uid[64];
    char rv[32];
    unsigned mark;                   /* replace generation that last saw it */
    union { long long ll; double d; void *p; } obj[];
} entry;

/* The objects that share a group name (a pod's owner, an event's object),
 * so that one instance's pods are found without visiting every pod. */
typedef struct group {
    struct group *next;
    entry *first;
    char name[];
} group;

struct k8sCache {
    pthread_mutex_t lock;
    entry **buckets;
    size_t nbuckets, count, objSize;
    k8sCacheGroupFn groupOf;
    group **groups;
    size_t ngroupBuckets, ngroups;
    unsigned generation;
    k8sCacheChangeFn fn;
    void *arg;
    k8sCacheReleaseFn release;
};

static size_t hashKey(const char *s)
{
    size_t h = 14695981039346656037ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static void copyField(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- the group index (lock held) ---- */

static group **findGroup(k8sCache *c, const char *name)
{
    group **pp = &c->groups[hashKey(name) & (c->ngroupBuckets - 1)];
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void growGroups(k8sCache *c)
{
    size_t n = c->ngroupBuckets * 2, i;
    group **nb = calloc(n, sizeof *nb);

    if (!nb)
        return;   /* longer chains, still correct */
    for (i = 0; i < c->ngroupBuckets; i++) {
        group *g = c->groups[i];
        while (g) {
            group *next = g->next;
            size_t h = hashKey(g->name) & (n - 1);
            g->next = nb[h];
            nb[h] = g;
            g = next;
        }
    }
    free(c->groups);
    c->groups = nb;
    c->ngroupBuckets = n;
}

static void groupLink(k8sCache *c, entry *e)
{
    const char *name;
    group **pp, *g;
    size_t len;

    e->grp = NULL;
    e->gprev = e->gnext = NULL;
    if (!c->groupOf || !(name = c->groupOf(e->obj)) || !*name)
        return;
    pp = findGroup(c, name);
    if (!(g = *pp)) {
        len = strlen(name) + 1;
        if (!(g = malloc(sizeof *g + len)))
            return;   /* not in the index: ForEachInGroup misses it (out of memory) */
        memcpy(g->name, name, len);
        g->first = NULL;
        g->next = NULL;
        *pp = g;
        if (++c->ngroups > c->ngroupBuckets)
            growGroups(c);
    }
    e->grp = g;
    e->gnext = g->first;
    if (g->first)
        g->first->gprev = e;
    g->first = e;
}

static void groupUnlink(k8sCache *c, entry *e)
{
    group *g = e->grp, **pp;

    if (!g)
        return;
    if (e->gprev)
        e->gprev->gnext = e->gnext;
    else
        g->first = e->gnext;
    if (e->gnext)
        e->gnext->gprev = e->gprev;
    e->grp = NULL;
    e->gprev = e->gnext = NULL;
    if (g->first)
        return;
    pp = findGroup(c, g->name);
    if (*pp == g) {
        *pp = g->next;
        c->ngroups--;
        free(g);
    }
}

char *k8sCacheKey(char *buf, size_t len, const char *ns, const char *name)
{
    snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
    return buf;
}

k8sCache *k8sCacheCreate(size_t objSize, k8sCacheChangeFn fn, void *arg)
{
    k8sCache *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->nbuckets = 64;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->objSize = objSize;
    c->fn = fn;
    c->arg = arg;
    return c;
}

static void freeEntry(k8sCache *c, entry *e)
{
    if (c->release)
        c->release(e->obj);
    free(e->key);
    free(e);
}

void k8sCacheSetRelease(k8sCache *c, k8sCacheReleaseFn release)
{
    c->release = release;
}

void k8sCacheClear(k8sCache *c)
{
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < c->nbuckets; i++) {
        entry *e = c->buckets[i];
        while (e) {
            entry *n = e->next;
            freeEntry(c, e);
            e = n;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
    for (i = 0; i < c->ngroupBuckets; i++) {
        group *g = c->groups[i];
        while (g) {
            group *n = g->next;
            free(g);
            g = n;
        }
        c->groups[i] = NULL;
    }
    c->ngroups = 0;
    pthread_mutex_unlock(&c->lock);
}

void k8sCacheDestroy(k8sCache *c)
{
    if (!c)
        return;
    k8sCacheClear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c->groups);
    free(c);
}

static entry **findSlot(k8sCache *c, const char *key)
{
    entry **pp = &c->buckets[hashKey(key) & (c->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void grow(k8sCache *c)
{
    size_t n = c->nbuckets * 2, i;
    entry **nb = calloc(n, sizeof *nb);

    if (!nb)
        return;   /* longer chains, still correct */
    for (i = 0; i < c->nbuckets; i++) {
        entry *e = c->buckets[i];
        while (e) {
            entry *next = e->next;
            size_t h = hashKey(e->key) & (n - 1);
            e->next = nb[h];
            nb[h] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
}

int k8sCacheUpsert(k8sCache *c, const char *key, const char *uid, const char *rv, const void *obj)
{
    entry **pp, *e, *old = NULL;
    int emit = -1;

    pthread_mutex_lock(&c->lock);
    pp = findSlot(c, key);
    e = *pp;
    if (e) {
        e->mark = c->generation;
        if (strcmp(e->rv, rv ? rv : "") == 0) {
            pthread_mutex_unlock(&c->lock);
            if (c->release)
                c->release((void *)obj);
            return 0;
        }
        if (uid && *uid && e->uid[0] && strcmp(e->uid, uid) != 0) {
            /* recreated under the same name: report the old one gone */
            old = malloc(sizeof *old + c->objSize);
            if (old) {
                memcpy(old, e, sizeof *old + c->objSize);
                old->key = NULL;
            } else if (c->release) {
                c->release(e->obj);
            }
            emit = K8S_ADDED;
        } else {
            /* readers copy under the lock: nothing else holds what it owns */
            if (c->release)
                c->release(e->obj);
            emit = K8S_MODIFIED;
        }
    } else {
        e = malloc(sizeof *e + c->objSize);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            pthread_mutex_unlock(&c->lock);
            if (c->release)
                c->release((void *)obj);
            return -1;
        }
        e->next = NULL;
        e->grp = NULL;
        e->mark = c->generation;
        *pp = e;
        if (++c->count > c->nbuckets)
            grow(c);
        emit = K8S_ADDED;
    }
    copyField(e->uid, sizeof e->uid, uid);
    copyField(e->rv, sizeof e->rv, rv);
    groupUnlink(c, e);              /* the new version may belong elsewhere */
    memcpy(e->obj, obj, c->objSize);
    groupLink(c, e);
    pthread_mutex_unlock(&c->lock);

    if (c->fn) {
        if (old)
            c->fn(c->arg, K8S_DELETED, old->obj);
        c->fn(c->arg, (k8sChange)emit, obj);
    }
    if (old && c->release)
        c->release(old->obj);
    free(old);
    return 0;
}

void k8sCacheDelete(k8sCache *c, const char *key)
{
    entry **pp, *e;

    pthread_mutex_lock(&c->lock);
    pp = findSlot(c, key);
    e = *pp;
    if (e) {
        *pp = e->next;
        c->count--;
        groupUnlink(c, e);
    }
    pthread_mutex_unlock(&c->lock);
    if (!e)
        return;
    if (c->fn)
        c->fn(c->arg, K8S_DELETED, e->obj);
    freeEntry(c, e);
}

void k8sCacheReplaceBegin(k8sCache *c)
{
    pthread_mutex_lock(&c->lock);
    c->generation++;
    pthread_mutex_unlock(&c->lock);
}

void k8sCacheReplaceEnd(k8sCache *c)
{
    entry *gone = NULL, *e;
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < c->nbuckets; i++) {
        entry **pp = &c->buckets[i];
        while ((e = *pp) != NULL) {
            if (e->mark != c->generation) {
                *pp = e->next;
                e->next = gone;
                gone = e;
                c->count--;
                groupUnlink(c, e);
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    while ((e = gone) != NULL) {
        gone = e->next;
        if (c->fn)
            c->fn(c->arg, K8S_DELETED, e->obj);
        freeEntry(c, e);
    }
}

int k8sCacheGet(k8sCache *c, const char *key, void *out)
{
    entry *e;

    pthread_mutex_lock(&c->lock);
    e = *findSlot(c, key);
    if (e)
        memcpy(out, e->obj, c->objSize);
    pthread_mutex_unlock(&c->lock);
    return e ? 0 : -1;
}

int k8sCacheWith(k8sCache *c, const char *key, k8sCacheVisitFn fn, void *arg)
{
    entry *e;

    pthread_mutex_lock(&c->lock);
    e = *findSlot(c, key);
    if (e)
        fn(arg, e->obj);
    pthread_mutex_unlock(&c->lock);
    return e ? 0 : -1;
}

void k8sCacheForEach(k8sCache *c, k8sCacheVisitFn fn, void *arg)
{
    size_t i;
    entry *e;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < c->nbuckets; i++)
        for (e = c->buckets[i]; e; e = e->next)
            if (fn(arg, e->obj))
                goto done;
done:
    pthread_mutex_unlock(&c->lock);
}

int k8sCacheSetGroup(k8sCache *c, k8sCacheGroupFn groupOf)
{
    size_t i;
    entry *e;

    pthread_mutex_lock(&c->lock);
    if (!c->groups) {
        c->ngroupBuckets = 64;
        if (!(c->groups = calloc(c->ngroupBuckets, sizeof *c->groups))) {
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
    }
    for (i = 0; i < c->nbuckets; i++)       /* objects already stored */
        for (e = c->buckets[i]; e; e = e->next)
            groupUnlink(c, e);
    c->groupOf = groupOf;
    for (i = 0; i < c->nbuckets; i++)
        for (e = c->buckets[i]; e; e = e->next)
            groupLink(c, e);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void k8sCacheForEachInGroup(k8sCache *c, const char *name, k8sCacheVisitFn fn, void *arg)
{
    group *g;
    entry *e;

    pthread_mutex_lock(&c->lock);
    if (c->groupOf && name && (g = *findGroup(c, name)) != NULL)
        for (e = g->first; e; e = e->gnext)
            if (fn(arg, e->obj))
                break;
    pthread_mutex_unlock(&c->lock);
}

size_t k8sCacheCount(k8sCache *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
