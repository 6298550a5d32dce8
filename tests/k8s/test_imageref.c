/* OCI image reference validation */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "k8sImageRef.h"

#define SHA "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_valid(void **state)
{
    const char *ok[] = {
        "ghcr.io/epics-containers/ioc-adaravis-runtime:2024.4.1",
        "ghcr.io/epics-containers/ioc-adaravis-runtime@" SHA,
        "ghcr.io/epics-containers/ioc-adaravis-runtime:2024.4.1@" SHA,
        "localhost:5000/ioc:1", "localhost/ioc:v1", "registry.example.com:443/a/b/c:tag_1.2-rc3",
        "busybox:1.36", "library/busybox:latest", "a__b/c-d--e.f:X", "[::1]:5000/ioc:1",
        "my-registry/ioc:1",  /* no dot: a path component, still valid */
    };
    size_t i;
    char err[256];
    (void)state;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = k8sImageRefValidate(ok[i], err, sizeof err);
        if (rc)
            print_error("%s: %s\n", ok[i], err);
        assert_int_equal(rc, 0);
    }
}

static void test_invalid(void **state)
{
    struct { const char *ref, *why; } bad[] = {
        { "", "empty" },
        { "ghcr.io/epics/ioc", "needs a :tag" },
        { "ghcr.io/Epics/ioc:1", "lowercase" },
        { "ghcr.io/epics/ioc:", "empty tag" },
        { "ghcr.io/epics/ioc:-x", "tag must start" },
        { "ghcr.io/epics/ioc:a+b", "tag may only" },
        { "ghcr.io/epics/ioc@sha256:abc", "64 hex" },
        { "ghcr.io/epics/ioc@md5:0123", "digest must be sha256" },
        { "ghcr.io/epics/ioc@" "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "lowercase hex" },
        { "ghcr.io//ioc:1", "invalid repository path" },
        { "ghcr.io/epics/ioc/:1", "ends with '/'" },
        { "ghcr.io/-ioc:1", "invalid repository path" },
        { "ghcr.io/ioc-:1", "invalid repository path" },
        { "ghcr.io/io..c:1", "invalid repository path" },
        { "ghcr.io/io___c:1", "invalid repository path" },
        { "ghcr io/ioc:1", "whitespace" },
        { "ghcr.io:abc/ioc:1", "registry" },
        { "-bad.io/ioc:1", "registry" },
        { ":1", "missing repository" },
        /* found by tests/fuzz (regressions/imageref): a registry and no repository,
         * and IPv6 literals the distribution grammar refuses */
        { "ghcr.io/:1", "missing repository name after the registry" },
        { "[fe80::1]/:1", "missing repository name after the registry" },
        { "[]:5000/ioc:1", "registry" },
        { "[e8:[]/g:1", "registry" },
        { "[::ffff:10.0.0.1]:5000/ioc:1", "registry" },
    };
    size_t i;
    char err[256];
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (k8sImageRefValidate(bad[i].ref, err, sizeof err) != -1)
            fail_msg("accepted \"%s\"", bad[i].ref);
        if (!strstr(err, bad[i].why))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].ref, err, bad[i].why);
    }
}

static void test_long_tag(void **state)
{
    char ref[300], err[256];
    (void)state;
    strcpy(ref, "ioc:");
    memset(ref + 4, 'a', 128);
    ref[132] = '\0';
    assert_int_equal(k8sImageRefValidate(ref, err, sizeof err), 0);
    ref[132] = 'a';
    ref[133] = '\0';
    assert_int_equal(k8sImageRefValidate(ref, err, sizeof err), -1);
    assert_non_null(strstr(err, "128"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_long_tag),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sImageRef", tests, NULL, NULL);
}
