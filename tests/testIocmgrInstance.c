/* testIocmgrInstance.c - cmocka tests of the status derivation (VERSION,
 * ALIVE), the expected-instances file and the instance template's names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "iocmgrInstance.h"
#include "iocmgrExpected.h"
#include "iocmgrTemplate.h"

#define NOW 1700000000LL
#define GRACE 60.0

static k8sInstance sts(int replicas)
{
    k8sInstance i;
    memset(&i, 0, sizeof i);
    strcpy(i.name, "bl46p-ea-ioc-01");
    strcpy(i.kind, "StatefulSet");
    strcpy(i.image, "ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1");
    strcpy(i.labelDescription, "simulated detector");
    i.specReplicas = replicas;
    return i;
}

static k8sPod pod(const char *phase, int ready)
{
    k8sPod p;
    memset(&p, 0, sizeof p);
    strcpy(p.name, "bl46p-ea-ioc-01-0");
    strcpy(p.uid, "uid-1");
    strcpy(p.ownerName, "bl46p-ea-ioc-01");
    strcpy(p.phase, phase);
    strcpy(p.nodeName, "kwok-node-0");
    strcpy(p.podIP, "10.0.0.5");
    p.ready = ready;
    p.createdAtEpoch = NOW - 10;
    if (strcmp(phase, "Running") == 0) {
        strcpy(p.startedAt, "2023-11-14T22:13:10Z");
        p.startedAtEpoch = NOW - 10;
    }
    return p;
}

static void running_ready_is_running_without_alarm(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Running", 1);
    iocmgrView v;
    (void)state;
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_RUNNING);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_true(v.running && v.ready && v.enabled);
    assert_string_equal(v.version, "2024.4.1");
    assert_string_equal(v.desc, "simulated detector");
    assert_string_equal(v.pod, "bl46p-ea-ioc-01-0");
    assert_string_equal(v.node, "kwok-node-0");
    assert_int_equal(v.startedEpoch, NOW - 10);
    assert_string_equal(v.message, "");
}

/* VERSION is the IOC's: the tag of the image it runs, not the chart label
 * (helm.sh/chart, the same "ioc-instance-4.0.0" for every instance). */
static void version_is_the_image_tag_not_the_chart_label(void **state)
{
    k8sInstance i = sts(1);
    iocmgrView v;
    (void)state;
    strcpy(i.labelVersion, "ioc-instance-4.0.0");
    iocmgrDerive(&i, NULL, 0, NULL, NOW, GRACE, &v);
    assert_string_equal(v.version, "2024.4.1");
}

/* An image pinned by digest says no version: the Helm app version /
 * ioc_version label does, else the digest's start. */
static void version_of_an_image_pinned_by_digest(void **state)
{
    char out[40];
    (void)state;
    iocmgrVersion("ghcr.io/x/ioc@sha256:0123456789abcdef0123", "3.2.1", out, sizeof out);
    assert_string_equal(out, "3.2.1");
    iocmgrVersion("ghcr.io/x/ioc@sha256:0123456789abcdef0123", "", out, sizeof out);
    assert_string_equal(out, "sha256:0123456789ab");
    iocmgrVersion("ghcr.io/x/ioc:1.2@sha256:0123456789abcdef0123", "3.2.1", out, sizeof out);
    assert_string_equal(out, "1.2");
    iocmgrVersion("registry:5000/x/ioc", "", out, sizeof out);
    assert_string_equal(out, "");
    iocmgrVersion("registry:5000/x/ioc:2024.4.1", "", out, sizeof out);
    assert_string_equal(out, "2024.4.1");
}

/* ALIVE reads iocStats' UPTIME, a string: across an hour the hours change
 * once, but the string every second. */
