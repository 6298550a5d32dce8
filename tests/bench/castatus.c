/* castatus.c - the one Channel Access client of iocmgr's benchmarks (tests/bench).
 *
 * Built against EPICS Base's libca (tests/bench/Makefile). Every PV is
 * PREFIX<INSTANCE>:<FIELD>, INSTANCE the Kubernetes name upper-cased, read from
 * NAMES (one instance name per line). Times are CLOCK_REALTIME seconds since
 * the epoch, so they line up with the other bench processes' timestamps.
 *
 *   castatus boot    PREFIX NAMES T0 TIMEOUT
 *       subscribe every STATUS; print when the first and the last channel
 *       connected and when every STATUS showed a state other than Unknown
 *       (0), in seconds after T0 (the IOC's start). Exit 0 when all were seen.
 *   castatus get     PREFIX NAMES [TIMEOUT]
 *       connect to every STATUS and read each once (what an overview or a
 *       script listing the instances does); print the time and a histogram.
 *   castatus monitor PREFIX NAMES [FIELD] [SECONDS]
 *       subscribe every FIELD (default STATUS): one line per update,
 *       "<time> <instance> <value> <severity>", until SIGTERM/SIGINT or SECONDS.
 *   castatus put     PREFIX NAMES FIELD RATE [TIMEOUT]
 *       write 1 to FIELD of every instance with ca_put_callback, RATE writes a
 *       second, while monitoring CMD_STAT and CMD_MSG; one line per instance:
 *       "<instance> <t_put> <t_callback> <put status> <CMD_STAT> <CMD_MSG>".
 *   castatus caput   PREFIX NAMES FIELD
 *       what `caput -c PV 1` does, timed, for the first instance: connect, write 1
 *       with ca_put_callback at once, wait for the callback; one line:
 *       "<instance> <t_connected> <t_put> <t_callback> <put status>".
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cadef.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *msg)
{
    fprintf(stderr, "castatus: %s\n", msg);
    exit(2);
}

typedef struct inst {
    char name[128];
    char pv[256];
    chid ch, chStat, chMsg;
    double tConn, tReady, tPut, tCb;
    int value, sevr, putStatus, cmdStat, seenMsg, seenStat;
    char cmdMsg[MAX_STRING_SIZE + 1];
} inst;

static inst *insts;
static size_t ninst;
static const char *prefix;
static volatile sig_atomic_t stop;

static void onSignal(int sig) { (void)sig; stop = 1; }

static void readNames(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    size_t cap = 0;
    if (!f) die("cannot open the names file");
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e;
        while (isspace((unsigned char)*s)) s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*s || *s == '#') continue;
        if (ninst == cap) {
            cap = cap ? cap * 2 : 1024;
            insts = realloc(insts, cap * sizeof *insts);
            if (!insts) die("out of memory");
        }
        memset(&insts[ninst], 0, sizeof insts[ninst]);
        snprintf(insts[ninst].name, sizeof insts[ninst].name, "%s", s);
        insts[ninst].value = -1;
        insts[ninst].cmdStat = -1;
        ninst++;
    }
    fclose(f);
    if (!ninst) die("no names");
}

static void pvOf(const inst *in, const char *field, char *out, size_t len)
{
    size_t i, n = strlen(prefix);
    snprintf(out, len, "%s", prefix);
    for (i = 0; in->name[i] && n + 1 < len; i++) out[n++] = (char)toupper((unsigned char)in->name[i]);
    out[n] = '\0';
    snprintf(out + n, len - n, ":%s", field);
}

static void check(int status, const char *what)
{
    if (status != ECA_NORMAL) {
        fprintf(stderr, "castatus: %s: %s\n", what, ca_message(status));
        exit(2);
    }
}

/* ------------------------------------------------------------------ boot */

static size_t nConn, nReady;
static double tFirstConn, tLastConn, tLastReady;

static void bootConn(struct connection_handler_args a)
{
    inst *in = ca_puser(a.chid);
    if (a.op == CA_OP_CONN_UP && in->tConn == 0) {
        in->tConn = now();
        if (!nConn) tFirstConn = in->tConn;
        tLastConn = in->tConn;
        nConn++;
    }
}

static void bootValue(struct event_handler_args a)
{
    inst *in = a.usr;
    const struct dbr_time_enum *v = a.dbr;
    if (a.status != ECA_NORMAL || !v) return;
    in->value = v->value;
    in->sevr = v->severity;
    if (v->value != 0 && in->tReady == 0) {
        in->tReady = now();
        tLastReady = in->tReady;
        nReady++;
    }
}

