/* iocmgrWriter.c - who writes (iocmgrWriter.h).
 *
 * rsrv calls the "before" half of a trapped write on the CA client's own
 * thread, where the record then processes, but for a put with completion
 * (caput -c) the "after" half on the client's event thread: a buffer freed by
 * "after" through thread-private storage was never found there, and 256 bytes
 * leaked per such write (tools/sanitize.sh, LeakSanitizer). So each thread
 * keeps one buffer, freed when the thread exits; a CA server thread serves one
 * client, so what it holds is always that client's user@host.
 */
#include <stdio.h>
#include <stdlib.h>

#include <asTrapWrite.h>
#include <dbChannel.h>
#include <epicsExit.h>
#include <epicsThread.h>

#include "iocmgrWriter.h"

#define WHO_SIZE 256

static epicsThreadPrivateId writer;
static iocmgrPutObserver observer;
static epicsThreadOnceId once = EPICS_THREAD_ONCE_INIT;

static void onceInit(void *arg)
{
    (void)arg;
    writer = epicsThreadPrivateCreate();
}

static void trapWrite(asTrapWriteMessage *m, int after)
{
    char *who;
    if (after) return;
    who = epicsThreadPrivateGet(writer);
    if (!who) {
        who = malloc(WHO_SIZE);
        if (!who) return;
        epicsThreadPrivateSet(writer, who);
        epicsAtThreadExit(free, who);
    }
    snprintf(who, WHO_SIZE, "%s@%s", m->userid ? m->userid : "?", m->hostid ? m->hostid : "?");
    /* rsrv's serverSpecific is the channel written */
    if (observer && m->serverSpecific)
        observer(dbChannelRecord((dbChannel *)m->serverSpecific), who);
}

void iocmgrWriterInit(void)
{
    epicsThreadOnce(&once, onceInit, NULL);
    asTrapWriteRegisterListener(trapWrite);
}

void iocmgrWriterObserve(iocmgrPutObserver fn)
{
    observer = fn;
}

const char *iocmgrCurrentWriter(void)
{
    const char *who;
    epicsThreadOnce(&once, onceInit, NULL);
    who = epicsThreadPrivateGet(writer);
    return who ? who : "local (not through CA access security)";
}
