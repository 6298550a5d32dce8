/* iocmgrInstance.c - derive an IOC instance's status, severity and message
 * from its StatefulSet (or Deployment) and pods.
 *
 * The alarm server must need no logic of its own, so severity is decided
 * here: what is as desired has no alarm, what is on its way is MINOR, what
 * needs a person (stuck Pending, crash loop, failure, absent) is MAJOR.
 */
#include <stdio.h>
#include <string.h>

#include "iocmgrInstance.h"

const char *const iocmgrStatusNames[] = {
    "Unknown", "Running", "Starting", "Stopped", "Pending",
    "CrashLoop", "Failed", "Terminating", "Absent"
};

static void copyStr(char *dst, size_t len, const char *src)
{
    if (!src) src = "";
    snprintf(dst, len, "%s", src);
}

static void setState(iocmgrView *v, iocmgrStatus st, iocmgrSeverity sev)
{
    v->status = st;
    v->severity = sev;
}

/* Image pull and container creation errors do not cure themselves. */
static int isFailureReason(const char *reason)
{
    static const char *const failures[] = {
        "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
        "ErrImageNeverPull", "CreateContainerConfigError",
        "CreateContainerError", "RunContainerError", NULL
    };
    const char *const *f;
    for (f = failures; *f; f++)
        if (strcmp(reason, *f) == 0) return 1;
    return 0;
}

const k8sPod *iocmgrCurrentPod(const k8sPod *pods, size_t npods)
{
    const k8sPod *best = NULL;
    size_t i;
    for (i = 0; i < npods; i++) {
        const k8sPod *p = &pods[i];
        if (!best
            || (best->deleting && !p->deleting)
            || (best->deleting == p->deleting && p->createdAtEpoch > best->createdAtEpoch))
            best = p;
    }
    return best;
}

/* The chart label (helm.sh/chart, "ioc-instance-4.0.0") is the chart's
 * version, the same for every instance: never the IOC's, so the label is
 * taken only when the image says nothing. */
void iocmgrVersion(const char *image, const char *labelVersion, char *out, size_t len)
{
    const char *at = strchr(image, '@');
    size_t end = at ? (size_t)(at - image) : strlen(image);
    const char *slash = NULL, *colon = NULL, *p;

    for (p = image; p < image + end; p++) {
        if (*p == '/') slash = p;
        else if (*p == ':') colon = p;
    }
    if (colon && (!slash || colon > slash) && colon + 1 < image + end)
        snprintf(out, len, "%.*s", (int)(image + end - colon - 1), colon + 1);
    else if (labelVersion && labelVersion[0])
        snprintf(out, len, "%s", labelVersion);
    else if (at && strncmp(at + 1, "sha256:", 7) == 0)
        snprintf(out, len, "sha256:%.12s", at + 8);
    else
        snprintf(out, len, "%s", "");
}

static void describeWait(iocmgrView *v, const k8sPod *pod, const char *fallback)
{
    if (pod->waitingMessage[0])
        snprintf(v->message, sizeof v->message, "%s: %s", pod->waitingReason, pod->waitingMessage);
    else if (pod->waitingReason[0])
        snprintf(v->message, sizeof v->message, "%s", pod->waitingReason);
    else
        copyStr(v->message, sizeof v->message, fallback);
}

/* The crash, as the brief's MESSAGE wants it: how often and why it ended. */
static void noteCrash(iocmgrView *v, const k8sPod *pod)
{
    snprintf(v->crashWhy, sizeof v->crashWhy, "%d restarts, last exit %d (%s)",
             pod->restartCount, pod->lastExitCode,
             pod->lastReason[0] ? pod->lastReason : "no reason given");
}

static void describeCrash(iocmgrView *v, const k8sPod *pod)
{
    noteCrash(v, pod);
    snprintf(v->message, sizeof v->message, "restarting: %s%s%s%s%s", v->crashWhy,
             pod->waitingReason[0] ? "; " : "", pod->waitingReason,
             pod->waitingMessage[0] ? ": " : "", pod->waitingMessage);
}

/* Pending and Starting are normal for a while; past the grace period they
 * need a person. */
static void waiting(iocmgrView *v, iocmgrStatus st, long long since, long long now,
                    double grace)
{
    v->pendingSince = since;
    setState(v, st, (since > 0 && (double)(now - since) > grace)
                        ? IOCMGR_SEV_MAJOR : IOCMGR_SEV_MINOR);
}

