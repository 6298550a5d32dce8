/* fuzz_watch.c - libFuzzer target: the watch path, from response bytes to the cache.
 *
 * Input: a 4-byte header, then a response body as the API server sends it
 * (a watch stream, one JSON event per line; or a List). Header bytes are read
 * as v = byte - '0', so seeds can use digits:
 *   byte 0  stream, v % 5: 0 StatefulSets, 1 Deployments, 2 Pods, 3 Events, 4 Argo CD
 *           Applications (a cache that owns each one's parameters: k8sAppStoredRelease)
 *   byte 1  largest chunk, 1 << (v % 15) bytes ('0': one byte at a time)
 *   byte 2  seed of the chunk sizes (and the HTTP status given to k8sStatusMessage)
 *   byte 3  flags: bit 0 the body is a List (the relist path) instead of a watch stream;
 *           bit 1 report the container named "ioc" instead of the first;
 *           bit 2 after a stream error go on feeding, as a re-watch does;
 *           v >> 3 picks the label selector.
 * Covered, with the body cut at the chunk boundaries the header chooses:
 *  - k8sLineBuffer, checked against a plain reference split of the body (same
 *    lines, same order, whatever the chunking), and again with a tiny maxLine;
 *  - k8sWatchFeed (a k8sWatch with no network) -> k8sWatchEventParse ->
 *    k8sInstanceFromJson / k8sPodFromJson / k8sEventFromJson / k8sAppFromJson +
 *    k8sAppParamsFromJson -> k8sLabelsMatchAny
 *    -> k8sCache, through k8sApplyObject as k8sClient.c's hObject calls it;
 *    the List path mirrors k8sWatch.c's listDone (ReplaceBegin,
 *    items, ReplaceEnd). The cache must end with ADDED - DELETED == count;
 *  - k8sWatchEventParse on every line of up to 512 bytes as an exact-size buffer
 *    with no NUL after it;
 *  - k8sStatusMessage on the body, as a failed list or watch response is read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sApply.h"
#include "k8sArgo.h"
#include "k8sCache.h"
#include "k8sLineBuffer.h"
#include "k8sLog.h"
#include "k8sObject.h"
#include "k8sWatch.h"

enum { W_STS, W_DEPLOY, W_PODS, W_EVENTS };

static const char *selectors[8] = {
    "ioc=true,is_ioc=true", "", "ioc", "app=", "=true", ",,", "a,b=c,", "ioc=true,location=bl46p",
};

static void quiet(int level, const char *msg) { (void)level; (void)msg; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    k8sSetLogger(quiet);
    return 0;
}

/* ------------------------------------------------------------ chunking */

typedef struct chunker {
    const char *p;
    size_t left, max;
    uint32_t rnd;
} chunker;

static void chunkerInit(chunker *ch, const char *body, size_t len, unsigned maxV, unsigned seed)
{
    ch->p = body;
    ch->left = len;
    ch->max = (size_t)1 << (maxV % 15);
    ch->rnd = (seed + 1) * 2654435761u;
}

/* Next chunk (at least one byte), or 0 at the end. */
static size_t nextChunk(chunker *ch, const char **at)
{
    size_t n;

    if (!ch->left)
        return 0;
    ch->rnd ^= ch->rnd << 13;
    ch->rnd ^= ch->rnd >> 17;
    ch->rnd ^= ch->rnd << 5;
    n = 1 + ch->rnd % ch->max;
    if (n > ch->left)
        n = ch->left;
    *at = ch->p;
    ch->p += n;
    ch->left -= n;
    return n;
}

/* ------------------------------------------------------------- framing */

typedef struct lines {
    size_t count;
    uint64_t hash;
} lines;

static void addLine(lines *l, const char *s, size_t n)
{
    size_t i;

    l->count++;
    l->hash = (l->hash ^ n) * 1099511628211ULL;
    for (i = 0; i < n; i++)
        l->hash = (l->hash ^ (unsigned char)s[i]) * 1099511628211ULL;
}

static int recordLine(void *arg, char *line, size_t len)
{
    if (len == 0 || line[len] != '\0' || memchr(line, '\n', len))
        abort();
    addLine(arg, line, len);
    return 0;
}

static int ignoreLine(void *arg, char *line, size_t len)
{
    (void)arg; (void)line; (void)len;
    return 0;
}

/* What the framing must produce: each complete line, one trailing '\r'
 * removed, empty lines skipped. Short lines are also parsed as watch events
 * from an exact-size copy, with no NUL after it (long ones are parsed by the
 * watch path anyway; parsing each twice would halve the executions/s). */
static void referenceSplit(const char *body, size_t len, lines *out)
{
    const char *p = body, *end = body + len, *nl;
    char err[256];

    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t n = (size_t)(nl - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n && n <= 512) {
            char *copy = malloc(n);
            k8sWatchEvent ev;
            if (!copy)
                abort();
            memcpy(copy, p, n);
            if (k8sWatchEventParse(copy, n, &ev, err, sizeof err) == 0)
                k8sWatchEventFree(&ev);
            free(copy);
        }
        if (n)
            addLine(out, p, n);
        p = nl + 1;
    }
}

