/* kubeconfig variants, in-cluster service account, exec credential plugins */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "k8sConfig.h"
#include "k8sExec.h"
#include "k8sLog.h"
#include "k8sNet.h"

static char dir[256];

/* "CERT" "KEY" "CA" in base64 */
#define B64_CERT "Q0VSVA=="
#define B64_KEY "S0VZ"
#define B64_CA "Q0E="

static const char *path(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static void writeFile(const char *name, const char *text, int mode)
{
    FILE *f = fopen(path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path(name), (mode_t)mode);
}

static char *readCount(void)
{
    static char buf[32];
    FILE *f = fopen(path("count"), "r");
    buf[0] = '\0';
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
    }
    return buf;
}

static int setupDir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/k8scfgXXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    setenv("HOME", dir, 1);
    return 0;
}

static int teardownDir(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const char *kcHead =
    "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
    "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:16443/\n"
    "    certificate-authority-data: " B64_CA "\n"
    "contexts:\n- name: main\n  context:\n    cluster: c1\n    user: u1\n    namespace: bl46p-iocs\n"
    "- name: other\n  context:\n    cluster: c1\n    user: u2\n";

static k8sConfig *load(const char *kc, const char *ctx, char *err, size_t errlen)
{
    k8sConfig *c = NULL;
    if (k8sConfigLoad(kc, ctx, &c, err, errlen) != 0)
        return NULL;
    return c;
}

static void test_token_and_ca_data(void **state)
{
    char kc[2048], err[512];
    k8sConfig *c;
    k8sCredentials cr;
    size_t len;
    (void)state;
    snprintf(kc, sizeof kc, "%susers:\n- name: u1\n  user:\n    token: abc.def\n", kcHead);
    writeFile("kc1", kc, 0600);
    c = load(path("kc1"), NULL, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(k8sConfigServer(c), "https://127.0.0.1:16443");
    assert_string_equal(k8sConfigNamespace(c), "bl46p-iocs");
    assert_string_equal(k8sConfigContext(c), "main");
    assert_string_equal(k8sConfigCa(c, &len), "CA");
    assert_int_equal(len, 2);
    assert_false(k8sConfigInsecure(c));
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "abc.def");
    assert_null(cr.certPem);
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);
}

static void test_client_cert_data_and_files(void **state)
{
    char kc[2048], err[512];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    /* data */
    snprintf(kc, sizeof kc, "%susers:\n- name: u1\n  user:\n    client-certificate-data: " B64_CERT
             "\n    client-key-data: " B64_KEY "\n", kcHead);
    writeFile("kc2", kc, 0600);
    assert_non_null(c = load(path("kc2"), NULL, err, sizeof err));
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.certPem, "CERT");
    assert_string_equal(cr.keyPem, "KEY");
    assert_null(cr.token);
    assert_string_equal(k8sConfigAuthKind(c), "client certificate");
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);

    /* files, relative to the kubeconfig, CA from a file too */
    writeFile("client.crt", "CERTFILE", 0600);
    writeFile("client.key", "KEYFILE", 0600);
    writeFile("ca.crt", "CAFILE", 0600);
    writeFile("kc3", "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                     "    certificate-authority: ca.crt\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                     "users:\n- name: u\n  user:\n    client-certificate: client.crt\n    client-key: " , 0600);
    {
        FILE *f = fopen(path("kc3"), "a");
        fprintf(f, "%s\n", path("client.key"));   /* absolute works too */
        fclose(f);
    }
    assert_non_null(c = load(path("kc3"), NULL, err, sizeof err));
    assert_string_equal(k8sConfigCa(c, NULL), "CAFILE");
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.certPem, "CERTFILE");
    assert_string_equal(cr.keyPem, "KEYFILE");
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);
}

