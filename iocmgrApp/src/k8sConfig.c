/* k8sConfig.c - kubeconfig, in-cluster and exec-plugin credentials; see k8sConfig.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <yaml.h>

#include "k8sConfig.h"
#include "k8sExec.h"
#include "k8sLog.h"
#include "k8sObject.h"

static const char *driverName = "k8sConfig";

struct k8sConfig {
    char server[1024];
    char context[254], cluster[254], user[254], namespace_[254];
    int insecure;
    char *caPem; size_t caLen;
    char *certPem; size_t certLen;
    char *keyPem; size_t keyLen;
    char *token;
    char *tokenFile;
    k8sExecPlugin *execPlugin;  /* while loading; then owned by exec */
    k8sExec *exec;              /* its credential, kept fresh on a thread of its own */
    char authKind[300];
};

/* ---------------------------------------------------------------- helpers */

char *k8sBase64Decode(const char *in, size_t *outLen)
{
    static signed char map[256];
    static int mapReady;
    size_t n = strlen(in), o = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    char *out;
    const char *p;

    if (!mapReady) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int i;
        memset(map, -1, sizeof map);
        for (i = 0; i < 64; i++)
            map[(unsigned char)a[i]] = (signed char)i;
        mapReady = 1;
    }
    out = malloc(n * 3 / 4 + 4);
    if (!out)
        return NULL;
    for (p = in; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad || map[ch] < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)map[ch];
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    if (pad > 2 || bits >= 6) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    if (outLen)
        *outLen = o;
    return out;
}

static char *readFile(const char *path, size_t *len, char *err, size_t errlen, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (!f) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    do {
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading %s %s", what, path);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void trimRight(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Relative paths in a kubeconfig are relative to the file itself. */
static char *resolvePath(const char *file, const char *path)
{
    const char *slash;
    char *r;

    if (path[0] == '~' && path[1] == '/' && getenv("HOME")) {
        if (asprintf(&r, "%s%s", getenv("HOME"), path + 1) < 0)
            return NULL;
        return r;
    }
    if (path[0] == '/' || !file || !(slash = strrchr(file, '/')))
        return strdup(path);
    if (asprintf(&r, "%.*s/%s", (int)(slash - file), file, path) < 0)
        return NULL;
    return r;
}

/* ------------------------------------------------------------ YAML walk */

typedef struct kcFile {
    char *path;
    yaml_document_t doc;
    int loaded;
} kcFile;

static yaml_node_t *yGet(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *yStr(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = yGet(d, map, key);
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
        return NULL;
    /* YAML null spellings mean "not set" */
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (strcmp((char *)n->data.scalar.value, "null") == 0 || strcmp((char *)n->data.scalar.value, "~") == 0))
        return NULL;
    return (const char *)n->data.scalar.value;
}

static int yBool(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    const char *v = yStr(d, map, key);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0);
}

/* The "cluster"/"user"/"context" body of the first entry named `name` in
 * the `listKey` sequence of any file; *fileOut is the file it came from. */
static yaml_node_t *findNamed(kcFile *files, int nfiles, const char *listKey, const char *name,
                              const char *bodyKey, kcFile **fileOut)
{
    int i;

    for (i = 0; i < nfiles; i++) {
        yaml_document_t *d = &files[i].doc;
        yaml_node_t *seq = yGet(d, yaml_document_get_root_node(d), listKey);
        yaml_node_item_t *it;

        if (!seq || seq->type != YAML_SEQUENCE_NODE)
            continue;
        for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(d, *it);
            const char *n = yStr(d, e, "name");
            if (n && strcmp(n, name) == 0) {
                *fileOut = &files[i];
                return yGet(d, e, bodyKey);
            }
        }
    }
    return NULL;
}

