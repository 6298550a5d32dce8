/* cache consistency rules */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "k8sCache.h"

typedef struct obj { char name[32]; int value; } obj;

typedef struct rec { char log[64][40]; int n; } rec;

static void onChange(void *arg, k8sChange ch, const void *o)
{
    rec *r = arg;
    const obj *p = o;
    static const char *names[] = { "ADDED", "MODIFIED", "DELETED" };
    assert_true(r->n < 64);
    snprintf(r->log[r->n++], 40, "%s %s %d", names[ch], p->name, p->value);
}

static int put(k8sCache *c, const char *name, const char *uid, const char *rv, int value)
{
    obj o;
    char key[64];
    snprintf(o.name, sizeof o.name, "%s", name);
    o.value = value;
    return k8sCacheUpsert(c, k8sCacheKey(key, sizeof key, "ns", name), uid, rv, &o);
}

static void test_watch_rules(void **state)
{
    rec r = { .n = 0 };
    k8sCache *c = k8sCacheCreate(sizeof(obj), onChange, &r);
    char key[64];
    obj o;
    (void)state;
    put(c, "a", "u1", "1", 10);
    put(c, "a", "u1", "1", 10);          /* duplicate (re-watch): nothing */
    put(c, "a", "u1", "2", 11);
    k8sCacheDelete(c, "ns/zzz");          /* unknown: nothing */
    put(c, "a", "u2", "3", 12);          /* recreated under the same name */
    k8sCacheDelete(c, "ns/a");
    k8sCacheDelete(c, "ns/a");
    assert_int_equal(r.n, 5);
    assert_string_equal(r.log[0], "ADDED a 10");
    assert_string_equal(r.log[1], "MODIFIED a 11");
    assert_string_equal(r.log[2], "DELETED a 11");
    assert_string_equal(r.log[3], "ADDED a 12");
    assert_string_equal(r.log[4], "DELETED a 12");
    assert_int_equal(k8sCacheGet(c, k8sCacheKey(key, sizeof key, "ns", "a"), &o), -1);
    assert_int_equal(k8sCacheCount(c), 0);
    k8sCacheDestroy(c);
}

/* relist after a reconnect: vanished objects are deleted, changed ones
 * modified, new ones added, unchanged ones silent */
static void test_replace(void **state)
{
    rec r = { .n = 0 };
    k8sCache *c = k8sCacheCreate(sizeof(obj), onChange, &r);
    obj o;
    (void)state;
    put(c, "keep", "k", "1", 1);
    put(c, "change", "c", "1", 1);
    put(c, "gone", "g", "1", 1);
    r.n = 0;
    k8sCacheReplaceBegin(c);
    put(c, "keep", "k", "1", 1);
    put(c, "change", "c", "5", 2);
    put(c, "new", "n", "6", 3);
    k8sCacheReplaceEnd(c);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.log[0], "MODIFIED change 2");
    assert_string_equal(r.log[1], "ADDED new 3");
    assert_string_equal(r.log[2], "DELETED gone 1");
    assert_int_equal(k8sCacheCount(c), 3);
    assert_int_equal(k8sCacheGet(c, "ns/change", &o), 0);
    assert_int_equal(o.value, 2);

    /* a second, empty relist deletes everything, once */
    r.n = 0;
    k8sCacheReplaceBegin(c);
    k8sCacheReplaceEnd(c);
    assert_int_equal(r.n, 3);
    assert_int_equal(k8sCacheCount(c), 0);
    k8sCacheReplaceBegin(c);
    k8sCacheReplaceEnd(c);
    assert_int_equal(r.n, 3);
    k8sCacheDestroy(c);
}

/* a relist interrupted half way (connection lost between pages) and
 * restarted still ends consistent */
static void test_interrupted_replace(void **state)
{
    rec r = { .n = 0 };
    k8sCache *c = k8sCacheCreate(sizeof(obj), onChange, &r);
    (void)state;
    put(c, "a", "a", "1", 1);
    put(c, "b", "b", "1", 1);
    k8sCacheReplaceBegin(c);
    put(c, "a", "a", "1", 1);
    /* ...connection lost, no ReplaceEnd; later a full relist */
    k8sCacheReplaceBegin(c);
    put(c, "b", "b", "1", 1);
    k8sCacheReplaceEnd(c);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.log[2], "DELETED a 1");
    assert_int_equal(k8sCacheCount(c), 1);
    k8sCacheDestroy(c);
}

static int countVisit(void *arg, const void *o)
{
    (void)o;
    (*(int *)arg)++;
    return 0;
}