static void test_token_file_rotates(void **state)
{
    char kc[2048], err[512];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    writeFile("tok", "first\n", 0600);
    snprintf(kc, sizeof kc, "%susers:\n- name: u1\n  user:\n    tokenFile: tok\n", kcHead);
    writeFile("kc4", kc, 0600);
    assert_non_null(c = load(path("kc4"), NULL, err, sizeof err));
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "first");
    k8sCredentialsFree(&cr);
    writeFile("tok", "second", 0600);
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "second");
    k8sCredentialsFree(&cr);
    unlink(path("tok"));
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read token file"));
    k8sConfigFree(c);
}

static void writePlugin(const char *expiry)
{
    char script[1024];
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "n=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s\n"
             "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n"
             "[ \"$1\" = get-token ] || exit 4\n"
             "[ \"$OIDC_ISSUER\" = https://sso ] || exit 5\n"
             "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"tok-'$((n+1))'\"%s%s%s}}'\n",
             path("count"), path("count"), expiry ? ",\"expirationTimestamp\":\"" : "", expiry ? expiry : "",
             expiry ? "\"" : "");
    writeFile("plugin.sh", script, 0700);
}

static k8sConfig *loadExecConfig(void)
{
    char kc[2048], err[512];
    k8sConfig *c;
    snprintf(kc, sizeof kc, "%susers:\n- name: u1\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
             "      command: ./plugin.sh\n      args: [get-token]\n      env:\n      - name: OIDC_ISSUER\n"
             "        value: https://sso\n      interactiveMode: Never\n", kcHead);
    writeFile("kc5", kc, 0600);
    c = load(path("kc5"), NULL, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    return c;
}

static void test_exec_cached_until_expiry(void **state)
{
    char err[512];
    k8sConfig *c;
    k8sCredentials cr;
    unsigned long gen;
    (void)state;
    unlink(path("count"));
    writePlugin("2999-01-01T00:00:00Z");
    c = loadExecConfig();
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "tok-1");
    gen = cr.generation;
    assert_true(gen > 0);
    k8sCredentialsFree(&cr);
    assert_int_equal(k8sConfigTryCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "tok-1");   /* cached: plugin not run again */
    k8sCredentialsFree(&cr);
    assert_string_equal(readCount(), "1\n");
    k8sConfigInvalidate(c, gen + 7);             /* a 401 to another generation's request */
    assert_int_equal(k8sConfigTryCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "tok-1");
    k8sCredentialsFree(&cr);
    k8sConfigInvalidate(c, gen);                 /* a 401 to this one: run again at once */
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "tok-2");
    assert_true(cr.generation > gen);
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);
}

/* An expirationTimestamp in the past is a failed run (said so), not a
 * credential to re-run the plugin for on every request. */
static void test_exec_already_expired(void **state)
{
    char err[512];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    unlink(path("count"));
    writePlugin("2000-01-01T00:00:00Z");
    c = loadExecConfig();
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), -1);
    assert_non_null(strstr(err, "gave a credential that had already expired"));
    assert_non_null(strstr(err, "running it again in"));
    assert_int_equal(k8sConfigTryCredentials(c, &cr, err, sizeof err), -1);
    assert_string_equal(readCount(), "1\n");
    k8sConfigFree(c);
}

/* Wait (bounded) for the next failure whose words contain `words`. */
static void waitForError(k8sConfig *c, const char *words, double bound)
{
    char err[512] = "";
    k8sCredentials cr;
    double t0 = k8sNow();
    while (!strstr(err, words)) {
        if (k8sNow() - t0 > bound)
            fail_msg("no \"%s\" within %.0f s; last: %s", words, bound, err);
        assert_int_not_equal(k8sConfigTryCredentials(c, &cr, err, sizeof err), 0);
        usleep(20000);
    }
}

