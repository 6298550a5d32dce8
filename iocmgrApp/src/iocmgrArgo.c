/* iocmgrArgo.c - an instance's Argo CD Application in its view and commands; see iocmgrArgo.h */
#include <stdio.h>
#include <string.h>

#include "iocmgrArgo.h"

int iocmgrArgoSyncOf(const char *s)
{
    if (strcmp(s, "Synced") == 0) return IOCMGR_SYNC_SYNCED;
    if (strcmp(s, "OutOfSync") == 0) return IOCMGR_SYNC_OUTOFSYNC;
    return IOCMGR_SYNC_UNKNOWN;
}

int iocmgrArgoHealthOf(const char *s)
{
    static const char *const names[] = { "", "Healthy", "Progressing", "Degraded", "Suspended", "Missing" };
    int i;
    for (i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0) return i;
    return IOCMGR_HEALTH_UNKNOWN;
}

static int failedPhase(const char *phase)
{
    return strcmp(phase, "Failed") == 0 || strcmp(phase, "Error") == 0;
}

/* Put text in front of the message, which keeps what it said after "; ". */
static void prependMessage(iocmgrView *v, const char *text)
{
    char old[sizeof v->message];
    snprintf(old, sizeof old, "%s", v->message);
    snprintf(v->message, sizeof v->message, "%s%s%s", text, old[0] ? "; " : "", old);
}

/* "not applied yet" in words, with what shows why: the child's sync and the
 * root's last reconciliation (it stays old when Argo CD is not running). */
static void notApplied(const k8sArgoOwner *o, char *out, size_t len)
{
    snprintf(out, len, "Argo CD has not applied it yet (Application %s/%s: %s%s%s; root last reconciled %s)",
             o->child.namespace_, o->child.name, o->child.syncStatus[0] ? o->child.syncStatus : "no sync status",
             o->child.opPhase[0] ? ", last operation " : "", o->child.opPhase,
             o->root.reconciledAt[0] ? o->root.reconciledAt : "never");
}

void iocmgrArgoDerive(const k8sArgoOwner *o, iocmgrView *v)
{
    char name[300], value[256], where[600], pending[900], text[1200];
    int desired = -1;

    if (!o->managed) return;
    v->argo = 1;
    if (!o->haveChild) {
        v->sync = IOCMGR_SYNC_UNKNOWN;
        v->health = IOCMGR_HEALTH_UNKNOWN;
        snprintf(v->syncMsg, sizeof v->syncMsg, "%s", o->problem);
        return;
    }
    snprintf(v->argoApp, sizeof v->argoApp, "%s/%s", o->child.namespace_, o->child.name);
    v->sync = iocmgrArgoSyncOf(o->child.syncStatus);
    v->health = iocmgrArgoHealthOf(o->child.healthStatus);
    snprintf(v->revision, sizeof v->revision, "%s", o->child.targetRevision);
    if (o->child.opPhase[0])
        snprintf(v->syncMsg, sizeof v->syncMsg, "%s: %s", o->child.opPhase, o->child.opMessage);
    else
        snprintf(v->syncMsg, sizeof v->syncMsg, "no sync operation recorded");
    if (o->problem[0]) {
        size_t n = strlen(v->syncMsg);
        snprintf(v->syncMsg + n, sizeof v->syncMsg - n, "; commands refused: %s", o->problem);
    }

    where[0] = '\0';
    if (o->haveRoot) {
        snprintf(name, sizeof name, "services.%s.enabled", o->svc);
        if (k8sAppParam(&o->root, name, value, sizeof value) == 0) {
            v->override = 1;
            desired = k8sArgoBool(value);
            snprintf(where, sizeof where, "%s=%s on Application %s/%s", name, value,
                     o->root.namespace_, o->root.name);
        }
        snprintf(name, sizeof name, "services.%s.targetRevision", o->svc);
        if (k8sAppParam(&o->root, name, value, sizeof value) == 0)
            v->override = 1;
    }
    if (desired < 0 && o->child.globalEnabled >= 0) {
        desired = o->child.globalEnabled;
        snprintf(where, sizeof where, "global.enabled=%s in git (Application %s/%s)",
                 desired ? "true" : "false", o->child.namespace_, o->child.name);
    }
    if (desired >= 0) v->enabled = desired;
    /* The child's global.enabled is rendered from the root's values when Argo CD
     * syncs the root: while they differ, the root's change has not gone through. */
    if (v->override && desired >= 0 && o->child.globalEnabled >= 0 && desired != o->child.globalEnabled) {
        size_t n = strlen(v->syncMsg);
        snprintf(v->syncMsg + n, sizeof v->syncMsg - n, "; root not synced yet: it asks enabled=%s, "
                 "the child still has global.enabled=%s (root last reconciled %s)", desired ? "true" : "false",
                 o->child.globalEnabled ? "true" : "false", o->root.reconciledAt[0] ? o->root.reconciledAt : "never");
    }

    if (desired == 0 && v->status == IOCMGR_STOPPED) {
        snprintf(v->message, sizeof v->message, "stopped as desired: %s", where);
    } else if (desired == 1 && v->status == IOCMGR_STOPPED) {
        /* wanted but not there: a sync that does not happen must show */
        notApplied(o, pending, sizeof pending);
        snprintf(v->message, sizeof v->message, "start requested (%s): %s", where, pending);
        if (v->severity < IOCMGR_SEV_MINOR) v->severity = IOCMGR_SEV_MINOR;
    } else if (desired == 0) {
        notApplied(o, pending, sizeof pending);
        snprintf(text, sizeof text, "stop requested (%s): %s", where, pending);
        prependMessage(v, text);
    }
    if (failedPhase(o->child.opPhase)) {
        snprintf(text, sizeof text, "Argo CD sync of %s/%s failed: %s", o->child.namespace_, o->child.name,
                 o->child.opMessage);
        prependMessage(v, text);
    }
    if (o->haveRoot && failedPhase(o->root.opPhase)) {
        snprintf(text, sizeof text, "Argo CD sync of root %s/%s failed: %s", o->root.namespace_, o->root.name,
                 o->root.opMessage);
        prependMessage(v, text);
    }
}

