/* devIocmgr.c - device support for the manager's and instances' records
 * that read: they copy what the manager derived (under its lock) and never
 * touch the network. Commands: devIocmgrCmd.c.
 *
 * INP/OUT is INST_IO: "@<instance> <FIELD>" for an instance record,
 * "@<FIELD>" for a manager-wide one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include <alarm.h>
#include <cantProceed.h>
#include <dbAccess.h>
#include <dbLink.h>
#include <dbScan.h>
#include <devSup.h>
#include <epicsTime.h>
#include <errlog.h>
#include <menuFtype.h>
#include <recGbl.h>
#include <recSup.h>
#include <biRecord.h>
#include <longinRecord.h>
#include <lsiRecord.h>
#include <mbbiRecord.h>
#include <stringinRecord.h>
#include <waveformRecord.h>
#include <epicsExport.h>

#include "devIocmgr.h"
#include "iocmgrVersion.h"

typedef struct fieldDef {
    const char *name;
    fieldId id;
    int manager;          /* manager-wide, no instance */
    const char *rtype;    /* the record type it belongs on */
} fieldDef;

static const fieldDef fields[] = {
    {"STATUS", F_STATUS, 0, "mbbi"}, {"RUNNING", F_RUNNING, 0, "bi"},
    {"READY", F_READY, 0, "bi"}, {"ENABLED", F_ENABLED, 0, "bi"},
    {"START", F_START, 0, "bo"}, {"STOP", F_STOP, 0, "bo"}, {"RESTART", F_RESTART, 0, "bo"},
    {"IMAGE", F_IMAGE, 0, "lsi"}, {"IMAGE_SP", F_IMAGE_SP, 0, "lso"},
    {"VERSION", F_VERSION, 0, "stringin"}, {"DESC", F_DESC, 0, "stringin"},
    {"RESTARTS", F_RESTARTS, 0, "longin"}, {"LAST_EXIT", F_LAST_EXIT, 0, "longin"},
    {"LAST_REASON", F_LAST_REASON, 0, "stringin"}, {"STARTED", F_STARTED, 0, "stringin"},
    {"UPTIME", F_UPTIME, 0, "longin"}, {"POD", F_POD, 0, "lsi"},
    {"NODE", F_NODE, 0, "stringin"}, {"IP", F_IP, 0, "stringin"},
    {"MESSAGE", F_MESSAGE, 0, "lsi"}, {"LOG", F_LOG, 0, "waveform"},
    {"LOG_PREV", F_LOG_PREV, 0, "waveform"}, {"LOG_FETCH", F_LOG_FETCH, 0, "bo"},
    {"LOG_PREV_FETCH", F_LOG_PREV_FETCH, 0, "bo"}, {"BUSY", F_BUSY, 0, "bi"},
    {"CMD_STAT", F_CMD_STAT, 0, "mbbi"}, {"CMD_MSG", F_CMD_MSG, 0, "lsi"},
    {"ARGO_APP", F_ARGO_APP, 0, "lsi"}, {"SYNC", F_SYNC, 0, "mbbi"},
    {"HEALTH", F_HEALTH, 0, "mbbi"}, {"REVISION", F_REVISION, 0, "lsi"},
    {"REVISION_SP", F_REVISION_SP, 0, "lso"}, {"OVERRIDE", F_OVERRIDE, 0, "bi"},
    {"SYNC_MSG", F_SYNC_MSG, 0, "lsi"},
    {"CONNECTED", F_CONNECTED, 1, "bi"}, {"NAMESPACE", F_NAMESPACE, 1, "stringin"},
    {"API_URL", F_API_URL, 1, "lsi"}, {"LAST_ERROR", F_LAST_ERROR, 1, "lsi"},
    {"COUNT", F_COUNT, 1, "longin"}, {"RUNNING_COUNT", F_RUNNING_COUNT, 1, "longin"},
    {"FAULT_COUNT", F_FAULT_COUNT, 1, "longin"}, {"NAMES", F_NAMES, 1, "waveform"},
    {"UNMANAGED", F_UNMANAGED, 1, "waveform"}, {"UNMANAGED_TEXT", F_UNMANAGED_TEXT, 1, "lsi"},
    {"REBOOT", F_REBOOT, 1, "bo"},
    {"READONLY", F_READONLY, 1, "bi"}, {"VERSION", F_MGR_VERSION, 1, "stringin"},
    {"ARGO_APP", F_ROOT_APP, 1, "lsi"}, {"SYNC", F_ROOT_SYNC, 1, "mbbi"},
    {"HEALTH", F_ROOT_HEALTH, 1, "mbbi"},
};