static void alive_follows_the_string_not_its_hours(void **state)
{
    static const char *const uptime[] = {"00:59:57", "00:59:58", "00:59:59", "01:00:00", "01:00:01",
                                         "1 day, 00:00:00", "2 days, 00:00:01"};
    iocmgrAlive a;
    int alarm;
    size_t k;
    (void)state;
    memset(&a, 0, sizeof a);
    for (k = 0; k < sizeof uptime / sizeof uptime[0]; k++) {
        assert_true(iocmgrAliveUpdate(&a, 1, uptime[k], 1, NOW + (long long)k, &alarm));
        assert_false(alarm);
    }
    /* the same string for longer than the window: frozen */
    for (k = 1; k <= IOCMGR_ALIVE_WINDOW; k++)
        assert_true(iocmgrAliveUpdate(&a, 1, "2 days, 00:00:01", 1, NOW + 6 + (long long)k, &alarm));
    assert_false(iocmgrAliveUpdate(&a, 1, "2 days, 00:00:01", 1, NOW + 7 + IOCMGR_ALIVE_WINDOW, &alarm));
    assert_true(alarm);
    /* it moves again */
    assert_true(iocmgrAliveUpdate(&a, 1, "2 days, 00:00:02", 1, NOW + 8 + IOCMGR_ALIVE_WINDOW, &alarm));
    assert_false(alarm);
}

/* One alarm per fault: a pod that is not Ready (booting, crash-looping,
 * stopped) is STATUS's to alarm on; Ready, ALIVE gives the CA link the window
 * to connect. */
static void alive_alarms_only_once_the_pod_is_ready(void **state)
{
    iocmgrAlive a;
    int alarm;
    long long t;
    (void)state;
    memset(&a, 0, sizeof a);
    for (t = 0; t < 30; t++) {
        assert_false(iocmgrAliveUpdate(&a, 0, NULL, 0, NOW + t, &alarm));
        assert_false(alarm);
    }
    for (t = 30; t <= 30 + IOCMGR_ALIVE_WINDOW; t++) {
        assert_false(iocmgrAliveUpdate(&a, 0, NULL, 1, NOW + t, &alarm));
        assert_false(alarm);
    }
    assert_false(iocmgrAliveUpdate(&a, 0, NULL, 1, NOW + 31 + IOCMGR_ALIVE_WINDOW, &alarm));
    assert_true(alarm);
    /* the IOC answers again */
    assert_true(iocmgrAliveUpdate(&a, 1, "00:01:00", 1, NOW + 40, &alarm));
    assert_false(alarm);
    /* the CA link goes: silent at once, and an alarm, as the pod is still Ready */
    assert_false(iocmgrAliveUpdate(&a, 0, NULL, 1, NOW + 41, &alarm));
    assert_true(alarm);
}

/* The longest record name of the instance template, as EPICS will see it:
 * $(P)$(I):LOG_PREV_FETCH, 15 characters after the name; with the shipped
 * prefix (19 characters) a name of 27 makes 61. */
