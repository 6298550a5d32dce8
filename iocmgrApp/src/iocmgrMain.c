/* iocmgrMain.c - the iocmgr IOC: runs st.cmd, then the shell.
 *
 * In a pod or a test there is no terminal: the shell would read EOF and the
 * IOC would exit at once. Without a terminal the IOC runs until SIGTERM
 * (what Kubernetes sends) or SIGINT, then exits cleanly through epicsExit so
 * the network thread is joined.
 */
#include <signal.h>
#include <unistd.h>

#include <dbBase.h>
#include <dbStaticLib.h>
#include <dbStaticPvt.h>  /* dbPvdTableSize */
#include <epicsExit.h>
#include <epicsThread.h>
#include <iocsh.h>

static volatile sig_atomic_t stopRequested;

static void onSignal(int sig)
{
    (void)sig;
    stopRequested = 1;
}

int main(int argc, char *argv[])
{
    /* Every instance brings ~30 records: Base's default PV directory of 512
     * hash buckets makes each name lookup (loading, iocInit, every CA search)
     * walk chains of ~280 names at 5000 instances, which doubled the time to
     * iocInit (docs/performance.md). It must be sized before st.cmd's
     * dbLoadDatabase; a st.cmd may still set another size first thing. */
    dbPvdTableSize(16384);
    if (argc >= 2) {
        iocsh(argv[1]);
        epicsThreadSleep(.2);
    }
    if (isatty(STDIN_FILENO)) {
        iocsh(NULL);
    } else {
        signal(SIGTERM, onSignal);
        signal(SIGINT, onSignal);
        while (!stopRequested) epicsThreadSleep(0.2);
    }
    epicsExit(0);
    return 0;
}
