/* Argo CD Applications: decoding, tracking-id parsing, owner resolution and
 * the root's Helm parameter patch (k8sArgo.c) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8sApply.h"
#include "k8sArgo.h"
#include "k8sCache.h"
#include "k8sObject.h"

/* A root as `argocd app set bl46p-beamline/bl46p -p services.bl46p-ea-ioc-02.enabled=false` leaves it */
static const char *rootJson =
    "{\"apiVersion\":\"argoproj.io/v1alpha1\",\"kind\":\"Application\","
    "\"metadata\":{\"name\":\"bl46p\",\"namespace\":\"bl46p-beamline\",\"uid\":\"r-1\",\"resourceVersion\":\"77\"},"
    "\"spec\":{\"project\":\"default\",\"source\":{\"repoURL\":\"file:///git/deploy\",\"path\":\"apps\","
    "\"targetRevision\":\"main\",\"helm\":{\"valueFiles\":[\"values.yaml\"],\"parameters\":["
    "{\"name\":\"services.bl46p-ea-ioc-02.enabled\",\"value\":\"false\"},"
    "{\"name\":\"other.thing\",\"value\":\"x\",\"forceString\":true}]}},"
    "\"syncPolicy\":{\"automated\":{\"prune\":true,\"selfHeal\":true}}},"
    "\"status\":{\"sourceType\":\"Helm\",\"sync\":{\"status\":\"Synced\",\"revision\":\"abc\"},"
    "\"health\":{\"status\":\"Healthy\"},\"reconciledAt\":\"2026-12-01T10:00:00Z\","
    "\"operationState\":{\"phase\":\"Succeeded\",\"message\":\"successfully synced (all tasks run)\"}}}";

static const char *childJson =
    "{\"metadata\":{\"name\":\"bl46p-ea-ioc-01\",\"namespace\":\"bl46p-beamline\",\"uid\":\"c-1\","
    "\"resourceVersion\":\"80\",\"labels\":{\"STOPPED\":\"1\"},"
    "\"annotations\":{\"argocd.argoproj.io/tracking-id\":"
    "\"bl46p-beamline_bl46p:argoproj.io/Application:bl46p-beamline/bl46p-ea-ioc-01\"}},"
    "\"spec\":{\"source\":{\"repoURL\":\"file:///git/services\",\"path\":\"services/bl46p-ea-ioc-01\","
    "\"targetRevision\":\"2024.4.1\",\"helm\":{\"parameters\":[{\"name\":\"global.enabled\",\"value\":\"false\"},"
    "{\"name\":\"global.commitHash\",\"value\":\"abc\"}]}}},"
    "\"status\":{\"sync\":{\"status\":\"OutOfSync\"},\"health\":{\"status\":\"Degraded\",\"message\":\"pod crashed\"},"
    "\"operationState\":{\"phase\":\"Failed\",\"message\":\"one or more objects failed to apply\"}}}";

static void decodes_root_and_child(void **state)
{
    cJSON *o = cJSON_Parse(rootJson);
    k8sApp a;
    char err[200], v[64], *params;
    (void)state;
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), 0);
    assert_string_equal(a.name, "bl46p");
    assert_string_equal(a.namespace_, "bl46p-beamline");
    assert_string_equal(a.resourceVersion, "77");
    assert_string_equal(a.trackingId, "");
    assert_true(a.hasSource);
    assert_string_equal(a.sourceType, "Helm");
    assert_string_equal(a.targetRevision, "main");
    assert_string_equal(a.syncStatus, "Synced");
    assert_string_equal(a.healthStatus, "Healthy");
    assert_string_equal(a.opPhase, "Succeeded");
    assert_string_equal(a.reconciledAt, "2026-12-01T10:00:00Z");
    assert_int_equal(a.globalEnabled, -1);
    assert_string_equal(a.params, "");
    params = k8sAppParamsFromJson(o, NULL);
    assert_non_null(params);
    assert_string_equal(params, "services.bl46p-ea-ioc-02.enabled=false\n");
    assert_int_equal(k8sParamLookup(params, "services.bl46p-ea-ioc-02.enabled", v, sizeof v), 0);
    assert_string_equal(v, "false");
    /* only services.* parameters are kept; a prefix of a name is not a match */
    assert_int_equal(k8sParamLookup(params, "other.thing", v, sizeof v), -1);
    assert_int_equal(k8sParamLookup(params, "services.bl46p-ea-ioc-02", v, sizeof v), -1);
    free(params);
    cJSON_Delete(o);

    o = cJSON_Parse(childJson);
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), 0);
    assert_string_equal(a.trackingId, "bl46p-beamline_bl46p:argoproj.io/Application:bl46p-beamline/bl46p-ea-ioc-01");
    assert_int_equal(a.globalEnabled, 0);
    assert_string_equal(a.syncStatus, "OutOfSync");
    assert_string_equal(a.healthStatus, "Degraded");
    assert_string_equal(a.healthMessage, "pod crashed");
    assert_string_equal(a.opPhase, "Failed");
    assert_string_equal(a.sourceType, "");
    cJSON_Delete(o);
}

