/* reconnect backoff timing */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "k8sBackoff.h"

static void test_doubling_to_cap(void **state)
{
    k8sBackoff b;
    const double want[] = { 0.5, 1, 2, 4, 8, 16, 30, 30, 30 };
    size_t i;
    (void)state;
    k8sBackoffInit(&b);
    for (i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_float_equal(k8sBackoffFailure(&b, 100.0 + i, 0.5), want[i], 1e-9);
}

static void test_jitter_bounds(void **state)
{
    k8sBackoff b;
    (void)state;
    k8sBackoffInit(&b);
    assert_float_equal(k8sBackoffFailure(&b, 0, 0.0), 0.4, 1e-9);
    k8sBackoffInit(&b);
    assert_float_equal(k8sBackoffFailure(&b, 0, 0.999999), 0.6, 1e-5);
    k8sBackoffInit(&b);
    b.failures = 20;
    assert_float_equal(k8sBackoffFailure(&b, 0, 0.0), 24.0, 1e-9);
    b.failures = 20;
    assert_float_equal(k8sBackoffFailure(&b, 0, 0.999999), 36.0, 1e-4);
}

static void test_reset_after_healthy(void **state)
{
    k8sBackoff b;
    (void)state;
    k8sBackoffInit(&b);
    k8sBackoffFailure(&b, 0, 0.5);
    k8sBackoffFailure(&b, 1, 0.5);
    k8sBackoffFailure(&b, 3, 0.5);
    /* healthy for only 10 s: the outage continues, delays keep growing */
    k8sBackoffSuccess(&b, 10);
    assert_float_equal(k8sBackoffFailure(&b, 20, 0.5), 4.0, 1e-9);
    /* healthy for 60 s: back to the shortest delay */
    k8sBackoffSuccess(&b, 30);
    assert_float_equal(k8sBackoffFailure(&b, 90, 0.5), 0.5, 1e-9);
    assert_float_equal(k8sBackoffFailure(&b, 91, 0.5), 1.0, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_to_cap),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_reset_after_healthy),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sBackoff", tests, NULL, NULL);
}