long devIocmgrInit(dbCommon *prec, const DBLINK *link, const char *rtype)
{
    const char *s;
    char first[128] = "", second[64] = "";
    const char *fieldName;
    int n, manager;
    size_t i;
    devPvt *d;

    if (link->type != INST_IO) {
        recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) INP/OUT must be INST_IO \"@[instance ]FIELD\"");
        return S_db_badField;
    }
    s = link->value.instio.string;
    n = sscanf(s, "%127s %63s", first, second);
    manager = n == 1;
    fieldName = manager ? first : second;
    if (n < 1) {
        recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) empty INST_IO string");
        return S_db_badField;
    }
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].manager == manager && strcmp(fields[i].name, fieldName) == 0) break;
    }
    if (i == sizeof fields / sizeof fields[0]) {
        recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) unknown field in INST_IO string");
        return S_db_badField;
    }
    if (strcmp(fields[i].rtype, rtype) != 0) {
        recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) field not served by this record type");
        return S_db_badField;
    }
    d = callocMustSucceed(1, sizeof *d, "devIocmgr");
    d->field = fields[i].id;
    if (!manager) {
        d->inst = iocmgrFindInstance(first);
        if (!d->inst) {
            free(d);
            recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) instance not managed (not loaded by iocmgrLoadInstances)");
            return S_db_badField;
        }
    }
    prec->dpvt = d;
    return 0;
}

/* LOG and LOG_PREV have a list of their own: a status change must not copy
 * 2 x LOG_NELM bytes to every client of an instance (they change only when
 * a log is read). */
static long getIoIntInfo(int cmd, dbCommon *prec, IOSCANPVT *ppvt)
{
    devPvt *d = prec->dpvt;
    (void)cmd;
    if (!d) return -1;
    if (!d->inst) *ppvt = iocmgrManagerScan();
    else *ppvt = d->field == F_LOG || d->field == F_LOG_PREV ? d->inst->logScan : d->inst->scan;
    return 0;
}

/* Snapshot of an instance's values as shown, plus what the command fields need. */
typedef struct snapshot {
    iocmgrView view;
    int connected, busy, cmdStat;
    char cmdMsg[512];
} snapshot;

static void readInstance(dbCommon *prec, const devPvt *d, snapshot *s)
{
    iocmgrLock();
    iocmgrReadView(d->inst, &s->view, &s->connected);
    s->busy = d->inst->busy;
    s->cmdStat = d->inst->cmdStat;
    snprintf(s->cmdMsg, sizeof s->cmdMsg, "%s", d->inst->cmdMsg);
    iocmgrUnlock();
    /* Stale values are never shown as good: everything from the cluster is
     * INVALID while the cache is not consistent with it. */
    if (!s->connected && d->field != F_BUSY && d->field != F_CMD_STAT && d->field != F_CMD_MSG)
        recGblSetSevr(prec, COMM_ALARM, INVALID_ALARM);
}

static void readSummary(dbCommon *prec, const devPvt *d, iocmgrSummary *s)
{
    iocmgrLock();
    iocmgrReadSummary(s);
    iocmgrUnlock();
    if (!s->connected && (d->field == F_RUNNING_COUNT || d->field == F_FAULT_COUNT))
        recGblSetSevr(prec, COMM_ALARM, INVALID_ALARM);
}

/* ---- bi --------------------------------------------------------------- */

static long initBi(biRecord *prec) { return devIocmgrInit((dbCommon *)prec, &prec->inp, "bi"); }

static long readBi(biRecord *prec)
{
    devPvt *d = prec->dpvt;
    if (!d) return S_dev_NoInit;
    if (d->inst) {
        snapshot s;
        readInstance((dbCommon *)prec, d, &s);
        switch (d->field) {
        case F_RUNNING: prec->val = s.view.running; break;
        case F_READY: prec->val = s.view.ready; break;
        case F_ENABLED: prec->val = s.view.enabled; break;
        case F_OVERRIDE: prec->val = s.view.override; break;
        default: prec->val = s.busy; break;
        }
    } else {
        iocmgrSummary s;
        readSummary((dbCommon *)prec, d, &s);
        prec->val = d->field == F_CONNECTED ? s.connected : s.readOnly;
    }
    prec->udf = 0;
    return 2;
}

/* ---- mbbi ------------------------------------------------------------- */

static long initMbbi(mbbiRecord *prec) { return devIocmgrInit((dbCommon *)prec, &prec->inp, "mbbi"); }

