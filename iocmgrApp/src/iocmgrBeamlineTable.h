/* iocmgrBeamlineTable.h - the whole beamline as one table: a snapshot of every managed
 * instance, taken once per update of the manager's I/O Intr list by
 * $(P)TABLE_ROWS (devIocmgrTable.c). Channel Access clients read its columns
 * as arrays ($(P)TABLE_NAME, ...); the PVA side (iocmgrPvaTable.cpp) serves it
 * as the NTTable $(P)TABLE. docs/pva.md.
 */
#ifndef IOCMGR_BEAMLINE_TABLE_H
#define IOCMGR_BEAMLINE_TABLE_H

#include <stddef.h>
#include <epicsTime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iocmgrTableRow {
    char name[64];        /* Kubernetes name, whole */
    const char *status;   /* iocmgrStatusNames[] */
    int severity;         /* epicsAlarmSeverity of STATUS */
    int ready, enabled, restarts;
    char version[40];
    char node[40];
    char message[512];
} iocmgrTableRow;

typedef struct iocmgrTableSnapshot {
    size_t rows;
    iocmgrTableRow *row;
    int connected;        /* 0: the API is unreachable, every row is INVALID */
    epicsTimeStamp stamp; /* when it was taken; every column carries it */
} iocmgrTableSnapshot;

/* Called with each new snapshot, on the thread that processed TABLE_ROWS;
 * the snapshot is valid only during the call. */
typedef void (*iocmgrTablePublisher)(const iocmgrTableSnapshot *snap);

/* The PVA side registers here (at most one publisher); a CA-only IOC has none. */
void iocmgrTableSetPublisher(iocmgrTablePublisher publish);

/* Loads templ (db/iocmgrTable.template) with P=prefix and NELM = the
 * instances loaded so far plus spare: after iocmgrLoadInstances, before
 * iocInit. Returns 0, or -1 with the reason logged. */
int iocmgrLoadTable(const char *prefix, const char *templ, int spare);

/* Severity names as EPICS spells them (NO_ALARM, MINOR, MAJOR, INVALID). */
const char *iocmgrTableSeverityName(int severity);

#ifdef __cplusplus
}
#endif
#endif
