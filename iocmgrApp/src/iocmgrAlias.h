/* iocmgrAlias.h - names added to the running database: the aliases that give
 * a spare slot's records the contract names of the instance bound to it, and
 * the retargeting of a link. EPICS side (dbStaticLib, dbAccess).
 *
 * Records cannot be created after iocInit in any Base 7.0.x (7.0.4 and newer
 * refuse in dbReadCOM; 7.0.3.1 accepts and crashes on the first access), but
 * dbCreateAlias() is public API in 7.0.3.1 and 7.0.8.1 and a name it adds is
 * found by every lookup (dbNameToAddr, dbChannelTest: RSRV's and QSRV's
 * searches). It takes only the PV directory's bucket lock, which is all Base
 * offers: walkers of the record lists (dbl, dbla, dbgrep, dbDumpRecord) may
 * meet a node being appended. Aliases cannot be removed safely, so a slot stays
 * bound for the life of the IOC. docs/ioc-layer.md "Spare slots".
 *
 * Call only from one thread at a time (the deriver), after iocInit, never
 * while it runs. Functions return 0, or -1 with the reason in err.
 */
#ifndef IOCMGR_ALIAS_H
#define IOCMGR_ALIAS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Before iocInit: the suffixes (":STATUS", ...) of every record and alias
 * whose name begins with base and a ':', read from the database loaded so
 * far. The list lives as long as the IOC. Returns how many (0: none). */
size_t iocmgrAliasSuffixes(const char *base, const char *const **suffixes);

/* For each suffix: the alias toBase+suffix of the record fromBase+suffix. A
 * name that exists already is left alone and counted as a failure; the others
 * are still made. *made: how many were made. */
int iocmgrAliasCreate(const char *fromBase, const char *toBase, const char *const *suffixes,
                      size_t n, size_t *made, char *err, size_t errlen);

/* Writes a link field ("rec.INP") as dbpf would: the link is torn down and
 * made anew under the record's lock (device support must have add_record and
 * del_record, devSup.h dsxt). */
int iocmgrAliasRetargetLink(const char *field, const char *link, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