static void test_exec_failures(void **state)
{
    char err[512];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    writeFile("plugin.sh", "#!/bin/sh\necho 'login required' >&2\nexit 1\n", 0700);
    c = loadExecConfig();
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), -1);
    assert_non_null(strstr(err, "failed (exit status 1)"));
    /* the next runs come after the back-off (1 s, then 2 s), whoever asks meanwhile */
    writeFile("plugin.sh", "#!/bin/sh\necho not json\n", 0700);
    waitForError(c, "did not print an ExecCredential", 5);
    unlink(path("plugin.sh"));
    waitForError(c, "plugin.sh not found", 8);
    k8sConfigFree(c);
}

/* Issue 18 item 12: the plugin ran on the caller's thread (the network
 * thread), up to 30 s each time. Now asking never waits for it. */
static void test_exec_never_blocks(void **state)
{
    char err[512];
    k8sConfig *c;
    k8sCredentials cr;
    double t0, longest = 0;
    int pending = 0, rc;
    (void)state;
    writeFile("plugin.sh", "#!/bin/sh\nsleep 2\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
              "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"slow\"}}'\n", 0700);
    c = loadExecConfig();
    t0 = k8sNow();
    do {
        double t = k8sNow();
        rc = k8sConfigTryCredentials(c, &cr, err, sizeof err);
        t = k8sNow() - t;
        if (t > longest)
            longest = t;
        pending += rc == 1;
        if (k8sNow() - t0 > 10)
            fail_msg("no credential after 10 s");
        usleep(10000);
    } while (rc == 1);
    assert_int_equal(rc, 0);
    assert_string_equal(cr.token, "slow");
    k8sCredentialsFree(&cr);
    print_message("# slow plugin (2 s): %d calls answered 'not yet', the longest in %.3f ms; credential after %.2f s\n",
                  pending, longest * 1e3, k8sNow() - t0);
    assert_true(pending > 10);
    assert_true(longest < 0.1);
    k8sConfigFree(c);
}

static unsigned long execRuns(k8sConfig *c)
{
    k8sExecStats st;
    k8sExecGetStats(k8sConfigExec(c), &st);
    return st.runs;
}

/* A plugin that keeps failing is run on the back-off schedule (1, 2, 4 s
 * +/- 20 %), however often it is asked for: here 100 times a second. */
static void test_exec_backoff(void **state)
{
    char err[512], script[1024];
    k8sConfig *c;
    k8sCredentials cr;
    double t0;
    unsigned long asks = 0, runs;
    (void)state;
    unlink(path("count"));
    snprintf(script, sizeof script, "#!/bin/sh\nn=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s\nexit 1\n",
             path("count"), path("count"));
    writeFile("plugin.sh", script, 0700);
    c = loadExecConfig();
    t0 = k8sNow();
    while (k8sNow() - t0 < 6.0) {
        assert_int_not_equal(k8sConfigTryCredentials(c, &cr, err, sizeof err), 0);
        asks++;
        usleep(10000);
    }
    runs = execRuns(c);
    print_message("# failing plugin, asked %lu times in 6 s: run %lu times (%s)\n", asks, runs, readCount());
    /* at 0, 0.8-1.2, 2.4-3.6 and maybe 5.6-8.4 s */
    assert_true(runs >= 3 && runs <= 4);
    assert_int_equal((unsigned long)atol(readCount()), runs);
    k8sConfigFree(c);
}

/* A credential with an expiry is renewed before it, on the plugin's thread:
 * whoever asks always gets a valid one, never "not yet". */
