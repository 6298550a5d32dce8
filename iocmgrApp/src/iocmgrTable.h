/* iocmgrTable.h - the instance table: every IOC instance the manager has
 * records for (those found at boot and the spare slots, iocmgrSlots.h),
 * found by Kubernetes name, by PV base or by the key its records carry,
 * iterated by position. EPICS side (I/O Intr lists).
 *
 * Entries are added before iocInit and are never removed or moved:
 * iocmgrInstanceAt(i) is the same instance for the life of the IOC, so a loop
 * over 0..iocmgrInstanceCount()-1 needs no lock, and a pointer to an instance
 * stays valid. A spare slot has no name until an instance deployed after boot
 * is bound to it (iocmgrTableNameSlot); the name indexes hold only named
 * entries and are kept under the table's own lock.
 *
 * An instance's name is written once and never changes. A slot's name is
 * written under both the table's lock and iocmgrLock(): who reaches an entry
 * by position reads its name (empty: a free slot) under either lock; who got
 * it from a lookup by name, from the deriver's queue or from its own records'
 * processing after binding may read inst->name and inst->pvName without one.
 */
#ifndef IOCMGR_TABLE_H
#define IOCMGR_TABLE_H

#include <stddef.h>
#include <dbScan.h>

#include "iocmgrInstance.h"
#include "iocmgrScan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A name whose records fit EPICS' 60 characters is shorter than this. */
#define IOCMGR_NAME_SIZE 64
/* An Argo CD Application name the deriver keeps to match Application events. */
#define IOCMGR_APP_NAME_SIZE 128

typedef struct iocmgrInst {
    char name[IOCMGR_NAME_SIZE];    /* Kubernetes name, e.g. bl46p-ea-ioc-01 */
    char pvName[IOCMGR_NAME_SIZE];  /* upper-cased, e.g. BL46P-EA-IOC-01 */
    int expected;                   /* named in st.cmd or the expected-instances file */
    int slot;                       /* a spare slot's number (1...), 0 for an instance found at boot */
    char slotKey[16];               /* a spare slot's own PV base and record key, SPARE_<n> */
    int published;                  /* a bound slot's aliases exist (iocmgrSlots.c, the deriver) */
    char domain[128];               /* domain label (else location) at boot, for grouping alarms */
    IOSCANPVT scan;                 /* the instance's I/O Intr records but LOG and LOG_PREV */
    iocmgrScanGate gate;
    IOSCANPVT logScan;              /* LOG and LOG_PREV: processed only when a log is read */
    iocmgrScanGate logGate;
    /* below: under iocmgrLock() */
    iocmgrView view;                /* derived from the cache; see iocmgrReadView() */
    int counted;                    /* view counted in RUNNING_COUNT/FAULT_COUNT */
    int busy;
    int busyKind;                   /* the iocmgrCmdKind in flight while busy */
    int cmdStat;
    char cmdMsg[512];
    char *log[2];                   /* current and previous container's log: what LOG/LOG_PREV show */
    size_t logLen[2];
    size_t logKeep[2];              /* the most LOG/LOG_PREV show (NELM - 1); 0: not known yet */
    /* iocmgrDeriver.c: queued for derivation, and what Application events concern it */
    struct iocmgrInst *nextQueued;
    int queued;
    unsigned changes;               /* derivations asked for; one begun before the last is stale */
    char argoChild[IOCMGR_APP_NAME_SIZE];  /* the Application that tracks it (found or not) */
    char argoRoot[IOCMGR_APP_NAME_SIZE];   /* that Application's root */
} iocmgrInst;

/* Before iocInit: room for n more entries (the table never reallocates
 * once iocInit ran, so positions and pointers stay valid). */
void iocmgrTableReserve(size_t n);
/* Before iocInit: a new entry, appended; NULL when the name is empty, too
 * long for an entry, or already in the table. */
iocmgrInst *iocmgrTableAdd(const char *name, int expected, const char *domain);
/* Before iocInit: a spare slot without a name, number slot (1...), whose
 * records carry the key SPARE_<slot>; NULL when it exists already. */
iocmgrInst *iocmgrTableAddSlot(int slot);
/* After iocInit, under iocmgrLock(): a free slot takes name (and domain);
 * it can then be found by it. 0, or -1 when the slot is not free, the name
 * is too long for an entry or is in the table already. */
int iocmgrTableNameSlot(iocmgrInst *slot, const char *name, const char *domain);
void iocmgrTableSetPrefix(const char *prefix);

size_t iocmgrInstanceCount(void);
iocmgrInst *iocmgrInstanceAt(size_t index);
const char *iocmgrPrefix(void);
/* Entries with a name: the instances found at boot and the bound slots
 * (COUNT). Any thread. */
size_t iocmgrNamedCount(void);

/* Any thread. NULL when not in the table. */
iocmgrInst *iocmgrFindInstance(const char *name);
/* By the PV base "$(P)$(I)", for records that carry no instance name. */
iocmgrInst *iocmgrFindInstanceByPv(const char *pvBase);
/* The entry a record belongs to, by the key its INP carries (a Kubernetes
 * name, or a slot's SPARE_<n>) or by its PV base ("$(P)$(I)" or
 * "$(P)SPARE_<n>"). Record initialisation. */
iocmgrInst *iocmgrFindRecordOwner(const char *key);
iocmgrInst *iocmgrFindRecordOwnerByPv(const char *pvBase);

/* The named entries sorted by name, at most cap of them, into out. Returns
 * how many. Any thread (the table's lock is a leaf: iocmgrLock() may be held). */
size_t iocmgrTableSorted(iocmgrInst **out, size_t cap);

/* The names, sorted, separated by one space (Kubernetes names hold none),
 * into out (NUL-terminated, at most len bytes; names that do not fit are
 * left out whole). Returns the length written. */
size_t iocmgrTableNames(char *out, size_t len);
/* Bytes iocmgrTableNames needs for every entry, the NUL included: a free
 * slot counts as the longest name an entry can take. */
size_t iocmgrTableNamesSize(void);

#ifdef __cplusplus
}
#endif
#endif
