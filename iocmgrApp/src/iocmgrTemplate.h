/* iocmgrTemplate.h - the record names an instance template makes, read from
 * the template itself, so that an instance whose names EPICS cannot hold (60
 * characters, PVNAME_SZ) is found before any of its records is created.
 * EPICS side (macLib).
 */
#ifndef IOCMGR_TEMPLATE_H
#define IOCMGR_TEMPLATE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iocmgrTemplate iocmgrTemplate;

/* Reads the record() and alias() names of a database file, unexpanded.
 * path as dbLoadRecords takes it: as given when it names a directory or is
 * found there, else searched along EPICS_DB_INCLUDE_PATH. 0, or -1 with err. */
int iocmgrTemplateRead(const char *path, iocmgrTemplate **out, char *err, size_t errlen);
void iocmgrTemplateFree(iocmgrTemplate *t);
/* Number of names read. */
size_t iocmgrTemplateNameCount(const iocmgrTemplate *t);

/* The longest name the template makes with macros ("P=x,I=y", as
 * dbLoadRecords takes them): its length, and the name expanded into longest
 * (truncated to len). 0 when the template has no names. */
size_t iocmgrTemplateLongest(const iocmgrTemplate *t, const char *macros, char *longest, size_t len);

#ifdef __cplusplus
}
#endif
#endif