static int cmdBoot(double t0, double timeout)
{
    size_t i;
    double deadline = t0 + timeout;
    for (i = 0; i < ninst; i++) {
        inst *in = &insts[i];
        pvOf(in, "STATUS", in->pv, sizeof in->pv);
        check(ca_create_channel(in->pv, bootConn, in, 0, &in->ch), "ca_create_channel");
        check(ca_create_subscription(DBR_TIME_ENUM, 1, in->ch, DBE_VALUE | DBE_ALARM, bootValue, in, NULL),
              "ca_create_subscription");
    }
    ca_flush_io();
    while (nReady < ninst && now() < deadline && !stop)
        ca_pend_event(0.02);
    printf("instances %zu connected %zu ready %zu\n", ninst, nConn, nReady);
    if (nConn) printf("first_connect %.3f\nall_connected %.3f\n", tFirstConn - t0, tLastConn - t0);
    if (nReady == ninst) printf("all_ready %.3f\n", tLastReady - t0);
    else {
        for (i = 0; i < ninst; i++)
            if (!insts[i].tReady) {
                printf("not_ready %s connected=%d value=%d\n", insts[i].name, insts[i].tConn > 0, insts[i].value);
                break;
            }
    }
    return nReady == ninst ? 0 : 1;
}

/* ------------------------------------------------------------------ get */

static int cmdGet(double timeout)
{
    size_t i, hist[16] = {0};
    struct dbr_sts_enum *vals;
    double t0 = now(), tConn, tEnd;
    int st;
    static const char *names[] = {"Unknown", "Running", "Starting", "Stopped", "Pending",
                                  "CrashLoop", "Failed", "Terminating", "Absent"};
    vals = calloc(ninst, sizeof *vals);
    if (!vals) die("out of memory");
    for (i = 0; i < ninst; i++) {
        pvOf(&insts[i], "STATUS", insts[i].pv, sizeof insts[i].pv);
        check(ca_create_channel(insts[i].pv, NULL, NULL, 0, &insts[i].ch), "ca_create_channel");
    }
    st = ca_pend_io(timeout);
    tConn = now();
    if (st != ECA_NORMAL) {
        size_t n = 0;
        for (i = 0; i < ninst; i++) n += ca_state(insts[i].ch) == cs_conn;
        fprintf(stderr, "castatus: only %zu of %zu channels connected in %.1f s\n", n, ninst, timeout);
        return 1;
    }
    for (i = 0; i < ninst; i++)
        check(ca_array_get(DBR_STS_ENUM, 1, insts[i].ch, &vals[i]), "ca_array_get");
    check(ca_pend_io(timeout), "ca_pend_io (get)");
    tEnd = now();
    for (i = 0; i < ninst; i++) hist[vals[i].value < 9 ? vals[i].value : 15]++;
    printf("instances %zu connect %.4f get %.4f total %.4f\n", ninst, tConn - t0, tEnd - tConn, tEnd - t0);
    for (i = 0; i < 9; i++)
        if (hist[i]) printf("  %s %zu\n", names[i], hist[i]);
    free(vals);
    return 0;
}

/* ------------------------------------------------------------------ monitor */

static size_t nUpdates;

static void monValue(struct event_handler_args a)
{
    inst *in = a.usr;
    const struct dbr_time_enum *v = a.dbr;
    double t = now();
    if (a.status != ECA_NORMAL || !v) return;
    nUpdates++;
    printf("%.6f %s %d %d\n", t, in->name, v->value, v->severity);
}

static void monConn(struct connection_handler_args a)
{
    inst *in = ca_puser(a.chid);
    printf("%.6f %s %s -1\n", now(), in->name, a.op == CA_OP_CONN_UP ? "connected" : "disconnected");
}

static int cmdMonitor(const char *field, double seconds)
{
    size_t i;
    double end = seconds > 0 ? now() + seconds : 0;
    signal(SIGTERM, onSignal);
    signal(SIGINT, onSignal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < ninst; i++) {
        inst *in = &insts[i];
        pvOf(in, field, in->pv, sizeof in->pv);
        check(ca_create_channel(in->pv, monConn, in, 0, &in->ch), "ca_create_channel");
        check(ca_create_subscription(DBR_TIME_ENUM, 1, in->ch, DBE_VALUE | DBE_ALARM, monValue, in, NULL),
              "ca_create_subscription");
    }
    ca_flush_io();
    while (!stop && (!end || now() < end))
        ca_pend_event(0.05);
    fprintf(stderr, "castatus: %zu updates\n", nUpdates);
    return 0;
}

/* ------------------------------------------------------------------ put */

static size_t nCb;

static void putDone(struct event_handler_args a)
{
    inst *in = a.usr;
    in->tCb = now();
    in->putStatus = a.status;
    nCb++;
}

static void statValue(struct event_handler_args a)
{
    inst *in = a.usr;
    if (a.status == ECA_NORMAL && a.dbr) {
        in->cmdStat = *(const dbr_enum_t *)a.dbr;
        in->seenStat++;
    }
}

static void msgValue(struct event_handler_args a)
{
    inst *in = a.usr;
    if (a.status == ECA_NORMAL && a.dbr) {
        snprintf(in->cmdMsg, sizeof in->cmdMsg, "%s", (const char *)a.dbr);
        in->seenMsg++;
    }
}

