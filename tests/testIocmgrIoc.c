/* testIocmgrIoc.c - the IOC's records with EPICS' own test harness, with no
 * cluster reachable: what an operator sees and what commands do when the
 * Kubernetes API is down. (Against a real cluster: tests/integration.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <alarm.h>
#include <callback.h>
#include <dbAccess.h>
#include <dbCommon.h>
#include <dbStaticLib.h>
#include <dbUnitTest.h>
#include <epicsEvent.h>
#include <epicsThread.h>
#include <errlog.h>
#include <testMain.h>

#include "devIocmgr.h"
#include "iocmgrManager.h"
#include "iocmgrVersion.h"

void testIocmgrIoc_registerRecordDeviceDriver(struct dbBase *);

#define INST "TST:BL46P-TEST-01:"
/* 52 characters, as long as a StatefulSet name may be: its records cannot exist */
#define LONG_NAME "bl46p-test-with-a-name-kubernetes-allows-but-not-epic"

/* Long strings (lsi) are read straight from the record, under its lock. */
static void getLongString(const char *pv, char *buf, size_t len)
{
    DBADDR addr;
    if (dbNameToAddr(pv, &addr) != 0) {
        testAbort("no PV %s", pv);
    }
    dbScanLock(addr.precord);
    snprintf(buf, len, "%s", (const char *)addr.pfield);
    dbScanUnlock(addr.precord);
}

/* I/O Intr processing happens on the callback threads: wait for it. */
static int waitLong(const char *pv, long want, double timeout)
{
    DBADDR addr;
    epicsInt32 v = -1;
    long n = 1;
    double waited = 0;
    if (dbNameToAddr(pv, &addr) != 0) testAbort("no PV %s", pv);
    testSyncCallback();
    for (;;) {
        n = 1;
        dbGetField(&addr, DBR_LONG, &v, NULL, &n, NULL);
        if (v == want || waited >= timeout) {
            if (v != want) testDiag("%s is %d", pv, (int)v);
            return v == want;
        }
        epicsThreadSleep(0.05);
        waited += 0.05;
    }
}