static void decoding_odd_shapes(void **state)
{
    k8sApp a;
    char err[200], v[64], *params;
    size_t skipped = 99;
    cJSON *o;
    (void)state;
    assert_int_equal(k8sAppFromJson(NULL, &a, err, sizeof err), -1);
    o = cJSON_Parse("[1]");
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), -1);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"metadata\":{}}");
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "metadata.name"));
    cJSON_Delete(o);
    /* multi-source, values of other JSON types, a nameless parameter */
    o = cJSON_Parse("{\"metadata\":{\"name\":\"m\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
                    "\"spec\":{\"sources\":[{}]}}");
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), 0);
    assert_false(a.hasSource);
    assert_true(a.deleting);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"metadata\":{\"name\":\"m\"},\"spec\":{\"source\":{\"helm\":{\"parameters\":["
                    "{\"value\":\"x\"},{\"name\":\"global.enabled\",\"value\":true},"
                    "{\"name\":\"services.a.replicas\",\"value\":2},{\"name\":\"services.b.enabled\"},"
                    "{\"name\":\"services.c\\nx\",\"value\":\"1\"},{\"name\":\"services.d.x\",\"value\":\"a\\nb\"},"
                    "\"services.e.enabled\"]}}}}");
    assert_int_equal(k8sAppFromJson(o, &a, err, sizeof err), 0);
    assert_int_equal(a.globalEnabled, 1);
    params = k8sAppParamsFromJson(o, &skipped);
    assert_non_null(params);
    assert_int_equal(k8sParamLookup(params, "services.a.replicas", v, sizeof v), 0);
    assert_string_equal(v, "2");
    assert_int_equal(k8sParamLookup(params, "services.b.enabled", v, sizeof v), 0);
    assert_string_equal(v, "");
    /* what a line cannot carry is counted, not silently dropped */
    assert_int_equal(k8sParamLookup(params, "services.c", v, sizeof v), -1);
    assert_int_equal(k8sParamLookup(params, "services.d.x", v, sizeof v), -1);
    assert_int_equal(skipped, 2);
    free(params);
    cJSON_Delete(o);
    /* no parameters at all */
    o = cJSON_Parse("{\"metadata\":{\"name\":\"m\"}}");
    params = k8sAppParamsFromJson(o, &skipped);
    assert_string_equal(params, "");
    assert_int_equal(skipped, 0);
    free(params);
    cJSON_Delete(o);
}

/* A root with N services.<svc>.enabled overrides (52-character service names,
 * the longest a StatefulSet's pod can have) and a targetRevision for every
 * tenth; i selects which. */
static cJSON *bigRoot(int n)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\",\"uid\":\"u\",\"resourceVersion\":\"5\"},"
                           "\"spec\":{\"source\":{\"helm\":{\"parameters\":[]}}}}");
    cJSON *params = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"),
                                        "source"), "helm"), "parameters");
    char name[128];
    int i;
    for (i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateObject();
        snprintf(name, sizeof name, "services.bl46p-ea-ioc-%03d-with-a-long-name-for-a-long-beamline.enabled", i);
        cJSON_AddStringToObject(p, "name", name);
        cJSON_AddStringToObject(p, "value", i % 2 ? "true" : "false");
        cJSON_AddItemToArray(params, p);
        if (i % 10 == 9) {
            p = cJSON_CreateObject();
            snprintf(name, sizeof name, "services.bl46p-ea-ioc-%03d-with-a-long-name-for-a-long-beamline.targetRevision", i);
            cJSON_AddStringToObject(p, "name", name);
            cJSON_AddStringToObject(p, "value", "2024.5.1");
            cJSON_AddItemToArray(params, p);
        }
    }
    return o;
}

