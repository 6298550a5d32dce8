/* iocmgrTable.h - the instance table: every IOC instance the manager has
 * records for, found by Kubernetes name or by PV base, iterated by position.
 * EPICS side (I/O Intr lists).
 *
 * Entries are added before iocInit and are never removed or moved:
 * iocmgrInstanceAt(i) is the same instance for the life of the IOC, so a loop
 * over 0..iocmgrInstanceCount()-1 needs no lock, and a pointer to an instance
 * stays valid. The name indexes are kept under the table's own lock, so that
 * an entry can take its name later (a spare slot bound at run time, issue 16)
 * without a table sorted once at boot. An instance's name is written once,
 * before it can be found by it, and never changes: whoever holds the instance
 * may read inst->name and inst->pvName without a lock.
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
void iocmgrTableSetPrefix(const char *prefix);

size_t iocmgrInstanceCount(void);
iocmgrInst *iocmgrInstanceAt(size_t index);
const char *iocmgrPrefix(void);

/* Any thread. NULL when not in the table. */
iocmgrInst *iocmgrFindInstance(const char *name);
/* By the PV base "$(P)$(I)", for records that carry no instance name. */
iocmgrInst *iocmgrFindInstanceByPv(const char *pvBase);

/* The names, in table order, separated by one space (Kubernetes names hold
 * none), into out (NUL-terminated, at most len bytes; names that do not fit
 * are left out whole). Returns the length written. */
size_t iocmgrTableNames(char *out, size_t len);
/* Bytes iocmgrTableNames needs for every entry, the NUL included. */
size_t iocmgrTableNamesSize(void);

#ifdef __cplusplus
}
#endif
#endif