/* "2026-12-01T16:40:02Z ...": LAST_ERROR says when the error happened. */
static int stamped(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ ";
    size_t i;
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* The watches' own words while they get in sync (k8sWatch.c): progress. */
static int progress(const char *s)
{
    return strstr(s, ": listing") || strstr(s, "watching from") || strstr(s, ": not started")
        || strstr(s, "relisting");
}

/* A freshly booted manager shows no alarm on a record whose value is known: the
 * command records read Idle and an empty setpoint is no request, so neither is
 * UDF (Phoebus draws INVALID as a magenta border). One test per record. */
static void testIdleWithoutAlarm(void)
{
    static const char *const records[] = {
        INST "START", INST "STOP", INST "RESTART", INST "LOG_FETCH",
        INST "LOG_PREV_FETCH", INST "IMAGE_SP", "TST:REBOOT"};
    size_t i;
    for (i = 0; i < sizeof records / sizeof records[0]; i++) {
        DBADDR addr;
        dbCommon *prec;
        if (dbNameToAddr(records[i], &addr) != 0) testAbort("no PV %s", records[i]);
        prec = addr.precord;
        testOk(prec->udf == 0 && prec->stat == NO_ALARM && prec->sevr == NO_ALARM,
               "%s after boot: UDF %d, STAT %d, SEVR %d", records[i], prec->udf,
               prec->stat, prec->sevr);
    }
}

static dbCommon *record(const char *pv)
{
    DBADDR addr;
    if (dbNameToAddr(pv, &addr) != 0) testAbort("no PV %s", pv);
    return addr.precord;
}

/* NAMES / UNMANAGED: one string, the names separated by a space. */
static void getNames(const char *pv, char *buf, long len)
{
    DBADDR addr;
    long n = len - 1;
    if (dbNameToAddr(pv, &addr) != 0) testAbort("no PV %s", pv);
    memset(buf, 0, len);
    dbGetField(&addr, DBR_CHAR, buf, NULL, &n, NULL);
}

static epicsTimeStamp timeOf(const char *pv)
{
    dbCommon *prec = record(pv);
    epicsTimeStamp t;
    dbScanLock(prec);
    t = prec->time;
    dbScanUnlock(prec);
    return t;
}

/* LOG and LOG_PREV are on a list of their own: a change of the instance (here
 * a command refused) processes its other records, not 2 x LOG_NELM bytes of
 * logs; storing a log processes them. A fetched log keeps what LOG shows, its
 * tail from the first whole line. */
static void testLogsKeepTheirTailOnTheirOwnList(iocmgrInst *inst)
{
    char *big;
    epicsTimeStamp logBefore, statBefore;
    size_t i, keep;
    long nelm;
    DBADDR addr;

    logBefore = timeOf(INST "LOG");
    statBefore = timeOf(INST "CMD_STAT");
    epicsThreadSleep(0.02);
    testdbPutFieldOk(INST "STOP", DBR_LONG, 1);      /* refused: the API is unreachable */
    epicsThreadSleep(0.2);
    testSyncCallback();
    {
        epicsTimeStamp s2 = timeOf(INST "CMD_STAT"), l2 = timeOf(INST "LOG");
        testOk(!epicsTimeEqual(&s2, &statBefore), "the instance's records processed on its change");
        testOk(epicsTimeEqual(&l2, &logBefore), "LOG not processed on the instance's change");
    }
    if (dbNameToAddr(INST "LOG", &addr) != 0) testAbort("no LOG");
    nelm = addr.no_elements;
    big = malloc(100000 + 1);
    for (i = 0; i < 100000; i++) big[i] = (i % 50 == 49) ? '\n' : (char)('a' + i % 26);
    big[100000] = '\0';
    iocmgrStoreLog(inst, 0, big, 100000);
    testSyncCallback();
    iocmgrLock();
    keep = inst->logLen[0];
    testOk(keep <= (size_t)nelm - 1 && keep > (size_t)nelm - 60, "a 100000-byte log keeps %zu bytes: LOG shows %ld",
           keep, nelm - 1);
    testOk(inst->log[0] && memcmp(inst->log[0], big + 100000 - keep, keep) == 0 && big[100000 - keep - 1] == '\n',
           "what is kept is the tail, from the first whole line");
    iocmgrUnlock();
    {
        epicsTimeStamp l3 = timeOf(INST "LOG");
        testOk(!epicsTimeEqual(&l3, &logBefore), "LOG processed when a log is stored");
    }
    testdbGetFieldEqual(INST "LOG.NORD", DBR_LONG, (long)keep + 1);
    iocmgrStoreLog(inst, 0, "", 0);
    testSyncCallback();
    testdbGetFieldEqual(INST "LOG.NORD", DBR_LONG, 1);
    free(big);
}

static epicsEventId blocker;
static void blockLow(CALLBACK *cb) { (void)cb; epicsEventMustWait(blocker); }
static void nothing(CALLBACK *cb) { (void)cb; }

/* A command's completion meets a full callback queue: it is retried until
 * the queue takes it, or the record would stay active (PACT) for ever. */
static void testCompletionSurvivesAFullCallbackQueue(void)
{
    static CALLBACK block, filler;
    dbCommon *prec = record(INST "RESTART");
    int i, full = 0, pact = 1;

    blocker = epicsEventMustCreate(epicsEventEmpty);
    callbackSetCallback(blockLow, &block);
    callbackSetPriority(priorityLow, &block);
    callbackSetCallback(nothing, &filler);
    callbackSetPriority(priorityLow, &filler);
    testOk1(callbackRequest(&block) == 0);
    epicsThreadSleep(0.1);
    eltc(0);
    for (i = 0; i < 100000 && !full; i++) full = callbackRequest(&filler) != 0;
    testOk(full, "the low-priority callback queue is full after %d requests", i);
    dbScanLock(prec);
    prec->pact = TRUE;              /* as while a command is in flight */
    dbScanUnlock(prec);
    devIocmgrCommandDone(prec, 1, "restart requested");
    epicsThreadSleep(0.2);
    dbScanLock(prec);
    pact = prec->pact;
    dbScanUnlock(prec);
    testOk(pact, "the record waits while the queue is full");
    epicsEventSignal(blocker);
    for (i = 0; i < 100 && pact; i++) {
        epicsThreadSleep(0.05);
        dbScanLock(prec);
        pact = prec->pact;
        dbScanUnlock(prec);
    }
    eltc(1);
    testOk(!pact, "the completion went through once the queue had room");
    testdbGetFieldEqual(INST "RESTART", DBR_LONG, 0);
    epicsEventDestroy(blocker);
}

static const char *writeKubeconfig(void)
{
    static char path[] = "/tmp/testIocmgrIocXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    /* Port 1 on loopback: nothing listens, so every request is refused. */
    fputs("apiVersion: v1\nkind: Config\ncurrent-context: t\n"
          "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
          "users:\n- name: u\n  user:\n    token: abc\n"
          "contexts:\n- name: t\n  context:\n    cluster: c\n    user: u\n    namespace: tst-iocs\n",
          f);
    fclose(f);
    return path;
}

MAIN(testIocmgrIoc)
{
    char msg[1100];
    const char *kubeconfig;
    char names[2000];

    testPlan(82);
    kubeconfig = writeKubeconfig();

    testdbPrepare();
    testdbReadDatabase("testIocmgrIoc.dbd", ".:../O.Common:" TOP_DIR "/dbd", NULL);
    testIocmgrIoc_registerRecordDeviceDriver(pdbbase);

    testOk1(iocmgrConfigure(kubeconfig, NULL, NULL) == 0);
    testOk(iocmgrExpect("Bad_Name") != 0, "iocmgrExpect refuses a name Kubernetes would refuse");
    testOk1(iocmgrExpect("bl46p-test-01") == 0);
    testOk1(iocmgrExpect(LONG_NAME) == 0);
    testdbReadDatabase("iocmgrManager.template", TOP_DIR "/db", "P=TST:,NELM=10");
    testOk(iocmgrLoadInstances("TST:", TOP_DIR "/db/iocmgrInstance.template", "", 2.0) == 0,
           "loading instances survives an unreachable API and a name too long (expected ones are loaded)");
    testOk(iocmgrFindInstance("bl46p-test-01") != NULL, "the short instance is managed");
    testOk(iocmgrFindInstance(LONG_NAME) == NULL, "the 52-character one is not");
    {
        /* LAST_ERROR now (later errors of the unreachable API replace it) */
        iocmgrSummary sum;
        iocmgrLock();
        iocmgrReadSummary(&sum);
        iocmgrUnlock();
        testOk(strstr(sum.lastError, LONG_NAME) && strstr(sum.lastError, "60")
               && strstr(sum.lastError, ":LOG_PREV_FETCH"), "LAST_ERROR: %s", sum.lastError);
    }

    eltc(0);
    testIocInitOk();
    eltc(1);
    /* ALIVE and UPTIME are known from iocInit on (PINI), not UDF/INVALID until
     * their first periodic pass: the IOC's UPTIME does not answer (no IOC here),
     * and no pod is known to be Ready, so Silent without an alarm. */
    testdbGetFieldEqual(INST "ALIVE.UDF", DBR_LONG, 0);
    testdbGetFieldEqual(INST "ALIVE", DBR_STRING, "Silent");
    testdbGetFieldEqual(INST "ALIVE.SEVR", DBR_LONG, NO_ALARM);
    testdbGetFieldEqual(INST "UPTIME.UDF", DBR_LONG, 0);

    testdbGetFieldEqual("TST:VERSION", DBR_STRING, IOCMGR_VERSION);
    testOk(waitLong("TST:COUNT", 1, 5.0), "COUNT is 1: the expected instance");
    testdbGetFieldEqual("TST:CONNECTED", DBR_LONG, 0);
    testdbGetFieldEqual("TST:CONNECTED.SEVR", DBR_LONG, MAJOR_ALARM);
    testdbGetFieldEqual("TST:NAMESPACE", DBR_STRING, "tst-iocs");
    /* NAMES: one string, sized for the table (not NELM); the name too long for
     * records is in UNMANAGED, whole, and LAST_ERROR says why. */
    getNames("TST:NAMES", names, sizeof names);
    testOk(strcmp(names, "bl46p-test-01") == 0, "NAMES: '%s'", names);
    testdbGetFieldEqual("TST:NAMES.NELM", DBR_LONG, (long)strlen("bl46p-test-01") + 1);
    getNames("TST:UNMANAGED", names, sizeof names);
    testOk(strcmp(names, LONG_NAME) == 0, "UNMANAGED: '%s'", names);
    getLongString("TST:UNMANAGED_TEXT", msg, sizeof msg);
    testOk(strcmp(msg, LONG_NAME) == 0, "UNMANAGED_TEXT: '%s'", msg);
    testdbGetFieldEqual("TST:UNMANAGED_TEXT.SEVR", DBR_LONG, NO_ALARM);

    /* LAST_ERROR holds errors with their time, never the steps of getting in
     * sync, which the watches go through again and again while the API is down. */
    {
        int i, sawProgress = 0, allStamped = 1;
        for (i = 0; i < 60; i++) {
            testSyncCallback();
            getLongString("TST:LAST_ERROR", msg, sizeof msg);
            if (msg[0] && !stamped(msg)) allStamped = 0;
            if (progress(msg)) sawProgress = 1;
            epicsThreadSleep(0.05);
        }
        testOk(msg[0] != '\0', "LAST_ERROR is set: %s", msg);
        testOk(allStamped, "LAST_ERROR starts with the time of the error, always");
        testOk(!sawProgress, "LAST_ERROR never shows sync progress");
        getLongString(INST "MESSAGE", msg, sizeof msg);
        testOk(strstr(msg, "Kubernetes API unreachable: ") != NULL, "MESSAGE: %s", msg);
    }

    /* Stale values are never shown as good. */
    testdbGetFieldEqual(INST "STATUS", DBR_STRING, "Unknown");
    testdbGetFieldEqual(INST "STATUS.SEVR", DBR_LONG, INVALID_ALARM);
    testdbGetFieldEqual(INST "STATUS.STAT", DBR_LONG, COMM_ALARM);
    testdbGetFieldEqual(INST "RUNNING.SEVR", DBR_LONG, INVALID_ALARM);
    testIdleWithoutAlarm();
    /* An empty setpoint reads as an empty string over CA (one NUL), not as zero
     * characters: a client given none shows whatever bytes its buffer held. */
    {
        DBADDR addr;
        char sp[16] = "x";
        long n = sizeof sp;
        long status;
        testOk1(dbNameToAddr(INST "IMAGE_SP.VAL$", &addr) == 0);
        status = dbGetField(&addr, DBR_CHAR, sp, NULL, &n, NULL);
        testOk(status == 0 && n == 1 && sp[0] == '\0',
               "IMAGE_SP.VAL$ after boot: %ld characters, first %d", n, sp[0]);
    }

    /* Commands while disconnected are refused in words, not queued. */
    testdbPutFieldOk(INST "RESTART", DBR_LONG, 1);
    testdbGetFieldEqual(INST "RESTART", DBR_LONG, 0);
    testOk(waitLong(INST "CMD_STAT", IOCMGR_CMDSTAT_ERROR, 5.0), "CMD_STAT is Error");
    getLongString(INST "CMD_MSG", msg, sizeof msg);
    testOk(strstr(msg, "RESTART refused: Kubernetes API unreachable") != NULL, "CMD_MSG: %s", msg);
    testdbGetFieldEqual(INST "BUSY", DBR_LONG, 0);

    /* Read-only refuses every command, whatever the connection. */
    iocmgrSetReadOnly(1);
    testOk(waitLong("TST:READONLY", 1, 5.0), "READONLY shows 1");
    testdbPutFieldOk(INST "IMAGE_SP", DBR_STRING, "ghcr.io/epics-containers/ioc:1.0");
    epicsThreadSleep(0.2);
    testSyncCallback();
    getLongString(INST "CMD_MSG", msg, sizeof msg);
    testOk(strstr(msg, "IMAGE_SP refused: the manager is read-only") != NULL, "CMD_MSG: %s", msg);

    /* LOG's buffer is a lazily backed mapping of NELM bytes (devIocmgr.c): empty
     * until a log is fetched. A client writing all NELM elements into it (a
     * mistake, but CA allows it) finds the whole buffer writable, and the next
     * processing shows the manager's log again. */
    {
        DBADDR addr;
        char *junk;
        long nelm, n = 1;
        epicsInt8 first = 1;
        testdbGetFieldEqual(INST "LOG.NORD", DBR_LONG, 1);
        testOk1(dbNameToAddr(INST "LOG", &addr) == 0);
        testOk(dbGetField(&addr, DBR_CHAR, &first, NULL, &n, NULL) == 0 && first == 0, "LOG reads empty");
        nelm = addr.no_elements;
        junk = malloc(nelm);
        memset(junk, 'x', nelm);
        testOk(dbPutField(&addr, DBR_CHAR, junk, nelm) == 0, "a put of all %ld LOG elements is taken", nelm);
        testdbGetFieldEqual(INST "LOG.NORD", DBR_LONG, nelm);
        testdbPutFieldOk(INST "LOG.PROC", DBR_LONG, 1);
        testdbGetFieldEqual(INST "LOG.NORD", DBR_LONG, 1);
        n = 1;
        testOk(dbGetField(&addr, DBR_CHAR, &first, NULL, &n, NULL) == 0 && first == 0, "LOG reads empty again");
        free(junk);
    }

    testLogsKeepTheirTailOnTheirOwnList(iocmgrFindInstance("bl46p-test-01"));
    testCompletionSurvivesAFullCallbackQueue();

    getLongString("TST:API_URL", msg, sizeof msg);
    testOk(strcmp(msg, "https://127.0.0.1:1") == 0, "API_URL: %s", msg);

    /* Argo CD records: n/a and empty for an instance no Application manages
     * (here: none known while disconnected), never UDF; REVISION_SP is a
     * command like the others. */
    testdbGetFieldEqual(INST "ARGO_APP", DBR_STRING, "");
    testdbGetFieldEqual(INST "SYNC", DBR_STRING, "n/a");
    testdbGetFieldEqual(INST "HEALTH", DBR_STRING, "n/a");
    testdbGetFieldEqual(INST "OVERRIDE", DBR_LONG, 0);
    testdbGetFieldEqual(INST "SYNC.SEVR", DBR_LONG, INVALID_ALARM);
    testdbGetFieldEqual("TST:ARGO_APP", DBR_STRING, "");
    testdbGetFieldEqual("TST:SYNC", DBR_STRING, "n/a");
    testdbGetFieldEqual("TST:HEALTH", DBR_STRING, "n/a");
    testdbPutFieldOk(INST "REVISION_SP", DBR_STRING, "2024.5.1");
    epicsThreadSleep(0.2);
    testSyncCallback();
    getLongString(INST "CMD_MSG", msg, sizeof msg);
    testOk(strstr(msg, "REVISION_SP refused: the manager is read-only") != NULL, "CMD_MSG: %s", msg);
    iocmgrSetReadOnly(0);
    testdbPutFieldOk(INST "REVISION_SP", DBR_STRING, "2024.5.1");
    epicsThreadSleep(0.2);
    testSyncCallback();
    getLongString(INST "CMD_MSG", msg, sizeof msg);
    testOk(strstr(msg, "REVISION_SP refused: Kubernetes API unreachable") != NULL, "CMD_MSG: %s", msg);
    testdbGetFieldEqual(INST "REVISION_SP.SEVR", DBR_LONG, MAJOR_ALARM);

    testIocShutdownOk();
    testdbCleanup();
    unlink(kubeconfig);
    return testDone();
}
