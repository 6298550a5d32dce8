/* k8sArgoOps.c - read, rebuild and patch an Application's Helm parameters; see k8sArgoOps.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8sArgo.h"
#include "k8sArgoOps.h"
#include "k8sLog.h"
#include "k8sObject.h"

static const char *driverName = "k8sArgoOps";

typedef struct paramCtx {
    k8sNet *net;
    k8sDoneFn done;
    void *arg;
    char path[600];
    char what[700];          /* "<param>=<value> on Application <ns>/<app>" */
    char param[300], value[256];
    int forceString;
    int attempt;
} paramCtx;

static int startRead(paramCtx *ctx, char *err, size_t errlen);

static void finish(paramCtx *ctx, const k8sResult *r)
{
    k8sLog(r->ok ? 1 : 0, "%s: %s%s", driverName, r->ok ? "" : "failed: ", r->message);
    ctx->done(ctx->arg, r);
    free(ctx);
}

/* A failure with our words in front of the API's own. */
static void fail(paramCtx *ctx, long status, int maybeSent, const char *fmt, const char *detail)
{
    k8sResult r;
    memset(&r, 0, sizeof r);
    r.httpStatus = status;
    r.maybeSent = maybeSent;
    snprintf(r.message, sizeof r.message, fmt, ctx->what, detail);
    finish(ctx, &r);
}

static void patchDone(void *arg, const k8sHttpResponse *res)
{
    paramCtx *ctx = arg;
    k8sResult r;
    char err[600];

    k8sOpsResult(res, ctx->what, &r);
    if (r.ok) {
        finish(ctx, &r);
        return;
    }
    if (r.httpStatus == 409 && ctx->attempt < K8S_ARGO_ATTEMPTS) {
        k8sLog(1, "%s: %s: conflict on attempt %d, reading it again", driverName, ctx->what, ctx->attempt);
        if (startRead(ctx, err, sizeof err) == 0)
            return;
        fail(ctx, 0, 0, "setting %s: %s", err);
        return;
    }
    if (r.httpStatus == 409)
        snprintf(err, sizeof err, "the Application kept changing, %d attempts conflicted (409): %.400s",
                 ctx->attempt, r.message);
    else if (r.httpStatus)
        snprintf(err, sizeof err, "HTTP %ld: %.500s", r.httpStatus, r.message);
    else
        snprintf(err, sizeof err, "%.500s", r.message);
    fail(ctx, r.httpStatus, r.maybeSent, "setting %s: %s", err);
}

static void readDone(void *arg, const k8sHttpResponse *res)
{
    paramCtx *ctx = arg;
    k8sResult r;
    k8sApp app;
    cJSON *root;
    char err[600], *body;
    k8sRequest *req;

    k8sOpsResult(res, "", &r);
    if (!r.ok) {
        snprintf(err, sizeof err, "%.500s", r.message);
        fail(ctx, r.httpStatus, 0, "setting %s: reading the Application: %s", err);
        return;
    }
    root = cJSON_ParseWithLength(res->body, res->bodyLen);
    if (!root || k8sAppFromJson(root, &app, err, sizeof err) != 0) {
        cJSON_Delete(root);
        fail(ctx, 0, 0, "setting %s: the Application read is not one: %s", root ? err : "not JSON");
        return;
    }
    if (k8sArgoRootUsable(&app, err, sizeof err) != 0) {
        cJSON_Delete(root);
        fail(ctx, 0, 0, "setting %s: refused: %s", err);
        return;
    }
    body = k8sArgoParamPatch(root, ctx->param, ctx->value, ctx->forceString, err, sizeof err);
    cJSON_Delete(root);
    if (!body) {
        fail(ctx, 0, 0, "setting %s: %s", err);
        return;
    }
    ctx->attempt++;
    req = k8sRequestNew("PATCH", ctx->path, patchDone, ctx);
    if (!req || k8sRequestSetBody(req, "application/merge-patch+json", body) != 0) {
        k8sRequestFree(req);
        free(body);
        fail(ctx, 0, 0, "setting %s: %s", "out of memory");
        return;
    }
    free(body);
    if (k8sNetSubmit(ctx->net, req, err, sizeof err) != 0)
        fail(ctx, 0, 0, "setting %s: %s", err);
}

static int startRead(paramCtx *ctx, char *err, size_t errlen)
{
    k8sRequest *req = k8sRequestNew("GET", ctx->path, readDone, ctx);
    if (!req) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return k8sNetSubmit(ctx->net, req, err, errlen);
}

int k8sArgoSetParam(k8sNet *net, const char *ns, const char *app, const char *param,
                    const char *value, int forceString, k8sDoneFn done, void *arg,
                    char *err, size_t errlen)
{
    paramCtx *ctx;

    if (!done) {
        snprintf(err, errlen, "no completion callback given");
        return -1;
    }
    if (k8sOpsValidName("Application", app, err, errlen) || k8sOpsValidName("namespace", ns, err, errlen))
        return -1;
    if (!param || !*param || strlen(param) >= sizeof ctx->param || !value || strlen(value) >= sizeof ctx->value) {
        snprintf(err, errlen, "parameter name or value empty or too long");
        return -1;
    }
    ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ctx->net = net;
    ctx->done = done;
    ctx->arg = arg;
    ctx->forceString = forceString;
    snprintf(ctx->param, sizeof ctx->param, "%s", param);
    snprintf(ctx->value, sizeof ctx->value, "%s", value);
    snprintf(ctx->path, sizeof ctx->path, "/apis/argoproj.io/v1alpha1/namespaces/%s/applications/%s", ns, app);
    snprintf(ctx->what, sizeof ctx->what, "%s=%s on Application %s/%s", param, value, ns, app);
    if (startRead(ctx, err, errlen) != 0) {
        free(ctx);
        return -1;
    }
    return 0;
}
