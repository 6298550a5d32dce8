/* testIocmgrIoc.c - the IOC's records with EPICS' own test harness, with no
 * cluster reachable: what an operator sees and what commands do when the
 * Kubernetes API is down. (Against a real cluster: tests/integration.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <alarm.h>
#include <dbAccess.h>
#include <dbCommon.h>
#include <dbStaticLib.h>
#include <dbUnitTest.h>
#include <epicsThread.h>
#include <errlog.h>
#include <testMain.h>

#include "iocmgrManager.h"
#include "iocmgrVersion.h"

void testIocmgrIoc_registerRecordDeviceDriver(struct dbBase *);

#define INST "TST:BL46P-TEST-01:"

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
    char names[2][MAX_STRING_SIZE];

    testPlan(59);
    kubeconfig = writeKubeconfig();

    testdbPrepare();
    testdbReadDatabase("testIocmgrIoc.dbd", ".:../O.Common:" TOP_DIR "/dbd", NULL);
    testIocmgrIoc_registerRecordDeviceDriver(pdbbase);

    testOk1(iocmgrConfigure(kubeconfig, NULL, NULL) == 0);
    testOk(iocmgrExpect("Bad_Name") != 0, "iocmgrExpect refuses a name Kubernetes would refuse");
    testOk1(iocmgrExpect("bl46p-test-01") == 0);
    testdbReadDatabase("iocmgrManager.template", TOP_DIR "/db", "P=TST:,NELM=10");
    testOk(iocmgrLoadInstances("TST:", TOP_DIR "/db/iocmgrInstance.template", "", 2.0) == 0,
           "loading instances survives an unreachable API (expected ones are loaded)");

    eltc(0);
    testIocInitOk();
    eltc(1);

    testdbGetFieldEqual("TST:VERSION", DBR_STRING, IOCMGR_VERSION);
    testOk(waitLong("TST:COUNT", 1, 5.0), "COUNT is 1: the expected instance");
    testdbGetFieldEqual("TST:CONNECTED", DBR_LONG, 0);
    testdbGetFieldEqual("TST:CONNECTED.SEVR", DBR_LONG, MAJOR_ALARM);
    testdbGetFieldEqual("TST:NAMESPACE", DBR_STRING, "tst-iocs");
    memset(names, 0, sizeof names);
    strcpy(names[0], "bl46p-test-01");
    testdbGetArrFieldEqual("TST:NAMES", DBF_STRING, 2, 1, names);
    /* No instance new since boot: the screens' text of UNMANAGED is empty, not
     * an array of empty names. */
    getLongString("TST:UNMANAGED_TEXT", msg, sizeof msg);
    testOk(msg[0] == '\0', "UNMANAGED_TEXT is empty: '%s'", msg);
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
