/* iocmgr-k8s - diagnose iocmgr's Kubernetes access without the IOC.
 * Built from the same library, so what works here works in the IOC. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8sClient.h"

static const char *usage =
    "usage: iocmgr-k8s [options] COMMAND [ARGS]\n"
    "commands:\n"
    "  config                     show server, namespace, context and auth method\n"
    "  get                        list+watch once, print instances, pods and warnings\n"
    "  watch [SECONDS]            print every change as it arrives (default: until Ctrl-C)\n"
    "  scale INSTANCE REPLICAS    start (1) / stop (0) an instance\n"
    "  restart INSTANCE           delete the instance's pod(s)\n"
    "  set-image INSTANCE IMAGE   roll the instance to IMAGE\n"
    "  logs POD [--tail N] [--previous]\n"
    "  owner INSTANCE             the Argo CD Applications that own it, and whether a command\n"
    "                             can go through its root (docs/argocd.md)\n"
    "options:\n"
    "  --kubeconfig FILE|incluster   --context NAME   -n, --namespace NS\n"
    "  --selector 'ioc=true,is_ioc=true' (any term matches)   --container NAME\n"
    "  --timeout SECONDS (sync and command wait, default 20)   -v (repeat for more)\n"
    "  --app-namespace NS|none  --root APP   Argo CD (default: from EC_TARGET=<ns>/<root>)\n"
    "exit status: 0 success, 1 failure (message on stderr), 2 usage\n";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected, doneFlag, doneOk, printEvents;
static char syncMsg[600];
static volatile sig_atomic_t interrupted;

static void onSignal(int sig) { (void)sig; interrupted = 1; }

static const char *changeName(k8sChange c)
{
    return c == K8S_ADDED ? "ADDED" : c == K8S_MODIFIED ? "MODIFIED" : "DELETED";
}

static void printInstance(const char *prefix, const k8sInstance *i)
{
    printf("%sinstance %s kind=%s replicas=%d/%d ready=%d rv=%s uid=%s image=%s version=%s%s\n", prefix, i->name,
           i->kind, i->specReplicas, i->statusReplicas, i->readyReplicas, i->resourceVersion, i->uid, i->image,
           i->labelVersion, i->deleting ? " deleting" : "");
}

static void printPod(const char *prefix, const k8sPod *p)
{
    printf("%spod %s owner=%s phase=%s ready=%d restarts=%d rv=%s uid=%s node=%s image=%s%s%s%s%s%s\n", prefix,
           p->name, p->ownerName, p->phase, p->ready, p->restartCount, p->resourceVersion, p->uid, p->nodeName,
           p->image, p->deleting ? " deleting" : "", p->waitingReason[0] ? " waiting=" : "", p->waitingReason,
           p->unschedulableMessage[0] ? " unschedulable=" : "", p->unschedulableMessage);
}

static void instanceChanged(void *arg, k8sChange change, const k8sInstance *inst)
{
    char prefix[32];
    (void)arg;
    if (!printEvents)
        return;
    snprintf(prefix, sizeof prefix, "%s ", changeName(change));
    printInstance(prefix, inst);
    fflush(stdout);
}

static void podChanged(void *arg, k8sChange change, const k8sPod *pod)
{
    char prefix[32];
    (void)arg;
    if (!printEvents)
        return;
    snprintf(prefix, sizeof prefix, "%s ", changeName(change));
    printPod(prefix, pod);
    fflush(stdout);
}

static void syncChanged(void *arg, int isConnected, const char *message)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    connected = isConnected;
    snprintf(syncMsg, sizeof syncMsg, "%s", message);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    if (printEvents) {
        printf("SYNC %d %s\n", isConnected, message);
        fflush(stdout);
    }
}

static void commandDone(void *arg, const k8sResult *res)
{
    (void)arg;
    if (res->ok && res->body && res->bodyLen && strstr(res->message, "log of pod"))
        fwrite(res->body, 1, res->bodyLen, stdout);
    fprintf(res->ok ? stdout : stderr, "%s%s (HTTP %ld)\n", res->ok ? "" : "error: ", res->message,
            res->httpStatus);
    pthread_mutex_lock(&lock);
    doneFlag = 1;
    doneOk = res->ok;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)seconds;
    ts->tv_nsec += (long)((seconds - (time_t)seconds) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Returns 1 when in sync before the timeout. Wakes every 200 ms for Ctrl-C. */
