/* JSON decoding of instances, pods, events, watch events and Status errors */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "k8sObject.h"

static const char *sts =
    "{\"metadata\":{\"name\":\"bl46p-ea-ioc-01\",\"namespace\":\"bl46p-iocs\",\"uid\":\"u-1\","
    "\"resourceVersion\":\"1234\",\"generation\":3,"
    "\"labels\":{\"app\":\"bl46p-ea-ioc-01\",\"ioc\":\"true\",\"location\":\"bl46p\",\"domain\":\"bl46p\","
    "\"enabled\":\"true\",\"description\":\"a motion IOC\",\"helm.sh/chart\":\"ioc-instance-3.5.1\","
    "\"app.kubernetes.io/version\":\"2024.4.1\"}},"
    "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":["
    "{\"name\":\"sidecar\",\"image\":\"busybox:1\"},{\"name\":\"ioc\",\"image\":\"ghcr.io/x/ioc:1.0\"}]}}},"
    "\"status\":{\"replicas\":1,\"readyReplicas\":1,\"updatedReplicas\":1,\"observedGeneration\":3}}";

static void test_statefulset(void **state)
{
    cJSON *o = cJSON_Parse(sts);
    k8sInstance i;
    char err[128];
    (void)state;
    assert_int_equal(k8sInstanceFromJson(o, "StatefulSet", NULL, &i, err, sizeof err), 0);
    assert_string_equal(i.name, "bl46p-ea-ioc-01");
    assert_string_equal(i.namespace_, "bl46p-iocs");
    assert_string_equal(i.kind, "StatefulSet");
    assert_string_equal(i.resourceVersion, "1234");
    assert_int_equal(i.specReplicas, 1);
    assert_int_equal(i.readyReplicas, 1);
    assert_string_equal(i.image, "busybox:1");
    assert_string_equal(i.containerName, "sidecar");
    assert_string_equal(i.labelVersion, "2024.4.1");
    assert_string_equal(i.labelDescription, "a motion IOC");
    assert_string_equal(i.labelEnabled, "true");
    assert_true(i.isIocLabel);
    assert_int_equal(i.generation, 3);
    assert_int_equal(i.observedGeneration, 3);
    assert_false(i.deleting);
    assert_int_equal(k8sInstanceFromJson(o, "StatefulSet", "ioc", &i, err, sizeof err), 0);
    assert_string_equal(i.image, "ghcr.io/x/ioc:1.0");
    assert_true(k8sLabelsMatchAny(o, "ioc=true,is_ioc=true"));
    assert_true(k8sLabelsMatchAny(o, "is_ioc=true,domain"));
    assert_false(k8sLabelsMatchAny(o, "is_ioc=true,ioc=false"));
    assert_false(k8sLabelsMatchAny(o, "io=true"));
    cJSON_Delete(o);
}

static void test_old_chart_deployment(void **state)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"old\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\","
                           "\"labels\":{\"is_ioc\":\"true\",\"beamline\":\"bl46p\",\"ioc_version\":\"1.2\"}},"
                           "\"spec\":{},\"status\":{}}");
    k8sInstance i;
    char err[128];
    (void)state;
    assert_int_equal(k8sInstanceFromJson(o, "Deployment", NULL, &i, err, sizeof err), 0);
    assert_string_equal(i.kind, "Deployment");
    assert_int_equal(i.specReplicas, 1);   /* API default when absent */
    assert_string_equal(i.labelLocation, "bl46p");
    assert_string_equal(i.labelVersion, "1.2");
    assert_true(i.isIocLabel);
    assert_true(i.deleting);
    assert_string_equal(i.image, "");
    cJSON_Delete(o);
}

static void test_missing_name(void **state)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{}}");
    k8sInstance i;
    k8sPod p;
    char err[128];
    (void)state;
    assert_int_equal(k8sInstanceFromJson(o, "StatefulSet", NULL, &i, err, sizeof err), -1);
    assert_string_equal(err, "object has no metadata.name");
    assert_int_equal(k8sPodFromJson(o, NULL, &p, err, sizeof err), -1);
    cJSON_Delete(o);
}