static int loadYamlFile(kcFile *f, char *err, size_t errlen)
{
    yaml_parser_t parser;
    FILE *fp = fopen(f->path, "rb");

    if (!fp) {
        snprintf(err, errlen, "cannot open kubeconfig %s: %s", f->path, strerror(errno));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &f->doc)) {
        snprintf(err, errlen, "kubeconfig %s is not valid YAML: line %lu column %lu: %s%s%s",
                 f->path, (unsigned long)parser.problem_mark.line + 1,
                 (unsigned long)parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "parse error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(fp);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    f->loaded = 1;
    {
        yaml_node_t *root = yaml_document_get_root_node(&f->doc);
        if (root && root->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "kubeconfig %s: top level is not a mapping (is this a kubeconfig?)",
                     f->path);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- loading */

static k8sConfig *newConfig(void)
{
    return calloc(1, sizeof(k8sConfig));
}

void k8sConfigFree(k8sConfig *c)
{
    if (!c)
        return;
    free(c->caPem);
    free(c->certPem);
    free(c->keyPem);
    free(c->token);
    free(c->tokenFile);
    k8sExecPluginFree(c->execPlugin);
    k8sExecFree(c->exec);
    free(c);
}

/* PEM from "<key>-data" (base64) or "<key>" (a file path). */
static int loadPem(yaml_document_t *d, yaml_node_t *body, const char *file, const char *key,
                   const char *what, char **out, size_t *outLen, char *err, size_t errlen)
{
    char dataKey[64];
    const char *v;

    snprintf(dataKey, sizeof dataKey, "%s-data", key);
    if ((v = yStr(d, body, dataKey)) != NULL) {
        *out = k8sBase64Decode(v, outLen);
        if (!*out) {
            snprintf(err, errlen, "kubeconfig %s: %s is not valid base64", file, dataKey);
            return -1;
        }
        return 0;
    }
    if ((v = yStr(d, body, key)) != NULL) {
        char *path = resolvePath(file, v);
        if (!path) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *out = readFile(path, outLen, err, errlen, what);
        free(path);
        return *out ? 0 : -1;
    }
    return 0;
}

static int loadExec(k8sConfig *c, yaml_document_t *d, yaml_node_t *ex, const char *file,
                    char *err, size_t errlen)
{
    k8sExecPlugin *e = calloc(1, sizeof *e);
    yaml_node_t *args = yGet(d, ex, "args"), *env = yGet(d, ex, "env");
    const char *cmd = yStr(d, ex, "command"), *api = yStr(d, ex, "apiVersion");
    size_t na = 0, ne = 0, i = 0;
    yaml_node_item_t *it;

    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->execPlugin = e;
    if (!cmd) {
        snprintf(err, errlen, "kubeconfig %s: user \"%s\": exec has no command", file, c->user);
        return -1;
    }
    snprintf(e->apiVersion, sizeof e->apiVersion, "%s",
             api ? api : "client.authentication.k8s.io/v1");
    /* kubectl resolves a command with a '/' relative to the kubeconfig; a
     * bare name is looked up on PATH. */
    e->command = strchr(cmd, '/') ? resolvePath(file, cmd) : strdup(cmd);
    if (yStr(d, ex, "installHint"))
        e->installHint = strdup(yStr(d, ex, "installHint"));
    if (args && args->type == YAML_SEQUENCE_NODE)
        na = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
    if (env && env->type == YAML_SEQUENCE_NODE)
        ne = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
    e->argv = calloc(na + 2, sizeof *e->argv);
    e->env = calloc(ne + 1, sizeof *e->env);
    if (!e->command || !e->argv || !e->env) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->argv[i++] = strdup(e->command);
    if (na)
        for (it = args->data.sequence.items.start; it < args->data.sequence.items.top; it++) {
            yaml_node_t *a = yaml_document_get_node(d, *it);
            e->argv[i++] = strdup(a && a->type == YAML_SCALAR_NODE ? (char *)a->data.scalar.value : "");
        }
    i = 0;
    if (ne)
        for (it = env->data.sequence.items.start; it < env->data.sequence.items.top; it++) {
            yaml_node_t *en = yaml_document_get_node(d, *it);
            const char *name = yStr(d, en, "name"), *value = yStr(d, en, "value");
            if (!name) {
                snprintf(err, errlen, "kubeconfig %s: user \"%s\": exec env entry without name", file, c->user);
                return -1;
            }
            if (asprintf(&e->env[i++], "%s=%s", name, value ? value : "") < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    snprintf(c->authKind, sizeof c->authKind, "exec plugin %s", e->command);
    /* no thread runs before the first request asks for the credential */
    c->execPlugin = NULL;
    if (!(c->exec = k8sExecCreate(e))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int buildFromFiles(k8sConfig *c, kcFile *files, int nfiles, const char *context,
                          const char *where, char *err, size_t errlen)
{
    kcFile *ctxFile = NULL, *clFile = NULL, *usFile = NULL;
    yaml_node_t *ctx, *cl, *us = NULL;
    const char *v;
    int i;

    if (!context) {
        for (i = 0; i < nfiles && !context; i++)
            context = yStr(&files[i].doc, yaml_document_get_root_node(&files[i].doc), "current-context");
        if (!context) {
            snprintf(err, errlen, "kubeconfig %s: no current-context set and no context given "
                     "(kubectl config use-context NAME)", where);
            return -1;
        }
    }
    snprintf(c->context, sizeof c->context, "%s", context);
    ctx = findNamed(files, nfiles, "contexts", context, "context", &ctxFile);
    if (!ctx) {
        snprintf(err, errlen, "kubeconfig %s: context \"%s\" not found", where, context);
        return -1;
    }
    v = yStr(&ctxFile->doc, ctx, "cluster");
    if (!v) {
        snprintf(err, errlen, "kubeconfig %s: context \"%s\" names no cluster", ctxFile->path, context);
        return -1;
    }
    snprintf(c->cluster, sizeof c->cluster, "%s", v);
    snprintf(c->user, sizeof c->user, "%s", (v = yStr(&ctxFile->doc, ctx, "user")) ? v : "");
    snprintf(c->namespace_, sizeof c->namespace_, "%s",
             (v = yStr(&ctxFile->doc, ctx, "namespace")) ? v : "");

    cl = findNamed(files, nfiles, "clusters", c->cluster, "cluster", &clFile);
    if (!cl) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" (of context \"%s\") not found",
                 where, c->cluster, context);
        return -1;
    }
    v = yStr(&clFile->doc, cl, "server");
    if (!v) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" has no server", clFile->path, c->cluster);
        return -1;
    }
    if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\": server \"%s\" is not an http(s) URL",
                 clFile->path, c->cluster, v);
        return -1;
    }
    snprintf(c->server, sizeof c->server, "%s", v);
    trimRight(c->server);
    while (c->server[0] && c->server[strlen(c->server) - 1] == '/')
        c->server[strlen(c->server) - 1] = '\0';
    /* "https://" alone would be left as "https:", a server without a host
     * that only fails later, in curl (found by tests/fuzz) */
    if (strlen(c->server) <= (strncmp(v, "https://", 8) == 0 ? 8u : 7u)) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\": server \"%s\" has no host",
                 clFile->path, c->cluster, v);
        return -1;
    }
    c->insecure = yBool(&clFile->doc, cl, "insecure-skip-tls-verify");
    if (loadPem(&clFile->doc, cl, clFile->path, "certificate-authority", "CA certificate",
                &c->caPem, &c->caLen, err, errlen))
        return -1;

    snprintf(c->authKind, sizeof c->authKind, "no credentials");
    if (c->user[0]) {
        us = findNamed(files, nfiles, "users", c->user, "user", &usFile);
        if (!us) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\" (of context \"%s\") not found",
                     where, c->user, context);
            return -1;
        }
    }
    if (us) {
        yaml_document_t *d = &usFile->doc;
        yaml_node_t *ex = yGet(d, us, "exec");

        if (loadPem(d, us, usFile->path, "client-certificate", "client certificate",
                    &c->certPem, &c->certLen, err, errlen) ||
            loadPem(d, us, usFile->path, "client-key", "client key", &c->keyPem, &c->keyLen, err, errlen))
            return -1;
        if (!c->certPem != !c->keyPem) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\" has a client %s but no client %s",
                     usFile->path, c->user, c->certPem ? "certificate" : "key",
                     c->certPem ? "key" : "certificate");
            return -1;
        }
        if (c->certPem)
            snprintf(c->authKind, sizeof c->authKind, "client certificate");
        if ((v = yStr(d, us, "token")) != NULL) {
            c->token = strdup(v);
            snprintf(c->authKind, sizeof c->authKind, "bearer token");
        } else if ((v = yStr(d, us, "tokenFile")) != NULL) {
            c->tokenFile = resolvePath(usFile->path, v);
            snprintf(c->authKind, sizeof c->authKind, "bearer token file %.250s", c->tokenFile);
        }
        if (ex && loadExec(c, d, ex, usFile->path, err, errlen))
            return -1;
        if (yGet(d, us, "auth-provider")) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\" uses auth-provider, removed from "
                     "Kubernetes; use an exec plugin (e.g. kubelogin)", usFile->path, c->user);
            return -1;
        }
        if (yStr(d, us, "username") && !c->token && !c->tokenFile && !c->exec && !c->execPlugin && !c->certPem) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\" uses basic auth (username/password), "
                     "not supported", usFile->path, c->user);
            return -1;
        }
    }
    return 0;
}