/* Issue 18 item 7: the parameters were cut at 2 KB (~45 overrides), and the
 * services past the cut read their state from git. */
static void every_parameter_is_kept(void **state)
{
    cJSON *o = bigRoot(200);
    char *params, name[200], v[16], svc[100], buf[sizeof ((k8sApp *)0)->params];
    size_t skipped = 9;
    int i;
    (void)state;
    params = k8sAppParamsFromJson(o, &skipped);
    assert_non_null(params);
    assert_int_equal(skipped, 0);
    assert_true(strlen(params) > 15000);
    for (i = 0; i < 200; i++) {
        snprintf(svc, sizeof svc, "bl46p-ea-ioc-%03d-with-a-long-name-for-a-long-beamline", i);
        snprintf(name, sizeof name, "services.%s.enabled", svc);
        assert_int_equal(k8sParamLookup(params, name, v, sizeof v), 0);
        assert_string_equal(v, i % 2 ? "true" : "false");
        /* what an instance's records read: its own service's, enabled first */
        assert_int_equal(k8sArgoServiceParams(params, svc, buf, sizeof buf), 0);
        assert_int_equal(strncmp(buf, name, strlen(name)), 0);
        assert_int_equal(k8sParamLookup(buf, name, v, sizeof v), 0);
        assert_string_equal(v, i % 2 ? "true" : "false");
        snprintf(name, sizeof name, "services.%s.targetRevision", svc);
        assert_int_equal(k8sParamLookup(buf, name, v, sizeof v), i % 10 == 9 ? 0 : -1);
    }
    free(params);
    cJSON_Delete(o);
}

static void one_service_s_parameters(void **state)
{
    const char *all = "services.a.image=x\nservices.ab.enabled=false\nservices.a.targetRevision=1.10\n"
                      "services.a.enabled=true\nservices.a=1\nservices.a.enabled=false\n";
    char buf[128], small[40], v[8];
    (void)state;
    /* enabled, targetRevision, then the rest; never another service whose name starts the same */
    assert_int_equal(k8sArgoServiceParams(all, "a", buf, sizeof buf), 0);
    assert_string_equal(buf, "services.a.enabled=true\nservices.a.enabled=false\n"
                             "services.a.targetRevision=1.10\nservices.a.image=x\n");
    assert_int_equal(k8sParamLookup(buf, "services.a.enabled", v, sizeof v), 0);
    assert_string_equal(v, "true");      /* the first line of a name answers */
    /* what does not fit is said (-1), and only whole lines are kept */
    assert_int_equal(k8sArgoServiceParams(all, "a", small, sizeof small), -1);
    assert_string_equal(small, "services.a.enabled=true\n");
    /* a service is part of a name, never of a value: "services.a" with the value "1.x" is no
     * parameter of a service "a=1" (found by tests/fuzz) */
    assert_int_equal(k8sArgoServiceParams("services.b=1.x\n", "b=1", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(k8sArgoServiceParams("services.a.=1\n", "a", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(k8sArgoServiceParams(all, "nothing", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(k8sArgoServiceParams(NULL, "a", buf, sizeof buf), 0);
}

/* Through k8sApplyObject into a cache that owns the parameters: replaced,
 * deleted, relisted and cleared without a leak (valgrind), read whole. */
static int readParam(void *arg, const void *obj)
{
    char v[16];
    *(int *)arg = k8sParamLookup(((const k8sAppStored *)obj)->params,
                                 "services.bl46p-ea-ioc-199-with-a-long-name-for-a-long-beamline.enabled", v, sizeof v) == 0 &&
                  strcmp(v, "true") == 0;
    return 0;
}

static void the_cache_owns_the_parameters(void **state)
{
    k8sCache *c = k8sCacheCreate(sizeof(k8sAppStored), NULL, NULL);
    cJSON *o = bigRoot(200);
    char err[200];
    int found = 0;
    (void)state;
    k8sCacheSetRelease(c, k8sAppStoredRelease);
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    assert_int_equal(k8sCacheWith(c, "ns/r", readParam, &found), 0);
    assert_true(found);
    /* the same resourceVersion again (a re-watch): the new copy is released */
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    /* a new version replaces the old one's parameters */
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "resourceVersion"), "6");
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    /* recreated under the same name */
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "uid"), "u2");
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "resourceVersion"), "7");
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    found = 0;
    assert_int_equal(k8sCacheWith(c, "ns/r", readParam, &found), 0);
    assert_true(found);
    assert_int_equal(k8sCacheWith(c, "ns/other", readParam, &found), -1);
    /* a relist without it, then one with it, then deleted, then cleared */
    k8sCacheReplaceBegin(c);
    k8sCacheReplaceEnd(c);
    assert_int_equal(k8sCacheCount(c), 0);
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 1, NULL, "", err, sizeof err), 0);
    assert_int_equal(k8sCacheCount(c), 0);
    assert_int_equal(k8sApplyObject(c, K8S_KIND_APPLICATION, o, 0, NULL, "", err, sizeof err), 0);
    k8sCacheDestroy(c);
    cJSON_Delete(o);
}

