/* iocmgrTable.c - the instance table (iocmgrTable.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cantProceed.h>
#include <dbAccess.h>
#include <epicsMutex.h>
#include <epicsThread.h>

#include "iocmgrTable.h"

static struct {
    epicsMutexId lock;
    char prefix[64];
    iocmgrInst **byPos;     /* positions: never moved */
    iocmgrInst **byName;    /* sorted by name, under lock */
    iocmgrInst **byPv;      /* sorted by pvName, under lock */
    size_t n, cap;
} tbl;

static epicsThreadOnceId once = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    tbl.lock = epicsMutexMustCreate();
}

static void ensureInit(void)
{
    epicsThreadOnce(&once, onceInit, NULL);
}

void iocmgrTableSetPrefix(const char *prefix)
{
    snprintf(tbl.prefix, sizeof tbl.prefix, "%s", prefix ? prefix : "");
}

const char *iocmgrPrefix(void) { return tbl.prefix; }
size_t iocmgrInstanceCount(void) { return tbl.n; }
iocmgrInst *iocmgrInstanceAt(size_t index) { return index < tbl.n ? tbl.byPos[index] : NULL; }

void iocmgrTableReserve(size_t n)
{
    ensureInit();
    if (interruptAccept || tbl.n + n <= tbl.cap) return;
    tbl.cap = tbl.n + n;
    tbl.byPos = realloc(tbl.byPos, tbl.cap * sizeof *tbl.byPos);
    tbl.byName = realloc(tbl.byName, tbl.cap * sizeof *tbl.byName);
    tbl.byPv = realloc(tbl.byPv, tbl.cap * sizeof *tbl.byPv);
    if (!tbl.byPos || !tbl.byName || !tbl.byPv) cantProceed("iocmgr table: out of memory");
}

/* Position where key belongs in a sorted index (lock held); *found when there. */
static size_t lowerBound(iocmgrInst *const *index, size_t n, size_t offset, const char *key, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp((const char *)index[mid] + offset, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < n && strcmp((const char *)index[lo] + offset, key) == 0;
    return lo;
}

static void insertAt(iocmgrInst **index, size_t n, size_t at, iocmgrInst *inst)
{
    memmove(index + at + 1, index + at, (n - at) * sizeof *index);
    index[at] = inst;
}

iocmgrInst *iocmgrTableAdd(const char *name, int expected, const char *domain)
{
    iocmgrInst *inst;
    size_t atName, atPv, i;
    int dupName, dupPv;
    char pv[IOCMGR_NAME_SIZE];

    ensureInit();
    if (!name || !name[0] || strlen(name) >= sizeof inst->name || interruptAccept) return NULL;
    for (i = 0; name[i]; i++) pv[i] = (char)toupper((unsigned char)name[i]);
    pv[i] = '\0';
    iocmgrTableReserve(1);
    epicsMutexMustLock(tbl.lock);
    atName = lowerBound(tbl.byName, tbl.n, offsetof(iocmgrInst, name), name, &dupName);
    atPv = lowerBound(tbl.byPv, tbl.n, offsetof(iocmgrInst, pvName), pv, &dupPv);
    epicsMutexUnlock(tbl.lock);
    if (dupName || dupPv) return NULL;

    inst = callocMustSucceed(1, sizeof *inst, "iocmgr instance");
    snprintf(inst->name, sizeof inst->name, "%s", name);
    snprintf(inst->pvName, sizeof inst->pvName, "%s", pv);
    snprintf(inst->domain, sizeof inst->domain, "%s", domain ? domain : "");
    inst->expected = expected;
    iocmgrScanInit(&inst->scan, &inst->gate);
    iocmgrScanInit(&inst->logScan, &inst->logGate);
    iocmgrDeriveDisconnected(&inst->view, "not yet connected");

    epicsMutexMustLock(tbl.lock);
    insertAt(tbl.byName, tbl.n, atName, inst);
    insertAt(tbl.byPv, tbl.n, atPv, inst);
    tbl.byPos[tbl.n++] = inst;
    epicsMutexUnlock(tbl.lock);
    return inst;
}

iocmgrInst *iocmgrFindInstance(const char *name)
{
    iocmgrInst *inst = NULL;
    size_t at;
    int found;
    if (!name || !tbl.lock) return NULL;
    epicsMutexMustLock(tbl.lock);
    at = lowerBound(tbl.byName, tbl.n, offsetof(iocmgrInst, name), name, &found);
    if (found) inst = tbl.byName[at];
    epicsMutexUnlock(tbl.lock);
    return inst;
}

iocmgrInst *iocmgrFindInstanceByPv(const char *pvBase)
{
    iocmgrInst *inst = NULL;
    size_t pl = strlen(tbl.prefix), at;
    int found;
    if (!pvBase || !tbl.lock || strncmp(pvBase, tbl.prefix, pl) != 0) return NULL;
    epicsMutexMustLock(tbl.lock);
    at = lowerBound(tbl.byPv, tbl.n, offsetof(iocmgrInst, pvName), pvBase + pl, &found);
    if (found) inst = tbl.byPv[at];
    epicsMutexUnlock(tbl.lock);
    return inst;
}

size_t iocmgrTableNames(char *out, size_t len)
{
    size_t i, used = 0, n = tbl.n;
    if (!len) return 0;
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *name = tbl.byPos[i]->name;
        size_t need = strlen(name) + (used ? 1 : 0);
        if (!name[0] || used + need + 1 > len) continue;
        used += (size_t)sprintf(out + used, "%s%s", used ? " " : "", name);
    }
    return used;
}

/* An entry without a name yet (a spare slot, issue 16) may take one of up to
 * IOCMGR_NAME_SIZE - 1 characters later: room for it. */
size_t iocmgrTableNamesSize(void)
{
    size_t i, size = 0;
    for (i = 0; i < tbl.n; i++) {
        size_t l = strlen(tbl.byPos[i]->name);
        size += (l ? l : IOCMGR_NAME_SIZE - 1) + 1;   /* a separator, or the NUL after the last */
    }
    return size ? size : 1;
}
