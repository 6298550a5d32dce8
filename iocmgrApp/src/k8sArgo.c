/* k8sArgo.c - Argo CD Applications: decoding, tracking-id, owner, parameter patch; see k8sArgo.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8sArgo.h"
#include "k8sObject.h"

/* cJSON's getters take NULL objects and give NULL for absent members */
#define M(o, n) cJSON_GetObjectItemCaseSensitive((o), (n))
#define S(o, n) cJSON_GetStringValue(M((o), (n)))

static int isStr(const char *s, const char *v) { return s && strcmp(s, v) == 0; }

int k8sArgoBool(const char *v)
{
    if (!v)
        return -1;
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
        return 1;
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return 0;
    return -1;
}

/* Parameter values are strings in the CRD, but a hand-written object may hold
 * a number or a boolean: read them as Helm would. */
static void paramValue(const cJSON *p, char *buf, size_t len)
{
    const cJSON *v = M(p, "value");
    if (cJSON_IsString(v))
        k8sCopyString(buf, len, v->valuestring);
    else if (cJSON_IsBool(v))
        k8sCopyString(buf, len, cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v) && v->valuedouble > -1e15 && v->valuedouble < 1e15)
        snprintf(buf, len, "%.15g", v->valuedouble);
    else
        k8sCopyString(buf, len, "");
}

/* A parameter's name and value for the line format: 0, or -1 when either
 * holds a newline (a line cannot carry it). */
static int paramLine(const cJSON *p, const char **name, char *num, size_t numLen, const char **value)
{
    const cJSON *v = M(p, "value");

    *name = S(p, "name");
    if (!*name)
        return -1;
    if (cJSON_IsString(v)) {
        *value = v->valuestring;
    } else {
        paramValue(p, num, numLen);
        *value = num;
    }
    return strchr(*name, '\n') || strchr(*value, '\n') ? -1 : 0;
}

char *k8sAppParamsFromJson(const cJSON *obj, size_t *skipped)
{
    const cJSON *params = M(M(M(M(obj, "spec"), "source"), "helm"), "parameters"), *p;
    size_t need = 1, used = 0, left = 0;
    char num[64], *out = NULL;
    const char *name, *value;
    int pass;

    /* two passes: the length, then the lines; nothing is cut */
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1 && !(out = malloc(need)))
            return NULL;
        cJSON_ArrayForEach(p, params) {
            if (!cJSON_IsObject(p) || !S(p, "name") || strncmp(S(p, "name"), "services.", 9) != 0)
                continue;
            if (paramLine(p, &name, num, sizeof num, &value) != 0) {
                left += pass == 0;
                continue;
            }
            if (pass == 0)
                need += strlen(name) + strlen(value) + 2;
            else
                used += (size_t)sprintf(out + used, "%s=%s\n", name, value);
        }
    }
    out[used] = '\0';
    if (skipped)
        *skipped = left;
    return out;
}

int k8sAppFromJson(const cJSON *obj, k8sApp *out, char *err, size_t errlen)
{
    const cJSON *meta, *spec, *source, *status, *op, *p;

    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "Application is not a JSON object");
        return -1;
    }
    meta = M(obj, "metadata");
    if (!S(meta, "name")) {
        snprintf(err, errlen, "Application has no metadata.name");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->globalEnabled = -1;
    spec = M(obj, "spec");
    source = M(spec, "source");
    status = M(obj, "status");
    op = M(status, "operationState");

    k8sCopyString(out->name, sizeof out->name, S(meta, "name"));
    k8sCopyString(out->namespace_, sizeof out->namespace_, S(meta, "namespace"));
    k8sCopyString(out->uid, sizeof out->uid, S(meta, "uid"));
    k8sCopyString(out->resourceVersion, sizeof out->resourceVersion, S(meta, "resourceVersion"));
    out->deleting = S(meta, "deletionTimestamp") != NULL;
    k8sCopyString(out->trackingId, sizeof out->trackingId, S(M(meta, "annotations"), K8S_ARGO_TRACKING_ANNOTATION));

    out->hasSource = cJSON_IsObject(source);
    k8sCopyString(out->targetRevision, sizeof out->targetRevision, S(source, "targetRevision"));
    k8sCopyString(out->sourceType, sizeof out->sourceType, S(status, "sourceType"));
    k8sCopyString(out->syncStatus, sizeof out->syncStatus, S(M(status, "sync"), "status"));
    k8sCopyString(out->healthStatus, sizeof out->healthStatus, S(M(status, "health"), "status"));
    k8sCopyString(out->healthMessage, sizeof out->healthMessage, S(M(status, "health"), "message"));
    k8sCopyString(out->opPhase, sizeof out->opPhase, S(op, "phase"));
    k8sCopyString(out->opMessage, sizeof out->opMessage, S(op, "message"));
    k8sCopyString(out->reconciledAt, sizeof out->reconciledAt, S(status, "reconciledAt"));

    cJSON_ArrayForEach(p, M(M(source, "helm"), "parameters")) {
        char value[16];
        if (isStr(S(p, "name"), "global.enabled")) {
            paramValue(p, value, sizeof value);
            out->globalEnabled = k8sArgoBool(value);
        }
    }
    return 0;
}

