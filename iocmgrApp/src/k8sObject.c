/* k8sObject.c - Kubernetes JSON to C structs; see k8sObject.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* timegm */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8sObject.h"

void k8sCopyString(char *dst, size_t dstlen, const char *src)
{
    size_t n;

    if (dstlen == 0)
        return;
    if (!src) {
        dst[0] = '\0';
        return;
    }
    n = strnlen(src, dstlen);
    if (n == dstlen) {
        n = dstlen - 1;
        /* back off over UTF-8 continuation bytes so no character is cut */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static const cJSON *member(const cJSON *o, const char *name)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *m = member(o, name);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

static long long num(const cJSON *o, const char *name)
{
    const cJSON *m = member(o, name);

    if (!cJSON_IsNumber(m))
        return 0;
    /* 1e999 parses as inf; converting it (or NaN, or anything past 2^63) to an
     * integer is undefined behaviour (found by tests/fuzz): treat it as absent */
    if (!(m->valuedouble > -9.2e18 && m->valuedouble < 9.2e18))
        return 0;
    return (long long)m->valuedouble;
}

static int strIs(const char *s, const char *v) { return s && strcmp(s, v) == 0; }

long long k8sParseTime(const char *s)
{
    struct tm tm;
    const char *p;
    long long t;

    if (!s || !*s)
        return 0;
    memset(&tm, 0, sizeof tm);
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    t = (long long)timegm(&tm);
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return 0;
        t += (*p == '+' ? -1 : 1) * (long long)(hh * 3600 + mm * 60);
    } else if (*p != 'Z' && *p != 'z') {
        return 0;
    }
    return t;
}

int k8sLabelsMatchAny(const cJSON *obj, const char *terms)
{
    const cJSON *labels = member(member(obj, "metadata"), "labels");
    const char *p = terms;

    if (!terms || !*terms)
        return 1;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        char key[254];
        size_t klen = eq ? (size_t)(eq - p) : n;
        const char *val;

        if (klen > 0 && klen < sizeof key) {
            memcpy(key, p, klen);
            key[klen] = '\0';
            val = str(labels, key);
            if (val) {
                if (!eq)
                    return 1;
                if (strlen(val) == n - klen - 1 && strncmp(val, eq + 1, n - klen - 1) == 0)
                    return 1;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* The container named `want`, else the first one. */
static const cJSON *pickContainer(const cJSON *containers, const char *want)
{
    const cJSON *c;

    if (!cJSON_IsArray(containers))
        return NULL;
    if (want && *want)
        cJSON_ArrayForEach(c, containers)
            if (strIs(str(c, "name"), want))
                return c;
    return cJSON_GetArrayItem(containers, 0);
}

static int commonMeta(const cJSON *obj, const cJSON **meta, char *err, size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "object is not a JSON object");
        return -1;
    }
    *meta = member(obj, "metadata");
    if (!str(*meta, "name")) {
        snprintf(err, errlen, "object has no metadata.name");
        return -1;
    }
    return 0;
}

static char instanceLabel[128];

void k8sObjectSetInstanceLabel(const char *label)
{
    k8sCopyString(instanceLabel, sizeof instanceLabel, label);
}

int k8sInstanceFromJson(const cJSON *obj, const char *kind, const char *container,
                        k8sInstance *out, char *err, size_t errlen)
{
    const cJSON *meta, *labels, *spec, *status, *c;
    const char *v;

    if (commonMeta(obj, &meta, err, errlen))
        return -1;
    memset(out, 0, sizeof *out);
    labels = member(meta, "labels");
    spec = member(obj, "spec");
    status = member(obj, "status");

    k8sCopyString(out->name, sizeof out->name, str(meta, "name"));
    k8sCopyString(out->namespace_, sizeof out->namespace_, str(meta, "namespace"));
    k8sCopyString(out->kind, sizeof out->kind, kind);
    k8sCopyString(out->uid, sizeof out->uid, str(meta, "uid"));
    k8sCopyString(out->resourceVersion, sizeof out->resourceVersion, str(meta, "resourceVersion"));
    out->generation = num(meta, "generation");
    out->deleting = str(meta, "deletionTimestamp") != NULL;

    /* An absent spec.replicas means the API default of 1. */
    out->specReplicas = member(spec, "replicas") ? (int)num(spec, "replicas") : 1;
    out->statusReplicas = (int)num(status, "replicas");
    out->readyReplicas = (int)num(status, "readyReplicas");
    out->updatedReplicas = (int)num(status, "updatedReplicas");
    out->observedGeneration = num(status, "observedGeneration");

    c = pickContainer(member(member(member(spec, "template"), "spec"), "containers"), container);
    k8sCopyString(out->image, sizeof out->image, str(c, "image"));
    k8sCopyString(out->containerName, sizeof out->containerName, str(c, "name"));

    k8sCopyString(out->labelApp, sizeof out->labelApp, str(labels, "app"));
    v = str(labels, "location");
    k8sCopyString(out->labelLocation, sizeof out->labelLocation, v ? v : str(labels, "beamline"));
    k8sCopyString(out->labelDomain, sizeof out->labelDomain, str(labels, "domain"));
    k8sCopyString(out->labelEnabled, sizeof out->labelEnabled, str(labels, "enabled"));
    k8sCopyString(out->labelDescription, sizeof out->labelDescription, str(labels, "description"));
    v = str(labels, "ioc_version");
    if (!v)
        v = str(labels, "app.kubernetes.io/version");
    if (!v)
        v = str(labels, "helm.sh/chart");
    k8sCopyString(out->labelVersion, sizeof out->labelVersion, v);
    out->isIocLabel = strIs(str(labels, "ioc"), "true") || strIs(str(labels, "is_ioc"), "true");
    k8sCopyString(out->argoTrackingId, sizeof out->argoTrackingId,
                  str(member(meta, "annotations"), "argocd.argoproj.io/tracking-id"));
    if (instanceLabel[0])
        k8sCopyString(out->argoInstanceLabel, sizeof out->argoInstanceLabel, str(labels, instanceLabel));
    return 0;
}

static void podOwner(const cJSON *meta, char *out, size_t outlen)
{
    const char *app = str(member(meta, "labels"), "app");
    const cJSON *ref;

    if (app) {
        k8sCopyString(out, outlen, app);
        return;
    }
    cJSON_ArrayForEach(ref, member(meta, "ownerReferences")) {
        const char *kind = str(ref, "kind"), *name = str(ref, "name");
        if (!name || !cJSON_IsTrue(member(ref, "controller")))
            continue;
        if (strIs(kind, "StatefulSet")) {
            k8sCopyString(out, outlen, name);
            return;
        }
        if (strIs(kind, "ReplicaSet")) {
            /* Deployment <d> owns ReplicaSet <d>-<pod-template-hash> */
            const char *dash = strrchr(name, '-');
            size_t n = dash ? (size_t)(dash - name) : strlen(name);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, name, n);
            out[n] = '\0';
            return;
        }
    }
}

int k8sPodFromJson(const cJSON *obj, const char *container, k8sPod *out, char *err, size_t errlen)
{
    const cJSON *meta, *spec, *status, *c, *cs = NULL, *cond, *term;
    const char *cname;

    if (commonMeta(obj, &meta, err, errlen))
        return -1;
    memset(out, 0, sizeof *out);
    spec = member(obj, "spec");
    status = member(obj, "status");

    k8sCopyString(out->name, sizeof out->name, str(meta, "name"));
    k8sCopyString(out->namespace_, sizeof out->namespace_, str(meta, "namespace"));
    k8sCopyString(out->uid, sizeof out->uid, str(meta, "uid"));
    k8sCopyString(out->resourceVersion, sizeof out->resourceVersion, str(meta, "resourceVersion"));
    podOwner(meta, out->ownerName, sizeof out->ownerName);
    out->deleting = str(meta, "deletionTimestamp") != NULL;
    k8sCopyString(out->createdAt, sizeof out->createdAt, str(meta, "creationTimestamp"));
    out->createdAtEpoch = k8sParseTime(out->createdAt);

    k8sCopyString(out->phase, sizeof out->phase, str(status, "phase"));
    k8sCopyString(out->nodeName, sizeof out->nodeName, str(spec, "nodeName"));
    k8sCopyString(out->podIP, sizeof out->podIP, str(status, "podIP"));

    c = pickContainer(member(spec, "containers"), container);
    cname = str(c, "name");
    k8sCopyString(out->image, sizeof out->image, str(c, "image"));

    cJSON_ArrayForEach(cond, member(status, "conditions")) {
        const char *type = str(cond, "type"), *st = str(cond, "status");
        if (strIs(type, "Ready"))
            out->ready = strIs(st, "True");
        else if (strIs(type, "PodScheduled") && strIs(st, "False"))
            k8sCopyString(out->unschedulableMessage, sizeof out->unschedulableMessage,
                          str(cond, "message"));
    }

    {
        const cJSON *s;
        cJSON_ArrayForEach(s, member(status, "containerStatuses"))
            if (!cname || strIs(str(s, "name"), cname)) {
                cs = s;
                break;
            }
    }
    if (cs) {
        const cJSON *state = member(cs, "state");
        const cJSON *waiting = member(state, "waiting");
        const cJSON *running = member(state, "running");

        out->restartCount = (int)num(cs, "restartCount");
        k8sCopyString(out->waitingReason, sizeof out->waitingReason, str(waiting, "reason"));
        k8sCopyString(out->waitingMessage, sizeof out->waitingMessage, str(waiting, "message"));
        k8sCopyString(out->startedAt, sizeof out->startedAt, str(running, "startedAt"));
        out->startedAtEpoch = k8sParseTime(out->startedAt);
        /* the latest end: the container's own while it has not started again */
        term = member(state, "terminated");
        out->ended = term != NULL;
        if (!term)
            term = member(member(cs, "lastState"), "terminated");
        if (term) {
            long long from = k8sParseTime(str(term, "startedAt"));
            out->lastExitCode = (int)num(term, "exitCode");
            k8sCopyString(out->lastReason, sizeof out->lastReason, str(term, "reason"));
            out->lastEndedEpoch = k8sParseTime(str(term, "finishedAt"));
            out->lastRunSeconds = (from > 0 && out->lastEndedEpoch >= from) ? out->lastEndedEpoch - from : 0;
        }
    }
    return 0;
}

int k8sEventFromJson(const cJSON *obj, k8sEvent *out, char *err, size_t errlen)
{
    const cJSON *meta, *inv;
    const char *t;

    if (commonMeta(obj, &meta, err, errlen))
        return -1;
    memset(out, 0, sizeof *out);
    inv = member(obj, "involvedObject");
    k8sCopyString(out->name, sizeof out->name, str(meta, "name"));
    k8sCopyString(out->namespace_, sizeof out->namespace_, str(meta, "namespace"));
    k8sCopyString(out->resourceVersion, sizeof out->resourceVersion, str(meta, "resourceVersion"));
    k8sCopyString(out->involvedKind, sizeof out->involvedKind, str(inv, "kind"));
    k8sCopyString(out->involvedName, sizeof out->involvedName, str(inv, "name"));
    k8sCopyString(out->type, sizeof out->type, str(obj, "type"));
    k8sCopyString(out->reason, sizeof out->reason, str(obj, "reason"));
    k8sCopyString(out->message, sizeof out->message, str(obj, "message"));
    t = str(obj, "lastTimestamp");
    if (!t)
        t = str(obj, "eventTime");
    if (!t)
        t = str(meta, "creationTimestamp");
    out->timeEpoch = k8sParseTime(t);
    return 0;
}

int k8sWatchEventParse(const char *line, size_t len, k8sWatchEvent *ev, char *err, size_t errlen)
{
    const char *type;
    /* line is len bytes, not necessarily NUL-terminated: quote at most those
     * (found by tests/fuzz: "%.80s" read past a short, unterminated line) */
    int quote = len < 80 ? (int)len : 80;

    memset(ev, 0, sizeof *ev);
    ev->root = cJSON_ParseWithLength(line, len);
    if (!ev->root) {
        snprintf(err, errlen, "watch line is not JSON: %.*s", quote, line);
        return -1;
    }
    type = str(ev->root, "type");
    ev->object = member(ev->root, "object");
    if (!type || !cJSON_IsObject(ev->object)) {
        snprintf(err, errlen, "watch line without type/object: %.*s", quote, line);
        k8sWatchEventFree(ev);
        return -1;
    }
    if (strcmp(type, "ADDED") == 0)
        ev->type = K8S_WATCH_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        ev->type = K8S_WATCH_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        ev->type = K8S_WATCH_DELETED;
    else if (strcmp(type, "BOOKMARK") == 0)
        ev->type = K8S_WATCH_BOOKMARK;
    else if (strcmp(type, "ERROR") == 0)
        ev->type = K8S_WATCH_ERROR;
    else {
        snprintf(err, errlen, "unknown watch event type \"%.40s\"", type);
        k8sWatchEventFree(ev);
        return -1;
    }
    if (ev->type == K8S_WATCH_ERROR) {
        ev->errorCode = (long)num(ev->object, "code");
        k8sCopyString(ev->errorMessage, sizeof ev->errorMessage, str(ev->object, "message"));
        return 0;
    }
    k8sCopyString(ev->resourceVersion, sizeof ev->resourceVersion,
                  str(member(ev->object, "metadata"), "resourceVersion"));
    if (!ev->resourceVersion[0]) {
        snprintf(err, errlen, "%s watch event without metadata.resourceVersion", type);
        k8sWatchEventFree(ev);
        return -1;
    }
    return 0;
}

void k8sWatchEventFree(k8sWatchEvent *ev)
{
    cJSON_Delete(ev->root);
    ev->root = NULL;
    ev->object = NULL;
}

static const char *reasonPhrase(long code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "HTTP error";
    }
}