static void derivePod(iocmgrView *v, const k8sInstance *inst, const k8sPod *pod,
                      const char *event, long long now, double grace)
{
    copyStr(v->pod, sizeof v->pod, pod->name);
    copyStr(v->podUid, sizeof v->podUid, pod->uid);
    copyStr(v->node, sizeof v->node, pod->nodeName);
    copyStr(v->ip, sizeof v->ip, pod->podIP);
    v->restarts = pod->restartCount;
    v->lastExit = pod->lastExitCode;
    copyStr(v->lastReason, sizeof v->lastReason, pod->lastReason);
    v->running = strcmp(pod->phase, "Running") == 0 && !pod->deleting;
    v->ready = pod->ready && !pod->deleting;
    if (v->running && pod->startedAtEpoch > 0) {
        v->startedEpoch = pod->startedAtEpoch;
        copyStr(v->started, sizeof v->started, pod->startedAt);
    }
    if (pod->image[0]) copyStr(v->image, sizeof v->image, pod->image);

    if (pod->deleting) {
        setState(v, IOCMGR_TERMINATING, IOCMGR_SEV_MINOR);
        snprintf(v->message, sizeof v->message, "pod %s is terminating", pod->name);
        return;
    }
    if (inst->specReplicas == 0) {
        setState(v, IOCMGR_TERMINATING, IOCMGR_SEV_MINOR);
        snprintf(v->message, sizeof v->message, "stopping: scaled to 0, pod %s still exists", pod->name);
        return;
    }
    if (strcmp(pod->waitingReason, "CrashLoopBackOff") == 0) {
        setState(v, IOCMGR_CRASHLOOP, IOCMGR_SEV_MAJOR);
        describeCrash(v, pod);
        return;
    }
    if (pod->waitingReason[0] && isFailureReason(pod->waitingReason)) {
        setState(v, IOCMGR_FAILED, IOCMGR_SEV_MAJOR);
        describeWait(v, pod, "");
        return;
    }
    if (strcmp(pod->phase, "Failed") == 0 || strcmp(pod->phase, "Succeeded") == 0) {
        setState(v, IOCMGR_FAILED, IOCMGR_SEV_MAJOR);
        snprintf(v->message, sizeof v->message, "pod %s %s: last exit code %d (%s)",
                 pod->name, strcmp(pod->phase, "Failed") == 0 ? "failed" : "exited",
                 pod->lastExitCode, pod->lastReason[0] ? pod->lastReason : "no reason given");
        return;
    }
    if (strcmp(pod->phase, "Unknown") == 0) {
        setState(v, IOCMGR_UNKNOWN, IOCMGR_SEV_INVALID);
        snprintf(v->message, sizeof v->message,
                 "pod %s state is Unknown: its node %s is not reporting", pod->name,
                 pod->nodeName[0] ? pod->nodeName : "(none)");
        return;
    }
    if (strcmp(pod->phase, "Pending") == 0) {
        if (pod->unschedulableMessage[0]) {
            waiting(v, IOCMGR_PENDING, pod->createdAtEpoch, now, grace);
            snprintf(v->message, sizeof v->message, "Unschedulable: %s", pod->unschedulableMessage);
        } else {
            waiting(v, IOCMGR_STARTING, pod->createdAtEpoch, now, grace);
            if (v->severity == IOCMGR_SEV_MAJOR) v->status = IOCMGR_PENDING;
            describeWait(v, pod, event && event[0] ? event : "pod created, waiting for its container");
        }
        return;
    }
    if (v->ready) {
        setState(v, IOCMGR_RUNNING, IOCMGR_SEV_NONE);
        v->message[0] = '\0';
        return;
    }
    /* Running but not ready: the IOC is booting, or its liveness probe fails. */
    waiting(v, IOCMGR_STARTING, pod->startedAtEpoch ? pod->startedAtEpoch : pod->createdAtEpoch,
            now, grace);
    if (pod->restartCount > 0 && pod->lastReason[0]) describeCrash(v, pod);
    else describeWait(v, pod, event && event[0] ? event : "container running, not ready yet");
}

