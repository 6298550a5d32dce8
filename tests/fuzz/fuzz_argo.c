/* fuzz_argo.c - libFuzzer target: Argo CD Applications (k8sArgo.c).
 *
 * The input is an Application as the API sends it (a list item or a watch
 * event's object). It is decoded (k8sAppFromJson, k8sAppParamsFromJson), its
 * tracking-id parsed, the owner of an instance resolved through it, one
 * service's parameters picked out (k8sArgoServiceParams), and the Helm
 * parameter patch built from it. Oracles: a parsed tracking-id puts itself
 * back together exactly; every services.* parameter of the input is kept
 * (none cut: kept lines + skipped = the input's count) and found again by
 * name; a service's pick holds exactly that service's lines, whole, in a
 * buffer of any size or says it did not fit; a patch is JSON holding the
 * parameter once, with the value asked for (and no second "value" or
 * "name" member in its entry), and the object's resourceVersion; nothing
 * fails without saying why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8sArgo.h"

static int lookupSelf(void *arg, const char *ns, const char *name, k8sApp *out)
{
    const k8sApp *a = arg;
    if (strcmp(a->namespace_, ns) != 0 || strcmp(a->name, name) != 0)
        return -1;
    *out = *a;
    return 0;
}

static void checkTrackingId(const char *id)
{
    k8sTrackingId t;
    char err[300], again[1200];

    if (k8sArgoParseTrackingId(id, &t, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return;
    }
    snprintf(again, sizeof again, "%s%s%s:%s/%s:%s/%s", t.appNamespace, t.appNamespace[0] ? "_" : "",
             t.app, t.group, t.kind, t.namespace_, t.name);
    if (strcmp(again, id) != 0) {
        fprintf(stderr, "tracking-id \"%s\" parsed back as \"%s\"\n", id, again);
        abort();
    }
}

/* Lines of "name=value\n" only; each found again by its name; as many as the
 * input has services.* parameters, less those a line cannot carry. */
static size_t checkParams(const cJSON *obj, const char *all, size_t skipped)
{
    const cJSON *p;
    const char *line = all;
    char name[1200], value[8];
    size_t lines = 0, inputs = 0;

    while (*line) {
        const char *end = strchr(line, '\n'), *eq = memchr(line, '=', end ? (size_t)(end - line) : 0);
        if (!end || !eq || (size_t)(eq - line) >= sizeof name)
            abort();
        memcpy(name, line, (size_t)(eq - line));
        name[eq - line] = '\0';
        if (strncmp(name, "services.", 9) != 0 || k8sParamLookup(all, name, value, sizeof value) != 0)
            abort();
        lines++;
        line = end + 1;
    }
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "spec"), "source"),
                       "helm"), "parameters")) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
        inputs += cJSON_IsObject(p) && n && strncmp(n, "services.", 9) == 0;
    }
    if (lines + skipped != inputs)
        abort();      /* nothing is cut */
    return lines;
}

/* The service of the first parameter ("services.<svc>.x"), picked into
 * buffers of a few sizes: only its lines, whole; all of them when it fits. */
static void checkService(const char *all)
{
    static const size_t sizes[] = { 1, 40, 300, sizeof ((k8sApp *)0)->params, 1 << 16 };
    char svc[1024], prefix[1100], *buf;
    const char *dot;
    size_t i, want = 0, got;

    /* the service: the name's part after "services." up to its next '.' */
    if (strncmp(all, "services.", 9) != 0 || !(dot = strchr(all + 9, '.')) || dot > strchr(all, '=') ||
        dot - (all + 9) >= (long)sizeof svc)
        return;
    memcpy(svc, all + 9, (size_t)(dot - (all + 9)));
    svc[dot - (all + 9)] = '\0';
    snprintf(prefix, sizeof prefix, "services.%s.", svc);
    for (dot = all; *dot; dot = strchr(dot, '\n') + 1) {
        const char *end = strchr(dot, '\n'), *eq = memchr(dot, '=', (size_t)(end - dot));
        if (strncmp(dot, prefix, strlen(prefix)) == 0 && eq && (size_t)(eq - dot) > strlen(prefix))
            want += (size_t)(end - dot) + 1;
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int rc;
        buf = malloc(sizes[i]);
        if (!buf)
            abort();
        rc = k8sArgoServiceParams(all, svc, buf, sizes[i]);
        got = strlen(buf);
        if (got >= sizes[i] || (rc == 0) != (got == want) || got > want)
            abort();
        for (dot = buf; *dot; dot = strchr(dot, '\n') + 1)
            if (strncmp(dot, prefix, strlen(prefix)) != 0 || !strchr(dot, '\n'))
                abort();
        free(buf);
    }
}

static void checkPatch(const cJSON *obj, const k8sApp *a)
{
    const char *name = "services.fuzz.enabled";
    char err[300], *s = k8sArgoParamPatch(obj, name, "false", a->globalEnabled == 1, err, sizeof err);
    cJSON *patch, *p;
    int mine = 0;

    if (!s) {
        if (!err[0])
            abort();
        return;
    }
    patch = cJSON_Parse(s);
    if (!patch)
        abort();
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   cJSON_GetObjectItemCaseSensitive(patch, "metadata"), "resourceVersion")) ?: "",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion")) ?: "-") != 0)
        abort();
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(patch, "spec"), "source"),
                     "helm"), "parameters")) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
        if (n && strcmp(n, name) == 0) {
            const cJSON *m;
            int values = 0;
            mine++;
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "value")) ?: "", "false") != 0)
                abort();
            /* one value only: the API reads the last of repeated keys */
            cJSON_ArrayForEach(m, p)
                values += m->string && (strcmp(m->string, "value") == 0 || strcmp(m->string, "name") == 0);
            if (values != 2)
                abort();
        }
    }
    if (mine != 1)
        abort();
    cJSON_Delete(patch);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
    k8sApp *a = malloc(sizeof *a);
    k8sArgoOwner *o = malloc(sizeof *o);
    k8sArgoConfig cfg;
    char err[300], why[600];

    if (!a || !o)
        abort();
    if (k8sAppFromJson(obj, a, err, sizeof err) == 0) {
        size_t skipped = 0;
        char *all = k8sAppParamsFromJson(obj, &skipped);
        if (!all || a->params[0])
            abort();
        checkParams(obj, all, skipped);
        checkService(all);
        free(all);
        checkTrackingId(a->trackingId);
        if (k8sArgoRootUsable(a, why, sizeof why) != 0 && !why[0])
            abort();
        /* the Application as its own child and, through its tracking-id, maybe its own root */
        cfg.appNamespace = a->namespace_;
        cfg.rootApp = a->name;
        cfg.instanceLabel = K8S_ARGO_DEFAULT_INSTANCE_LABEL;
        k8sArgoResolve("StatefulSet", "ns", a->name, a->trackingId, a->name, &cfg, lookupSelf, a, o);
        if (o->managed && !o->haveChild && !o->problem[0])
            abort();      /* a tracking-id naming a missing Application says so */
        if (o->haveChild && !o->haveRoot && !o->problem[0])
            abort();
        checkPatch(obj, a);
    } else if (!err[0]) {
        abort();
    }
    free(o);
    free(a);
    cJSON_Delete(obj);
    return 0;
}
