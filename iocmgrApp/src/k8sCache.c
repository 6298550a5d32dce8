/* k8sCache.c - keyed object store with consistency rules; see k8sCache.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "k8sCache.h"

typedef struct entry {
    struct entry *next;
    char *key;
    char uid[64];
    char rv[32];
    unsigned mark;                   /* replace generation that last saw it */
    union { long long ll; double d; void *p; } obj[];
} entry;

struct k8sCache {
    pthread_mutex_t lock;
    entry **buckets;
    size_t nbuckets, count, objSize;
    unsigned generation;
    k8sCacheChangeFn fn;
    void *arg;
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

static void freeEntry(entry *e)
{
    free(e->key);
    free(e);
}

void k8sCacheClear(k8sCache *c)
{
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < c->nbuckets; i++) {
        entry *e = c->buckets[i];
        while (e) {
            entry *n = e->next;
            freeEntry(e);
            e = n;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
    pthread_mutex_unlock(&c->lock);
}

void k8sCacheDestroy(k8sCache *c)
{
    if (!c)
        return;
    k8sCacheClear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
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
            return 0;
        }
        if (uid && *uid && e->uid[0] && strcmp(e->uid, uid) != 0) {
            /* recreated under the same name: report the old one gone */
            old = malloc(sizeof *old + c->objSize);
            if (old) {
                memcpy(old, e, sizeof *old + c->objSize);
                old->key = NULL;
            }
            emit = K8S_ADDED;
        } else {
            emit = K8S_MODIFIED;
        }
    } else {
        e = malloc(sizeof *e + c->objSize);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
        e->next = NULL;
        e->mark = c->generation;
        *pp = e;
        if (++c->count > c->nbuckets)
            grow(c);
        emit = K8S_ADDED;
    }
    copyField(e->uid, sizeof e->uid, uid);
    copyField(e->rv, sizeof e->rv, rv);
    memcpy(e->obj, obj, c->objSize);
    pthread_mutex_unlock(&c->lock);

    if (c->fn) {
        if (old)
            c->fn(c->arg, K8S_DELETED, old->obj);
        c->fn(c->arg, (k8sChange)emit, obj);
    }
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
    }
    pthread_mutex_unlock(&c->lock);
    if (!e)
        return;
    if (c->fn)
        c->fn(c->arg, K8S_DELETED, e->obj);
    freeEntry(e);
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
        freeEntry(e);
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

size_t k8sCacheCount(k8sCache *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