static const char *actionName(iocmgrArgoAction a)
{
    switch (a) {
    case IOCMGR_ARGO_START: return "START";
    case IOCMGR_ARGO_STOP: return "STOP";
    case IOCMGR_ARGO_REVISION: return "REVISION_SP";
    case IOCMGR_ARGO_IMAGE: return "IMAGE_SP";
    }
    return "?";
}

static int validRevision(const char *r)
{
    size_t i, n = r ? strlen(r) : 0;
    if (n == 0 || n > 200) return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)r[i] <= ' ' || r[i] == '\x7f') return 0;
    return 1;
}

iocmgrCmdPath iocmgrArgoPlanCommand(const k8sArgoOwner *o, const char *name, iocmgrArgoAction a,
                                    const char *arg, iocmgrArgoPlan *p)
{
    memset(p, 0, sizeof *p);
    p->path = IOCMGR_PATH_REFUSE;
    if (!o->managed) {
        if (a != IOCMGR_ARGO_REVISION) {
            p->path = IOCMGR_PATH_DIRECT;
            return p->path;
        }
        snprintf(p->msg, sizeof p->msg, "REVISION_SP refused: %s is not deployed by an Argo CD Application: "
                 "its version is its image (IMAGE_SP)", name);
        return p->path;
    }
    if (a == IOCMGR_ARGO_IMAGE) {
        if (o->haveChild)
            snprintf(p->msg, sizeof p->msg, "IMAGE_SP refused: %s is deployed by Argo CD (Application %s/%s): "
                     "its image is set in the services repo (services/%s/values.yaml) at the revision "
                     "REVISION shows; deploy another revision with REVISION_SP", name,
                     o->child.namespace_, o->child.name, o->svc);
        else
            snprintf(p->msg, sizeof p->msg, "IMAGE_SP refused: %s is tracked by Argo CD, whose self-heal "
                     "would revert an image patch; its image is set in the services repo (%s)", name, o->problem);
        return p->path;
    }
    if (o->problem[0]) {
        snprintf(p->msg, sizeof p->msg, "%s refused, nothing changed: %s", actionName(a), o->problem);
        return p->path;
    }
    if (a == IOCMGR_ARGO_REVISION && !validRevision(arg)) {
        snprintf(p->msg, sizeof p->msg, "REVISION_SP refused: \"%.200s\" is not a git revision "
                 "(empty, too long, or with spaces)", arg ? arg : "");
        return p->path;
    }
    p->path = IOCMGR_PATH_ROOT_PARAM;
    snprintf(p->app, sizeof p->app, "%s", o->root.name);
    if (a == IOCMGR_ARGO_REVISION) {
        snprintf(p->param, sizeof p->param, "services.%s.targetRevision", o->svc);
        snprintf(p->value, sizeof p->value, "%s", arg);
        p->forceString = 1;   /* a tag such as 1.10 must not become the number 1.1 */
    } else {
        snprintf(p->param, sizeof p->param, "services.%s.enabled", o->svc);
        snprintf(p->value, sizeof p->value, "%s", a == IOCMGR_ARGO_START ? "true" : "false");
    }
    return p->path;
}
