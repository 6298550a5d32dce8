/* iocmgrAsHosts.h - the HAG host list for Channel Access and pvAccess
 * (iocmgrAsHosts.c, docs/pva.md). */
#ifndef IOCMGR_AS_HOSTS_H
#define IOCMGR_AS_HOSTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* hosts: names and addresses, separated by commas or blanks. Writes them to
 * out comma-separated, each once (case-insensitive), and with resolve each
 * name's IPv4 address after it. Returns 0, or -1 when out was too small
 * (it then holds what fit). */
int iocmgrAsHostsExpand(const char *hosts, int resolve, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
