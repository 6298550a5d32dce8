/* iocmgrWriter.h - who writes: the CA client (user@host) behind a put, from
 * access security's TRAPWRITE (iocmgr.acf traps every write it allows).
 * EPICS side.
 */
#ifndef IOCMGR_WRITER_H
#define IOCMGR_WRITER_H

#include <dbCommon.h>

#ifdef __cplusplus
extern "C" {
#endif

/* From the initHookAtBeginning hook: listen to trapped writes. */
void iocmgrWriterInit(void);

/* "user@host" of the CA client whose put is being processed on this thread,
 * or a stand-in when the put did not come through access security. Valid
 * while the record is processed on the thread the put arrived on. */
const char *iocmgrCurrentWriter(void);

/* Called for every trapped put, on the CA client's thread, before the put is
 * applied and with no lock held: the record and who writes it. A record whose
 * processing the put only asks for later (it is busy: PACT) learns its writer
 * here, since that processing runs on another thread. One observer. */
typedef void (*iocmgrPutObserver)(dbCommon *prec, const char *who);
void iocmgrWriterObserve(iocmgrPutObserver fn);

#ifdef __cplusplus
}
#endif
#endif