static void warnInsecure(const k8sConfig *c)
{
    if (c->insecure)
        k8sLog(0, "%s: WARNING: TLS VERIFICATION IS OFF for cluster \"%s\" (%s): "
               "insecure-skip-tls-verify is set in the kubeconfig; anyone on the network path "
               "can impersonate the API server", driverName, c->cluster, c->server);
}

int k8sConfigLoad(const char *kubeconfig, const char *context, k8sConfig **out,
                  char *err, size_t errlen)
{
    kcFile files[32];
    int nfiles = 0, i, rc = -1;
    char where[1024];
    k8sConfig *c;

    *out = NULL;
    if (kubeconfig && strcmp(kubeconfig, "incluster") == 0)
        return k8sConfigLoadInCluster(NULL, out, err, errlen);
    /* "incluster:DIR": the service account files mounted elsewhere, as when
     * the IOC runs on a host with a pod's token, CA and namespace. */
    if (kubeconfig && strncmp(kubeconfig, "incluster:", 10) == 0)
        return k8sConfigLoadInCluster(kubeconfig + 10, out, err, errlen);

    memset(files, 0, sizeof files);
    if (kubeconfig && *kubeconfig) {
        files[nfiles++].path = strdup(kubeconfig);
        snprintf(where, sizeof where, "%s", kubeconfig);
    } else if (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) {
        char *list = strdup(getenv("KUBECONFIG")), *save = NULL, *tok;
        snprintf(where, sizeof where, "$KUBECONFIG=%s", getenv("KUBECONFIG"));
        for (tok = list ? strtok_r(list, ":", &save) : NULL; tok && nfiles < 32;
             tok = strtok_r(NULL, ":", &save)) {
            int dup = 0;
            for (i = 0; i < nfiles; i++)
                dup |= strcmp(files[i].path, tok) == 0;
            if (!dup && access(tok, F_OK) == 0)
                files[nfiles++].path = strdup(tok);
        }
        free(list);
        if (nfiles == 0) {
            snprintf(err, errlen, "none of the files in %s exists", where);
            return -1;
        }
    } else {
        const char *home = getenv("HOME");
        if (!home) {
            snprintf(err, errlen, "no kubeconfig: $KUBECONFIG and $HOME are unset");
            return -1;
        }
        if (asprintf(&files[nfiles].path, "%s/.kube/config", home) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(where, sizeof where, "%s", files[nfiles].path);
        nfiles++;
    }

    c = newConfig();
    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (i = 0; i < nfiles; i++) {
        if (!files[i].path) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        if (loadYamlFile(&files[i], err, errlen))
            goto done;
    }
    if (buildFromFiles(c, files, nfiles, context, where, err, errlen))
        goto done;
    warnInsecure(c);
    k8sLog(1, "%s: context \"%s\", server %s, %s", driverName, c->context, c->server, c->authKind);
    *out = c;
    c = NULL;
    rc = 0;
done:
    for (i = 0; i < nfiles; i++) {
        if (files[i].loaded)
            yaml_document_delete(&files[i].doc);
        free(files[i].path);
    }
    k8sConfigFree(c);
    return rc;
}

int k8sConfigLoadInCluster(const char *saDir, k8sConfig **out, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    k8sConfig *c;
    char path[1024];
    char *ns;

    *out = NULL;
    if (!saDir)
        saDir = K8S_SA_DIR;
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen, "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
        return -1;
    }
    c = newConfig();
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* an IPv6 service address needs brackets in a URL */
    snprintf(c->server, sizeof c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    snprintf(c->context, sizeof c->context, "incluster");
    snprintf(c->user, sizeof c->user, "serviceaccount");
    snprintf(path, sizeof path, "%s/token", saDir);
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "in-cluster: cannot read service account token %s: %s", path, strerror(errno));
        k8sConfigFree(c);
        return -1;
    }
    c->tokenFile = strdup(path);
    snprintf(c->authKind, sizeof c->authKind, "service account token %.250s", path);
    snprintf(path, sizeof path, "%s/ca.crt", saDir);
    c->caPem = readFile(path, &c->caLen, err, errlen, "service account CA");
    if (!c->caPem || !c->tokenFile) {
        k8sConfigFree(c);
        return -1;
    }
    snprintf(path, sizeof path, "%s/namespace", saDir);
    ns = readFile(path, NULL, err, errlen, "service account namespace");
    if (ns) {
        trimRight(ns);
        snprintf(c->namespace_, sizeof c->namespace_, "%s", ns);
        free(ns);
    }
    *out = c;
    return 0;
}

