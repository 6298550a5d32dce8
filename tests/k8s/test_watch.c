#define _GNU_SOURCE
/* watch stream decoding through framing, event decode and cache */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8sWatch.h"
#include "k8sCache.h"
#include "k8sObject.h"

typedef struct sink {
    k8sCache *cache;
    int added, modified, deleted;
} sink;

static void onChange(void *arg, k8sChange ch, const void *o)
{
    sink *s = arg;
    (void)o;
    if (ch == K8S_ADDED) s->added++;
    else if (ch == K8S_MODIFIED) s->modified++;
    else s->deleted++;
}

static void hBegin(void *arg) { k8sCacheReplaceBegin(((sink *)arg)->cache); }
static void hEnd(void *arg) { k8sCacheReplaceEnd(((sink *)arg)->cache); }
static void hState(void *arg) { (void)arg; }
static void hObject(void *arg, const cJSON *obj, int deleted)
{
    sink *s = arg;
    k8sPod p;
    char err[128], key[300];
    assert_int_equal(k8sPodFromJson(obj, NULL, &p, err, sizeof err), 0);
    k8sCacheKey(key, sizeof key, p.namespace_, p.name);
    if (deleted)
        k8sCacheDelete(s->cache, key);
    else
        k8sCacheUpsert(s->cache, key, p.uid, p.resourceVersion, &p);
}

static char *ev(const char *type, const char *name, const char *uid, int rv)
{
    char *s = NULL;
    assert_true(asprintf(&s, "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":\"ns\",\"uid\":\"%s\",\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"x\"}},"
                         "\"status\":{\"phase\":\"Running\"}}}\n", type, name, uid, rv) > 0);
    return s;
}

static char *buildStream(void)
{
    char *parts[6], *all;
    size_t n = 0, i;
    parts[0] = ev("ADDED", "p1", "u1", 10);
    parts[1] = ev("ADDED", "p2", "u2", 11);
    parts[2] = ev("MODIFIED", "p1", "u1", 12);
    parts[3] = ev("MODIFIED", "p1", "u1", 12);   /* duplicate delivery */
    parts[4] = ev("DELETED", "p2", "u2", 13);
    assert_true(asprintf(&parts[5], "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                         "{\"resourceVersion\":\"20\"}}}\n") > 0);
    for (i = 0; i < 6; i++)
        n += strlen(parts[i]);
    all = calloc(1, n + 1);
    for (i = 0; i < 6; i++) {
        strcat(all, parts[i]);
        free(parts[i]);
    }
    return all;
}

static void setup(k8sWatch *w, sink *s)
{
    k8sWatchHandler h = { s, hBegin, hObject, hEnd, hState };
    memset(s, 0, sizeof *s);
    s->cache = k8sCacheCreate(sizeof(k8sPod), onChange, s);
    k8sWatchInit(w, NULL, "pods", "/api/v1/namespaces/ns/pods", "", 300, &h);
}

static void teardown(k8sWatch *w, sink *s)
{
    k8sWatchFree(w);
    k8sCacheDestroy(s->cache);
}

/* whatever the chunking, each event is applied once and the cache ends the same */
static void test_stream_any_chunking(void **state)
{
    char *all = buildStream();
    size_t len = strlen(all), chunk;
    (void)state;
    for (chunk = 1; chunk <= len; chunk = chunk * 3 + 1) {
        k8sWatch w;
        sink s;
        size_t off;
        setup(&w, &s);
        for (off = 0; off < len; off += chunk)
            assert_int_equal(k8sWatchFeed(&w, all + off, off + chunk > len ? len - off : chunk), 0);
        assert_int_equal(s.added, 2);
        assert_int_equal(s.modified, 1);
        assert_int_equal(s.deleted, 1);
        assert_int_equal(k8sCacheCount(s.cache), 1);
        assert_string_equal(w.resourceVersion, "20");
        assert_int_equal(w.events, 6);
        teardown(&w, &s);
    }
    free(all);
}

static void test_error_410(void **state)
{
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":\"too old resource version: 1 (50)\","
                       "\"reason\":\"Expired\",\"code\":410}}\n";
    k8sWatch w;
    sink s;
    char *a = ev("ADDED", "p1", "u1", 10);
    (void)state;
    setup(&w, &s);
    assert_int_equal(k8sWatchFeed(&w, a, strlen(a)), 0);
    assert_int_equal(k8sWatchFeed(&w, gone, strlen(gone)), -1);
    assert_true(w.relistWanted);
    assert_string_equal(w.resourceVersion, "10");
    teardown(&w, &s);
    free(a);
}

static void test_error_other_and_garbage(void **state)
{
    const char *e500 = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":\"etcdserver: leader changed\",\"code\":500}}\n";
    k8sWatch w;
    sink s;
    (void)state;
    setup(&w, &s);
    assert_int_equal(k8sWatchFeed(&w, e500, strlen(e500)), -1);
    assert_false(w.relistWanted);
    assert_string_equal(w.message, "watch pods: error 500: etcdserver: leader changed");
    assert_int_equal(k8sWatchFeed(&w, "<html>\n", 7), -1);
    assert_non_null(strstr(w.message, "watch pods: watch line is not JSON"));
    teardown(&w, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_any_chunking),
        cmocka_unit_test(test_error_410),
        cmocka_unit_test(test_error_other_and_garbage),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sWatch", tests, NULL, NULL);
}
