/* iocmgrAsHosts.c - the host list of iocmgr.acf's HAG, for both protocols.
 *
 * Base 7.0.3.1's asLib compares a client's host with a HAG entry as text
 * (lower-cased). Channel Access (asCheckClientIP 0, the default) gives the
 * name the client declares, e.g. "bl46p-ws001"; QSRV gives the PVA peer's
 * address, e.g. "127.0.0.1" (pvif.cpp, ASCred::update). A HAG listing only
 * names would refuse every PVA write. iocmgrAsHosts writes the list with each
 * name's IPv4 address added, so one HAG serves both protocols: the PVA
 * address is the connection's own and cannot be claimed. With
 * asCheckClientIP 1 asLib resolves the names itself and both protocols give
 * addresses, so the list is kept as it is. docs/pva.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asLib.h>
#include <envDefs.h>
#include <epicsString.h>
#include <errlog.h>
#include <iocsh.h>
#include <osiSock.h>
#include <epicsExport.h>

#include "iocmgrAsHosts.h"

static const char *driverName = "iocmgrAsHosts";

/* Is word (len characters) an entry of the comma-separated list? */
static int listed(const char *list, const char *word, size_t len)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && epicsStrnCaseCmp(p, word, len) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static int append(char *out, size_t size, const char *word, size_t len)
{
    size_t used = strlen(out);
    if (listed(out, word, len)) return 0;
    if (used + (used ? 1 : 0) + len + 1 > size) return -1;
    if (used) out[used++] = ',';
    memcpy(out + used, word, len);
    out[used + len] = '\0';
    return 0;
}

int iocmgrAsHostsExpand(const char *hosts, int resolve, char *out, size_t size)
{
    const char *p = hosts ? hosts : "";
    int rc = 0;

    out[0] = '\0';
    while (*p) {
        size_t len = strcspn(p, ", \t");
        if (len > 0) {
            char name[256];
            struct in_addr addr;
            if (append(out, size, p, len) != 0) rc = -1;
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            if (resolve && hostToIPAddr(name, &addr) == 0) {
                char dotted[32];
                unsigned ip = ntohl(addr.s_addr);
                snprintf(dotted, sizeof dotted, "%u.%u.%u.%u",
                         (ip >> 24) & 0xff, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
                if (append(out, size, dotted, strlen(dotted)) != 0) rc = -1;
            } else if (resolve) {
                errlogPrintf("%s: cannot resolve host '%s': pvAccess clients on it are refused "
                             "(Channel Access compares the name the client declares)\n", driverName, name);
            }
        }
        p += len;
        p += strspn(p, ", \t");
    }
    return rc;
}

static void asHostsCall(const iocshArgBuf *a)
{
    const char *var = a[0].sval, *hosts = a[1].sval;
    char out[4096];
    if (!var || !var[0]) {
        errlogPrintf("%s: usage: iocmgrAsHosts(VARIABLE, \"host1,host2\")\n", driverName);
        return;
    }
    if (iocmgrAsHostsExpand(hosts, !asCheckClientIP, out, sizeof out) != 0)
        errlogPrintf("%s: the host list is longer than %zu characters; %s holds what fits\n",
                     driverName, sizeof out - 1, var);
    epicsEnvSet(var, out);
}

static const iocshArg argVar = {"environment variable to set", iocshArgString};
static const iocshArg argHosts = {"hosts, comma-separated", iocshArgString};
static const iocshArg *const asHostsArgs[] = {&argVar, &argHosts};
static const iocshFuncDef asHostsDef = {"iocmgrAsHosts", 2, asHostsArgs};

static void iocmgrAsHostsRegister(void)
{
    iocshRegister(&asHostsDef, asHostsCall);
}
epicsExportRegistrar(iocmgrAsHostsRegister);
