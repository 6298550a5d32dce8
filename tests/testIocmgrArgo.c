/* testIocmgrArgo.c - cmocka tests of what an Argo CD Application means for an
 * instance's view and for the way its commands go (iocmgrArgo.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "iocmgrArgo.h"

#define NOW 1700000000LL

static k8sArgoOwner owner(const char *rootParams, int childGlobalEnabled)
{
    k8sArgoOwner o;
    memset(&o, 0, sizeof o);
    o.managed = o.haveChild = o.haveRoot = 1;
    strcpy(o.svc, "bl46p-ea-ioc-01");
    strcpy(o.child.name, "bl46p-ea-ioc-01");
    strcpy(o.child.namespace_, "bl46p-beamline");
    strcpy(o.child.syncStatus, "Synced");
    strcpy(o.child.healthStatus, "Healthy");
    strcpy(o.child.targetRevision, "2024.4.1");
    strcpy(o.child.opPhase, "Succeeded");
    strcpy(o.child.opMessage, "successfully synced (all tasks run)");
    o.child.globalEnabled = childGlobalEnabled;
    strcpy(o.root.name, "bl46p");
    strcpy(o.root.namespace_, "bl46p-beamline");
    strcpy(o.root.reconciledAt, "2026-12-01T10:00:00Z");
    o.root.hasSource = 1;
    o.root.globalEnabled = -1;
    snprintf(o.root.params, sizeof o.root.params, "%s", rootParams);
    return o;
}

static iocmgrView stoppedView(void)
{
    k8sInstance i;
    iocmgrView v;
    memset(&i, 0, sizeof i);
    strcpy(i.name, "bl46p-ea-ioc-01");
    strcpy(i.kind, "StatefulSet");
    i.specReplicas = 0;
    iocmgrDerive(&i, NULL, 0, NULL, NOW, 60.0, &v);
    assert_int_equal(v.status, IOCMGR_STOPPED);
    return v;
}

static iocmgrView runningView(void)
{
    k8sInstance i;
    k8sPod p;
    iocmgrView v;
    memset(&i, 0, sizeof i);
    memset(&p, 0, sizeof p);
    strcpy(i.name, "bl46p-ea-ioc-01");
    strcpy(i.kind, "StatefulSet");
    i.specReplicas = 1;
    strcpy(p.name, "bl46p-ea-ioc-01-0");
    strcpy(p.ownerName, "bl46p-ea-ioc-01");
    strcpy(p.phase, "Running");
    p.ready = 1;
    p.startedAtEpoch = NOW - 100;
    iocmgrDerive(&i, &p, 1, NULL, NOW, 60.0, &v);
    assert_int_equal(v.status, IOCMGR_RUNNING);
    return v;
}

static void unmanaged_instance_is_left_alone(void **state)
{
    k8sArgoOwner o;
    iocmgrView v = runningView(), before;
    iocmgrArgoPlan p;
    (void)state;
    memset(&o, 0, sizeof o);
    before = v;
    iocmgrArgoDerive(&o, &v);
    assert_memory_equal(&v, &before, sizeof v);
    assert_int_equal(v.sync, IOCMGR_SYNC_NA);
    assert_int_equal(v.health, IOCMGR_HEALTH_NA);
    assert_int_equal(iocmgrArgoPlanCommand(&o, "x", IOCMGR_ARGO_STOP, NULL, &p), IOCMGR_PATH_DIRECT);
    assert_int_equal(iocmgrArgoPlanCommand(&o, "x", IOCMGR_ARGO_IMAGE, "a:1", &p), IOCMGR_PATH_DIRECT);
    assert_int_equal(iocmgrArgoPlanCommand(&o, "x", IOCMGR_ARGO_REVISION, "1.0", &p), IOCMGR_PATH_REFUSE);
    assert_non_null(strstr(p.msg, "not deployed by an Argo CD Application"));
}

static void managed_running_shows_the_application(void **state)
{
    k8sArgoOwner o = owner("", 1);
    iocmgrView v = runningView();
    (void)state;
    iocmgrArgoDerive(&o, &v);
    assert_true(v.argo);
    assert_string_equal(v.argoApp, "bl46p-beamline/bl46p-ea-ioc-01");
    assert_int_equal(v.sync, IOCMGR_SYNC_SYNCED);
    assert_int_equal(v.health, IOCMGR_HEALTH_HEALTHY);
    assert_string_equal(v.revision, "2024.4.1");
    assert_false(v.override);
    assert_true(v.enabled);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_string_equal(v.syncMsg, "Succeeded: successfully synced (all tasks run)");
}

static void stopped_as_desired_is_stopped_without_alarm(void **state)
{
    k8sArgoOwner o = owner("services.bl46p-ea-ioc-01.enabled=false\n", 1);
    iocmgrView v = stoppedView();
    (void)state;
    iocmgrArgoDerive(&o, &v);
    assert_int_equal(v.status, IOCMGR_STOPPED);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_false(v.enabled);
    assert_true(v.override);
    assert_string_equal(v.message, "stopped as desired: services.bl46p-ea-ioc-01.enabled=false on Application "
                                   "bl46p-beamline/bl46p");
    /* stopped in git, no override */
    o = owner("", 0);
    v = stoppedView();
    iocmgrArgoDerive(&o, &v);
    assert_false(v.override);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_non_null(strstr(v.message, "global.enabled=false in git"));
}