static void tracking_ids(void **state)
{
    k8sTrackingId t;
    char err[300];
    (void)state;
    assert_int_equal(k8sArgoParseTrackingId("bl46p-beamline_bl46p-ea-ioc-01:apps/StatefulSet:bl46p-iocs/bl46p-ea-ioc-01",
                                            &t, err, sizeof err), 0);
    assert_string_equal(t.appNamespace, "bl46p-beamline");
    assert_string_equal(t.app, "bl46p-ea-ioc-01");
    assert_string_equal(t.group, "apps");
    assert_string_equal(t.kind, "StatefulSet");
    assert_string_equal(t.namespace_, "bl46p-iocs");
    assert_string_equal(t.name, "bl46p-ea-ioc-01");
    /* an app in the controller's namespace; a core kind; a cluster-scoped object */
    assert_int_equal(k8sArgoParseTrackingId("p47:/ConfigMap:p47-iocs/cm", &t, err, sizeof err), 0);
    assert_string_equal(t.appNamespace, "");
    assert_string_equal(t.app, "p47");
    assert_string_equal(t.group, "");
    assert_int_equal(k8sArgoParseTrackingId("p47:/Namespace:/p47-iocs", &t, err, sizeof err), 0);
    assert_string_equal(t.namespace_, "");
    assert_string_equal(t.name, "p47-iocs");
    /* not tracking-ids */
    assert_int_equal(k8sArgoParseTrackingId("", &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId(NULL, &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId("p47", &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId(":apps/StatefulSet:ns/n", &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId("a:appsStatefulSet:ns/n", &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId("a:apps/StatefulSet:nsn", &t, err, sizeof err), -1);
    assert_int_equal(k8sArgoParseTrackingId("a:apps/:ns/n", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty or oversized"));
    assert_string_equal(t.app, "");
}

/* ---- owner resolution over a table of Applications ---------------------- */

typedef struct table { k8sApp apps[4]; int n; } table;

static int lookup(void *arg, const char *ns, const char *name, k8sApp *out)
{
    table *t = arg;
    int i;
    for (i = 0; i < t->n; i++)
        if (strcmp(t->apps[i].namespace_, ns) == 0 && strcmp(t->apps[i].name, name) == 0) {
            *out = t->apps[i];
            return 0;
        }
    return -1;
}

static void add(table *t, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    char err[200];
    assert_int_equal(k8sAppFromJson(o, &t->apps[t->n++], err, sizeof err), 0);
    cJSON_Delete(o);
}

static const char *stsTracking = "bl46p-beamline_bl46p-ea-ioc-01:apps/StatefulSet:bl46p-iocs/bl46p-ea-ioc-01";
static const k8sArgoConfig cfg = { "bl46p-beamline", "", K8S_ARGO_DEFAULT_INSTANCE_LABEL };

static void owner_through_tracking_ids(void **state)
{
    table t = { .n = 0 };
    k8sArgoOwner o;
    (void)state;
    add(&t, rootJson);
    add(&t, childJson);
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_true(o.managed);
    assert_true(o.haveChild);
    assert_true(o.haveRoot);
    assert_string_equal(o.svc, "bl46p-ea-ioc-01");
    assert_string_equal(o.root.name, "bl46p");
    assert_string_equal(o.problem, "");

    /* a tracking-id copied from another object is not Argo CD's claim on this one */
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-09", stsTracking, "", &cfg, lookup, &t, &o);
    assert_false(o.managed);
    k8sArgoResolve("Deployment", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_false(o.managed);
    /* no annotation, no label: as without Argo CD */
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", "", "", &cfg, lookup, &t, &o);
    assert_false(o.managed);
}

static void owner_through_the_instance_label(void **state)
{
    table t = { .n = 0 };
    k8sArgoOwner o;
    (void)state;
    add(&t, rootJson);
    add(&t, childJson);
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", "", "bl46p-ea-ioc-01", &cfg, lookup, &t, &o);
    assert_true(o.managed);
    assert_true(o.haveRoot);
    /* a chart's own app.kubernetes.io/instance (a Helm release) names no Application */
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", "", "some-release", &cfg, lookup, &t, &o);
    assert_false(o.managed);
    /* label tracking switched off */
    {
        k8sArgoConfig none = { "bl46p-beamline", "", "" };
        k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", "", "bl46p-ea-ioc-01", &none, lookup, &t, &o);
        assert_false(o.managed);
    }
}

static void owner_problems_in_words(void **state)
{
    table t = { .n = 0 };
    k8sArgoOwner o;
    k8sArgoConfig withRoot = { "bl46p-beamline", "bl46p", "" };
    (void)state;

    /* the child named by the tracking-id is gone: managed (never scale), and why */
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_true(o.managed);
    assert_false(o.haveChild);
    assert_non_null(strstr(o.problem, "Application bl46p-beamline/bl46p-ea-ioc-01 (named by the tracking-id) not found"));

    /* the root is gone */
    add(&t, childJson);
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_true(o.haveChild);
    assert_false(o.haveRoot);
    assert_non_null(strstr(o.problem, "root Application bl46p-beamline/bl46p of bl46p-ea-ioc-01 not found"));

    /* the root itself tracked by another Application */
    add(&t, "{\"metadata\":{\"name\":\"bl46p\",\"namespace\":\"bl46p-beamline\",\"annotations\":"
            "{\"argocd.argoproj.io/tracking-id\":\"argocd_facility:argoproj.io/Application:bl46p-beamline/bl46p\"}},"
            "\"spec\":{\"source\":{\"helm\":{}}},\"status\":{\"sourceType\":\"Helm\"}}");
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_true(o.haveRoot);
    assert_non_null(strstr(o.problem, "is itself tracked by Application argocd/facility"));

    /* not Helm; multi-source */
    strcpy(t.apps[1].trackingId, "");
    strcpy(t.apps[1].sourceType, "Kustomize");
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_non_null(strstr(o.problem, "not a Helm source (sourceType Kustomize)"));
    strcpy(t.apps[1].sourceType, "");
    t.apps[1].hasSource = 0;
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_non_null(strstr(o.problem, "no single spec.source"));
    t.apps[1].hasSource = 1;
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_string_equal(o.problem, "");

    /* a child without a tracking-id: the root named in the configuration, else a problem */
    strcpy(t.apps[0].trackingId, "");
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &cfg, lookup, &t, &o);
    assert_non_null(strstr(o.problem, "has no root"));
    k8sArgoResolve("StatefulSet", "bl46p-iocs", "bl46p-ea-ioc-01", stsTracking, "", &withRoot, lookup, &t, &o);
    assert_true(o.haveRoot);
    assert_string_equal(o.problem, "");
}

/* ---- the parameter patch ------------------------------------------------ */

static cJSON *patchParams(const char *json, const char *name, const char *value, int forceString,
                          cJSON **patch)
{
    cJSON *o = cJSON_Parse(json);
    char err[200], *s = k8sArgoParamPatch(o, name, value, forceString, err, sizeof err);
    assert_non_null(s);
    *patch = cJSON_Parse(s);
    free(s);
    cJSON_Delete(o);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(*patch, "metadata"),
                                                                 "resourceVersion")), "77");
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(*patch, "spec"),
                                                   "source"), "helm"), "parameters");
}

static const cJSON *param(const cJSON *params, int i, const char *member)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(params, i), member);
}