int k8sParamLookup(const char *lines, const char *name, char *value, size_t len)
{
    size_t n = strlen(name);
    const char *line = lines;

    while (line && *line) {
        const char *end = strchr(line, '\n');
        if (!end)
            break;
        if (strncmp(line, name, n) == 0 && line[n] == '=') {
            size_t vl = (size_t)(end - line) - n - 1;
            if (len) {
                if (vl >= len)
                    vl = len - 1;
                memcpy(value, line + n + 1, vl);
                value[vl] = '\0';
            }
            return 0;
        }
        line = end + 1;
    }
    return -1;
}

int k8sAppParam(const k8sApp *app, const char *name, char *value, size_t len)
{
    return k8sParamLookup(app->params, name, value, len);
}

int k8sArgoServiceParams(const char *all, const char *svc, char *buf, size_t len)
{
    static const char *const first[] = { "enabled=", "targetRevision=" };
    size_t plen = 9 + strlen(svc) + 1, used = 0;
    int pass, fits = 0;

    if (len)
        buf[0] = '\0';
    /* pass 0: enabled, 1: targetRevision, 2: the others (what the records read comes first) */
    for (pass = 0; pass < 3; pass++) {
        const char *line = all;
        while (line && *line) {
            const char *end = strchr(line, '\n'), *rest, *eq;
            size_t n;
            int which;
            if (!end)
                break;
            n = (size_t)(end - line) + 1;
            rest = line + plen;
            /* the name (up to the first '=') is services.<svc>.<something> */
            eq = memchr(line, '=', n);
            if (eq && (size_t)(eq - line) > plen && strncmp(line, "services.", 9) == 0 &&
                strncmp(line + 9, svc, plen - 10) == 0 && line[plen - 1] == '.') {
                which = strncmp(rest, first[0], strlen(first[0])) == 0 ? 0
                      : strncmp(rest, first[1], strlen(first[1])) == 0 ? 1 : 2;
                if (which == pass) {
                    if (used + n < len) {
                        memcpy(buf + used, line, n);
                        used += n;
                        buf[used] = '\0';
                    } else {
                        fits = -1;
                    }
                }
            }
            line = end + 1;
        }
    }
    return fits;
}

void k8sAppStoredRelease(void *stored)
{
    k8sAppStored *s = stored;
    free(s->params);
    s->params = NULL;
}

