/* iocmgrSlots.c - the spare pool (iocmgrSlots.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbAccess.h>
#include <dbLock.h>
#include <menuScan.h>
#include <epicsMutex.h>
#include <epicsThread.h>
#include <epicsTime.h>
#include <errlog.h>

#include "iocmgrAlias.h"
#include "iocmgrPvt.h"
#include "iocmgrSlots.h"

static const char *driverName = "iocmgr";

static struct {
    int setting;                    /* the pool size asked for */
    int loaded;                     /* slots loaded at boot */
    int bound;                      /* under iocmgrLock() */
    const char *const *suffixes;    /* every record of a slot: ":STATUS", ... */
    size_t nSuffixes;
} pool = { IOCMGR_SPARE_DEFAULT, 0, 0, NULL, 0 };

int iocmgrSetSpareSlots(int n)
{
    if (interruptAccept || pool.loaded || iocmgrInstanceCount()) {
        errlogPrintf("%s: iocmgrSpareSlots must come before iocmgrLoadInstances\n", driverName);
        return -1;
    }
    if (n < 0 || n > 9999) {
        errlogPrintf("%s: iocmgrSpareSlots: %d is not a pool size (0-9999); keeping %d\n", driverName, n,
                     pool.setting);
        return -1;
    }
    pool.setting = n;
    return 0;
}

size_t iocmgrSlotsLoad(const char *templ, const char *extraMacros)
{
    char macros[1024], key[16], base[128];
    int k;

    for (k = 1; k <= pool.setting; k++) {
        snprintf(key, sizeof key, "SPARE_%03d", k);
        snprintf(macros, sizeof macros, "P=%s,I=%s,NAME=%s,ALIVE_INP=%s%s", iocmgrPrefix(), key, key,
                 extraMacros && extraMacros[0] ? "," : "", extraMacros ? extraMacros : "");
        if (dbLoadRecords(templ, macros) != 0) {
            errlogPrintf("%s: spare slot %s not loaded: dbLoadRecords(%s, %s) failed; %d of %d slots\n",
                         driverName, key, templ, macros, k - 1, pool.setting);
            break;
        }
        if (!iocmgrTableAddSlot(k)) break;
        pool.loaded = k;
        if (k == 1) {
            snprintf(base, sizeof base, "%s%s", iocmgrPrefix(), key);
            pool.nSuffixes = iocmgrAliasSuffixes(base, &pool.suffixes);
        }
    }
    if (pool.setting)
        errlogPrintf("%s: %d spare slot(s) for instances deployed after boot (%zu names each)\n", driverName,
                     pool.loaded, pool.nSuffixes);
    return (size_t)pool.loaded;
}

iocmgrInst *iocmgrSlotBind(const char *name, const char *domain)
{
    iocmgrInst *slot = NULL;
    size_t i, n = iocmgrInstanceCount();

    iocmgrLock();
    for (i = 0; i < n; i++) {
        iocmgrInst *inst = iocmgrInstanceAt(i);
        if (!inst->slot || inst->name[0]) continue;
        if (iocmgrTableNameSlot(inst, name, domain) == 0) {
            slot = inst;
            pool.bound++;
        }
        break;
    }
    iocmgrUnlock();
    if (slot)
        errlogPrintf("%s: instance %s appeared after boot: bound to spare slot %s (%d of %d free)\n",
                     driverName, name, slot->slotKey, pool.loaded - pool.bound, pool.loaded);
    return slot;
}

/* The slot's scanned records (I/O Intr and periodic: what shows the view) are
 * processed here, so that the first client to find the new names reads the
 * instance, not the Free the records showed until their scan (a fresh caget
 * read "Free" 1 time in 50 at 1,000 instances when the aliases came right
 * after the scan request). Command records are passive and left alone. */
static void processScanned(const char *from)
{
    char name[PVNAME_STRINGSZ + 16];
    DBADDR addr;
    size_t i;

    for (i = 0; i < pool.nSuffixes; i++) {
        snprintf(name, sizeof name, "%s%s", from, pool.suffixes[i]);
        if (dbNameToAddr(name, &addr) != 0 || addr.precord->scan == menuScanPassive) continue;
        dbScanLock(addr.precord);
        dbProcess(addr.precord);
        dbScanUnlock(addr.precord);
    }
}

void iocmgrSlotPublish(iocmgrInst *inst)
{
    char from[128], to[128], field[160], link[128], err[512];
    size_t made;
    epicsTimeStamp t0, t1;

    if (!inst->slot || inst->published) return;
    inst->published = 1;
    epicsTimeGetCurrent(&t0);
    snprintf(from, sizeof from, "%s%s", iocmgrPrefix(), inst->slotKey);
    snprintf(to, sizeof to, "%s%s", iocmgrPrefix(), inst->pvName);
    processScanned(from);
    if (iocmgrAliasCreate(from, to, pool.suffixes, pool.nSuffixes, &made, err, sizeof err) != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "spare slot %s for %s: %s", inst->slotKey, inst->name, err);
        errlogPrintf("%s: %s\n", driverName, msg);
        iocmgrSetLastError(msg);
    }
    /* ALIVE reads the IOC's own UPTIME, as the template links it for an
     * instance found at boot */
    snprintf(field, sizeof field, "%s:ALIVE.INP", from);
    snprintf(link, sizeof link, "%s:UPTIME CA NMS", inst->pvName);
    if (iocmgrAliasRetargetLink(field, link, err, sizeof err) != 0) {
        errlogPrintf("%s: spare slot %s for %s: ALIVE not linked: %s\n", driverName, inst->slotKey,
                     inst->name, err);
    }
    epicsTimeGetCurrent(&t1);
    errlogPrintf("%s: %s now serves %s: %zu names (aliases of %s) in %.1f ms; ALIVE reads %s\n", driverName,
                 inst->slotKey, inst->name, made, from, 1e3 * epicsTimeDiffInSeconds(&t1, &t0), link);
}

void iocmgrSlotCounts(int *freeSlots, int *total)
{
    *freeSlots = pool.loaded - pool.bound;
    *total = pool.loaded;
}
