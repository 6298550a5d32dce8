/* iocmgrScan.c - coalesced I/O Intr requests.
 *
 * A relist or a resync re-derives every instance at once. Queuing one
 * callback per change (and one more for the manager's list, whose NAMES
 * copies every name) overflowed Base's callback queue (2000 entries) from
 * about 1000 instances on ("callbackRequest: cbLow ring buffer full"), and a
 * dropped request leaves records stale until the instance changes again
 * (tests/bench, docs/performance.md).
 */
#include <epicsMutex.h>
#include <epicsThread.h>

#include "iocmgrScan.h"

static epicsMutexId gateLock;
static epicsThreadOnceId once = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    gateLock = epicsMutexMustCreate();
}

static void scanDone(void *usr, IOSCANPVT scan, int prio)
{
    iocmgrScanGate *g = usr;
    epicsMutexMustLock(gateLock);
    g->pending &= ~(1u << prio);
    if (!g->pending && g->again) {
        g->again = 0;
        g->pending = scanIoRequest(scan);
    }
    epicsMutexUnlock(gateLock);
}

void iocmgrScanInit(IOSCANPVT *scan, iocmgrScanGate *gate)
{
    epicsThreadOnce(&once, onceInit, NULL);
    scanIoInit(scan);
    scanIoSetComplete(*scan, scanDone, gate);
}

void iocmgrScanRequest(IOSCANPVT scan, iocmgrScanGate *gate)
{
    epicsMutexMustLock(gateLock);
    if (gate->pending) gate->again = 1;
    else gate->pending = scanIoRequest(scan);
    epicsMutexUnlock(gateLock);
}
