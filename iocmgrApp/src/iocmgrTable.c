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
    iocmgrInst **byName;    /* named entries sorted by name, under lock */
    iocmgrInst **byPv;      /* named entries sorted by pvName, under lock */
    size_t nNamed;          /* entries in byName and byPv, under lock */
    iocmgrInst **slots;     /* slots[k - 1]: spare slot k; fixed at iocInit */
    size_t nSlots, capSlots;
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

size_t iocmgrNamedCount(void)
{
    size_t n;
    if (!tbl.lock) return 0;
    epicsMutexMustLock(tbl.lock);
    n = tbl.nNamed;
    epicsMutexUnlock(tbl.lock);
    return n;
}
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

static void upper(char *pv, const char *name)
{
    size_t i;
    for (i = 0; name[i]; i++) pv[i] = (char)toupper((unsigned char)name[i]);
    pv[i] = '\0';
}

/* Under the lock: name a (nameless) entry and index it; -1 when the name or
 * its PV form is in the table. The indexes have room: they are as long as the
 * table. */
static int nameEntry(iocmgrInst *inst, const char *name, const char *domain)
{
    size_t atName, atPv;
    int dupName, dupPv;
    char pv[IOCMGR_NAME_SIZE];

    upper(pv, name);
    atName = lowerBound(tbl.byName, tbl.nNamed, offsetof(iocmgrInst, name), name, &dupName);
    atPv = lowerBound(tbl.byPv, tbl.nNamed, offsetof(iocmgrInst, pvName), pv, &dupPv);
    if (dupName || dupPv) return -1;
    snprintf(inst->name, sizeof inst->name, "%s", name);
    snprintf(inst->pvName, sizeof inst->pvName, "%s", pv);
    snprintf(inst->domain, sizeof inst->domain, "%s", domain ? domain : "");
    insertAt(tbl.byName, tbl.nNamed, atName, inst);
    insertAt(tbl.byPv, tbl.nNamed, atPv, inst);
    tbl.nNamed++;
    return 0;
}

static iocmgrInst *newEntry(void)
{
    iocmgrInst *inst = callocMustSucceed(1, sizeof *inst, "iocmgr instance");
    iocmgrScanInit(&inst->scan, &inst->gate);
    iocmgrScanInit(&inst->logScan, &inst->logGate);
    return inst;
}

iocmgrInst *iocmgrTableAdd(const char *name, int expected, const char *domain)
{
    iocmgrInst *inst;
    int bad;

    ensureInit();
    if (!name || !name[0] || strlen(name) >= sizeof inst->name || interruptAccept) return NULL;
    iocmgrTableReserve(1);
    inst = newEntry();
    inst->expected = expected;
    iocmgrDeriveDisconnected(&inst->view, "not yet connected");
    epicsMutexMustLock(tbl.lock);
    bad = nameEntry(inst, name, domain);
    if (!bad) tbl.byPos[tbl.n++] = inst;
    epicsMutexUnlock(tbl.lock);
    if (bad) {
        free(inst);
        return NULL;
    }
    return inst;
}

iocmgrInst *iocmgrTableAddSlot(int slot)
{
    iocmgrInst *inst;

    ensureInit();
    if (slot < 1 || interruptAccept || ((size_t)slot <= tbl.nSlots && tbl.slots[slot - 1])) return NULL;
    iocmgrTableReserve(1);
    if ((size_t)slot > tbl.capSlots) {
        size_t cap = (size_t)slot * 2;
        tbl.slots = realloc(tbl.slots, cap * sizeof *tbl.slots);
        if (!tbl.slots) cantProceed("iocmgr table: out of memory");
        memset(tbl.slots + tbl.capSlots, 0, (cap - tbl.capSlots) * sizeof *tbl.slots);
        tbl.capSlots = cap;
    }
    inst = newEntry();
    inst->slot = slot;
    snprintf(inst->slotKey, sizeof inst->slotKey, "SPARE_%03d", slot);
    iocmgrDeriveFree(&inst->view);
    epicsMutexMustLock(tbl.lock);
    tbl.slots[slot - 1] = inst;
    if ((size_t)slot > tbl.nSlots) tbl.nSlots = (size_t)slot;
    tbl.byPos[tbl.n++] = inst;
    epicsMutexUnlock(tbl.lock);
    return inst;
}