static void template_longest_record_name(void **state)
{
    iocmgrTemplate *t;
    char err[256], longest[128];
    size_t n;
    (void)state;
    assert_int_equal(iocmgrTemplateRead(TOP_DIR "/db/iocmgrInstance.template", &t, err, sizeof err), 0);
    assert_true(iocmgrTemplateNameCount(t) > 30);
    n = iocmgrTemplateLongest(t, "P=BL46P-CS-IOCMGR-01:,I=DIOC-EA-IOC-TWENTY-SEVEN-C1,NAME=x", longest, sizeof longest);
    assert_int_equal(n, 61);
    assert_string_equal(longest, "BL46P-CS-IOCMGR-01:DIOC-EA-IOC-TWENTY-SEVEN-C1:LOG_PREV_FETCH");
    n = iocmgrTemplateLongest(t, "P=BL46P-CS-IOCMGR-01:,I=DIOC-EA-IOC-TWENTY-SIX-CH1,NAME=x", longest, sizeof longest);
    assert_int_equal(n, 60);
    iocmgrTemplateFree(t);
    assert_int_not_equal(iocmgrTemplateRead("/nonexistent/x.template", &t, err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/x.template"));
}

/* The reader takes names from record() and alias() only, quoted or bare,
 * with comments, fields and info() skipped. */
static void template_names_from_records_and_aliases(void **state)
{
    char path[] = "/tmp/testIocmgrTemplateXXXXXX", longest[128];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    iocmgrTemplate *t;
    char err[256];
    (void)state;
    fputs("# record(ai, \"$(P)IN-A-COMMENT-THAT-IS-VERY-VERY-LONG\")\n"
          "record(ai, \"$(P)A\") {\n  field(DESC, \"record(ai, $(P)NOT-A-RECORD-NAME-AT-ALL)\")\n"
          "  alias(\"$(P)LONGER-ALIAS\")\n  info(x, \"y\")\n}\n"
          "grecord(bo, $(P)BARE)\nalias(\"$(P)A\", \"$(P)TOP-LEVEL-ALIAS-LONGEST\")\n", f);
    fclose(f);
    assert_int_equal(iocmgrTemplateRead(path, &t, err, sizeof err), 0);
    assert_int_equal(iocmgrTemplateNameCount(t), 4);
    assert_int_equal(iocmgrTemplateLongest(t, "P=X:", longest, sizeof longest), strlen("X:TOP-LEVEL-ALIAS-LONGEST"));
    assert_string_equal(longest, "X:TOP-LEVEL-ALIAS-LONGEST");
    iocmgrTemplateFree(t);
    unlink(path);
}

static void scaled_to_zero_without_pod_is_stopped_without_alarm(void **state)
{
    k8sInstance i = sts(0);
    iocmgrView v;
    (void)state;
    iocmgrDerive(&i, NULL, 0, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_STOPPED);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_false(v.enabled);
    assert_false(iocmgrIsFault(&v));
}

static void scaled_to_zero_with_pod_is_terminating(void **state)
{
    k8sInstance i = sts(0);
    k8sPod p = pod("Running", 1);
    iocmgrView v;
    (void)state;
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_TERMINATING);
    assert_int_equal(v.severity, IOCMGR_SEV_MINOR);
}

static void deleted_pod_is_terminating_and_replacement_is_shown(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p[2];
    iocmgrView v;
    (void)state;
    p[0] = pod("Running", 1);
    p[0].deleting = 1;
    iocmgrDerive(&i, p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_TERMINATING);
    assert_false(v.ready);

    p[1] = pod("Pending", 0);
    strcpy(p[1].uid, "uid-2");
    p[1].createdAtEpoch = NOW - 1;
    iocmgrDerive(&i, p, 2, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_STARTING);
    assert_int_equal(v.severity, IOCMGR_SEV_MINOR);
    assert_string_equal(v.podUid, "uid-2");
}

static void unschedulable_is_pending_minor_then_major_after_grace(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Pending", 0);
    iocmgrView v;
    (void)state;
    strcpy(p.unschedulableMessage,
           "0/1 nodes are available: 1 node(s) had untolerated taint {beamline: bl46p}.");
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_PENDING);
    assert_int_equal(v.severity, IOCMGR_SEV_MINOR);
    assert_non_null(strstr(v.message, "untolerated taint"));

    iocmgrDerive(&i, &p, 1, NULL, NOW + 120, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_PENDING);
    assert_int_equal(v.severity, IOCMGR_SEV_MAJOR);
    assert_true(iocmgrIsFault(&v));
}

static void starting_too_long_becomes_pending_major(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Pending", 0);
    iocmgrView v;
    (void)state;
    strcpy(p.waitingReason, "ContainerCreating");
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_STARTING);
    iocmgrDerive(&i, &p, 1, NULL, NOW + 3600, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_PENDING);
    assert_int_equal(v.severity, IOCMGR_SEV_MAJOR);
    assert_string_equal(v.message, "ContainerCreating");
}

static void crash_loop_is_major_with_reason(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Running", 0);
    iocmgrView v;
    (void)state;
    strcpy(p.waitingReason, "CrashLoopBackOff");
    strcpy(p.waitingMessage, "back-off 40s restarting failed container");
    strcpy(p.lastReason, "Error");
    p.lastExitCode = 1;
    p.restartCount = 4;
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_CRASHLOOP);
    assert_int_equal(v.severity, IOCMGR_SEV_MAJOR);
    assert_int_equal(v.restarts, 4);
    assert_int_equal(v.lastExit, 1);
    assert_string_equal(v.lastReason, "Error");
    assert_string_equal(v.message, "restarting: 4 restarts, last exit 1 (Error); "
                        "CrashLoopBackOff: back-off 40s restarting failed container");
}

/* ---- a crash loop held across its cycles (iocmgrHoldCrashLoop) ---------- */

#define SETTLE 30.0

