/* iocmgrScan.h - I/O Intr requests of one list, coalesced: a list is queued
 * at most once at a time, and a request made meanwhile asks for one more pass
 * when it completes, so no change is missed and Base's callback queue never
 * overflows at thousands of lists (docs/performance.md). EPICS side.
 */
#ifndef IOCMGR_SCAN_H
#define IOCMGR_SCAN_H

#include <dbScan.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iocmgrScanGate {
    unsigned pending;     /* priorities queued or being processed */
    int again;            /* requested again meanwhile: one more pass */
} iocmgrScanGate;

/* scanIoInit + the completion that runs the pass asked for meanwhile. */
void iocmgrScanInit(IOSCANPVT *scan, iocmgrScanGate *gate);
/* Any thread; a no-op before iocInit has started the scan tasks. */
void iocmgrScanRequest(IOSCANPVT scan, iocmgrScanGate *gate);

#ifdef __cplusplus
}
#endif
#endif
