/* iocmgrDeriver.h - instances are derived on one thread, the deriver: what a
 * record shows is computed from the cache there and nowhere else, so an older
 * result can never overwrite a newer one. The network thread's callbacks and
 * the commands only ask (iocmgrDeriveLater); time alone (a Pending grace
 * running out, a crash loop's settle time) is the deriver's own business: it
 * sleeps until the next such moment, with no pass over the table meanwhile.
 * EPICS side.
 */
#ifndef IOCMGR_DERIVER_H
#define IOCMGR_DERIVER_H

#include "iocmgrTable.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start after iocInit (0, or -1 when the thread cannot be made); stop joins. */
int  iocmgrDeriverStart(void);
void iocmgrDeriverStop(void);

/* Any thread, no lock held: derive inst again soon, once however often asked
 * meanwhile. A derivation that began before the last request is dropped
 * unstored; the requested one follows. */
void iocmgrDeriveLater(iocmgrInst *inst);
/* Every instance (a resync); iocmgrAllDerived() follows the pass. */
void iocmgrDeriveAllLater(void);
/* An Argo CD Application changed: derive the instances it concerns, as their
 * tracking Application or as its root. Returns how many. */
size_t iocmgrDeriveForApp(const char *appName);

/* Under iocmgrLock(): RUNNING_COUNT and FAULT_COUNT of the derived views. */
void iocmgrDerivedCounts(int *running, int *faults);

/* Fault injection for tests (docs/iocsh.md): seconds the deriver waits between
 * reading the cache and storing a view it derives because time passed (a
 * grace or settle time). 0 (default): none. */
extern double iocmgrDueHold;

#ifdef __cplusplus
}
#endif
#endif