static void a_stop_argo_cd_has_not_applied_shows(void **state)
{
    /* Argo CD not running: the root asks for a stop, the pod still runs */
    k8sArgoOwner o = owner("services.bl46p-ea-ioc-01.enabled=false\n", 1);
    iocmgrView v = runningView();
    (void)state;
    iocmgrArgoDerive(&o, &v);
    assert_int_equal(v.status, IOCMGR_RUNNING);
    assert_false(v.enabled);
    assert_non_null(strstr(v.message, "stop requested (services.bl46p-ea-ioc-01.enabled=false on Application "
                                      "bl46p-beamline/bl46p): Argo CD has not applied it yet"));
    assert_non_null(strstr(v.message, "root last reconciled 2026-12-01T10:00:00Z"));
    assert_string_equal(v.syncMsg, "Succeeded: successfully synced (all tasks run); root not synced yet: it asks "
                                   "enabled=false, the child still has global.enabled=true (root last reconciled "
                                   "2026-12-01T10:00:00Z)");
    /* once Argo CD rendered it into the child, the operation is all SYNC_MSG says */
    o.child.globalEnabled = 0;
    v = runningView();
    iocmgrArgoDerive(&o, &v);
    assert_string_equal(v.syncMsg, "Succeeded: successfully synced (all tasks run)");
}

static void a_start_argo_cd_has_not_applied_is_minor(void **state)
{
    k8sArgoOwner o = owner("services.bl46p-ea-ioc-01.enabled=true\n", 0);
    iocmgrView v = stoppedView();
    (void)state;
    iocmgrArgoDerive(&o, &v);
    assert_int_equal(v.status, IOCMGR_STOPPED);
    assert_int_equal(v.severity, IOCMGR_SEV_MINOR);
    assert_true(v.enabled);
    assert_non_null(strstr(v.message, "start requested"));
}

static void failed_sync_reaches_message(void **state)
{
    k8sArgoOwner o = owner("services.bl46p-ea-ioc-01.targetRevision=9.9\n", 1);
    iocmgrView v = runningView();
    (void)state;
    strcpy(o.child.opPhase, "Failed");
    strcpy(o.child.opMessage, "ComparisonError: unable to resolve '9.9' to a commit SHA");
    strcpy(o.child.syncStatus, "OutOfSync");
    strcpy(o.child.healthStatus, "Degraded");
    iocmgrArgoDerive(&o, &v);
    assert_true(v.override);
    assert_int_equal(v.sync, IOCMGR_SYNC_OUTOFSYNC);
    assert_int_equal(v.health, IOCMGR_HEALTH_DEGRADED);
    assert_non_null(strstr(v.message, "Argo CD sync of bl46p-beamline/bl46p-ea-ioc-01 failed: ComparisonError"));
    assert_string_equal(v.syncMsg, "Failed: ComparisonError: unable to resolve '9.9' to a commit SHA");
}

