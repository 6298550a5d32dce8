/* cafresh.c - "when does a fresh caget of this name answer?" for the live-binding
 * benchmark (tests/bench/liveset.py, docs/performance.md "Instances deployed after boot").
 *
 * Reads PV names from stdin, one a line. For each it keeps creating a new channel
 * to the name every PERIOD_MS (each new channel's first search goes out at once, as
 * a fresh caget's does; a channel older than 100 ms is cleared), until one connects;
 * then it reads the value as a string and prints
 *   "<CLOCK_REALTIME of the connection> <name> <value>"
 * and goes on to the next name. A name not answering within TIMEOUT s prints
 * "<time> <name> TIMEOUT". Base's libca, no repeater needed beyond the usual one.
 *
 *   cafresh [TIMEOUT]           (EPICS_CA_* from the environment)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cadef.h>

#define PERIOD_MS 2
#define KEEP 50          /* channels in flight: 100 ms of them */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile double connectedAt;
static volatile chid connectedChan;

static void onConn(struct connection_handler_args args)
{
    if (args.op == CA_OP_CONN_UP && !connectedAt) {
        connectedAt = now();
        connectedChan = args.chid;
    }
}

static void probe(const char *name, double timeout)
{
    chid chans[KEEP];
    int n = 0, i;
    double t0 = now();
    char value[MAX_STRING_SIZE] = "";

    memset(chans, 0, sizeof chans);
    connectedAt = 0;
    connectedChan = NULL;
    while (!connectedAt && now() - t0 < timeout) {
        if (chans[n % KEEP]) ca_clear_channel(chans[n % KEEP]);
        chans[n % KEEP] = NULL;
        ca_create_channel(name, onConn, NULL, CA_PRIORITY_DEFAULT, &chans[n % KEEP]);
        n++;
        ca_flush_io();
        ca_pend_event(PERIOD_MS * 1e-3);
    }
    if (connectedAt) {
        if (ca_get(DBR_STRING, connectedChan, value) != ECA_NORMAL || ca_pend_io(5.0) != ECA_NORMAL)
            snprintf(value, sizeof value, "GET-FAILED");
        printf("%.6f %s %s\n", connectedAt, name, value);
    } else {
        printf("%.6f %s TIMEOUT\n", now(), name);
    }
    fflush(stdout);
    for (i = 0; i < KEEP; i++)
        if (chans[i]) ca_clear_channel(chans[i]);
    ca_pend_event(0.01);
}

int main(int argc, char **argv)
{
    char line[256];
    double timeout = argc > 1 ? atof(argv[1]) : 30.0;

    if (ca_context_create(ca_enable_preemptive_callback) != ECA_NORMAL) return 1;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0]) probe(line, timeout);
    }
    ca_context_destroy();
    return 0;
}
