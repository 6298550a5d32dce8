/* iocmgrAlias.c - names added to the running database (iocmgrAlias.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cantProceed.h>
#include <dbAccess.h>
#include <dbStaticLib.h>
#include <epicsString.h>
#include <errMdef.h>

#include "iocmgrAlias.h"

size_t iocmgrAliasSuffixes(const char *base, const char *const **suffixes)
{
    DBENTRY entry;
    long st;
    size_t bl = strlen(base), n = 0, cap = 0;
    char **list = NULL;

    *suffixes = NULL;
    if (!pdbbase) return 0;
    dbInitEntry(pdbbase, &entry);
    for (st = dbFirstRecordType(&entry); !st; st = dbNextRecordType(&entry)) {
        for (st = dbFirstRecord(&entry); !st; st = dbNextRecord(&entry)) {
            const char *name = dbGetRecordName(&entry);
            if (strncmp(name, base, bl) != 0 || name[bl] != ':') continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                list = realloc(list, cap * sizeof *list);
                if (!list) cantProceed("iocmgrAlias: out of memory");
            }
            list[n++] = epicsStrDup(name + bl);
        }
    }
    dbFinishEntry(&entry);
    *suffixes = (const char *const *)list;
    return n;
}

int iocmgrAliasCreate(const char *fromBase, const char *toBase, const char *const *suffixes,
                      size_t n, size_t *made, char *err, size_t errlen)
{
    DBENTRY entry;
    char from[PVNAME_STRINGSZ + 16], to[PVNAME_STRINGSZ + 16];
    size_t i, failed = 0;
    long st;

    *made = 0;
    if (err && errlen) err[0] = '\0';
    dbInitEntry(pdbbase, &entry);
    for (i = 0; i < n; i++) {
        snprintf(from, sizeof from, "%s%s", fromBase, suffixes[i]);
        if ((size_t)snprintf(to, sizeof to, "%s%s", toBase, suffixes[i]) >= PVNAME_STRINGSZ) {
            st = S_dbLib_nameLength;
        } else {
            st = dbFindRecord(&entry, from);
            if (!st) st = dbCreateAlias(&entry, to);
        }
        if (st) {
            if (!failed++ && err)
                snprintf(err, errlen, "alias %s of %s: %s", to, from,
                         st == S_dbLib_recExists ? "the name exists already"
                         : st == S_dbLib_recNotFound ? "no such record"
                         : st == S_dbLib_nameLength ? "longer than EPICS allows" : "refused by dbCreateAlias");
            continue;
        }
        (*made)++;
    }
    dbFinishEntry(&entry);
    if (failed && err)
        snprintf(err + strlen(err), errlen - strlen(err), " (%zu of %zu failed)", failed, n);
    return failed ? -1 : 0;
}

int iocmgrAliasRetargetLink(const char *field, const char *link, char *err, size_t errlen)
{
    DBADDR addr;
    long st;

    if (dbNameToAddr(field, &addr) != 0) {
        snprintf(err, errlen, "%s: no such field", field);
        return -1;
    }
    /* as characters with their NUL: a link may be longer than a DBR_STRING */
    st = dbPutField(&addr, DBR_CHAR, link, (long)strlen(link) + 1);
    if (st) {
        snprintf(err, errlen, "%s: writing \"%s\" failed (status %ld)", field, link, st);
        return -1;
    }
    return 0;
}
