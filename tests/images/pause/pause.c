/* pause - the test node's pod sandbox process (containerd's sandbox_image).
 *
 * Holds the pod's namespaces: sleeps until SIGINT or SIGTERM, then exits 0. As PID 1 of a
 * pod that shares its PID namespace it also reaps orphaned children. Built static by
 * tests/images/build.sh, so the image holds this one file. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction sa = {0};

    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;)
        pause();
    return EXIT_FAILURE;
}
