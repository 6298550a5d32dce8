/* iocmgrCaOnly.c - linked instead of the pvAccess pieces when the EPICS Base
 * the IOC was built against has no pvAccess/QSRV (configure/CONFIG_SITE,
 * IOCMGR_PVA): the IOC says once, at boot, that it serves Channel Access only
 * and what to do about it. docs/pva.md. */
#include <errlog.h>
#include <initHooks.h>
#include <epicsExport.h>

#include "iocmgrManager.h"

static void caOnlyMessage(initHookState state)
{
    if (state != initHookAfterIocRunning) return;
    errlogPrintf("iocmgr: pvAccess: not built in, serving Channel Access only: the EPICS Base this IOC "
                 "was built against has no pvAccess/QSRV (or IOCMGR_PVA=NO); %sTABLE and PVA clients "
                 "need an IOC built against a Base with its pvAccess modules (docs/pva.md)\n",
                 iocmgrPrefix());
}

static void iocmgrCaOnlyRegister(void)
{
    initHookRegister(caOnlyMessage);
}
epicsExportRegistrar(iocmgrCaOnlyRegister);