static long readMbbi(mbbiRecord *prec)
{
    devPvt *d = prec->dpvt;
    snapshot s;
    if (!d) return S_dev_NoInit;
    if (!d->inst) {
        iocmgrSummary m;
        readSummary((dbCommon *)prec, d, &m);
        prec->val = (epicsEnum16)(d->field == F_ROOT_SYNC ? m.argoSync : m.argoHealth);
        if (!m.connected) recGblSetSevr(prec, COMM_ALARM, INVALID_ALARM);
        prec->udf = 0;
        return 2;
    }
    readInstance((dbCommon *)prec, d, &s);
    if (d->field == F_SYNC || d->field == F_HEALTH) {
        /* the states' own severities (template) say OutOfSync, Degraded */
        prec->val = (epicsEnum16)(d->field == F_SYNC ? s.view.sync : s.view.health);
    } else if (d->field == F_STATUS) {
        prec->val = (epicsEnum16)s.view.status;
        if (s.view.severity != IOCMGR_SEV_NONE)
            recGblSetSevr(prec, s.connected ? STATE_ALARM : COMM_ALARM, (epicsEnum16)s.view.severity);
    } else {
        prec->val = (epicsEnum16)s.cmdStat;
        if (s.cmdStat == IOCMGR_CMDSTAT_ERROR) recGblSetSevr(prec, STATE_ALARM, MAJOR_ALARM);
    }
    prec->udf = 0;
    return 2;
}

/* ---- longin ----------------------------------------------------------- */

static long initLongin(longinRecord *prec) { return devIocmgrInit((dbCommon *)prec, &prec->inp, "longin"); }

static long readLongin(longinRecord *prec)
{
    devPvt *d = prec->dpvt;
    if (!d) return S_dev_NoInit;
    if (d->inst && d->field == F_UPTIME) {
        iocmgrLiveness l;
        iocmgrLock();
        iocmgrReadLiveness(d->inst, &l);
        iocmgrUnlock();
        prec->val = l.running && l.startedEpoch > 0 ? (epicsInt32)((long long)time(NULL) - l.startedEpoch) : 0;
        if (!l.connected) recGblSetSevr(prec, COMM_ALARM, INVALID_ALARM);
    } else if (d->inst) {
        snapshot s;
        readInstance((dbCommon *)prec, d, &s);
        prec->val = d->field == F_RESTARTS ? s.view.restarts : s.view.lastExit;
    } else {
        iocmgrSummary s;
        readSummary((dbCommon *)prec, d, &s);
        prec->val = d->field == F_COUNT ? s.count
                  : d->field == F_RUNNING_COUNT ? s.runningCount : s.faultCount;
    }
    prec->udf = 0;
    return 0;
}

/* ---- stringin --------------------------------------------------------- */

static long initStringin(stringinRecord *prec) { return devIocmgrInit((dbCommon *)prec, &prec->inp, "stringin"); }

static long readStringin(stringinRecord *prec)
{
    devPvt *d = prec->dpvt;
    const char *v = "";
    if (!d) return S_dev_NoInit;
    if (d->inst) {
        snapshot s;
        readInstance((dbCommon *)prec, d, &s);
        switch (d->field) {
        case F_VERSION: v = s.view.version; break;
        case F_DESC: v = s.view.desc; break;
        case F_LAST_REASON: v = s.view.lastReason; break;
        case F_STARTED: v = s.view.started; break;
        case F_NODE: v = s.view.node; break;
        default: v = s.view.ip; break;
        }
        snprintf(prec->val, sizeof prec->val, "%s", v);
    } else if (d->field == F_MGR_VERSION) {
        snprintf(prec->val, sizeof prec->val, "%s", IOCMGR_VERSION);
    } else {
        iocmgrSummary s;
        readSummary((dbCommon *)prec, d, &s);
        snprintf(prec->val, sizeof prec->val, "%s", s.namespace_);
    }
    prec->udf = 0;
    return 0;
}

/* ---- lsi -------------------------------------------------------------- */

static long initLsi(lsiRecord *prec) { return devIocmgrInit((dbCommon *)prec, &prec->inp, "lsi"); }

static void setLsi(lsiRecord *prec, const char *v)
{
    snprintf(prec->val, prec->sizv, "%s", v);
    prec->len = (epicsUInt32)strlen(prec->val) + 1;
}

/* The instances the manager cannot serve, joined by sep into buf; a name
 * that does not fit is left out whole and the text ends in "..." (not a
 * Kubernetes name, so a script cannot take it for one). */