static void commands_go_through_the_root(void **state)
{
    k8sArgoOwner o = owner("", 1);
    iocmgrArgoPlan p;
    (void)state;
    assert_int_equal(iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_STOP, NULL, &p), IOCMGR_PATH_ROOT_PARAM);
    assert_string_equal(p.app, "bl46p");
    assert_string_equal(p.param, "services.bl46p-ea-ioc-01.enabled");
    assert_string_equal(p.value, "false");
    assert_false(p.forceString);
    iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_START, NULL, &p);
    assert_string_equal(p.value, "true");
    assert_int_equal(iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_REVISION, "1.10", &p),
                     IOCMGR_PATH_ROOT_PARAM);
    assert_string_equal(p.param, "services.bl46p-ea-ioc-01.targetRevision");
    assert_string_equal(p.value, "1.10");
    assert_true(p.forceString);
    assert_int_equal(iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_REVISION, "a b", &p),
                     IOCMGR_PATH_REFUSE);
    assert_non_null(strstr(p.msg, "not a git revision"));
    assert_int_equal(iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_IMAGE, "x:1", &p), IOCMGR_PATH_REFUSE);
    assert_non_null(strstr(p.msg, "IMAGE_SP refused: bl46p-ea-ioc-01 is deployed by Argo CD (Application "
                                  "bl46p-beamline/bl46p-ea-ioc-01): its image is set in the services repo"));
}

static void problems_refuse_and_never_scale(void **state)
{
    k8sArgoOwner o = owner("", 1);
    iocmgrArgoPlan p;
    iocmgrView v = runningView();
    (void)state;
    strcpy(o.problem, "root Application bl46p-beamline/bl46p is itself tracked by Application argocd/facility");
    assert_int_equal(iocmgrArgoPlanCommand(&o, "bl46p-ea-ioc-01", IOCMGR_ARGO_STOP, NULL, &p), IOCMGR_PATH_REFUSE);
    assert_string_equal(p.msg, "STOP refused, nothing changed: root Application bl46p-beamline/bl46p is itself "
                               "tracked by Application argocd/facility");
    iocmgrArgoDerive(&o, &v);
    assert_non_null(strstr(v.syncMsg, "commands refused: root Application"));
    /* the child named by the tracking-id is gone */
    memset(&o, 0, sizeof o);
    o.managed = 1;
    strcpy(o.problem, "Application bl46p-beamline/x (named by the tracking-id) not found");
    assert_int_equal(iocmgrArgoPlanCommand(&o, "x", IOCMGR_ARGO_START, NULL, &p), IOCMGR_PATH_REFUSE);
    assert_int_equal(iocmgrArgoPlanCommand(&o, "x", IOCMGR_ARGO_IMAGE, "x:1", &p), IOCMGR_PATH_REFUSE);
    v = runningView();
    iocmgrArgoDerive(&o, &v);
    assert_int_equal(v.sync, IOCMGR_SYNC_UNKNOWN);
    assert_string_equal(v.argoApp, "");
    assert_non_null(strstr(v.syncMsg, "not found"));
}

static void words_to_states(void **state)
{
    (void)state;
    assert_int_equal(iocmgrArgoSyncOf("Synced"), IOCMGR_SYNC_SYNCED);
    assert_int_equal(iocmgrArgoSyncOf("OutOfSync"), IOCMGR_SYNC_OUTOFSYNC);
    assert_int_equal(iocmgrArgoSyncOf(""), IOCMGR_SYNC_UNKNOWN);
    assert_int_equal(iocmgrArgoHealthOf("Missing"), IOCMGR_HEALTH_MISSING);
    assert_int_equal(iocmgrArgoHealthOf("Suspended"), IOCMGR_HEALTH_SUSPENDED);
    assert_int_equal(iocmgrArgoHealthOf(""), IOCMGR_HEALTH_UNKNOWN);
    assert_int_equal(iocmgrArgoHealthOf("Weird"), IOCMGR_HEALTH_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unmanaged_instance_is_left_alone),
        cmocka_unit_test(managed_running_shows_the_application),
        cmocka_unit_test(stopped_as_desired_is_stopped_without_alarm),
        cmocka_unit_test(a_stop_argo_cd_has_not_applied_shows),
        cmocka_unit_test(a_start_argo_cd_has_not_applied_is_minor),
        cmocka_unit_test(failed_sync_reaches_message),
        cmocka_unit_test(commands_go_through_the_root),
        cmocka_unit_test(problems_refuse_and_never_scale),
        cmocka_unit_test(words_to_states),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