static void test_exec_refreshed_before_expiry(void **state)
{
    char err[512], last[32] = "", script[1024];
    k8sConfig *c;
    k8sCredentials cr;
    double t0;
    int distinct = 0;
    (void)state;
    unlink(path("count"));
    snprintf(script, sizeof script, "#!/bin/sh\nn=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s\n"
             "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"tok-'$((n+1))'\",\"expirationTimestamp\":\"'"
             "$(date -u -d '+4 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)'\"}}'\n", path("count"), path("count"));
    writeFile("plugin.sh", script, 0700);
    c = loadExecConfig();
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    k8sCredentialsFree(&cr);
    t0 = k8sNow();
    while (k8sNow() - t0 < 10.0) {
        int rc = k8sConfigTryCredentials(c, &cr, err, sizeof err);
        if (rc != 0)
            fail_msg("at %.2f s: %d (%s)", k8sNow() - t0, rc, err);
        if (strcmp(cr.token, last) != 0) {
            distinct++;
            snprintf(last, sizeof last, "%s", cr.token);
        }
        k8sCredentialsFree(&cr);
        usleep(20000);
    }
    print_message("# 3-4 s credentials over 10 s: %d distinct, plugin run %lu times\n", distinct, execRuns(c));
    assert_true(distinct >= 3);
    assert_true(execRuns(c) <= 6);
    k8sConfigFree(c);
}

static void test_merge_and_named_context(void **state)
{
    char err[512], env[1200];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    /* first file: only current-context and a user; second: the rest, plus a
     * duplicate user u1 that must lose to the first file's */
    writeFile("m1", "current-context: main\nusers:\n- name: u1\n  user:\n    token: from-first\n", 0600);
    {
        char kc[2048];
        snprintf(kc, sizeof kc, "%susers:\n- name: u1\n  user:\n    token: from-second\n"
                 "- name: u2\n  user:\n    token: t2\n", kcHead);
        kc[strlen("apiVersion: v1\nkind: Config\ncurrent-context: ")] = 'X';   /* "Xain": must not win */
        writeFile("m2", kc, 0600);
    }
    snprintf(env, sizeof env, "%s::%s:%s", path("missing"), path("m1"), path("m2"));
    setenv("KUBECONFIG", env, 1);
    c = load(NULL, NULL, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(k8sConfigContext(c), "main");
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "from-first");
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);

    c = load(NULL, "other", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(k8sConfigNamespace(c), "");
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "t2");
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);

    assert_null(load(NULL, "nope", err, sizeof err));
    assert_non_null(strstr(err, "context \"nope\" not found"));

    setenv("KUBECONFIG", path("missing"), 1);
    assert_null(load(NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "none of the files in $KUBECONFIG"));
    unsetenv("KUBECONFIG");

    /* ~/.kube/config when $KUBECONFIG is unset */
    mkdir(path(".kube"), 0700);
    writeFile(".kube/config", "current-context: main\nusers:\n- name: u1\n  user:\n    token: home\n", 0600);
    assert_null(load(NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "context \"main\" not found"));
    assert_non_null(strstr(err, ".kube/config"));
}