static void test_pod_crashloop(void **state)
{
    cJSON *o = cJSON_Parse(
        "{\"metadata\":{\"name\":\"x-0\",\"namespace\":\"ns\",\"uid\":\"p1\",\"resourceVersion\":\"9\","
        "\"creationTimestamp\":\"2024-05-01T10:00:00Z\",\"ownerReferences\":[{\"kind\":\"StatefulSet\","
        "\"name\":\"x\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":\"ioc\",\"image\":\"img:1\"}]},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"conditions\":[{\"type\":\"Ready\","
        "\"status\":\"False\"}],\"containerStatuses\":[{\"name\":\"ioc\",\"restartCount\":7,"
        "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off 5m0s\"}},"
        "\"lastState\":{\"terminated\":{\"exitCode\":139,\"reason\":\"Error\","
        "\"startedAt\":\"2024-05-01T10:00:07Z\",\"finishedAt\":\"2024-05-01T10:02:37Z\"}}}]}}");
    k8sPod p;
    char err[128];
    (void)state;
    assert_int_equal(k8sPodFromJson(o, NULL, &p, err, sizeof err), 0);
    assert_int_equal(p.lastRunSeconds, 150);    /* the run that ended in the crash */
    assert_false(p.ended);                      /* waiting: started again after its back-off */
    assert_string_equal(p.ownerName, "x");
    assert_string_equal(p.phase, "Running");
    assert_false(p.ready);
    assert_int_equal(p.restartCount, 7);
    assert_string_equal(p.waitingReason, "CrashLoopBackOff");
    assert_string_equal(p.waitingMessage, "back-off 5m0s");
    assert_int_equal(p.lastExitCode, 139);
    assert_string_equal(p.lastReason, "Error");
    assert_string_equal(p.nodeName, "node1");
    assert_string_equal(p.podIP, "10.0.0.5");
    assert_int_equal(p.createdAtEpoch, 1714557600LL);
    assert_int_equal(p.startedAtEpoch, 0);
    cJSON_Delete(o);
}

/* The moment a container has ended, before the kubelet starts it again: its own end
 * (state.terminated) is the latest, not lastState's older one. */
static void test_pod_just_ended(void **state)
{
    cJSON *o = cJSON_Parse(
        "{\"metadata\":{\"name\":\"x-0\",\"uid\":\"p1\",\"creationTimestamp\":\"2024-05-01T10:00:00Z\"},"
        "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"ioc\",\"restartCount\":1,"
        "\"state\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\","
        "\"startedAt\":\"2024-05-01T10:00:40Z\",\"finishedAt\":\"2024-05-01T10:01:10Z\"}},"
        "\"lastState\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\","
        "\"startedAt\":\"2024-05-01T10:00:02Z\",\"finishedAt\":\"2024-05-01T10:00:39Z\"}}}]}}");
    k8sPod p;
    char err[128];
    (void)state;
    assert_int_equal(k8sPodFromJson(o, NULL, &p, err, sizeof err), 0);
    assert_true(p.ended);
    assert_int_equal(p.lastExitCode, 137);
    assert_string_equal(p.lastReason, "OOMKilled");
    assert_int_equal(p.lastEndedEpoch, 1714557670LL);
    assert_int_equal(p.lastRunSeconds, 30);
    cJSON_Delete(o);
}