static void patch_replaces_or_adds_and_keeps_the_rest(void **state)
{
    cJSON *patch, *params;
    (void)state;
    /* replace: the list keeps its order and the other parameter, forceString included */
    params = patchParams(rootJson, "services.bl46p-ea-ioc-02.enabled", "true", 0, &patch);
    assert_int_equal(cJSON_GetArraySize(params), 2);
    assert_string_equal(cJSON_GetStringValue(param(params, 0, "value")), "true");
    assert_true(cJSON_IsTrue(param(params, 1, "forceString")));
    assert_string_equal(cJSON_GetStringValue(param(params, 1, "value")), "x");
    /* the merge patch touches nothing else of spec */
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "spec"), "source"), "path"));
    cJSON_Delete(patch);

    /* add, as a string to Helm */
    params = patchParams(rootJson, "services.bl46p-ea-ioc-01.targetRevision", "1.10", 1, &patch);
    assert_int_equal(cJSON_GetArraySize(params), 3);
    assert_string_equal(cJSON_GetStringValue(param(params, 2, "name")), "services.bl46p-ea-ioc-01.targetRevision");
    assert_string_equal(cJSON_GetStringValue(param(params, 2, "value")), "1.10");
    assert_true(cJSON_IsTrue(param(params, 2, "forceString")));
    cJSON_Delete(patch);

    /* a root without any helm section yet, and duplicates of ours collapse to one */
    params = patchParams("{\"metadata\":{\"name\":\"r\",\"resourceVersion\":\"77\"},\"spec\":{\"source\":{\"path\":\"apps\"}}}",
                         "services.a.enabled", "false", 0, &patch);
    assert_int_equal(cJSON_GetArraySize(params), 1);
    assert_null(param(params, 0, "forceString"));
    cJSON_Delete(patch);
    params = patchParams("{\"metadata\":{\"resourceVersion\":\"77\"},\"spec\":{\"source\":{\"helm\":{\"parameters\":["
                         "{\"name\":\"services.a.enabled\",\"value\":\"true\",\"forceString\":true},"
                         "{\"name\":\"services.a.enabled\",\"value\":\"true\"}]}}}}",
                         "services.a.enabled", "false", 0, &patch);
    assert_int_equal(cJSON_GetArraySize(params), 1);
    assert_string_equal(cJSON_GetStringValue(param(params, 0, "value")), "false");
    assert_null(param(params, 0, "forceString"));
    cJSON_Delete(patch);
    /* a hand-written entry repeating "value": the API would read the last one,
     * so the patch keeps one, ours (found by tests/fuzz) */
    params = patchParams("{\"metadata\":{\"resourceVersion\":\"77\"},\"spec\":{\"source\":{\"helm\":{\"parameters\":["
                         "{\"name\":\"services.a.enabled\",\"value\":\"x\",\"value\":\"true\",\"forceString\":true,"
                         "\"forceString\":false}]}}}}",
                         "services.a.enabled", "false", 0, &patch);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(params, 0)), 2);
    assert_string_equal(cJSON_GetStringValue(param(params, 0, "value")), "false");
    cJSON_Delete(patch);
}