static void test_errors(void **state)
{
    struct { const char *yaml; const char *want; } cases[] = {
        { "clusters: []\n", "no current-context set" },
        { "current-context: x\ncontexts:\n- name: x\n  context:\n    user: u\n", "names no cluster" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", "cluster \"c\" (of context \"x\") not found" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {}\n", "has no server" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'ftp://x'}\n", "is not an http(s) URL" },
        /* found by tests/fuzz (regressions/kubeconfig/server-without-host): was loaded as "https:" */
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://'}\n", "server \"https://\" has no host" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'http:///'}\n", "has no host" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\n", "user \"u\" (of context \"x\") not found" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: '!!notbase64'}\nusers:\n- name: u\n  user: {token: t}\n", "certificate-authority-data is not valid base64" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority: /nonexistent/ca.crt}\nusers:\n- name: u\n  user: {token: t}\n", "cannot read CA certificate /nonexistent/ca.crt: No such file" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {client-certificate-data: " B64_CERT "}\n", "has a client certificate but no client key" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {exec: {args: [a]}}\n", "exec has no command" },
        { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {auth-provider: {name: oidc}}\n", "auth-provider" },
        { "current-context: x\nclusters:\n  - name: c\n   bad indent: [\n", "is not valid YAML: line" },
        { "- just\n- a list\n", "top level is not a mapping" },
    };
    size_t i;
    char err[512];
    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        writeFile("bad", cases[i].yaml, 0600);
        err[0] = '\0';
        if (load(path("bad"), NULL, err, sizeof err))
            fail_msg("case %zu accepted", i);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
    assert_null(load(path("absent"), NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot open kubeconfig"));
    assert_non_null(strstr(err, "absent: No such file or directory"));
}

static int insecureLogged;
static void captureLog(int level, const char *msg)
{
    if (level == 0 && strstr(msg, "TLS VERIFICATION IS OFF"))
        insecureLogged = 1;
}

static void test_insecure_logged(void **state)
{
    char err[512];
    k8sConfig *c;
    (void)state;
    writeFile("kc6", "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n"
              "- name: c\n  cluster: {server: 'https://x', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\n", 0600);
    k8sSetLogger(captureLog);
    c = load(path("kc6"), NULL, err, sizeof err);
    k8sSetLogger(NULL);
    assert_non_null(c);
    assert_true(k8sConfigInsecure(c));
    assert_true(insecureLogged);
    k8sConfigFree(c);
}

static void test_incluster(void **state)
{
    char err[512], sa[600];
    k8sConfig *c;
    k8sCredentials cr;
    (void)state;
    snprintf(sa, sizeof sa, "%s/sa", dir);
    mkdir(sa, 0700);
    writeFile("sa/token", "sa-token-1", 0600);
    writeFile("sa/ca.crt", "SACA", 0600);
    writeFile("sa/namespace", "bl46p-iocs\n", 0600);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(k8sConfigLoadInCluster(sa, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST/PORT are not set"));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(k8sConfigLoadInCluster(sa, &c, err, sizeof err), 0);
    assert_string_equal(k8sConfigServer(c), "https://10.96.0.1:443");
    assert_string_equal(k8sConfigNamespace(c), "bl46p-iocs");
    assert_string_equal(k8sConfigCa(c, NULL), "SACA");
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "sa-token-1");
    k8sCredentialsFree(&cr);
    writeFile("sa/token", "sa-token-2", 0600);     /* kubelet rotated it */
    assert_int_equal(k8sConfigGetCredentials(c, &cr, err, sizeof err), 0);
    assert_string_equal(cr.token, "sa-token-2");
    k8sCredentialsFree(&cr);
    k8sConfigFree(c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(k8sConfigLoadInCluster(sa, &c, err, sizeof err), 0);
    assert_string_equal(k8sConfigServer(c), "https://[fd00::1]:443");
    k8sConfigFree(c);
    unlink(path("sa/token"));
    assert_int_equal(k8sConfigLoadInCluster(sa, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read service account token"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_base64(void **state)
{
    size_t n;
    char *d;
    (void)state;
    d = k8sBase64Decode("aGVsbG8gd29y\nbGQ=", &n);
    assert_string_equal(d, "hello world");
    assert_int_equal(n, 11);
    free(d);
    assert_null(k8sBase64Decode("a=b", &n));
    assert_null(k8sBase64Decode("*", &n));
}

int main(void)
{
    if (getenv("K8S_DEBUG"))
        k8sDebug = atoi(getenv("K8S_DEBUG"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_ca_data),
        cmocka_unit_test(test_client_cert_data_and_files),
        cmocka_unit_test(test_token_file_rotates),
        cmocka_unit_test(test_exec_cached_until_expiry),
        cmocka_unit_test(test_exec_already_expired),
        cmocka_unit_test(test_exec_failures),
        cmocka_unit_test(test_exec_never_blocks),
        cmocka_unit_test(test_exec_backoff),
        cmocka_unit_test(test_exec_refreshed_before_expiry),
        cmocka_unit_test(test_merge_and_named_context),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_insecure_logged),
        cmocka_unit_test(test_incluster),
        cmocka_unit_test(test_base64),
    };
    cmocka_set_message_output(CM_OUTPUT_TAP);
    return cmocka_run_group_tests_name("k8sConfig", tests, setupDir, teardownDir);
}