static void unmanagedText(char *buf, size_t len, const char *sep)
{
    size_t left, used;
    char more[8];
    snprintf(more, sizeof more, "%s...", sep);
    iocmgrLock();
    left = iocmgrReadUnmanaged(buf, len - strlen(more), sep);
    iocmgrUnlock();
    used = strlen(buf);
    if (left) snprintf(buf + used, len - used, "%s", used ? more : "...");
}

static long readLsi(lsiRecord *prec)
{
    devPvt *d = prec->dpvt;
    if (!d) return S_dev_NoInit;
    if (d->inst) {
        snapshot s;
        readInstance((dbCommon *)prec, d, &s);
        setLsi(prec, d->field == F_IMAGE ? s.view.image
                   : d->field == F_MESSAGE ? s.view.message
                   : d->field == F_SYNC_MSG ? s.view.syncMsg
                   : d->field == F_POD ? s.view.pod
                   : d->field == F_ARGO_APP ? s.view.argoApp
                   : d->field == F_REVISION ? s.view.revision : s.cmdMsg);
    } else if (d->field == F_UNMANAGED_TEXT) {
        /* for screens: one line, empty when there are none (lsi enforces SIZV >= 16) */
        unmanagedText(prec->val, prec->sizv, ", ");
        prec->len = (epicsUInt32)strlen(prec->val) + 1;
    } else {
        iocmgrSummary s;
        readSummary((dbCommon *)prec, d, &s);
        setLsi(prec, d->field == F_API_URL ? s.apiUrl : d->field == F_ROOT_APP ? s.argoRoot : s.lastError);
    }
    prec->udf = 0;
    return 0;
}

/* ---- waveform --------------------------------------------------------- */

/* Record support callocs NELM bytes for every LOG and LOG_PREV at init: 32 KB
 * per instance by default, most of it for logs nobody fetches (160 MB at 5,000
 * instances; calloc clears memory it reuses, which makes it resident). An
 * anonymous mapping reads as zeros and takes memory only for the pages a log
 * is written into. The waveform's get_array_info takes BPTR afresh on every
 * access, so the buffer can be swapped here; it lives as long as the IOC, like
 * the one it replaces. */