static void checkFraming(const char *body, size_t len, const uint8_t *hdr)
{
    lines want = { 0, 0 }, got = { 0, 0 };
    k8sLineBuffer lb;
    chunker ch;
    const char *at = NULL;
    const char *lastNl = NULL;
    size_t n;
    char err[256];

    referenceSplit(body, len, &want);
    k8sLineBufferInit(&lb, 0);
    chunkerInit(&ch, body, len, (unsigned)(hdr[1] - '0'), hdr[2]);
    while ((n = nextChunk(&ch, &at)) != 0)
        if (k8sLineBufferFeed(&lb, at, n, recordLine, &got, err, sizeof err) != 0)
            abort();
    if (got.count != want.count || got.hash != want.hash)
        abort();
    for (n = len; n > 0; n--)
        if (body[n - 1] == '\n') {
            lastNl = body + n - 1;
            break;
        }
    if (lb.len != (size_t)(body + len - (lastNl ? lastNl + 1 : body)))
        abort();   /* exactly the unterminated tail is kept */
    k8sLineBufferFree(&lb);

    /* a limit small enough to trip: -1 must leave the buffer empty */
    k8sLineBufferInit(&lb, 1 + ch.max / 2);
    chunkerInit(&ch, body, len, (unsigned)(hdr[1] - '0'), hdr[2]);
    while ((n = nextChunk(&ch, &at)) != 0)
        if (k8sLineBufferFeed(&lb, at, n, ignoreLine, NULL, err, sizeof err) != 0 && lb.len != 0)
            abort();
    k8sLineBufferFree(&lb);
}

/* ------------------------------------------------------ watch to cache */

typedef struct stream {
    int index;
    const char *container;
    const char *selectors;
    k8sCache *cache;
    long added, deleted;
} stream;

static void onChange(void *arg, k8sChange change, const void *obj)
{
    stream *s = arg;

    if (!obj)
        abort();
    if (change == K8S_ADDED)
        s->added++;
    else if (change == K8S_DELETED)
        s->deleted++;
    else if (change != K8S_MODIFIED)
        abort();
}

static void hBegin(void *arg) { k8sCacheReplaceBegin(((stream *)arg)->cache); }
static void hEnd(void *arg) { k8sCacheReplaceEnd(((stream *)arg)->cache); }
static void hState(void *arg) { (void)arg; }

/* What k8sClient.c's hObject does: the library's k8sApplyObject. */
static void hObject(void *arg, const cJSON *obj, int deleted)
{
    static const k8sKind kinds[] = {K8S_KIND_STATEFULSET, K8S_KIND_DEPLOYMENT, K8S_KIND_POD, K8S_KIND_EVENT,
                                    K8S_KIND_APPLICATION};
    stream *s = arg;
    char err[500];

    if (k8sApplyObject(s->cache, kinds[s->index], obj, deleted, s->container, s->selectors,
                       err, sizeof err) == -2)
        abort();
}

/* As k8sWatch.c listDone for a 200 answer. */
static void applyList(stream *s, const k8sWatchHandler *h, const char *body, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(body, len), *item;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");

    if (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"))) {
        h->listBegin(s);
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "items"))
            h->object(s, item, 0);
        h->listEnd(s);
    }
    cJSON_Delete(root);
}

static int countVisit(void *arg, const void *obj)
{
    (void)obj;
    ++*(size_t *)arg;
    return 0;
}

static void applyToCache(const char *body, size_t len, const uint8_t *hdr)
{
    static const char *what[5] = { "statefulsets", "deployments", "pods", "events", "applications" };
    static const size_t objSize[5] = { sizeof(k8sInstance), sizeof(k8sInstance), sizeof(k8sPod),
                                       sizeof(k8sEvent), sizeof(k8sAppStored) };
    unsigned flags = (unsigned)(uint8_t)(hdr[3] - '0');
    stream s;
    k8sWatchHandler h = { &s, hBegin, hObject, hEnd, hState };
    size_t visited = 0;

    memset(&s, 0, sizeof s);
    s.index = (uint8_t)(hdr[0] - '0') % 5;
    s.container = flags & 2 ? "ioc" : NULL;
    s.selectors = selectors[(flags >> 3) % 8];
    s.cache = k8sCacheCreate(objSize[s.index], onChange, &s);
    if (!s.cache)
        abort();
    if (s.index == 4)
        k8sCacheSetRelease(s.cache, k8sAppStoredRelease);
    if (flags & 1) {
        applyList(&s, &h, body, len);
    } else {
        k8sWatch w;
        chunker ch;
        const char *at = NULL;
        size_t n;

        k8sWatchInit(&w, NULL, what[s.index], "/api/v1/namespaces/fuzz/x", "", 300, &h);
        chunkerInit(&ch, body, len, (unsigned)(hdr[1] - '0'), hdr[2]);
        while ((n = nextChunk(&ch, &at)) != 0)
            if (k8sWatchFeed(&w, at, n) != 0) {
                if (!(flags & 4))
                    break;
                k8sLineBufferReset(&w.lines);   /* as watchDone before the re-watch */
            }
        k8sWatchFree(&w);
    }
    k8sCacheForEach(s.cache, countVisit, &visited);
    if (visited != k8sCacheCount(s.cache) || (long)visited != s.added - s.deleted)
        abort();
    k8sCacheDestroy(s.cache);
}

/* ------------------------------------------------------- Status message */

static void statusMessage(const char *body, size_t len, const uint8_t *hdr)
{
    static const long codes[8] = { 400, 401, 403, 404, 410, 422, 500, 503 };
    char *copy = len ? malloc(len) : NULL;
    char small[24], big[600];
    long code = codes[hdr[2] % 8];

    if (len && !copy)
        abort();
    if (len)
        memcpy(copy, body, len);
    k8sStatusMessage(code, copy, len, hdr[3] & 1, big, sizeof big);
    if (len < 1024)   /* a Status is small; a second parse of a big body would only cost time */
        k8sStatusMessage(code, copy, len, !(hdr[3] & 1), small, sizeof small);
    else
        small[0] = '\0';
    if (strlen(big) >= sizeof big || strlen(small) >= sizeof small)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data + 4;
    size_t len;

    if (size < 4)
        return 0;
    len = size - 4;
    checkFraming(body, len, data);
    applyToCache(body, len, data);
    statusMessage(body, len, data);
    return 0;
}