const char *k8sConfigServer(const k8sConfig *c) { return c->server; }
const char *k8sConfigNamespace(const k8sConfig *c) { return c->namespace_; }
const char *k8sConfigContext(const k8sConfig *c) { return c->context; }
int k8sConfigInsecure(const k8sConfig *c) { return c->insecure; }
const char *k8sConfigAuthKind(const k8sConfig *c) { return c->authKind; }

const char *k8sConfigCa(const k8sConfig *c, size_t *len)
{
    if (len)
        *len = c->caLen;
    return c->caPem;
}

/* ------------------------------------------------------- credentials */

static char *dupLen(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The static parts: client certificate, token or token file. */
static int staticCredentials(k8sConfig *c, k8sCredentials *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (c->certPem) {
        out->certPem = dupLen(c->certPem, c->certLen);
        out->keyPem = dupLen(c->keyPem, c->keyLen);
        out->certLen = c->certLen;
        out->keyLen = c->keyLen;
    }
    if (c->token) {
        out->token = strdup(c->token);
    } else if (c->tokenFile) {
        /* read on every use: kubelet rotates projected tokens in place */
        out->token = readFile(c->tokenFile, NULL, err, errlen, "token file");
        if (!out->token) {
            k8sCredentialsFree(out);
            return -1;
        }
        trimRight(out->token);
    }
    return 0;
}

/* The exec plugin's credential (when there is no static token) over the
 * static ones: wait < 0 never waits (k8sExecTry), else up to wait s. */
static int credentials(k8sConfig *c, double wait, k8sCredentials *out, char *err, size_t errlen)
{
    k8sCredentials x;
    int rc;

    if (staticCredentials(c, out, err, errlen))
        return -1;
    if (!c->exec || out->token)
        return 0;
    rc = wait < 0 ? k8sExecTry(c->exec, &x, err, errlen) : k8sExecWait(c->exec, wait, &x, err, errlen);
    if (rc != 0) {
        k8sCredentialsFree(out);
        return rc;
    }
    out->token = x.token;
    if (x.certPem) {
        free(out->certPem);
        free(out->keyPem);
        out->certPem = x.certPem;
        out->keyPem = x.keyPem;
        out->certLen = x.certLen;
        out->keyLen = x.keyLen;
    }
    out->generation = x.generation;
    return 0;
}

int k8sConfigTryCredentials(k8sConfig *c, k8sCredentials *out, char *err, size_t errlen)
{
    return credentials(c, -1, out, err, errlen);
}

int k8sConfigGetCredentials(k8sConfig *c, k8sCredentials *out, char *err, size_t errlen)
{
    return credentials(c, K8S_EXEC_TIMEOUT_S + 5, out, err, errlen);
}

void k8sConfigSetNotify(k8sConfig *c, void (*fn)(void *arg, int got), void *arg)
{
    k8sExecSetNotify(c->exec, fn, arg);
}

void k8sConfigInvalidate(k8sConfig *c, unsigned long generation)
{
    k8sExecRefused(c->exec, generation);
}

k8sExec *k8sConfigExec(k8sConfig *c)
{
    return c->exec;
}

void k8sCredentialsFree(k8sCredentials *cr)
{
    free(cr->token);
    free(cr->certPem);
    free(cr->keyPem);
    memset(cr, 0, sizeof *cr);
}
