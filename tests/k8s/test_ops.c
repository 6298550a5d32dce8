/* write operation bodies and result texts */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8sOps.h"

static void test_bodies(void **state)
{
    const char *ct = NULL;
    char *b;
    (void)state;
    b = k8sOpsScaleBody(0);
    assert_string_equal(b, "{\"spec\":{\"replicas\":0}}");
    free(b);
    b = k8sOpsImagePatch("ioc", "ghcr.io/x/ioc:2.0", &ct);
    assert_string_equal(ct, "application/strategic-merge-patch+json");
    assert_string_equal(b, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"ioc\",\"image\":\"ghcr.io/x/ioc:2.0\"}]}}}}");
    free(b);
    b = k8sOpsDeleteBody("0f1e2d3c-aaaa-bbbb-cccc-123456789abc");
    assert_string_equal(b, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                           "\"preconditions\":{\"uid\":\"0f1e2d3c-aaaa-bbbb-cccc-123456789abc\"}}");
    free(b);
    b = k8sOpsDeleteBody("");
    assert_string_equal(b, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\"}");
    free(b);
    b = k8sOpsImagePatch(NULL, "ghcr.io/x/ioc:2.0", &ct);
    assert_string_equal(ct, "application/json-patch+json");
    assert_string_equal(b, "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"ghcr.io/x/ioc:2.0\"}]");
    free(b);
}

static void test_results(void **state)
{
    k8sHttpResponse res;
    k8sResult r;
    char body[] = "{\"kind\":\"Status\",\"message\":\"statefulsets.apps \\\"nope\\\" not found\",\"code\":404}";
    (void)state;
    memset(&res, 0, sizeof res);
    res.status = 200;
    k8sOpsResult(&res, "scaled x to 0", &r);
    assert_true(r.ok);
    assert_string_equal(r.message, "scaled x to 0");

    res.status = 404;
    res.body = body;
    res.bodyLen = strlen(body);
    k8sOpsResult(&res, "scaled x to 0", &r);
    assert_false(r.ok);
    assert_int_equal(r.httpStatus, 404);
    assert_string_equal(r.message, "statefulsets.apps \"nope\" not found");

    memset(&res, 0, sizeof res);
    res.error = "Failed to connect to 127.0.0.1 port 16443 after 0 ms: Couldn't connect to server";
    k8sOpsResult(&res, "x", &r);
    assert_false(r.ok);
    assert_int_equal(r.httpStatus, 0);
    assert_string_equal(r.message, res.error);
}

static void test_names_and_refusals(void **state)
{
    char err[256];
    (void)state;
    assert_int_equal(k8sOpsValidName("pod", "bl46p-ea-ioc-01-0", err, sizeof err), 0);
    assert_int_equal(k8sOpsValidName("pod", "../secrets", err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a Kubernetes name"));
    assert_int_equal(k8sOpsValidName("pod", "", err, sizeof err), -1);
    /* invalid input is refused before anything is queued (net NULL is never touched) */
    assert_int_equal(k8sOpsSetImage(NULL, "ns", "StatefulSet", "x", "ioc", "Not An Image", NULL, NULL,
                                    err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid image reference"));
    assert_int_equal(k8sOpsScale(NULL, "ns", "StatefulSet", "x", -1, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "replicas must be >= 0"));
    assert_int_equal(k8sOpsDeletePods(NULL, "ns", "x", NULL, NULL, 0, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "has no pod to restart"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_names_and_refusals),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sOps", tests, NULL, NULL);
}
