/* cafresh.c - a fresh caget, started on demand, for the live-binding benchmark
 * (tests/bench/liveset.py, docs/performance.md "Instances deployed after boot").
 *
 * Reads PV names from stdin, one a line. For each, at once, it does what a caget
 * started at that moment does: a new CA context, a channel, ca_pend_io until it
 * connects (at most TIMEOUT s; libca searches on its own schedule meanwhile, as
 * caget's does), a read as a string, the context destroyed; and prints
 *   "<CLOCK_REALTIME connected> <name> <value> <CLOCK_REALTIME started>"
 * or "<time> <name> TIMEOUT <started>". The caller writes the name when the watch
 * event arrives, so "connected - event" is what an operator who types caget right
 * then waits, libca's own first-search delay (~30 ms here) included.
 *
 *   cafresh [TIMEOUT]          (EPICS_CA_* from the environment)
 */
#define _GNU_SOURCE
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

static void probe(const char *name, double timeout)
{
    chid ch;
    double start = now(), when = 0;
    char value[MAX_STRING_SIZE] = "";

    if (ca_context_create(ca_disable_preemptive_callback) != ECA_NORMAL) return;
    if (ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &ch) == ECA_NORMAL
        && ca_pend_io(timeout) == ECA_NORMAL) {
        when = now();
        if (ca_get(DBR_STRING, ch, value) != ECA_NORMAL || ca_pend_io(5.0) != ECA_NORMAL)
            snprintf(value, sizeof value, "GET-FAILED");
        printf("%.6f %s %s %.6f\n", when, name, value, start);
    } else {
        printf("%.6f %s TIMEOUT %.6f\n", now(), name, start);
    }
    fflush(stdout);
    ca_context_destroy();
}

int main(int argc, char **argv)
{
    char line[256];
    double timeout = argc > 1 ? atof(argv[1]) : 30.0;

    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0]) probe(line, timeout);
    }
    return 0;
}
