/* watch line framing */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "k8sLineBuffer.h"

typedef struct got {
    char lines[16][64];
    size_t n;
    size_t bigLen;
    int stopAt;
} got;

static int collect(void *arg, char *line, size_t len)
{
    got *g = arg;
    assert_int_equal(strlen(line), len);
    if (len >= 64) {
        g->bigLen = len;
    } else {
        assert_true(g->n < 16);
        strcpy(g->lines[g->n], line);
    }
    g->n++;
    return (g->stopAt && (int)g->n == g->stopAt) ? -1 : 0;
}

static const char *stream = "{\"a\":1}\n{\"b\":22}\r\n\n{\"c\":333}\n{\"d\":4";

static void checkABC(const got *g)
{
    assert_int_equal(g->n, 3);
    assert_string_equal(g->lines[0], "{\"a\":1}");
    assert_string_equal(g->lines[1], "{\"b\":22}");
    assert_string_equal(g->lines[2], "{\"c\":333}");
}

/* every way of cutting the stream in two gives the same lines, each once */
static void test_every_split(void **state)
{
    size_t len = strlen(stream), cut;
    char err[128];
    (void)state;
    for (cut = 0; cut <= len; cut++) {
        k8sLineBuffer lb;
        got g;
        memset(&g, 0, sizeof g);
        k8sLineBufferInit(&lb, 0);
        assert_int_equal(k8sLineBufferFeed(&lb, stream, cut, collect, &g, err, sizeof err), 0);
        assert_int_equal(k8sLineBufferFeed(&lb, stream + cut, len - cut, collect, &g, err, sizeof err), 0);
        checkABC(&g);
        assert_int_equal(lb.len, strlen("{\"d\":4"));
        assert_int_equal(k8sLineBufferFeed(&lb, "}\n", 2, collect, &g, err, sizeof err), 0);
        assert_int_equal(g.n, 4);
        assert_string_equal(g.lines[3], "{\"d\":4}");
        assert_int_equal(lb.len, 0);
        k8sLineBufferFree(&lb);
    }
}

static void test_byte_at_a_time(void **state)
{
    k8sLineBuffer lb;
    got g;
    size_t i;
    char err[128];
    (void)state;
    memset(&g, 0, sizeof g);
    k8sLineBufferInit(&lb, 0);
    for (i = 0; i < strlen(stream); i++)
        assert_int_equal(k8sLineBufferFeed(&lb, stream + i, 1, collect, &g, err, sizeof err), 0);
    checkABC(&g);
    k8sLineBufferFree(&lb);
}

/* a 32 MiB line arriving in 16 KiB chunks is delivered once, intact, and
 * without re-scanning (which would take minutes) */
static void test_huge_line(void **state)
{
    const size_t total = (size_t)32 << 20, chunk = 16384;
    char *data = malloc(total + 1), err[128];
    k8sLineBuffer lb;
    got g;
    size_t off;
    clock_t t0 = clock();
    (void)state;
    memset(data, 'x', total);
    data[total] = '\n';
    memset(&g, 0, sizeof g);
    k8sLineBufferInit(&lb, 0);
    for (off = 0; off < total + 1; off += chunk) {
        size_t n = total + 1 - off < chunk ? total + 1 - off : chunk;
        assert_int_equal(k8sLineBufferFeed(&lb, data + off, n, collect, &g, err, sizeof err), 0);
    }
    assert_int_equal(g.n, 1);
    assert_int_equal(g.bigLen, total);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    k8sLineBufferFree(&lb);
    free(data);
}

static void test_line_too_long(void **state)
{
    k8sLineBuffer lb;
    got g;
    char big[200], err[128];
    (void)state;
    memset(big, 'y', sizeof big);
    memset(&g, 0, sizeof g);
    k8sLineBufferInit(&lb, 100);
    assert_int_equal(k8sLineBufferFeed(&lb, big, 60, collect, &g, err, sizeof err), 0);
    assert_int_equal(k8sLineBufferFeed(&lb, big, 60, collect, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 100 bytes"));
    assert_int_equal(lb.len, 0);
    /* usable again after the error */
    assert_int_equal(k8sLineBufferFeed(&lb, "{}\n", 3, collect, &g, err, sizeof err), 0);
    assert_int_equal(g.n, 1);
    k8sLineBufferFree(&lb);
}

static void test_stop(void **state)
{
    k8sLineBuffer lb;
    got g;
    char err[128];
    (void)state;
    memset(&g, 0, sizeof g);
    g.stopAt = 2;
    k8sLineBufferInit(&lb, 0);
    assert_int_equal(k8sLineBufferFeed(&lb, stream, strlen(stream), collect, &g, err, sizeof err), -1);
    assert_int_equal(g.n, 2);
    assert_string_equal(err, "stopped by caller");
    assert_int_equal(lb.len, 0);
    k8sLineBufferFree(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_stop),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sLineBuffer", tests, NULL, NULL);
}