static void test_many(void **state)
{
    k8sCache *c = k8sCacheCreate(sizeof(obj), NULL, NULL);
    char name[32];
    int i, n = 0;
    obj o;
    (void)state;
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "ioc-%d", i);
        assert_int_equal(put(c, name, "u", "1", i), 0);
    }
    assert_int_equal(k8sCacheCount(c), 5000);
    k8sCacheForEach(c, countVisit, &n);
    assert_int_equal(n, 5000);
    assert_int_equal(k8sCacheGet(c, "ns/ioc-4321", &o), 0);
    assert_int_equal(o.value, 4321);
    k8sCacheClear(c);
    assert_int_equal(k8sCacheCount(c), 0);
    k8sCacheDestroy(c);
}

/* ---- the group index: an owner's objects without visiting all ---- */

typedef struct gobj { char name[32]; char owner[32]; } gobj;

static const char *ownerOf(const void *o) { return ((const gobj *)o)->owner; }

static int gput(k8sCache *c, const char *name, const char *uid, const char *rv, const char *owner)
{
    gobj o;
    char key[64];
    snprintf(o.name, sizeof o.name, "%s", name);
    snprintf(o.owner, sizeof o.owner, "%s", owner);
    return k8sCacheUpsert(c, k8sCacheKey(key, sizeof key, "ns", name), uid, rv, &o);
}

typedef struct names { char list[256]; int n; } names;

static int collect(void *arg, const void *o)
{
    names *v = arg;
    const gobj *g = o;
    /* first letter of each name; members() sorts them (order in a group is not part of the contract) */
    v->list[v->n++] = g->name[0];
    v->list[v->n] = '\0';
    return 0;
}

static const char *members(k8sCache *c, const char *group, names *v)
{
    char tmp;
    int i, j;
    v->n = 0;
    v->list[0] = '\0';
    k8sCacheForEachInGroup(c, group, collect, v);
    for (i = 0; i < v->n; i++)          /* sort the letters */
        for (j = i + 1; j < v->n; j++)
            if (v->list[j] < v->list[i]) { tmp = v->list[i]; v->list[i] = v->list[j]; v->list[j] = tmp; }
    return v->list;
}

static void test_groups(void **state)
{
    k8sCache *c = k8sCacheCreate(sizeof(gobj), NULL, NULL);
    names v;
    char key[64];
    int i;
    (void)state;
    gput(c, "a-0", "u1", "1", "a");            /* stored before the index exists */
    assert_string_equal(members(c, "a", &v), "");   /* no group function: nothing */
    assert_int_equal(k8sCacheSetGroup(c, ownerOf), 0);
    assert_string_equal(members(c, "a", &v), "a");
    gput(c, "b-0", "u2", "1", "b");
    gput(c, "b-1", "u3", "1", "b");
    gput(c, "c-0", "u4", "1", "");             /* no group */
    assert_string_equal(members(c, "b", &v), "bb");
    assert_string_equal(members(c, "", &v), "");
    assert_string_equal(members(c, "nobody", &v), "");
    /* a modification that moves an object to another group */
    gput(c, "b-1", "u3", "2", "a");
    assert_string_equal(members(c, "a", &v), "ab");
    assert_string_equal(members(c, "b", &v), "b");
    /* recreated under the same name (new uid), other owner */
    gput(c, "b-0", "u9", "3", "c");
    assert_string_equal(members(c, "b", &v), "");
    assert_string_equal(members(c, "c", &v), "b");
    /* a watch DELETED */
    k8sCacheDelete(c, k8sCacheKey(key, sizeof key, "ns", "a-0"));
    assert_string_equal(members(c, "a", &v), "b");
    /* a relist without b-1: it leaves its group */
    k8sCacheReplaceBegin(c);
    gput(c, "b-0", "u9", "3", "c");
    gput(c, "c-0", "u4", "1", "");
    k8sCacheReplaceEnd(c);
    assert_string_equal(members(c, "a", &v), "");
    assert_string_equal(members(c, "c", &v), "b");
    /* many groups (the index grows), each found again */
    for (i = 0; i < 500; i++) {
        char n[32], o[32];
        snprintf(n, sizeof n, "x%d-0", i);
        snprintf(o, sizeof o, "x%d", i);
        gput(c, n, n, "1", o);
    }
    for (i = 0; i < 500; i += 37) {
        char o[32];
        snprintf(o, sizeof o, "x%d", i);
        assert_string_equal(members(c, o, &v), "x");
    }
    k8sCacheClear(c);
    assert_string_equal(members(c, "c", &v), "");
    gput(c, "d-0", "u5", "1", "d");            /* still indexed after a clear */
    assert_string_equal(members(c, "d", &v), "d");
    k8sCacheDestroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_rules),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_interrupted_replace),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_groups),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sCache", tests, NULL, NULL);
}