/* Copy [s, end) into dst (size len); -1 when it does not fit. */
static int part(char *dst, size_t len, const char *s, const char *end)
{
    size_t n = (size_t)(end - s);
    if (n >= len)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int k8sArgoParseTrackingId(const char *id, k8sTrackingId *out, char *err, size_t errlen)
{
    const char *c1, *c2, *slash1, *slash2, *us;

    memset(out, 0, sizeof *out);
    if (!id || !*id) {
        snprintf(err, errlen, "empty tracking-id");
        return -1;
    }
    c1 = strchr(id, ':');
    c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    slash1 = c2 ? memchr(c1 + 1, '/', (size_t)(c2 - c1 - 1)) : NULL;
    slash2 = c2 ? strchr(c2 + 1, '/') : NULL;
    if (!c1 || !c2 || !slash1 || !slash2 || c1 == id) {
        snprintf(err, errlen, "tracking-id \"%.200s\" is not <app>:<group>/<kind>:<namespace>/<name>", id);
        return -1;
    }
    /* names and namespaces cannot hold '_': the first one splits <appNs>_<app> */
    us = memchr(id, '_', (size_t)(c1 - id));
    if (us == id ||
        part(out->appNamespace, sizeof out->appNamespace, id, us ? us : id) ||
        part(out->app, sizeof out->app, us ? us + 1 : id, c1) ||
        part(out->group, sizeof out->group, c1 + 1, slash1) ||
        part(out->kind, sizeof out->kind, slash1 + 1, c2) ||
        part(out->namespace_, sizeof out->namespace_, c2 + 1, slash2) ||
        part(out->name, sizeof out->name, slash2 + 1, slash2 + strlen(slash2)) ||
        !out->app[0] || !out->kind[0] || !out->name[0]) {
        snprintf(err, errlen, "tracking-id \"%.200s\" has an empty or oversized part", id);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int k8sArgoRootUsable(const k8sApp *root, char *why, size_t len)
{
    k8sTrackingId t;
    char err[300];

    if (root->trackingId[0]) {
        if (k8sArgoParseTrackingId(root->trackingId, &t, err, sizeof err) == 0)
            snprintf(why, len, "root Application %s/%s is itself tracked by Application %s%s%s: "
                     "its self-heal would revert an override; change it there or in git",
                     root->namespace_, root->name, t.appNamespace, t.appNamespace[0] ? "/" : "", t.app);
        else
            snprintf(why, len, "root Application %s/%s carries a tracking-id (%s): another Application "
                     "would revert an override", root->namespace_, root->name, err);
        return -1;
    }
    if (root->deleting) {
        snprintf(why, len, "root Application %s/%s is being deleted", root->namespace_, root->name);
        return -1;
    }
    if (!root->hasSource) {
        snprintf(why, len, "root Application %s/%s has no single spec.source (multi-source?): "
                 "no Helm parameters to set", root->namespace_, root->name);
        return -1;
    }
    if (root->sourceType[0] && strcmp(root->sourceType, "Helm") != 0) {
        snprintf(why, len, "root Application %s/%s is not a Helm source (sourceType %s): "
                 "no Helm parameters to set", root->namespace_, root->name, root->sourceType);
        return -1;
    }
    if (len)
        why[0] = '\0';
    return 0;
}

/* An owner by a tracking-id or label: the child (must exist), then its root. */
static void resolveApp(const char *appNs, const char *app, int byLabel, const k8sArgoConfig *cfg,
                       k8sAppLookupFn lookup, void *arg, k8sArgoOwner *out)
{
    k8sTrackingId t;
    char rootNs[64], rootName[254], err[300];

    out->haveChild = lookup(arg, appNs, app, &out->child) == 0;
    if (!out->haveChild) {
        if (byLabel)
            return;          /* a chart's own label, not Argo CD's: not managed */
        out->managed = 1;
        snprintf(out->problem, sizeof out->problem,
                 "Application %s/%s (named by the tracking-id) not found: deleted, or not readable "
                 "in namespace %s", appNs, app, cfg->appNamespace);
        return;
    }
    out->managed = 1;
    k8sCopyString(out->svc, sizeof out->svc, out->child.name);
    if (out->child.trackingId[0]) {
        if (k8sArgoParseTrackingId(out->child.trackingId, &t, err, sizeof err)) {
            snprintf(out->problem, sizeof out->problem, "Application %s/%s: %s", appNs, app, err);
            return;
        }
        k8sCopyString(rootNs, sizeof rootNs, t.appNamespace[0] ? t.appNamespace : cfg->appNamespace);
        k8sCopyString(rootName, sizeof rootName, t.app);
    } else if (cfg->rootApp && cfg->rootApp[0]) {
        k8sCopyString(rootNs, sizeof rootNs, cfg->appNamespace);
        k8sCopyString(rootName, sizeof rootName, cfg->rootApp);
    } else {
        snprintf(out->problem, sizeof out->problem,
                 "Application %s/%s has no root (no tracking-id of its own, and no root named by "
                 "EC_TARGET=<namespace>/<root> or iocmgrArgoCD)", appNs, app);
        return;
    }
    out->haveRoot = lookup(arg, rootNs, rootName, &out->root) == 0;
    if (!out->haveRoot) {
        snprintf(out->problem, sizeof out->problem, "root Application %s/%s of %s not found: deleted, "
                 "or not readable in namespace %s", rootNs, rootName, app, cfg->appNamespace);
        return;
    }
    k8sArgoRootUsable(&out->root, out->problem, sizeof out->problem);
}

void k8sArgoResolve(const char *kind, const char *ns, const char *name, const char *trackingId,
                    const char *labelValue, const k8sArgoConfig *cfg, k8sAppLookupFn lookup,
                    void *arg, k8sArgoOwner *out)
{
    k8sTrackingId t;
    char err[300];

    memset(out, 0, sizeof *out);
    if (trackingId && trackingId[0] &&
        k8sArgoParseTrackingId(trackingId, &t, err, sizeof err) == 0 &&
        isStr(t.kind, kind) && isStr(t.name, name) && isStr(t.namespace_, ns)) {
        resolveApp(t.appNamespace[0] ? t.appNamespace : cfg->appNamespace, t.app, 0, cfg, lookup, arg, out);
        return;
    }
    if (labelValue && labelValue[0] && cfg->instanceLabel && cfg->instanceLabel[0])
        resolveApp(cfg->appNamespace, labelValue, 1, cfg, lookup, arg, out);
}

static void dropMembers(cJSON *obj, const char *key)
{
    while (M(obj, key))
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

char *k8sArgoParamPatch(const cJSON *app, const char *name, const char *value, int forceString,
                        char *err, size_t errlen)
{
    const cJSON *source = M(M(app, "spec"), "source"), *p;
    const char *rv = S(M(app, "metadata"), "resourceVersion");
    cJSON *patch = NULL, *params = NULL, *mine = NULL;
    char *out = NULL;

    if (!cJSON_IsObject(source)) {
        snprintf(err, errlen, "the Application has no single spec.source: no Helm parameters to set");
        return NULL;
    }
    if (!rv || !*rv) {
        snprintf(err, errlen, "the Application has no metadata.resourceVersion");
        return NULL;
    }
    patch = cJSON_CreateObject();
    params = cJSON_CreateArray();
    if (!patch || !params)
        goto oom;
    cJSON_ArrayForEach(p, M(M(source, "helm"), "parameters")) {
        cJSON *copy;
        if (isStr(S(p, "name"), name)) {
            if (mine)
                continue;    /* a duplicate of ours: one entry says it */
            copy = cJSON_Duplicate(p, 1);
            mine = copy;
        } else {
            copy = cJSON_Duplicate(p, 1);
        }
        if (!copy || !cJSON_AddItemToArray(params, copy)) {
            cJSON_Delete(copy);
            goto oom;
        }
    }
    if (!mine) {
        mine = cJSON_CreateObject();
        if (!mine || !cJSON_AddItemToArray(params, mine)) {
            cJSON_Delete(mine);
            goto oom;
        }
    }
    /* every copy of these members: an object written by hand may repeat a key,
     * and the API would read the last one (found by tests/fuzz) */
    dropMembers(mine, "name");
    dropMembers(mine, "value");
    dropMembers(mine, "forceString");
    if (!cJSON_AddStringToObject(mine, "name", name) || !cJSON_AddStringToObject(mine, "value", value) ||
        (forceString && !cJSON_AddTrueToObject(mine, "forceString")))
        goto oom;
    {
        cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
        cJSON *helm = cJSON_AddObjectToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "spec"), "source"), "helm");
        if (!meta || !helm || !cJSON_AddStringToObject(meta, "resourceVersion", rv) ||
            !cJSON_AddItemToObject(helm, "parameters", params))
            goto oom;
        params = NULL;
    }
    out = cJSON_PrintUnformatted(patch);
    if (!out)
        goto oom;
    cJSON_Delete(patch);
    return out;
oom:
    cJSON_Delete(params);
    cJSON_Delete(patch);
    snprintf(err, errlen, "out of memory");
    return NULL;
}