static void useLazyLogBuffer(waveformRecord *prec)
{
    void *lazy = mmap(NULL, prec->nelm, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (lazy == MAP_FAILED) return;     /* keep record support's buffer */
    free(prec->bptr);
    prec->bptr = lazy;
}

/* NAMES and UNMANAGED hold names whole, as one string (a DBF_STRING element
 * holds 39 characters, Kubernetes names up to 253): NAMES is sized for every
 * instance of the table, UNMANAGED for NELM names of a managed instance's
 * length (IOCMGR_NAME_SIZE each). Clients connect after iocInit, so the
 * record's buffer can still be replaced here. */
static void sizeNames(waveformRecord *prec, size_t bytes)
{
    if (bytes < 1) bytes = 1;
    free(prec->bptr);
    prec->bptr = callocMustSucceed(bytes, 1, "devIocmgr names");
    prec->nelm = (epicsUInt32)bytes;
}

static long initWaveform(waveformRecord *prec)
{
    long status = devIocmgrInit((dbCommon *)prec, &prec->inp, "waveform");
    devPvt *d = prec->dpvt;
    if (status) return status;
    if (prec->ftvl != menuFtypeCHAR) {
        recGblRecordError(S_db_badField, prec, "devIocmgr (init_record) NAMES, UNMANAGED, LOG and "
                          "LOG_PREV need FTVL CHAR");
        free(d);
        prec->dpvt = NULL;
        return S_db_badField;
    }
    if (d->field == F_NAMES) sizeNames(prec, iocmgrTableNamesSize());
    else if (d->field == F_UNMANAGED) sizeNames(prec, (size_t)prec->nelm * IOCMGR_NAME_SIZE);
    else {
        iocmgrSetLogKeep(d->inst, d->field == F_LOG_PREV, prec->nelm - 1);
        useLazyLogBuffer(prec);
    }
    return 0;
}

static long readWaveform(waveformRecord *prec)
{
    devPvt *d = prec->dpvt;
    if (!d) return S_dev_NoInit;
    if (d->inst) {
        int which = d->field == F_LOG_PREV;
        char *dst = prec->bptr;
        size_t len, start;
        snapshot s;
        readInstance((dbCommon *)prec, d, &s);
        iocmgrLock();
        len = d->inst->logLen[which];
        /* the tail (iocmgrStoreLog keeps no more than that) */
        start = len >= prec->nelm ? len - (prec->nelm - 1) : 0;
        if (d->inst->log[which]) memcpy(dst, d->inst->log[which] + start, len - start);
        iocmgrUnlock();
        if (dst[len - start]) dst[len - start] = '\0';   /* reading an untouched page costs no memory */
        prec->nord = (epicsUInt32)(len - start + 1);
    } else if (d->field == F_NAMES) {
        prec->nord = (epicsUInt32)iocmgrTableNames(prec->bptr, prec->nelm) + 1;
    } else {
        unmanagedText(prec->bptr, prec->nelm, " ");
        prec->nord = (epicsUInt32)strlen(prec->bptr) + 1;
    }
    prec->udf = 0;
    return 0;
}

/* ---- ALIVE: the IOC itself answers over CA ------------------------------
 * INP is a CA link to the instance's own <I>:UPTIME (the chart's liveness
 * check), read as the string iocStats serves; iocmgrAliveUpdate says what it
 * means (iocmgrInstance.h). */

typedef struct alivePvt {
    iocmgrInst *inst;
    iocmgrAlive state;
} alivePvt;

static long initBiAlive(biRecord *prec)
{
    alivePvt *a;
    char base[PVNAME_STRINGSZ];
    size_t n = strlen(prec->name);
    const char *suffix = ":ALIVE";
    size_t sl = strlen(suffix);
    iocmgrInst *inst = NULL;

    if (prec->inp.type != CA_LINK && prec->inp.type != PV_LINK && prec->inp.type != DB_LINK) {
        recGblRecordError(S_db_badField, prec, "devBiIocmgrAlive (init_record) INP must be a link to <I>:UPTIME CA");
        return S_db_badField;
    }
    if (n > sl && strcmp(prec->name + n - sl, suffix) == 0) {
        /* The record is $(P)$(I):ALIVE: find the instance by its PV name. */
        snprintf(base, sizeof base, "%.*s", (int)(n - sl), prec->name);
        inst = iocmgrFindInstanceByPv(base);
    }
    if (!inst) {
        recGblRecordError(S_db_badField, prec, "devBiIocmgrAlive (init_record) record name must be $(P)$(I):ALIVE of a managed instance");
        return S_db_badField;
    }
    a = callocMustSucceed(1, sizeof *a, "devBiIocmgrAlive");
    a->inst = inst;
    prec->dpvt = a;
    return 0;
}

static long readBiAlive(biRecord *prec)
{
    alivePvt *a = prec->dpvt;
    char uptime[MAX_STRING_SIZE] = "";
    int answered, alarm;
    iocmgrLiveness l;

    if (!a) return S_dev_NoInit;
    /* dbTryGetLink: no LINK/INVALID alarm of its own (dbGetLink would give one for
     * a link that has just connected and has no value yet): ALIVE's severity is
     * iocmgrAliveUpdate's alone. */
    answered = dbIsLinkConnected(&prec->inp) && dbTryGetLink(&prec->inp, DBR_STRING, uptime, NULL) == 0;
    iocmgrLock();
    iocmgrReadLiveness(a->inst, &l);
    iocmgrUnlock();
    prec->val = iocmgrAliveUpdate(&a->state, answered, uptime, l.ready, (long long)time(NULL), &alarm);
    prec->udf = 0;
    if (alarm) recGblSetSevr(prec, STATE_ALARM, MAJOR_ALARM);
    return 2;
}

/* ---- dsets ------------------------------------------------------------ */

#define DSET(type, name, init, ioint, rw)                                    \
    static struct { dset common; long (*rw_)(type##Record *); } name = {     \
        { 5, NULL, NULL, (long (*)(dbCommon *))init, ioint }, rw };          \
    epicsExportAddress(dset, name)

DSET(bi, devBiIocmgr, initBi, getIoIntInfo, readBi);
DSET(bi, devBiIocmgrAlive, initBiAlive, NULL, readBiAlive);
DSET(mbbi, devMbbiIocmgr, initMbbi, getIoIntInfo, readMbbi);
DSET(longin, devLonginIocmgr, initLongin, getIoIntInfo, readLongin);
DSET(stringin, devStringinIocmgr, initStringin, getIoIntInfo, readStringin);
DSET(lsi, devLsiIocmgr, initLsi, getIoIntInfo, readLsi);
DSET(waveform, devWaveformIocmgr, initWaveform, getIoIntInfo, readWaveform);
