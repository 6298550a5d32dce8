/* iocmgrExpected.h - the list of instances a beamline expects to exist, read
 * from YAML. No EPICS headers.
 *
 * Accepted shapes:
 *   - bl46p-ea-ioc-01            # a plain list of names
 *   instances: [a, b]            # or under "instances:"
 *   instances:                   # entries may be maps with a "name" key,
 *     - name: bl46p-ea-ioc-01    # as in an ec services list
 */
#ifndef IOCMGR_EXPECTED_H
#define IOCMGR_EXPECTED_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Calls add(arg, name) for each name. Returns 0, or -1 with a message
 * ("instances.yaml line 3: expected a name, found a mapping"). */
int iocmgrExpectedRead(const char *path, int (*add)(void *arg, const char *name), void *arg,
                       char *err, size_t errlen);

/* 0 when name is a valid Kubernetes object name (RFC 1123 label), else -1. */
int iocmgrValidName(const char *name);

#ifdef __cplusplus
}
#endif
#endif