static void test_pod_running_and_pending(void **state)
{
    cJSON *run = cJSON_Parse(
        "{\"metadata\":{\"name\":\"d-5f7c-abcde\",\"ownerReferences\":[{\"kind\":\"ReplicaSet\","
        "\"name\":\"d-5f7c\",\"controller\":true}]},\"spec\":{\"containers\":[{\"name\":\"ioc\"}]},"
        "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
        "\"containerStatuses\":[{\"name\":\"ioc\",\"restartCount\":0,\"state\":{\"running\":"
        "{\"startedAt\":\"2024-05-01T10:00:05+01:00\"}}}]}}");
    cJSON *pend = cJSON_Parse(
        "{\"metadata\":{\"name\":\"y-0\",\"labels\":{\"app\":\"y\"}},\"status\":{\"phase\":\"Pending\","
        "\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\","
        "\"message\":\"0/3 nodes are available: 3 node(s) had untolerated taint {beamline: bl46p}.\"}]}}");
    k8sPod p;
    char err[128];
    (void)state;
    assert_int_equal(k8sPodFromJson(run, NULL, &p, err, sizeof err), 0);
    assert_string_equal(p.ownerName, "d");
    assert_true(p.ready);
    assert_int_equal(p.startedAtEpoch, 1714554005LL);
    assert_int_equal(k8sPodFromJson(pend, NULL, &p, err, sizeof err), 0);
    assert_string_equal(p.ownerName, "y");
    assert_string_equal(p.phase, "Pending");
    assert_non_null(strstr(p.unschedulableMessage, "untolerated taint"));
    cJSON_Delete(run);
    cJSON_Delete(pend);
}

static void test_event(void **state)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x-0.17a\",\"namespace\":\"ns\",\"resourceVersion\":\"5\"},"
                           "\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"x-0\"},\"type\":\"Warning\","
                           "\"reason\":\"BackOff\",\"message\":\"Back-off restarting failed container\","
                           "\"lastTimestamp\":\"2024-05-01T10:00:00Z\"}");
    k8sEvent e;
    char err[128];
    (void)state;
    assert_int_equal(k8sEventFromJson(o, &e, err, sizeof err), 0);
    assert_string_equal(e.involvedName, "x-0");
    assert_string_equal(e.type, "Warning");
    assert_string_equal(e.reason, "BackOff");
    assert_int_equal(e.timeEpoch, 1714557600LL);
    cJSON_Delete(o);
}

static void test_watch_events(void **state)
{
    k8sWatchEvent ev;
    char err[256];
    const char *added = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"11\"}}}";
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"12\"}}}";
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                       "\"message\":\"too old resource version: 5 (10)\",\"reason\":\"Expired\",\"code\":410}}";
    (void)state;
    assert_int_equal(k8sWatchEventParse(added, strlen(added), &ev, err, sizeof err), 0);
    assert_int_equal(ev.type, K8S_WATCH_ADDED);
    assert_string_equal(ev.resourceVersion, "11");
    k8sWatchEventFree(&ev);
    assert_int_equal(k8sWatchEventParse(bm, strlen(bm), &ev, err, sizeof err), 0);
    assert_int_equal(ev.type, K8S_WATCH_BOOKMARK);
    assert_string_equal(ev.resourceVersion, "12");
    k8sWatchEventFree(&ev);
    assert_int_equal(k8sWatchEventParse(gone, strlen(gone), &ev, err, sizeof err), 0);
    assert_int_equal(ev.type, K8S_WATCH_ERROR);
    assert_int_equal(ev.errorCode, 410);
    assert_string_equal(ev.errorMessage, "too old resource version: 5 (10)");
    k8sWatchEventFree(&ev);

    assert_int_equal(k8sWatchEventParse("{\"type\":", 8, &ev, err, sizeof err), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(k8sWatchEventParse("{\"type\":\"FOO\",\"object\":{}}", 26, &ev, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown watch event type \"FOO\""));
    assert_int_equal(k8sWatchEventParse("{\"type\":\"ADDED\",\"object\":{}}", 28, &ev, err, sizeof err), -1);
    assert_non_null(strstr(err, "without metadata.resourceVersion"));
    assert_int_equal(k8sWatchEventParse("{\"object\":{}}", 13, &ev, err, sizeof err), -1);
}

/* Regression (tests/fuzz/regressions/watch/unterminated-line-quote): a line is
 * len bytes with no NUL after it; the error quotes those bytes and no more
 * (it used "%.80s" and read past a short line). */
static void test_watch_event_quotes_only_its_line(void **state)
{
    k8sWatchEvent ev;
    char err[256];
    (void)state;
    assert_int_equal(k8sWatchEventParse("not json{\"type\":\"ADDED\"}", 8, &ev, err, sizeof err), -1);
    assert_string_equal(err, "watch line is not JSON: not json");
    assert_int_equal(k8sWatchEventParse("{}{\"type\":\"ADDED\"}", 2, &ev, err, sizeof err), -1);
    assert_string_equal(err, "watch line without type/object: {}");
}

/* Regression (tests/fuzz/regressions/watch/error-code-1e999): a number beyond
 * long long (1e999 parses as inf) reads as absent; converting it was undefined. */
static void test_numbers_out_of_range(void **state)
{
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":1e999}}";
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"generation\":-1e999},\"spec\":{\"replicas\":1e300},"
                           "\"status\":{\"readyReplicas\":1e999,\"observedGeneration\":9.3e18}}");
    k8sWatchEvent ev;
    k8sInstance i;
    char err[128];
    (void)state;
    assert_int_equal(k8sWatchEventParse(gone, strlen(gone), &ev, err, sizeof err), 0);
    assert_int_equal(ev.errorCode, 0);
    k8sWatchEventFree(&ev);
    assert_non_null(o);
    assert_int_equal(k8sInstanceFromJson(o, "StatefulSet", NULL, &i, err, sizeof err), 0);
    assert_int_equal(i.generation, 0);
    assert_int_equal(i.specReplicas, 0);
    assert_int_equal(i.readyReplicas, 0);
    assert_int_equal(i.observedGeneration, 0);
    cJSON_Delete(o);
}