/* What the manager does on every change: derive the moment, then hold. */
static void step(iocmgrView *v, const k8sInstance *i, const k8sPod *p, long long now)
{
    iocmgrView next;
    iocmgrDerive(i, p, p ? 1 : 0, NULL, now, GRACE, &next);
    iocmgrHoldCrashLoop(v, now, SETTLE, &next);
    *v = next;
}

/* The container as the kubelet reports it in each phase of a cycle. */
static k8sPod crashed(int restarts)
{
    k8sPod p = pod("Running", 0);
    strcpy(p.waitingReason, "CrashLoopBackOff");
    strcpy(p.waitingMessage, "back-off 10s restarting failed container");
    strcpy(p.lastReason, "Error");
    p.lastExitCode = 1;
    p.restartCount = restarts;
    return p;
}

static k8sPod runningAgain(int restarts, int ready)
{
    k8sPod p = crashed(restarts);
    p.waitingReason[0] = p.waitingMessage[0] = '\0';
    p.ready = ready;
    return p;
}

/* A fresh instance seen first in CrashLoopBackOff at `at`. */
static k8sPod crashLoopSeen(iocmgrView *v, const k8sInstance *i, int restarts, long long at)
{
    k8sPod p = crashed(restarts);
    memset(v, 0, sizeof *v);
    step(v, i, &p, at);
    return p;
}

static void assert_held(const iocmgrView *v, long long since)
{
    assert_int_equal(v->status, IOCMGR_CRASHLOOP);
    assert_int_equal(v->severity, IOCMGR_SEV_MAJOR);
    assert_int_equal(v->crashSince, since);
}

static void crash_loop_stays_major_across_three_cycles(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Running", 0);
    iocmgrView v;
    long long t = NOW;
    int cycle;
    (void)state;
    memset(&v, 0, sizeof v);              /* as the manager's table starts */
    iocmgrDeriveDisconnected(&v, "not yet connected");
    step(&v, &i, &p, t);                  /* first boot, before any crash */
    assert_int_equal(v.status, IOCMGR_STARTING);
    for (cycle = 1; cycle <= 3; cycle++) {
        p = crashed(cycle);
        step(&v, &i, &p, t += 5);
        assert_held(&v, NOW + 5);
        p = runningAgain(cycle, 0);       /* back-off over, running, not Ready */
        step(&v, &i, &p, t += 10);
        assert_held(&v, NOW + 5);
        assert_int_equal(v.pendingSince, 0);
        p = runningAgain(cycle, 1);       /* Ready for a moment before the next crash */
        step(&v, &i, &p, t += 2);
        assert_held(&v, NOW + 5);
        assert_int_equal(v.readySince, t);
    }
    assert_string_equal(v.message, "restarting: 3 restarts, last exit 1 (Error); "
                        "Ready again, clears after 30 s Ready");
    p = crashed(4);
    step(&v, &i, &p, t += 3);
    assert_held(&v, NOW + 5);
    assert_int_equal(v.readySince, 0);
    assert_non_null(strstr(v.message, "restarting: 4 restarts, last exit 1 (Error)"));
}

static void crash_loop_clears_once_ready_for_the_settle_time(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p;
    iocmgrView v;
    (void)state;
    p = crashLoopSeen(&v, &i, 7, NOW);
    p = runningAgain(7, 1);
    step(&v, &i, &p, NOW + 10);
    assert_held(&v, NOW);
    /* nothing changes in the cluster: only the ticker re-derives */
    assert_false(iocmgrCrashSettled(&v, NOW + 39, SETTLE));
    step(&v, &i, &p, NOW + 39);
    assert_held(&v, NOW);
    assert_true(iocmgrCrashSettled(&v, NOW + 40, SETTLE));
    step(&v, &i, &p, NOW + 40);
    assert_int_equal(v.status, IOCMGR_RUNNING);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
    assert_int_equal(v.crashSince, 0);
    assert_false(iocmgrCrashSettled(&v, NOW + 41, SETTLE));
    /* a crash after that is a new alarm, with its own time */
    p = crashed(8);
    step(&v, &i, &p, NOW + 100);
    assert_held(&v, NOW + 100);
}