void k8sStatusMessage(long httpStatus, const char *body, size_t len, int withCode,
                      char *msg, size_t msglen)
{
    cJSON *root = (body && len) ? cJSON_ParseWithLength(body, len) : NULL;
    const char *m = str(root, "message");

    if (m && strIs(str(root, "kind"), "Status") && *m) {
        if (withCode) {
            char full[1200];
            snprintf(full, sizeof full, "%ld %s: %s", httpStatus, reasonPhrase(httpStatus), m);
            k8sCopyString(msg, msglen, full);
        } else {
            k8sCopyString(msg, msglen, m);
        }
    } else if (body && len) {
        /* not a Status (a proxy or load balancer answered): show its start */
        char snippet[200];
        size_t n = len < sizeof snippet - 1 ? len : sizeof snippet - 1, i;
        memcpy(snippet, body, n);
        snippet[n] = '\0';
        for (i = 0; i < n; i++)
            if (snippet[i] == '\n' || snippet[i] == '\r')
                snippet[i] = ' ';
        snprintf(msg, msglen, "%ld %s: %s", httpStatus, reasonPhrase(httpStatus), snippet);
    } else {
        snprintf(msg, msglen, "%ld %s", httpStatus, reasonPhrase(httpStatus));
    }
    cJSON_Delete(root);
}
