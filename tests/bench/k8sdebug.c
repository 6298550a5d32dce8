/* k8sdebug.c - LD_PRELOADed into the benchmarked IOC so that the Kubernetes layer's
 * level-1 messages (a failed list or watch and its retry) reach iocmgr's log: the IOC
 * leaves k8sDebug at 0, which drops them, and a boot that stalls would say nothing.
 * Nothing else changes. */
extern int k8sDebug __attribute__((weak));   /* weak: setpriv, which execs the IOC, has none */

__attribute__((constructor)) static void k8sDebugOn(void)
{
    if (&k8sDebug && k8sDebug < 1)
        k8sDebug = 1;
}