void iocmgrDerive(const k8sInstance *inst, const k8sPod *pods, size_t npods,
                  const char *event, long long now, double grace, iocmgrView *v)
{
    const k8sPod *pod;

    memset(v, 0, sizeof *v);
    if (!inst) {
        setState(v, IOCMGR_ABSENT, IOCMGR_SEV_MAJOR);
        copyStr(v->message, sizeof v->message,
                "expected instance not found in the namespace (no StatefulSet or Deployment of that name)");
        return;
    }
    copyStr(v->image, sizeof v->image, inst->image);
    copyStr(v->desc, sizeof v->desc, inst->labelDescription);
    iocmgrVersion(inst->image, inst->labelVersion, v->version, sizeof v->version);
    v->enabled = inst->specReplicas > 0;

    if (inst->deleting) {
        setState(v, IOCMGR_TERMINATING, IOCMGR_SEV_MINOR);
        copyStr(v->message, sizeof v->message, "the instance is being deleted from the cluster");
        return;
    }
    pod = iocmgrCurrentPod(pods, npods);
    if (pod) {
        derivePod(v, inst, pod, event, now, grace);
        return;
    }
    if (inst->specReplicas == 0) {
        setState(v, IOCMGR_STOPPED, IOCMGR_SEV_NONE);
        copyStr(v->message, sizeof v->message, "stopped: scaled to 0 replicas");
        return;
    }
    /* Wanted but no pod yet: the controller has not created it, or cannot. */
    setState(v, IOCMGR_STARTING, IOCMGR_SEV_MINOR);
    copyStr(v->message, sizeof v->message,
            event && event[0] ? event : "waiting for the controller to create the pod");
}

/* The states a crash loop passes through between its crashes, and a restart
 * or roll-out meant to fix it. */
static int partOfCrashCycle(const iocmgrView *v)
{
    return v->enabled && (v->status == IOCMGR_STARTING || v->status == IOCMGR_RUNNING
                          || v->status == IOCMGR_TERMINATING);
}

void iocmgrHoldCrashLoop(const iocmgrView *prev, long long now, double settle, iocmgrView *v)
{
    int held = prev && prev->crashSince > 0;

    if (v->status == IOCMGR_CRASHLOOP) {
        v->crashSince = held ? prev->crashSince : now;
        return;
    }
    if (!held || !partOfCrashCycle(v))
        return;
    /* A restarted container (count moved) or a new pod starts the settle time again. */
    if (v->ready)
        v->readySince = (prev->readySince > 0 && prev->restarts == v->restarts
                         && strcmp(prev->podUid, v->podUid) == 0) ? prev->readySince : now;
    if (v->readySince > 0 && (double)(now - v->readySince) >= settle) {
        v->readySince = 0;
        return;
    }
    if (!v->crashWhy[0])
        copyStr(v->crashWhy, sizeof v->crashWhy, prev->crashWhy);
    v->crashSince = prev->crashSince;
    v->pendingSince = 0;
    setState(v, IOCMGR_CRASHLOOP, IOCMGR_SEV_MAJOR);
    if (v->readySince > 0)
        snprintf(v->message, sizeof v->message,
                 "restarting: %s; Ready again, clears after %g s Ready", v->crashWhy, settle);
    else
        snprintf(v->message, sizeof v->message,
                 "restarting: %s; CrashLoopBackOff until the container stays Ready for %g s",
                 v->crashWhy, settle);
}

int iocmgrCrashSettled(const iocmgrView *v, long long now, double settle)
{
    return v->crashSince > 0 && v->readySince > 0 && (double)(now - v->readySince) >= settle;
}

void iocmgrDeriveDisconnected(iocmgrView *v, const char *why)
{
    v->status = IOCMGR_UNKNOWN;
    v->severity = IOCMGR_SEV_INVALID;
    snprintf(v->message, sizeof v->message, "Kubernetes API unreachable: %s",
             why && why[0] ? why : "no connection");
}

int iocmgrIsFault(const iocmgrView *v)
{
    return v->severity >= IOCMGR_SEV_MAJOR;
}

int iocmgrAliveUpdate(iocmgrAlive *a, int answered, const char *uptime, int ready, long long now,
                      int *alarm)
{
    int alive = 0;

    if (!ready) a->readySince = 0;
    else if (!a->readySince) a->readySince = now;
    if (answered && uptime) {
        if (!a->lastChange || strcmp(uptime, a->last) != 0) {
            copyStr(a->last, sizeof a->last, uptime);
            a->lastChange = now;
        }
        alive = now - a->lastChange <= IOCMGR_ALIVE_WINDOW;
    } else {
        a->lastChange = 0;
        a->last[0] = '\0';
    }
    /* Ready for the window: the pod's readiness is how Kubernetes says the IOC
     * came up, and the window gives a CA link that was searching during the
     * boot time to connect. */
    *alarm = !alive && a->readySince && now - a->readySince > IOCMGR_ALIVE_WINDOW;
    return alive;
}
