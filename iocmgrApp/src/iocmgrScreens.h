/* iocmgrScreens.h - the Phoebus overview screen for the instances known at
 * boot, and the XML file helpers the alarm configuration shares. Plain C and
 * stdio, no EPICS headers, so cmocka tests it alone.
 *
 * Functions returning int return 0 on success, -1 on failure with a message
 * in words in err (truncated to errlen).
 */
#ifndef IOCMGR_SCREENS_H
#define IOCMGR_SCREENS_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* File name of the generated overview inside the OPI directory. */
#define IOCMGR_OVERVIEW_FILE "iocmgr-overview.bob"

/* Writes <dir>/iocmgr-overview.bob: the manager header (iocmgr-manager.bob)
 * and one row (iocmgr-row.bob) per instance, embedded with macros P=prefix,
 * I=pvNames[i], NAME=names[i]. An empty names[i] is a spare slot, pvNames[i]
 * its SPARE_<n>: its row is hidden while the slot is free (STATUS Free) and
 * NAME words it ("the instance in spare slot SPARE_001"); the row reads the
 * name from $(P)$(I):NAME. The static screens it embeds must sit in the same
 * directory; this writes nothing else. n may be 0. */
int iocmgrScreensWrite(const char *dir, const char *prefix, const char *const *names,
                       const char *const *pvNames, size_t n, char *err, size_t errlen);

/* Writes s with & < > " ' escaped, for text and attribute values. NULL is "". */
void iocmgrXmlPut(FILE *f, const char *s);

/* Opens <path>.tmp for writing; tmp receives that name. */
FILE *iocmgrXmlBegin(const char *path, char *tmp, size_t tmpLen, char *err, size_t errlen);

/* Closes f and renames tmp over path, so a reader (nginx serving the OPI
 * directory, an alarm server importing) never sees a half-written file.
 * On failure tmp is removed. */
int iocmgrXmlCommit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
