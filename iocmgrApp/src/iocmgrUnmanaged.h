/* iocmgrUnmanaged.h - the instances of the cluster the manager cannot serve
 * (UNMANAGED), each with its reason. Every function: under iocmgrLock().
 */
#ifndef IOCMGR_UNMANAGED_H
#define IOCMGR_UNMANAGED_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why an instance of the cluster has no records. */
typedef enum {
    IOCMGR_UNMANAGED_LATE,    /* appeared after boot and the spare pool is full: REBOOT loads it */
    IOCMGR_UNMANAGED_NAME,    /* a record name would exceed EPICS' 60 characters */
    IOCMGR_UNMANAGED_LOAD     /* dbLoadRecords refused its records */
} iocmgrUnmanagedWhy;

/* 1 when added, 0 when listed already. */
int iocmgrUnmanagedAdd(const char *name, iocmgrUnmanagedWhy why);
void iocmgrUnmanagedRemove(const char *name);
/* How many are listed for why. */
size_t iocmgrUnmanagedCount(iocmgrUnmanagedWhy why);

#ifdef __cplusplus
}
#endif
#endif
