/* k8sOps.c - scale, delete pods, patch image, read logs; see k8sOps.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* asprintf */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8sOps.h"
#include "k8sImageRef.h"
#include "k8sObject.h"
#include "k8sLog.h"

static const char *driverName = "k8sOps";

typedef struct opCtx {
    k8sDoneFn done;
    void *arg;
    char success[700];
    /* aggregate of several requests (restart) */
    size_t pending;
    int allOk;
    long firstStatus;
    char firstError[1024];
    size_t deleted;
    int withUid;          /* the DELETEs carry a uid precondition */
    int firstMaybeSent;
} opCtx;

int k8sOpsValidName(const char *what, const char *name, char *err, size_t errlen)
{
    size_t i, n = name ? strlen(name) : 0;

    if (n == 0 || n > 253) {
        snprintf(err, errlen, "%s name must be 1..253 characters", what);
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
            snprintf(err, errlen, "%s name \"%.100s\" is not a Kubernetes name "
                     "(lowercase letters, digits, '-' and '.')", what, name);
            return -1;
        }
    }
    return 0;
}

void k8sOpsResult(const k8sHttpResponse *res, const char *success, k8sResult *out)
{
    memset(out, 0, sizeof *out);
    out->httpStatus = res->status;
    out->body = res->body;
    out->bodyLen = res->bodyLen;
    if (res->error) {
        out->maybeSent = res->maybeSent;
        k8sCopyString(out->message, sizeof out->message, res->error);
    } else if (res->status >= 200 && res->status < 300) {
        out->ok = 1;
        k8sCopyString(out->message, sizeof out->message, success);
    } else {
        k8sStatusMessage(res->status, res->body, res->bodyLen, 0, out->message, sizeof out->message);
    }
}

static void opDone(void *arg, const k8sHttpResponse *res)
{
    opCtx *ctx = arg;
    k8sResult r;

    k8sOpsResult(res, ctx->success, &r);
    k8sLog(r.ok ? 1 : 0, "%s: %s%s", driverName, r.ok ? "" : "failed: ", r.message);
    ctx->done(ctx->arg, &r);
    free(ctx);
}

static opCtx *newCtx(k8sDoneFn done, void *arg, char *err, size_t errlen)
{
    opCtx *c;

    if (!done) {
        snprintf(err, errlen, "no completion callback given");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->done = done;
    c->arg = arg;
    return c;
}

static int submit(k8sNet *net, const char *method, const char *path, const char *contentType,
                  const char *body, opCtx *ctx, k8sHttpDoneFn fn, char *err, size_t errlen)
{
    k8sRequest *r = k8sRequestNew(method, path, fn, ctx);

    if (!r || (body && k8sRequestSetBody(r, contentType, body) != 0)) {
        k8sRequestFree(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return k8sNetSubmit(net, r, err, errlen);
}

static const char *collection(const char *kind)
{
    return kind && strcmp(kind, "Deployment") == 0 ? "deployments" : "statefulsets";
}

char *k8sOpsScaleBody(int replicas)
{
    char *b = NULL;
    if (asprintf(&b, "{\"spec\":{\"replicas\":%d}}", replicas) < 0)
        return NULL;
    return b;
}

int k8sOpsScale(k8sNet *net, const char *ns, const char *kind, const char *name, int replicas,
                k8sDoneFn done, void *arg, char *err, size_t errlen)
{
    char path[1024];
    char *body;
    opCtx *ctx;
    int rc;

    if (k8sOpsValidName("instance", name, err, errlen) || k8sOpsValidName("namespace", ns, err, errlen))
        return -1;
    if (replicas < 0) {
        snprintf(err, errlen, "replicas must be >= 0, not %d", replicas);
        return -1;
    }
    if (!(ctx = newCtx(done, arg, err, errlen)))
        return -1;
    snprintf(ctx->success, sizeof ctx->success, "scaled %s to %d", name, replicas);
    snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/%s/%s/scale", ns, collection(kind), name);
    body = k8sOpsScaleBody(replicas);
    rc = body ? submit(net, "PATCH", path, "application/merge-patch+json", body, ctx, opDone, err, errlen) : -1;
    if (!body)
        snprintf(err, errlen, "out of memory");
    free(body);
    if (rc)
        free(ctx);
    return rc;
}

char *k8sOpsDeleteBody(const char *uid)
{
    cJSON *o = cJSON_CreateObject(), *pre;
    char *s = NULL;

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", "DeleteOptions");
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    if (uid && uid[0] && (pre = cJSON_AddObjectToObject(o, "preconditions")))
        cJSON_AddStringToObject(pre, "uid", uid);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void deleteDone(void *arg, const k8sHttpResponse *res)
{
    opCtx *ctx = arg;
    k8sResult r;

    k8sOpsResult(res, "", &r);
    if (r.ok || r.httpStatus == 404 || (r.httpStatus == 409 && ctx->withUid)) {
        ctx->deleted++;
    } else if (ctx->allOk) {
        ctx->allOk = 0;
        ctx->firstStatus = r.httpStatus;
        ctx->firstMaybeSent = r.maybeSent;
        k8sCopyString(ctx->firstError, sizeof ctx->firstError, r.message);
    }
    if (--ctx->pending > 0)
        return;
    memset(&r, 0, sizeof r);
    r.ok = ctx->allOk;
    r.httpStatus = ctx->allOk ? 200 : ctx->firstStatus;
    r.maybeSent = !ctx->allOk && ctx->firstMaybeSent;
    k8sCopyString(r.message, sizeof r.message, ctx->allOk ? ctx->success : ctx->firstError);
    k8sLog(r.ok ? 1 : 0, "%s: %s%s", driverName, r.ok ? "" : "restart failed: ", r.message);
    ctx->done(ctx->arg, &r);
    free(ctx);
}

int k8sOpsDeletePods(k8sNet *net, const char *ns, const char *instance, const char *const *pods,
                     const char *const *uids, size_t npods, k8sDoneFn done, void *arg,
                     char *err, size_t errlen)
{
    opCtx *ctx;
    size_t i;
    char path[1024];
    char *body;
    int rc;

    if (npods == 0) {
        snprintf(err, errlen, "%s has no pod to restart (is it stopped?)", instance);
        return -1;
    }
    for (i = 0; i < npods; i++)
        if (k8sOpsValidName("pod", pods[i], err, errlen))
            return -1;
    if (!(ctx = newCtx(done, arg, err, errlen)))
        return -1;
    ctx->allOk = 1;
    ctx->withUid = uids != NULL;
    if (npods == 1)
        snprintf(ctx->success, sizeof ctx->success, "restart requested: deleted pod %.200s", pods[0]);
    else
        snprintf(ctx->success, sizeof ctx->success, "restart requested: deleted %zu pods of %.200s",
                 npods, instance);
    /* runs on the network thread, so no completion can interleave with this loop */
    ctx->pending = npods;
    for (i = 0; i < npods; i++) {
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, pods[i]);
        body = uids ? k8sOpsDeleteBody(uids[i]) : NULL;
        if (uids && !body) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            rc = submit(net, "DELETE", path, body ? "application/json" : NULL, body, ctx, deleteDone,
                        err, errlen);
        }
        free(body);
        if (rc != 0) {
            if (i == 0) {
                free(ctx);
                return -1;
            }
            /* some are queued: account the rest as failed so done fires once */
            ctx->allOk = 0;
            ctx->firstStatus = 0;
            k8sCopyString(ctx->firstError, sizeof ctx->firstError, err);
            ctx->pending -= npods - i;
            return 0;
        }
    }
    return 0;
}

char *k8sOpsImagePatch(const char *container, const char *image, const char **contentType)
{
    cJSON *root;
    char *out;

    if (container && *container) {
        cJSON *c = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", container);
        cJSON_AddStringToObject(c, "image", image);
        cJSON_AddItemToArray(arr, c);
        cJSON_AddItemToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "spec"), "template"), "spec"),
            "containers", arr);
        *contentType = "application/strategic-merge-patch+json";
    } else {
        cJSON *op = cJSON_CreateObject();
        root = cJSON_CreateArray();
        cJSON_AddStringToObject(op, "op", "replace");
        cJSON_AddStringToObject(op, "path", "/spec/template/spec/containers/0/image");
        cJSON_AddStringToObject(op, "value", image);
        cJSON_AddItemToArray(root, op);
        *contentType = "application/json-patch+json";
    }
    out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