static void crash_loop_settle_time_restarts_with_a_new_container(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p;
    iocmgrView v;
    (void)state;
    p = crashLoopSeen(&v, &i, 2, NOW);
    p = runningAgain(2, 1);
    step(&v, &i, &p, NOW + 10);
    assert_int_equal(v.readySince, NOW + 10);
    /* the count moved with no not-Ready update seen in between */
    p = runningAgain(3, 1);
    step(&v, &i, &p, NOW + 35);
    assert_held(&v, NOW);
    assert_int_equal(v.readySince, NOW + 35);
    step(&v, &i, &p, NOW + 64);
    assert_held(&v, NOW);
}

static void crash_loop_held_through_a_restart_until_the_new_pod_settles(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p;
    iocmgrView v;
    (void)state;
    p = crashLoopSeen(&v, &i, 12, NOW);
    p.deleting = 1;                       /* RESTART, or a fixed image rolling out */
    step(&v, &i, &p, NOW + 1);
    assert_held(&v, NOW);
    p = pod("Pending", 0);                /* the replacement, created */
    strcpy(p.uid, "uid-2");
    step(&v, &i, &p, NOW + 3);
    assert_held(&v, NOW);
    assert_string_equal(v.message, "restarting: 12 restarts, last exit 1 (Error); "
                        "CrashLoopBackOff until the container stays Ready for 30 s");
    p = pod("Running", 1);
    strcpy(p.uid, "uid-2");
    step(&v, &i, &p, NOW + 5);
    assert_held(&v, NOW);
    step(&v, &i, &p, NOW + 35);
    assert_int_equal(v.status, IOCMGR_RUNNING);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);
}

static void crash_loop_hold_ends_when_stopped_or_another_fault(void **state)
{
    k8sInstance i = sts(1), stopped = sts(0);
    k8sPod p, pull;
    iocmgrView v;
    (void)state;
    p = crashLoopSeen(&v, &i, 3, NOW);
    step(&v, &stopped, &p, NOW + 1);      /* STOP: scaled to 0, pod still there */
    assert_int_equal(v.status, IOCMGR_TERMINATING);
    assert_int_equal(v.crashSince, 0);
    step(&v, &stopped, NULL, NOW + 5);
    assert_int_equal(v.status, IOCMGR_STOPPED);
    assert_int_equal(v.severity, IOCMGR_SEV_NONE);

    p = crashLoopSeen(&v, &i, 3, NOW);
    pull = pod("Pending", 0);
    strcpy(pull.waitingReason, "ImagePullBackOff");
    step(&v, &i, &pull, NOW + 5);         /* a broken image instead: say that */
    assert_int_equal(v.status, IOCMGR_FAILED);
    assert_int_equal(v.crashSince, 0);
}

static void image_pull_error_is_failed(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Pending", 0);
    iocmgrView v;
    (void)state;
    strcpy(p.waitingReason, "ImagePullBackOff");
    strcpy(p.waitingMessage, "Back-off pulling image \"ghcr.io/x/y:nope\"");
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_FAILED);
    assert_int_equal(v.severity, IOCMGR_SEV_MAJOR);
    assert_string_equal(v.message, "ImagePullBackOff: Back-off pulling image \"ghcr.io/x/y:nope\"");
}

static void absent_instance_is_major(void **state)
{
    iocmgrView v;
    (void)state;
    iocmgrDerive(NULL, NULL, 0, NULL, NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_ABSENT);
    assert_int_equal(v.severity, IOCMGR_SEV_MAJOR);
    assert_non_null(strstr(v.message, "not found"));
}

static void wanted_without_pod_shows_controller_event(void **state)
{
    k8sInstance i = sts(1);
    iocmgrView v;
    (void)state;
    iocmgrDerive(&i, NULL, 0, "create Pod x-0 in StatefulSet x failed: forbidden", NOW, GRACE, &v);
    assert_int_equal(v.status, IOCMGR_STARTING);
    assert_non_null(strstr(v.message, "forbidden"));
}

static void disconnected_is_unknown_invalid(void **state)
{
    k8sInstance i = sts(1);
    k8sPod p = pod("Running", 1);
    iocmgrView v;
    (void)state;
    iocmgrDerive(&i, &p, 1, NULL, NOW, GRACE, &v);
    iocmgrDeriveDisconnected(&v, "connect to 127.0.0.1:16443: Connection refused");
    assert_int_equal(v.status, IOCMGR_UNKNOWN);
    assert_int_equal(v.severity, IOCMGR_SEV_INVALID);
    assert_non_null(strstr(v.message, "Connection refused"));
}

