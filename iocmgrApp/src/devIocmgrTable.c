/* devIocmgrTable.c - the table of every managed instance (docs/pva.md).
 *
 * $(P)TABLE_ROWS is on the manager's I/O Intr list, which iocmgrManager.c
 * already coalesces (requestScan: queued at most once, one more pass if asked
 * again meanwhile). Each time it processes it takes one snapshot of every
 * instance under the manager lock, hands it to the PVA publisher (the NTTable
 * $(P)TABLE, iocmgrPvaTable.cpp) and forward-links the column waveforms, which
 * copy their column out of the same snapshot. A burst of changes at 1,000
 * instances therefore gives a post or two, not one per instance; the FLNK
 * chain keeps the chain in one lock set, so the columns always belong to the
 * same snapshot, and they all carry its time stamp. A pass that changes nothing
 * in the table posts nothing: no NTTable update, and the columns post on change
 * only (MPST/APST "On Change").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alarm.h>
#include <cantProceed.h>
#include <dbAccess.h>
#include <dbScan.h>
#include <devSup.h>
#include <epicsMutex.h>
#include <epicsThread.h>
#include <errlog.h>
#include <iocsh.h>
#include <menuFtype.h>
#include <recGbl.h>
#include <longinRecord.h>
#include <waveformRecord.h>
#include <epicsExport.h>

#include "iocmgrManager.h"
#include "iocmgrBeamlineTable.h"

static const char *driverName = "devIocmgrTable";

typedef enum { COL_NAME, COL_STATUS, COL_SEVERITY, COL_READY, COL_ENABLED, COL_RESTARTS,
               COL_VERSION, COL_NODE } column;

typedef struct columnDef {
    const char *name;
    column col;
    menuFtype ftvl;
} columnDef;

static const columnDef columns[] = {
    {"NAME", COL_NAME, menuFtypeSTRING}, {"STATUS", COL_STATUS, menuFtypeSTRING},
    {"SEVERITY", COL_SEVERITY, menuFtypeSTRING}, {"READY", COL_READY, menuFtypeLONG},
    {"ENABLED", COL_ENABLED, menuFtypeLONG}, {"RESTARTS", COL_RESTARTS, menuFtypeLONG},
    {"VERSION", COL_VERSION, menuFtypeSTRING}, {"NODE", COL_NODE, menuFtypeSTRING},
};

static struct {
    epicsMutexId lock;            /* the snapshot and the publisher */
    iocmgrTableSnapshot snap;
    size_t cap;
    iocmgrTablePublisher publish;
    int taken;                    /* a snapshot exists */
} table;

static epicsThreadOnceId onceId = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    table.lock = epicsMutexMustCreate();
}

static void ensureInit(void)
{
    epicsThreadOnce(&onceId, onceInit, NULL);
}

void iocmgrTableSetPublisher(iocmgrTablePublisher publish)
{
    ensureInit();
    epicsMutexMustLock(table.lock);
    table.publish = publish;
    epicsMutexUnlock(table.lock);
}

const char *iocmgrTableSeverityName(int severity)
{
    static const char *const names[] = {"NO_ALARM", "MINOR", "MAJOR", "INVALID"};
    return severity >= 0 && severity <= 3 ? names[severity] : "INVALID";
}

static void fillRow(iocmgrTableRow *r, const char *name, const iocmgrView *v)
{
    snprintf(r->name, sizeof r->name, "%s", name);
    r->status = iocmgrStatusNames[v->status];
    r->severity = (int)v->severity;
    r->ready = v->ready;
    r->enabled = v->enabled;
    r->restarts = v->restarts;
    snprintf(r->version, sizeof r->version, "%s", v->version);
    snprintf(r->node, sizeof r->node, "%s", v->node);
    snprintf(r->message, sizeof r->message, "%s", v->message);
}

static int rowsEqual(const iocmgrTableRow *a, const iocmgrTableRow *b)
{
    return a->status == b->status && a->severity == b->severity && a->ready == b->ready
        && a->enabled == b->enabled && a->restarts == b->restarts && strcmp(a->name, b->name) == 0
        && strcmp(a->version, b->version) == 0 && strcmp(a->node, b->node) == 0
        && strcmp(a->message, b->message) == 0;
}