int iocmgrTableNameSlot(iocmgrInst *slot, const char *name, const char *domain)
{
    int bad;
    if (!slot || !slot->slot || !name || !name[0] || strlen(name) >= sizeof slot->name) return -1;
    epicsMutexMustLock(tbl.lock);
    bad = slot->name[0] ? -1 : nameEntry(slot, name, domain);
    epicsMutexUnlock(tbl.lock);
    return bad;
}

iocmgrInst *iocmgrFindInstance(const char *name)
{
    iocmgrInst *inst = NULL;
    size_t at;
    int found;
    if (!name || !tbl.lock) return NULL;
    epicsMutexMustLock(tbl.lock);
    at = lowerBound(tbl.byName, tbl.nNamed, offsetof(iocmgrInst, name), name, &found);
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
    at = lowerBound(tbl.byPv, tbl.nNamed, offsetof(iocmgrInst, pvName), pvBase + pl, &found);
    if (found) inst = tbl.byPv[at];
    epicsMutexUnlock(tbl.lock);
    return inst;
}

/* A slot by its key SPARE_<n> (the form iocmgrTableAddSlot gives). */
static iocmgrInst *slotByKey(const char *key)
{
    char *end;
    long k;
    if (strncmp(key, "SPARE_", 6) != 0) return NULL;
    k = strtol(key + 6, &end, 10);
    if (*end || k < 1 || (size_t)k > tbl.nSlots) return NULL;
    return tbl.slots[k - 1] && strcmp(tbl.slots[k - 1]->slotKey, key) == 0 ? tbl.slots[k - 1] : NULL;
}

iocmgrInst *iocmgrFindRecordOwner(const char *key)
{
    iocmgrInst *inst = key ? slotByKey(key) : NULL;
    return inst ? inst : iocmgrFindInstance(key);
}

iocmgrInst *iocmgrFindRecordOwnerByPv(const char *pvBase)
{
    size_t pl = strlen(tbl.prefix);
    iocmgrInst *inst;
    if (!pvBase || strncmp(pvBase, tbl.prefix, pl) != 0) return NULL;
    inst = slotByKey(pvBase + pl);
    return inst ? inst : iocmgrFindInstanceByPv(pvBase);
}

size_t iocmgrTableSorted(iocmgrInst **out, size_t cap)
{
    size_t n;
    if (!tbl.lock) return 0;
    epicsMutexMustLock(tbl.lock);
    n = tbl.nNamed < cap ? tbl.nNamed : cap;
    memcpy(out, tbl.byName, n * sizeof *out);
    epicsMutexUnlock(tbl.lock);
    return n;
}

size_t iocmgrTableNames(char *out, size_t len)
{
    size_t i, used = 0;
    if (!len) return 0;
    out[0] = '\0';
    if (!tbl.lock) return 0;
    epicsMutexMustLock(tbl.lock);
    for (i = 0; i < tbl.nNamed; i++) {
        const char *name = tbl.byName[i]->name;
        size_t need = strlen(name) + (used ? 1 : 0);
        if (used + need + 1 > len) continue;
        used += (size_t)sprintf(out + used, "%s%s", used ? " " : "", name);
    }
    epicsMutexUnlock(tbl.lock);
    return used;
}

/* Before iocInit. A free slot may take a name of up to IOCMGR_NAME_SIZE - 1
 * characters later: room for it. */
size_t iocmgrTableNamesSize(void)
{
    size_t i, size = 0;
    for (i = 0; i < tbl.n; i++) {
        size_t l = strlen(tbl.byPos[i]->name);
        size += (l ? l : IOCMGR_NAME_SIZE - 1) + 1;   /* a separator, or the NUL after the last */
    }
    return size ? size : 1;
}
