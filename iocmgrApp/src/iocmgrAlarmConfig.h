/* iocmgrAlarmConfig.h - Phoebus alarm server configuration for the managed
 * instances. Plain C and stdio, no EPICS headers.
 */
#ifndef IOCMGR_ALARM_CONFIG_H
#define IOCMGR_ALARM_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes path: an alarm tree <config name=configName> for the alarm server's
 * "-import" (or the alarm tree's Import), with
 *   component "IOC-manager":   $(P)CONNECTED
 *   component <domain>:        one per distinct domains[i] (NULL or "" files
 *                              the instance under "other"), in first-seen order,
 *     component <names[i]>:    $(P)$(I):STATUS and $(P)$(I):ALIVE, I = pvNames[i]
 * each PV enabled, not latching, with guidance on what its states mean and
 * what to do. An empty names[i] is a spare slot, pvNames[i] its SPARE_<n>:
 * its component is named SPARE_<n> and the descriptions say where the bound
 * instance's name is ($(P)SPARE_<n>:NAME); a free slot's PVs raise nothing
 * (STATUS Free, ALIVE Silent, no alarm). domains may be NULL. Returns 0, or
 * -1 with a message in err. */
int iocmgrAlarmConfigWrite(const char *path, const char *configName, const char *prefix,
                           const char *const *names, const char *const *pvNames,
                           const char *const *domains, size_t n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