static int cmdPut(const char *field, double rate, double timeout)
{
    size_t i, answered = 0;
    double t0, deadline;
    char pv[256];
    for (i = 0; i < ninst; i++) {
        inst *in = &insts[i];
        pvOf(in, field, in->pv, sizeof in->pv);
        check(ca_create_channel(in->pv, NULL, NULL, 0, &in->ch), "ca_create_channel");
        pvOf(in, "CMD_STAT", pv, sizeof pv);
        check(ca_create_channel(pv, NULL, NULL, 0, &in->chStat), "ca_create_channel");
        pvOf(in, "CMD_MSG", pv, sizeof pv);
        check(ca_create_channel(pv, NULL, NULL, 0, &in->chMsg), "ca_create_channel");
    }
    if (ca_pend_io(30.0) != ECA_NORMAL) die("not every channel connected in 30 s");
    for (i = 0; i < ninst; i++) {
        check(ca_create_subscription(DBR_ENUM, 1, insts[i].chStat, DBE_VALUE, statValue, &insts[i], NULL), "sub");
        check(ca_create_subscription(DBR_STRING, 1, insts[i].chMsg, DBE_VALUE, msgValue, &insts[i], NULL), "sub");
    }
    ca_pend_event(1.0);   /* initial values */
    for (i = 0; i < ninst; i++) insts[i].seenMsg = insts[i].seenStat = 0;
    t0 = now();
    for (i = 0; i < ninst; i++) {
        dbr_enum_t one = 1;
        double due = t0 + i / rate;
        while (now() < due) ca_pend_event(fmin(0.002, due - now() > 0 ? due - now() : 0.0001));
        insts[i].tPut = now();
        check(ca_array_put_callback(DBR_ENUM, 1, insts[i].ch, &one, putDone, &insts[i]), "ca_put_callback");
        ca_flush_io();
    }
    deadline = now() + timeout;
    while (nCb < ninst && now() < deadline) ca_pend_event(0.02);
    /* CMD_MSG/CMD_STAT are posted when the API answered, with the put callback */
    ca_pend_event(1.0);
    for (i = 0; i < ninst; i++) {
        inst *in = &insts[i];
        int ok = in->tCb > 0 && in->putStatus == ECA_NORMAL && in->seenMsg;
        answered += ok;
        printf("%s %.6f %.6f %d %d %s\n", in->name, in->tPut, in->tCb, in->putStatus == ECA_NORMAL ? 1 : 0,
               in->cmdStat, in->seenMsg ? in->cmdMsg : "(no CMD_MSG update)");
    }
    fprintf(stderr, "castatus: %zu writes in %.3f s, %zu callbacks, %zu answered in CMD_MSG\n",
            ninst, insts[ninst - 1].tPut - t0, nCb, answered);
    return answered == ninst ? 0 : 1;
}

/* One write, as an operator's caput: no subscriptions, no waiting for initial values. */
static int cmdCaput(const char *field)
{
    inst *in = &insts[0];
    double tConn;
    dbr_enum_t one = 1;
    pvOf(in, field, in->pv, sizeof in->pv);
    check(ca_create_channel(in->pv, NULL, NULL, 0, &in->ch), "ca_create_channel");
    if (ca_pend_io(30.0) != ECA_NORMAL) die("the channel did not connect in 30 s");
    tConn = now();
    in->tPut = now();
    check(ca_array_put_callback(DBR_ENUM, 1, in->ch, &one, putDone, in), "ca_put_callback");
    ca_flush_io();
    while (nCb < 1 && now() < in->tPut + 30.0) ca_pend_event(0.001);
    printf("%s %.6f %.6f %.6f %d\n", in->name, tConn, in->tPut, in->tCb, in->putStatus == ECA_NORMAL ? 1 : 0);
    return nCb == 1 && in->putStatus == ECA_NORMAL ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc < 4) {
        fprintf(stderr, "usage: castatus boot|get|monitor|put|caput PREFIX NAMES ...\n");
        return 2;
    }
    prefix = argv[2];
    readNames(argv[3]);
    check(ca_context_create(ca_disable_preemptive_callback), "ca_context_create");
    if (strcmp(argv[1], "boot") == 0 && argc >= 6)
        rc = cmdBoot(atof(argv[4]), atof(argv[5]));
    else if (strcmp(argv[1], "get") == 0)
        rc = cmdGet(argc > 4 ? atof(argv[4]) : 30.0);
    else if (strcmp(argv[1], "monitor") == 0)
        rc = cmdMonitor(argc > 4 ? argv[4] : "STATUS", argc > 5 ? atof(argv[5]) : 0);
    else if (strcmp(argv[1], "caput") == 0 && argc >= 5 && ninst >= 1)
        rc = cmdCaput(argv[4]);
    else if (strcmp(argv[1], "put") == 0 && argc >= 6)
        rc = cmdPut(argv[4], atof(argv[5]), argc > 6 ? atof(argv[6]) : 30.0);
    else {
        fprintf(stderr, "castatus: bad arguments\n");
        return 2;
    }
    fflush(stdout);
    ca_context_destroy();
    return rc;
}
