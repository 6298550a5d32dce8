/* iocmgrPvt.h - what the manager's rooms share among themselves (the manager,
 * the deriver, the commands). Not for device support: it has iocmgrManager.h.
 */
#ifndef IOCMGR_PVT_H
#define IOCMGR_PVT_H

#include "k8sClient.h"
#include "iocmgrManager.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Kubernetes client; NULL when the configuration could not be loaded. */
k8sClient *iocmgrClient(void);
double iocmgrPendingGraceSetting(void);
double iocmgrCrashSettleSetting(void);

/* Under iocmgrLock(): the API as the records show it, why it is not in sync,
 * read-only mode. */
int iocmgrConnectedLocked(void);
const char *iocmgrSyncMessageLocked(void);
int iocmgrReadOnlyLocked(void);

/* Any thread, no lock held. */
void iocmgrRequestMgrScan(void);
/* LAST_ERROR: msg after its UTC time. */
void iocmgrSetLastError(const char *msg);
/* The manager's ARGO_APP/SYNC/HEALTH: the root named in the configuration,
 * else the first one an instance led to. */
void iocmgrNoteRoot(const char *root);
/* 1 when name is the Application shown on the manager's ARGO_APP. */
int iocmgrIsManagerRoot(const char *name);

/* Under iocmgrLock(): resyncs so far. The deriver takes it with a request to
 * derive every instance and, once it did, calls iocmgrAllDerived with it: the
 * cache may now be shown (CONNECTED 1), unless another resync began since. */
unsigned iocmgrSyncSeqLocked(void);
void iocmgrAllDerived(unsigned seq);

#ifdef __cplusplus
}
#endif
#endif