/* Under table.lock. Instances without a name (a free spare slot) are not rows.
 * Returns 1 when the table differs from the previous snapshot: most pod events
 * (a new IP, a pod name, a start time) change nothing shown here. The view is
 * read in place under the manager lock (copying every view at 1,000 instances
 * was 2.7 MB a pass); only a disconnected manager's override needs the copy. */
static int takeSnapshot(void)
{
    size_t i, n, rows = 0;
    int connected = 0, changed;
    iocmgrLiveness live;
    iocmgrView *view = NULL;
    iocmgrTableRow row;

    iocmgrLock();
    n = iocmgrInstanceCount();
    if (n > table.cap) {
        table.snap.row = realloc(table.snap.row, n * sizeof *table.snap.row);
        if (!table.snap.row) cantProceed("devIocmgrTable: out of memory for %zu rows", n);
        table.cap = n;
    }
    changed = n == 0;
    for (i = 0; i < n; i++) {
        const iocmgrInst *inst = iocmgrInstanceAt(i);
        if (!inst || !inst->name[0]) continue;
        iocmgrReadLiveness(inst, &live);
        connected = live.connected;
        if (connected) {
            fillRow(&row, inst->name, &inst->view);
        } else {
            if (!view) view = mallocMustSucceed(sizeof *view, "devIocmgrTable view");
            iocmgrReadView(inst, view, &connected);
            fillRow(&row, inst->name, view);
        }
        if (rows >= table.snap.rows || !rowsEqual(&row, &table.snap.row[rows])) {
            table.snap.row[rows] = row;
            changed = 1;
        }
        rows++;
    }
    if (n == 0) {
        iocmgrSummary *s = mallocMustSucceed(sizeof *s, "devIocmgrTable summary");
        iocmgrReadSummary(s);
        connected = s->connected;
        free(s);
    }
    iocmgrUnlock();
    free(view);
    changed = changed || rows != table.snap.rows || connected != table.snap.connected || !table.taken;
    table.snap.rows = rows;
    table.snap.connected = connected;
    table.taken = 1;
    if (changed) epicsTimeGetCurrent(&table.snap.stamp);
    return changed;
}

/* ---- TABLE_ROWS (longin): takes the snapshot --------------------------- */

static long initRows(longinRecord *prec)
{
    ensureInit();
    if (prec->inp.type != INST_IO || strcmp(prec->inp.value.instio.string, "ROWS") != 0) {
        recGblRecordError(S_db_badField, prec, "devIocmgrTable (init_record) longin INP must be \"@ROWS\"");
        return S_db_badField;
    }
    prec->dpvt = &table;
    return 0;
}

static long rowsIoInt(int cmd, dbCommon *prec, IOSCANPVT *ppvt)
{
    (void)cmd; (void)prec;
    *ppvt = iocmgrManagerScan();
    return 0;
}

static void stampRecord(dbCommon *prec)
{
    prec->time = table.snap.stamp;
    prec->udf = 0;
    if (!table.snap.connected) recGblSetSevr(prec, COMM_ALARM, INVALID_ALARM);
}

static long readRows(longinRecord *prec)
{
    if (!prec->dpvt) return S_dev_NoInit;
    epicsMutexMustLock(table.lock);
    if (takeSnapshot() && table.publish) table.publish(&table.snap);
    prec->val = (epicsInt32)table.snap.rows;
    stampRecord((dbCommon *)prec);
    epicsMutexUnlock(table.lock);
    return 0;
}

/* ---- the columns (waveform): copy out of the snapshot ------------------ */

static long initColumn(waveformRecord *prec)
{
    size_t i;
    ensureInit();
    if (prec->inp.type != INST_IO) {
        recGblRecordError(S_db_badField, prec, "devIocmgrTable (init_record) INP must be INST_IO \"@COLUMN\"");
        return S_db_badField;
    }
    for (i = 0; i < sizeof columns / sizeof columns[0]; i++)
        if (strcmp(columns[i].name, prec->inp.value.instio.string) == 0) break;
    if (i == sizeof columns / sizeof columns[0]) {
        recGblRecordError(S_db_badField, prec, "devIocmgrTable (init_record) unknown column "
                          "(NAME, STATUS, SEVERITY, READY, ENABLED, RESTARTS, VERSION, NODE)");
        return S_db_badField;
    }
    if (prec->ftvl != columns[i].ftvl) {
        recGblRecordError(S_db_badField, prec, columns[i].ftvl == menuFtypeSTRING
                          ? "devIocmgrTable (init_record) this column needs FTVL STRING"
                          : "devIocmgrTable (init_record) this column needs FTVL LONG");
        return S_db_badField;
    }
    prec->dpvt = (void *)&columns[i];
    return 0;
}