static int waitSync(double timeout)
{
    struct timespec end, now, step;
    int ok;

    deadline(&end, timeout);
    pthread_mutex_lock(&lock);
    while (!connected && !interrupted) {
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        deadline(&step, 0.2);
        pthread_cond_timedwait(&cond, &lock, &step);
    }
    ok = connected;
    pthread_mutex_unlock(&lock);
    return ok;
}

static int waitDone(double timeout)
{
    struct timespec end;
    int rc = 0;

    deadline(&end, timeout);
    pthread_mutex_lock(&lock);
    while (!doneFlag && rc == 0)
        rc = pthread_cond_timedwait(&cond, &lock, &end);
    rc = doneFlag ? (doneOk ? 0 : 1) : -1;
    pthread_mutex_unlock(&lock);
    return rc;
}

static int cmdGet(k8sClient *c, double timeout)
{
    k8sInstance *list = NULL;
    size_t n = 0, i, j, npods;
    k8sPod pods[8];
    char err[1024], msg[600];

    if (!waitSync(timeout)) {
        pthread_mutex_lock(&lock);
        fprintf(stderr, "error: not in sync after %.0f s: %s\n", timeout, syncMsg[0] ? syncMsg : "no answer");
        pthread_mutex_unlock(&lock);
        return 1;
    }
    /* the boot-time list names the instances; the cache gives their pods */
    if (k8sClientListInstances(c, timeout, &list, &n, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    printf("%zu instance(s) in %s at %s\n", n, k8sClientNamespace(c), k8sClientServer(c));
    for (i = 0; i < n; i++) {
        printInstance("", &list[i]);
        k8sClientGetPods(c, list[i].name, pods, 8, &npods);
        for (j = 0; j < npods && j < 8; j++) {
            printPod("  ", &pods[j]);
            if (k8sClientLatestEvent(c, pods[j].name, msg, sizeof msg) == 0)
                printf("    warning: %s\n", msg);
        }
        if (k8sClientLatestEvent(c, list[i].name, msg, sizeof msg) == 0)
            printf("  warning: %s\n", msg);
    }
    free(list);
    return 0;
}

static int cmdOwner(k8sClient *c, const char *instance, double timeout)
{
    k8sArgoOwner o;

    if (!waitSync(timeout)) {
        fprintf(stderr, "error: not in sync after %.0f s: %s\n", timeout, syncMsg);
        return 1;
    }
    k8sClientArgoOwner(c, instance, &o);
    if (!o.managed) {
        printf("%s: no Argo CD Application owns it (Applications watched in \"%s\"): commands scale and patch it\n",
               instance, k8sClientAppNamespace(c));
        return 0;
    }
    if (o.haveChild)
        printf("%s: Application %s/%s (service %s, sync %s, health %s, revision %s)\n", instance,
               o.child.namespace_, o.child.name, o.svc, o.child.syncStatus, o.child.healthStatus,
               o.child.targetRevision);
    if (o.haveRoot) {
        char *all = k8sClientAppParams(c, o.root.namespace_, o.root.name);
        printf("  root Application %s/%s (sync %s, health %s, reconciled %s)\n%s", o.root.namespace_, o.root.name,
               o.root.syncStatus, o.root.healthStatus, o.root.reconciledAt, all ? all : "");
        free(all);
    }
    if (o.problem[0]) {
        printf("  commands refused: %s\n", o.problem);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longOpts[] = {
        { "kubeconfig", required_argument, NULL, 'k' }, { "context", required_argument, NULL, 'c' },
        { "namespace", required_argument, NULL, 'n' }, { "selector", required_argument, NULL, 's' },
        { "container", required_argument, NULL, 'C' }, { "timeout", required_argument, NULL, 't' },
        { "tail", required_argument, NULL, 'T' }, { "previous", no_argument, NULL, 'p' },
        { "app-namespace", required_argument, NULL, 'A' }, { "root", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    k8sClientOptions opt;
    k8sClientCallbacks cb = { NULL, instanceChanged, podChanged, syncChanged, NULL };
    k8sClient *c = NULL;
    double timeout = 20;
    int tail = 100, previous = 0, ch, rc = 1;
    const char *cmd;
    char err[1024];

    memset(&opt, 0, sizeof opt);
    while ((ch = getopt_long(argc, argv, "+n:vh", longOpts, NULL)) != -1) {
        switch (ch) {
        case 'k': opt.kubeconfig = optarg; break;
        case 'c': opt.context = optarg; break;
        case 'n': opt.namespace_ = optarg; break;
        case 's': opt.labelSelectors = optarg; break;
        case 'C': opt.container = optarg; break;
        case 't': timeout = atof(optarg); break;
        case 'T': tail = atoi(optarg); break;
        case 'p': previous = 1; break;
        case 'A': opt.appNamespace = optarg; break;
        case 'R': opt.rootApp = optarg; break;
        case 'v': k8sDebug++; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    cmd = argv[optind++];
    /* logs accepts its options after the pod name too */
    if (strcmp(cmd, "logs") == 0) {
        const char *pod = NULL;
        int i;
        for (i = optind; i < argc; i++) {
            if (strcmp(argv[i], "--previous") == 0 || strcmp(argv[i], "-p") == 0)
                previous = 1;
            else if (strcmp(argv[i], "--tail") == 0 && i + 1 < argc)
                tail = atoi(argv[++i]);
            else if (!pod)
                pod = argv[i];
            else {
                fputs(usage, stderr);
                return 2;
            }
        }
        if (!pod) {
            fputs(usage, stderr);
            return 2;
        }
        argv[argc - 1] = (char *)pod;
        optind = argc - 1;
    }
    if (k8sClientCreate(&opt, &cb, &c, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (strcmp(cmd, "config") == 0) {
        printf("%s\n", k8sClientDescribe(c));
        k8sClientDestroy(c);
        return 0;
    }
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);
    signal(SIGPIPE, SIG_IGN);
    printEvents = strcmp(cmd, "watch") == 0;
    if (k8sClientStart(c, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        k8sClientDestroy(c);
        return 1;
    }

    if (strcmp(cmd, "get") == 0 && optind == argc) {
        rc = cmdGet(c, timeout);
    } else if (strcmp(cmd, "owner") == 0 && optind == argc - 1) {
        rc = cmdOwner(c, argv[optind], timeout);
    } else if (strcmp(cmd, "watch") == 0 && optind >= argc - 1) {
        double seconds = optind < argc ? atof(argv[optind]) : 0;
        double t = 0;
        while (!interrupted && (seconds <= 0 || t < seconds)) {
            usleep(100000);
            t += 0.1;
        }
        rc = 0;
    } else if ((strcmp(cmd, "scale") == 0 && optind == argc - 2) ||
               (strcmp(cmd, "restart") == 0 && optind == argc - 1) ||
               (strcmp(cmd, "set-image") == 0 && optind == argc - 2) ||
               (strcmp(cmd, "logs") == 0 && optind == argc - 1)) {
        int q;
        /* restart needs the pod cache; the others only use it for the kind */
        if (!waitSync(timeout) && strcmp(cmd, "restart") == 0) {
            fprintf(stderr, "error: not in sync after %.0f s: %s\n", timeout, syncMsg);
            k8sClientDestroy(c);
            return 1;
        }
        if (strcmp(cmd, "scale") == 0)
            q = k8sClientScale(c, argv[optind], atoi(argv[optind + 1]), commandDone, NULL, err, sizeof err);
        else if (strcmp(cmd, "restart") == 0)
            q = k8sClientRestart(c, argv[optind], commandDone, NULL, err, sizeof err);
        else if (strcmp(cmd, "set-image") == 0)
            q = k8sClientSetImage(c, argv[optind], argv[optind + 1], commandDone, NULL, err, sizeof err);
        else
            q = k8sClientGetLog(c, argv[optind], tail, previous, commandDone, NULL, err, sizeof err);
        if (q) {
            fprintf(stderr, "error: %s\n", err);
        } else {
            rc = waitDone(timeout + 30);
            if (rc < 0) {
                fprintf(stderr, "error: no answer within %.0f s\n", timeout + 30);
                rc = 1;
            }
        }
    } else {
        fputs(usage, stderr);
        rc = 2;
    }
    k8sClientDestroy(c);
    return rc;
}