int k8sOpsSetImage(k8sNet *net, const char *ns, const char *kind, const char *name,
                   const char *container, const char *image,
                   k8sDoneFn done, void *arg, char *err, size_t errlen)
{
    char path[1024];
    const char *ct = NULL;
    char *body;
    opCtx *ctx;
    int rc;

    if (k8sImageRefValidate(image, err, errlen) || k8sOpsValidName("instance", name, err, errlen) ||
        k8sOpsValidName("namespace", ns, err, errlen))
        return -1;
    if (!(ctx = newCtx(done, arg, err, errlen)))
        return -1;
    snprintf(ctx->success, sizeof ctx->success, "image of %.100s set to %.140s", name, image);
    snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/%s/%s", ns, collection(kind), name);
    body = k8sOpsImagePatch(container, image, &ct);
    rc = body ? submit(net, "PATCH", path, ct, body, ctx, opDone, err, errlen) : -1;
    if (!body)
        snprintf(err, errlen, "out of memory");
    free(body);
    if (rc)
        free(ctx);
    return rc;
}

int k8sOpsGetLog(k8sNet *net, const char *ns, const char *pod, const char *container, int tailLines,
                 int previous, k8sDoneFn done, void *arg, char *err, size_t errlen)
{
    char path[1024];
    size_t n;
    opCtx *ctx;
    int rc;

    if (k8sOpsValidName("pod", pod, err, errlen) || k8sOpsValidName("namespace", ns, err, errlen) ||
        (container && *container && k8sOpsValidName("container", container, err, errlen)))
        return -1;
    if (!(ctx = newCtx(done, arg, err, errlen)))
        return -1;
    snprintf(ctx->success, sizeof ctx->success, "%slog of pod %.200s", previous ? "previous " : "", pod);
    n = (size_t)snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?limitBytes=1048576", ns, pod);
    if (tailLines > 0)
        n += (size_t)snprintf(path + n, sizeof path - n, "&tailLines=%d", tailLines);
    if (previous)
        n += (size_t)snprintf(path + n, sizeof path - n, "&previous=true");
    if (container && *container)
        snprintf(path + n, sizeof path - n, "&container=%s", container);
    rc = submit(net, "GET", path, NULL, NULL, ctx, opDone, err, errlen);
    if (rc)
        free(ctx);
    return rc;
}