static void copyString(char (*out)[MAX_STRING_SIZE], size_t i, const char *s)
{
    snprintf(out[i], MAX_STRING_SIZE, "%s", s);
}

static long readColumn(waveformRecord *prec)
{
    const columnDef *def = prec->dpvt;
    char (*str)[MAX_STRING_SIZE] = prec->bptr;
    epicsInt32 *num = prec->bptr;
    size_t i, n;

    if (!def) return S_dev_NoInit;
    epicsMutexMustLock(table.lock);
    n = table.snap.rows < prec->nelm ? table.snap.rows : prec->nelm;
    for (i = 0; i < n; i++) {
        const iocmgrTableRow *r = &table.snap.row[i];
        switch (def->col) {
        case COL_NAME: copyString(str, i, r->name); break;
        case COL_STATUS: copyString(str, i, r->status); break;
        case COL_SEVERITY: copyString(str, i, iocmgrTableSeverityName(r->severity)); break;
        case COL_READY: num[i] = r->ready; break;
        case COL_ENABLED: num[i] = r->enabled; break;
        case COL_RESTARTS: num[i] = r->restarts; break;
        case COL_VERSION: copyString(str, i, r->version); break;
        case COL_NODE: copyString(str, i, r->node); break;
        }
    }
    prec->nord = (epicsUInt32)n;
    stampRecord((dbCommon *)prec);
    epicsMutexUnlock(table.lock);
    return 0;
}

#define DSET(type, name, init, ioint, rw)                                    \
    static struct { dset common; long (*rw_)(type##Record *); } name = {     \
        { 5, NULL, NULL, (long (*)(dbCommon *))init, ioint }, rw };          \
    epicsExportAddress(dset, name)

DSET(longin, devLonginIocmgrTable, initRows, rowsIoInt, readRows);
DSET(waveform, devWaveformIocmgrTable, initColumn, NULL, readColumn);

/* ---- iocmgrLoadTable: the template, sized from the instance count ------ */

int iocmgrLoadTable(const char *prefix, const char *templ, int spare)
{
    char macros[256];
    size_t nelm = iocmgrInstanceCount() + (spare > 0 ? (size_t)spare : 0);

    if (interruptAccept) {
        errlogPrintf("%s: iocmgrLoadTable must come before iocInit\n", driverName);
        return -1;
    }
    if (!prefix || !templ || !templ[0]) {
        errlogPrintf("%s: usage: iocmgrLoadTable(prefix, template, spare rows)\n", driverName);
        return -1;
    }
    /* QSRV serves a one-element waveform as a scalar: keep the columns arrays */
    snprintf(macros, sizeof macros, "P=%s,NELM=%zu", prefix, nelm < 2 ? (size_t)2 : nelm);
    if (dbLoadRecords(templ, macros) != 0) {
        errlogPrintf("%s: dbLoadRecords(%s, %s) failed\n", driverName, templ, macros);
        return -1;
    }
    return 0;
}

static const iocshArg argPrefix = {"PV prefix $(P)", iocshArgString};
static const iocshArg argTemplate = {"table template (db/iocmgrTable.template)", iocshArgString};
static const iocshArg argSpare = {"rows beyond the instances loaded so far", iocshArgInt};
static const iocshArg *const loadArgs[] = {&argPrefix, &argTemplate, &argSpare};
static const iocshFuncDef loadDef = {"iocmgrLoadTable", 3, loadArgs};
static void loadCall(const iocshArgBuf *a) { iocmgrLoadTable(a[0].sval, a[1].sval, a[2].ival); }

static void iocmgrTableRegister(void)
{
    iocshRegister(&loadDef, loadCall);
}
epicsExportRegistrar(iocmgrTableRegister);