static void patch_refuses_what_it_cannot_guard(void **state)
{
    char err[200];
    cJSON *o;
    (void)state;
    o = cJSON_Parse("{\"metadata\":{\"name\":\"r\",\"resourceVersion\":\"1\"},\"spec\":{\"sources\":[]}}");
    assert_null(k8sArgoParamPatch(o, "services.a.enabled", "false", 0, err, sizeof err));
    assert_non_null(strstr(err, "no single spec.source"));
    cJSON_Delete(o);
    o = cJSON_Parse("{\"metadata\":{\"name\":\"r\"},\"spec\":{\"source\":{}}}");
    assert_null(k8sArgoParamPatch(o, "services.a.enabled", "false", 0, err, sizeof err));
    assert_non_null(strstr(err, "resourceVersion"));
    cJSON_Delete(o);
}

static void booleans_as_helm_reads_them(void **state)
{
    (void)state;
    assert_int_equal(k8sArgoBool("true"), 1);
    assert_int_equal(k8sArgoBool("True"), 1);
    assert_int_equal(k8sArgoBool("FALSE"), 0);
    assert_int_equal(k8sArgoBool("0"), 0);
    assert_int_equal(k8sArgoBool("yes"), -1);
    assert_int_equal(k8sArgoBool(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_root_and_child),
        cmocka_unit_test(decoding_odd_shapes),
        cmocka_unit_test(every_parameter_is_kept),
        cmocka_unit_test(one_service_s_parameters),
        cmocka_unit_test(the_cache_owns_the_parameters),
        cmocka_unit_test(tracking_ids),
        cmocka_unit_test(owner_through_tracking_ids),
        cmocka_unit_test(owner_through_the_instance_label),
        cmocka_unit_test(owner_problems_in_words),
        cmocka_unit_test(patch_replaces_or_adds_and_keeps_the_rest),
        cmocka_unit_test(patch_refuses_what_it_cannot_guard),
        cmocka_unit_test(booleans_as_helm_reads_them),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("argo", tests, NULL, NULL);
}