static void test_status_message(void **state)
{
    const char *forbidden = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
        "\"statefulsets.apps \\\"x\\\" is forbidden: User \\\"system:serviceaccount:bl46p-iocs:iocmgr\\\" cannot "
        "patch resource \\\"statefulsets/scale\\\"\",\"reason\":\"Forbidden\",\"code\":403}";
    char msg[1024];
    (void)state;
    k8sStatusMessage(403, forbidden, strlen(forbidden), 0, msg, sizeof msg);
    assert_string_equal(msg, "statefulsets.apps \"x\" is forbidden: User \"system:serviceaccount:bl46p-iocs:iocmgr\" "
                             "cannot patch resource \"statefulsets/scale\"");
    k8sStatusMessage(403, forbidden, strlen(forbidden), 1, msg, sizeof msg);
    assert_true(strncmp(msg, "403 Forbidden: statefulsets.apps", 32) == 0);
    k8sStatusMessage(502, "<html>bad\ngateway</html>", 25, 0, msg, sizeof msg);
    assert_string_equal(msg, "502 Bad Gateway: <html>bad gateway</html>");
    k8sStatusMessage(503, NULL, 0, 0, msg, sizeof msg);
    assert_string_equal(msg, "503 Service Unavailable");
}

static void test_strings_and_time(void **state)
{
    char small[6];
    (void)state;
    /* "abcé" is 5 bytes; "abcéx" must not be cut inside é */
    k8sCopyString(small, sizeof small, "abcd\xc3\xa9x");
    assert_string_equal(small, "abcd");
    k8sCopyString(small, sizeof small, "abc\xc3\xa9x");
    assert_string_equal(small, "abc\xc3\xa9");
    k8sCopyString(small, sizeof small, NULL);
    assert_string_equal(small, "");
    assert_int_equal(k8sParseTime("1970-01-01T00:00:10Z"), 10);
    assert_int_equal(k8sParseTime("1970-01-01T01:00:10.123456+01:00"), 10);
    assert_int_equal(k8sParseTime("garbage"), 0);
    assert_int_equal(k8sParseTime(""), 0);
    assert_int_equal(k8sParseTime(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statefulset),
        cmocka_unit_test(test_old_chart_deployment),
        cmocka_unit_test(test_missing_name),
        cmocka_unit_test(test_pod_crashloop),
        cmocka_unit_test(test_pod_just_ended),
        cmocka_unit_test(test_pod_running_and_pending),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_watch_events),
        cmocka_unit_test(test_watch_event_quotes_only_its_line),
        cmocka_unit_test(test_numbers_out_of_range),
        cmocka_unit_test(test_status_message),
        cmocka_unit_test(test_strings_and_time),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sObject", tests, NULL, NULL);
}
