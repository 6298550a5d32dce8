/* iocmgrFiles.c - write the operators' files for the managed instances:
 * the Phoebus overview screen and the Phoebus alarm-server configuration.
 * Written at boot, they cover the spare slots too (rows hidden while free,
 * alarm PVs that raise nothing while free), so that an instance bound later
 * needs neither a new screen nor a re-import. */
#include <stdlib.h>

#include <cantProceed.h>
#include <errlog.h>

#include "iocmgrAlarmConfig.h"
#include "iocmgrManager.h"
#include "iocmgrScreens.h"

typedef struct tableArrays {
    const char **names, **pvNames, **domains;
    size_t n;
} tableArrays;

static void tableGet(tableArrays *t)
{
    size_t i;
    t->n = iocmgrInstanceCount();
    t->names = callocMustSucceed(t->n + 1, sizeof *t->names, "iocmgrFiles");
    t->pvNames = callocMustSucceed(t->n + 1, sizeof *t->pvNames, "iocmgrFiles");
    t->domains = callocMustSucceed(t->n + 1, sizeof *t->domains, "iocmgrFiles");
    for (i = 0; i < t->n; i++) {
        iocmgrInst *inst = iocmgrInstanceAt(i);
        t->names[i] = inst->name;
        t->pvNames[i] = inst->pvName;
        t->domains[i] = inst->slot ? "spare-slots" : inst->domain;
        if (inst->slot) t->pvNames[i] = inst->slotKey;
    }
}

static void tableFree(tableArrays *t)
{
    free(t->names);
    free(t->pvNames);
    free(t->domains);
}

int iocmgrWriteScreens(const char *dir)
{
    tableArrays t;
    char err[512];
    int rc;
    if (!dir || !dir[0]) return 0;
    tableGet(&t);
    rc = iocmgrScreensWrite(dir, iocmgrPrefix(), t.names, t.pvNames, t.n, err, sizeof err);
    tableFree(&t);
    if (rc != 0) errlogPrintf("iocmgr: writing screens: %s\n", err);
    else errlogPrintf("iocmgr: wrote the overview screen for %zu instance(s) into %s\n", t.n, dir);
    return rc;
}

int iocmgrWriteAlarmConfig(const char *path, const char *configName)
{
    tableArrays t;
    char err[512];
    int rc;
    if (!path || !path[0]) return 0;
    tableGet(&t);
    rc = iocmgrAlarmConfigWrite(path, configName && configName[0] ? configName : "iocmgr",
                                iocmgrPrefix(), t.names, t.pvNames, t.domains, t.n, err, sizeof err);
    tableFree(&t);
    if (rc != 0) errlogPrintf("iocmgr: writing the alarm configuration: %s\n", err);
    else errlogPrintf("iocmgr: wrote the alarm configuration for %zu instance(s) to %s\n", t.n, path);
    return rc;
}