static void status_names_match_the_mbbi_states(void **state)
{
    (void)state;
    assert_string_equal(iocmgrStatusNames[IOCMGR_UNKNOWN], "Unknown");
    assert_string_equal(iocmgrStatusNames[IOCMGR_CRASHLOOP], "CrashLoop");
    assert_string_equal(iocmgrStatusNames[IOCMGR_ABSENT], "Absent");
}

/* ---- expected-instances file ---- */

typedef struct { char names[8][64]; int n; } collected;

static int collect(void *arg, const char *name)
{
    collected *c = arg;
    snprintf(c->names[c->n++], 64, "%s", name);
    return 0;
}

static const char *writeTemp(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;
    strcpy(path, "/tmp/iocmgrExpectedXXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void expected_file_shapes(void **state)
{
    collected c;
    char err[256];
    const char *p;
    (void)state;

    memset(&c, 0, sizeof c);
    p = writeTemp("- bl46p-ea-ioc-01\n- bl46p-mo-ioc-01\n");
    assert_int_equal(iocmgrExpectedRead(p, collect, &c, err, sizeof err), 0);
    unlink(p);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.names[1], "bl46p-mo-ioc-01");

    memset(&c, 0, sizeof c);
    p = writeTemp("instances:\n  - name: bl46p-ea-ioc-01\n  - bl46p-di-dcam-01\n");
    assert_int_equal(iocmgrExpectedRead(p, collect, &c, err, sizeof err), 0);
    unlink(p);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.names[0], "bl46p-ea-ioc-01");
}

static void expected_file_errors_say_where(void **state)
{
    collected c;
    char err[256];
    const char *p;
    (void)state;

    memset(&c, 0, sizeof c);
    p = writeTemp("instances:\n  - name: Bad_Name\n");
    assert_int_equal(iocmgrExpectedRead(p, collect, &c, err, sizeof err), -1);
    unlink(p);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "not a Kubernetes object name"));

    p = writeTemp("instances: [a, b\n");
    assert_int_equal(iocmgrExpectedRead(p, collect, &c, err, sizeof err), -1);
    unlink(p);
    assert_non_null(strstr(err, "line"));

    assert_int_equal(iocmgrExpectedRead("/nonexistent/x.yaml", collect, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(running_ready_is_running_without_alarm),
        cmocka_unit_test(version_is_the_image_tag_not_the_chart_label),
        cmocka_unit_test(version_of_an_image_pinned_by_digest),
        cmocka_unit_test(alive_follows_the_string_not_its_hours),
        cmocka_unit_test(alive_alarms_only_once_the_pod_is_ready),
        cmocka_unit_test(template_longest_record_name),
        cmocka_unit_test(template_names_from_records_and_aliases),
        cmocka_unit_test(scaled_to_zero_without_pod_is_stopped_without_alarm),
        cmocka_unit_test(scaled_to_zero_with_pod_is_terminating),
        cmocka_unit_test(deleted_pod_is_terminating_and_replacement_is_shown),
        cmocka_unit_test(unschedulable_is_pending_minor_then_major_after_grace),
        cmocka_unit_test(starting_too_long_becomes_pending_major),
        cmocka_unit_test(crash_loop_is_major_with_reason),
        cmocka_unit_test(crash_loop_stays_major_across_three_cycles),
        cmocka_unit_test(crash_loop_clears_once_ready_for_the_settle_time),
        cmocka_unit_test(crash_loop_settle_time_restarts_with_a_new_container),
        cmocka_unit_test(crash_loop_held_through_a_restart_until_the_new_pod_settles),
        cmocka_unit_test(crash_loop_hold_ends_when_stopped_or_another_fault),
        cmocka_unit_test(image_pull_error_is_failed),
        cmocka_unit_test(absent_instance_is_major),
        cmocka_unit_test(wanted_without_pod_shows_controller_event),
        cmocka_unit_test(disconnected_is_unknown_invalid),
        cmocka_unit_test(status_names_match_the_mbbi_states),
        cmocka_unit_test(expected_file_shapes),
        cmocka_unit_test(expected_file_errors_say_where),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
