/* k8sExec.c - exec credential plugin on a thread of its own; see k8sExec.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "k8sExec.h"
#include "k8sLog.h"
#include "k8sObject.h"

extern char **environ;

static const char *driverName = "k8sExec";

#define EXEC_MAX_OUTPUT (1 << 20)
#define BACKOFF_FIRST 1.0
#define BACKOFF_MAX 120.0
#define REFRESH_MARGIN_MAX 60.0     /* refresh this long before expiry at most ... */
#define REFRESH_MARGIN_SHARE 0.25   /* ... and a quarter of the lifetime for short-lived ones */
#define REFUSALS_FORGOTTEN 60.0     /* a refusal older than this no longer lengthens the back-off */

typedef struct cred {
    char *token;
    char *cert, *key;
    double expiry;                  /* epoch s, 0 when the plugin gave none */
} cred;

struct k8sExec {
    k8sExecPlugin *plugin;
    pthread_mutex_t lock;
    pthread_cond_t wake;            /* the thread: a run is due, or stop */
    pthread_cond_t changed;         /* waiters: a run ended */
    pthread_t thread;
    int started, stopping, running;
    pid_t pid;                      /* of the plugin running, 0 when none (kill on stop) */

    int have;                       /* cur is usable until usableUntil */
    cred cur;
    unsigned long generation;
    double usableUntil;             /* epoch s; INFINITY without expiry */
    double due;                     /* monotonic s of the next run; INFINITY when none is due */
    int failures;                   /* consecutive failed runs and refusals */
    double lastRefusal;             /* monotonic s, -INFINITY when none */
    char lastError[700];
    unsigned rnd;
    void (*notify)(void *arg, int got);
    void *notifyArg;
    k8sExecStats stats;
};

static double monoNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wallNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void credFree(cred *c)
{
    free(c->token);
    free(c->cert);
    free(c->key);
    memset(c, 0, sizeof *c);
}

void k8sExecPluginFree(k8sExecPlugin *e)
{
    char **p;

    if (!e)
        return;
    free(e->command);
    for (p = e->argv; p && *p; p++)
        free(*p);
    free(e->argv);
    for (p = e->env; p && *p; p++)
        free(*p);
    free(e->env);
    free(e->installHint);
    free(e);
}

/* ------------------------------------------------------- one plugin run */

/* The plugin's path, searched on PATH when it has no '/'. Resolving it
 * here, not in posix_spawnp, turns "not installed" into a plain message
 * without a failed child process. */
static char *findExecutable(const char *cmd)
{
    const char *p = getenv("PATH");
    char *path;

    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0 ? strdup(cmd) : NULL;
    if (!p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        const char *end = strchr(p, ':');
        int n = end ? (int)(end - p) : (int)strlen(p);
        if (asprintf(&path, "%.*s/%s", n ? n : 1, n ? p : ".", cmd) < 0)
            return NULL;
        if (access(path, X_OK) == 0)
            return path;
        free(path);
        p += n;
        if (*p == ':')
            p++;
    }
    return NULL;
}

static void setPid(k8sExec *x, pid_t pid)
{
    pthread_mutex_lock(&x->lock);
    x->pid = pid;
    if (pid > 0 && x->stopping)     /* k8sExecFree came while it was being started */
        kill(-pid, SIGKILL);
    pthread_mutex_unlock(&x->lock);
}

/* Read the child's stdout until EOF, the timeout or too much output; the
 * child is killed on the latter two. Returns 0 at EOF. */
static int readOutput(k8sExec *x, int fd, pid_t pid, char **outBuf, size_t *outLen, char *err, size_t errlen)
{
    const k8sExecPlugin *e = x->plugin;
    size_t cap = 0;
    double t0 = monoNow();

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        double left = K8S_EXEC_TIMEOUT_S - (monoNow() - t0);
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) == 0) {
            kill(-pid, SIGKILL);
            snprintf(err, errlen, "exec plugin %s did not answer within %d s", e->command, K8S_EXEC_TIMEOUT_S);
            return -1;
        }
        if (*outLen + 4096 + 1 > cap) {
            char *nb = cap + 8192 > EXEC_MAX_OUTPUT ? NULL : realloc(*outBuf, cap + 8192);
            if (!nb) {
                kill(-pid, SIGKILL);
                snprintf(err, errlen, "exec plugin %s: output too large", e->command);
                return -1;
            }
            *outBuf = nb;
            cap += 8192;
        }
        r = read(fd, *outBuf + *outLen, cap - *outLen - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        *outLen += (size_t)r;
    }
}

/* The ExecCredential's status into *out. */
static int parseCredential(const k8sExecPlugin *e, const char *buf, size_t len, cred *out,
                           char *err, size_t errlen)
{
    cJSON *root = buf ? cJSON_ParseWithLength(buf, len) : NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(st, "token");
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(st, "clientKeyData");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(st)) {
        snprintf(err, errlen, "exec plugin %s did not print an ExecCredential with a status", e->command);
    } else if (!cJSON_IsString(tok) && !(cJSON_IsString(cert) && cJSON_IsString(key))) {
        snprintf(err, errlen, "exec plugin %s: ExecCredential status has neither token nor "
                 "clientCertificateData+clientKeyData", e->command);
    } else if (cJSON_IsString(exp) && k8sParseTime(exp->valuestring) == 0) {
        snprintf(err, errlen, "exec plugin %s: unparsable expirationTimestamp \"%.40s\"", e->command,
                 exp->valuestring);
    } else {
        out->token = cJSON_IsString(tok) ? strdup(tok->valuestring) : NULL;
        out->cert = cJSON_IsString(cert) ? strdup(cert->valuestring) : NULL;
        out->key = cJSON_IsString(key) ? strdup(key->valuestring) : NULL;
        out->expiry = cJSON_IsString(exp) ? (double)k8sParseTime(exp->valuestring) : 0;
        if ((cJSON_IsString(tok) && !out->token) || (cJSON_IsString(cert) && (!out->cert || !out->key))) {
            credFree(out);
            snprintf(err, errlen, "out of memory");
        } else {
            rc = 0;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* Runs the plugin once, on the plugin thread, without the lock. */
static int runPlugin(k8sExec *x, cred *out, char *err, size_t errlen)
{
    const k8sExecPlugin *e = x->plugin;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int pipefd[2], status = 0, rc = -1, spawned;
    pid_t pid;
    char **envp = NULL, *info = NULL, *outBuf = NULL, *exe = NULL;
    size_t nenv, i, outLen = 0;

    for (nenv = 0; environ[nenv]; nenv++)
        ;
    for (i = 0; e->env[i]; i++)
        ;
    envp = calloc(nenv + i + 2, sizeof *envp);
    if (asprintf(&info, "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
                 "\"spec\":{\"interactive\":false}}", e->apiVersion) < 0)
        info = NULL;
    if (!envp || !info) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    nenv = 0;
    for (i = 0; environ[i]; i++)
        envp[nenv++] = environ[i];
    for (i = 0; e->env[i]; i++)
        envp[nenv++] = e->env[i];
    envp[nenv++] = info;

    if (!(exe = findExecutable(e->command))) {
        snprintf(err, errlen, "exec plugin %s not found%s%s%s", e->command,
                 strchr(e->command, '/') ? "" : " on PATH", e->installHint ? "; " : "",
                 e->installHint ? e->installHint : "");
        goto out;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "exec plugin %s: pipe: %s", e->command, strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    /* a group of its own: a timeout or a stop kills what it started too (a
     * shell's children keep the pipe open) */
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    spawned = posix_spawn(&pid, exe, &fa, &attr, e->argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (spawned != 0) {
        snprintf(err, errlen, "exec plugin %s cannot be started: %s%s%s", e->command, strerror(spawned),
                 e->installHint ? "; " : "", e->installHint ? e->installHint : "");
        close(pipefd[0]);
        goto out;
    }
    /* k8sExecFree may kill it while it runs: it is not reaped before the pid
     * is withdrawn, so the pid cannot name another process meanwhile */
    setPid(x, pid);
    rc = readOutput(x, pipefd[0], pid, &outBuf, &outLen, err, errlen);
    close(pipefd[0]);
    setPid(x, 0);
    waitpid(pid, &status, 0);
    if (rc != 0)
        goto out;
    rc = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            snprintf(err, errlen, "exec plugin %s was killed (signal %d)", e->command, WTERMSIG(status));
        else
            snprintf(err, errlen, "exec plugin %s failed (exit status %d)", e->command, WEXITSTATUS(status));
        goto out;
    }
    rc = parseCredential(e, outBuf, outLen, out, err, errlen);
out:
    free(exe);
    free(outBuf);
    free(info);
    free(envp);
    return rc;
}

/* ------------------------------------------------------- the schedule */

static double jitter(k8sExec *x)
{
    x->rnd ^= x->rnd << 13;
    x->rnd ^= x->rnd >> 17;
    x->rnd ^= x->rnd << 5;
    return 0.8 + 0.4 * ((x->rnd & 0xFFFFFF) / (double)0x1000000);
}

/* The delay after the n-th consecutive failure (n >= 1). */
static double backoff(k8sExec *x, int n)
{
    double d = BACKOFF_FIRST;
    while (--n > 0 && d < BACKOFF_MAX)
        d *= 2;
    return (d > BACKOFF_MAX ? BACKOFF_MAX : d) * jitter(x);
}

/* Lock held: a run has ended with rc, *fresh or err. */
static void runEnded(k8sExec *x, int rc, cred *fresh, const char *err, double took)
{
    double now = monoNow(), wall = wallNow();

    x->stats.runs++;
    x->stats.lastRunSeconds = took;
    if (took > x->stats.longestRunSeconds)
        x->stats.longestRunSeconds = took;
    if (rc == 0 && fresh->expiry > 0 && fresh->expiry <= wall) {
        snprintf(x->lastError, sizeof x->lastError, "exec plugin %s gave a credential that had already "
                 "expired (expirationTimestamp %.0f s ago): check the plugin and this host's clock",
                 x->plugin->command, wall - fresh->expiry);
        credFree(fresh);
        rc = -1;
    } else if (rc != 0) {
        snprintf(x->lastError, sizeof x->lastError, "%s", err);
    }
    if (rc != 0) {
        double delay;
        x->stats.failedRuns++;
        x->failures++;
        delay = backoff(x, x->failures);
        x->due = now + delay;
        /* the first of a streak in words; the rest at level 1 */
        k8sLog(x->failures == 1 ? 0 : 1, "%s: %s (took %.1f s); running it again in %.0f s%s", driverName,
               x->lastError, took, delay, x->have ? ", the credential it gave before is used meanwhile" : "");
        return;
    }
    if (x->failures && now - x->lastRefusal >= REFUSALS_FORGOTTEN) {
        k8sLog(0, "%s: exec plugin %s gives a credential again (after %d failure%s)", driverName,
               x->plugin->command, x->failures, x->failures == 1 ? "" : "s");
        x->failures = 0;
    }
    credFree(&x->cur);
    x->cur = *fresh;
    x->have = 1;
    x->generation++;
    x->lastError[0] = '\0';
    if (x->cur.expiry > 0) {
        double life = x->cur.expiry - wall;
        double margin = life * REFRESH_MARGIN_SHARE < REFRESH_MARGIN_MAX ? life * REFRESH_MARGIN_SHARE
                                                                         : REFRESH_MARGIN_MAX;
        /* usable nearly to the end: the refresh comes well before, and a
         * request must never carry a token the API has just let expire */
        x->usableUntil = x->cur.expiry - (life / 20 < 5 ? life / 20 : 5);
        x->due = now + life - margin;
        k8sLog(1, "%s: exec plugin %s gave a credential valid for %.0f s (took %.1f s); refreshing it in %.0f s",
               driverName, x->plugin->command, life, took, life - margin);
    } else {
        x->usableUntil = INFINITY;
        x->due = INFINITY;
        k8sLog(1, "%s: exec plugin %s gave a credential without expiry (took %.1f s)", driverName,
               x->plugin->command, took);
    }
}

static void *execThread(void *arg)
{
    k8sExec *x = arg;

    pthread_mutex_lock(&x->lock);
    while (!x->stopping) {
        double now = monoNow();
        if (x->due <= now) {
            char err[700] = "";
            cred fresh;
            int rc;
            x->running = 1;
            x->due = INFINITY;
            pthread_mutex_unlock(&x->lock);
            rc = runPlugin(x, &fresh, err, sizeof err);
            pthread_mutex_lock(&x->lock);
            x->running = 0;
            if (x->stopping) {
                if (rc == 0)
                    credFree(&fresh);
                break;
            }
            runEnded(x, rc, &fresh, err, monoNow() - now);
            pthread_cond_broadcast(&x->changed);
            if (x->notify)
                x->notify(x->notifyArg, x->have && !x->lastError[0]);
        } else if (isinf(x->due)) {
            pthread_cond_wait(&x->wake, &x->lock);
        } else {
            struct timespec ts;
            double t = x->due + 0.001;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&x->wake, &x->lock, &ts);
        }
    }
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

/* ------------------------------------------------------------- the API */

k8sExec *k8sExecCreate(k8sExecPlugin *plugin)
{
    k8sExec *x = calloc(1, sizeof *x);
    pthread_condattr_t ca;

    if (!x) {
        k8sExecPluginFree(plugin);
        return NULL;
    }
    x->plugin = plugin;
    pthread_mutex_init(&x->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->wake, &ca);
    pthread_cond_init(&x->changed, &ca);
    pthread_condattr_destroy(&ca);
    x->due = INFINITY;
    x->usableUntil = INFINITY;
    x->lastRefusal = -INFINITY;
    x->rnd = (unsigned)time(NULL) ^ (unsigned)(size_t)x ^ 0x9e3779b9u;
    return x;
}

void k8sExecFree(k8sExec *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    x->stopping = 1;
    if (x->pid > 0)
        kill(-x->pid, SIGKILL);     /* its process group (runPlugin) */
    pthread_cond_broadcast(&x->wake);
    pthread_mutex_unlock(&x->lock);
    if (x->started)
        pthread_join(x->thread, NULL);
    credFree(&x->cur);
    pthread_cond_destroy(&x->wake);
    pthread_cond_destroy(&x->changed);
    pthread_mutex_destroy(&x->lock);
    k8sExecPluginFree(x->plugin);
    free(x);
}

static char *dupLen(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Lock held. */
static int tryLocked(k8sExec *x, k8sCredentials *out, char *err, size_t errlen)
{
    double now = monoNow();

    if (!x->started && !x->stopping) {
        if (pthread_create(&x->thread, NULL, execThread, x) != 0) {
            snprintf(err, errlen, "exec plugin %s: cannot start its thread", x->plugin->command);
            return -1;
        }
        x->started = 1;
    }
    if (x->have && wallNow() < x->usableUntil) {
        out->token = dupLen(x->cur.token);
        if (x->cur.cert && x->cur.key) {
            out->certPem = dupLen(x->cur.cert);
            out->keyPem = dupLen(x->cur.key);
            out->certLen = strlen(x->cur.cert);
            out->keyLen = strlen(x->cur.key);
        }
        out->generation = x->generation;
        if ((x->cur.token && !out->token) || (x->cur.cert && (!out->certPem || !out->keyPem))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (x->have) {
        /* expired before its refresh gave a new one (a slow or failing plugin) */
        x->have = 0;
        credFree(&x->cur);
    }
    if (!x->running && isinf(x->due) && !x->failures) {
        x->due = now;        /* the first use */
        pthread_cond_signal(&x->wake);
    }
    if (x->running || x->due <= now)
        return 1;
    snprintf(err, errlen, "%s; running it again in %.0f s", x->lastError[0] ? x->lastError : "no credential yet",
             x->due - now);
    return -1;
}

int k8sExecTry(k8sExec *x, k8sCredentials *out, char *err, size_t errlen)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (!x)
        return 0;
    pthread_mutex_lock(&x->lock);
    rc = tryLocked(x, out, err, errlen);
    pthread_mutex_unlock(&x->lock);
    if (rc < 0)
        k8sCredentialsFree(out);
    return rc;
}

int k8sExecWait(k8sExec *x, double timeout, k8sCredentials *out, char *err, size_t errlen)
{
    double deadline = monoNow() + timeout;
    int rc;

    memset(out, 0, sizeof *out);
    if (!x)
        return 0;
    pthread_mutex_lock(&x->lock);
    while ((rc = tryLocked(x, out, err, errlen)) == 1) {
        struct timespec ts;
        double now = monoNow();
        if (now >= deadline || x->stopping) {
            snprintf(err, errlen, "exec plugin %s: no credential within %.0f s", x->plugin->command, timeout);
            rc = -1;
            break;
        }
        ts.tv_sec = (time_t)deadline;
        ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&x->changed, &x->lock, &ts);
    }
    pthread_mutex_unlock(&x->lock);
    if (rc < 0)
        k8sCredentialsFree(out);
    return rc;
}

void k8sExecRefused(k8sExec *x, unsigned long generation)
{
    double now;

    if (!x)
        return;
    now = monoNow();
    pthread_mutex_lock(&x->lock);
    if (x->have && generation == x->generation) {
        x->stats.refusals++;
        x->have = 0;
        credFree(&x->cur);
        /* refused again soon after a refusal: the plugin's credentials are not
         * accepted, and running it at once each time would only repeat that */
        if (now - x->lastRefusal >= REFUSALS_FORGOTTEN)
            x->failures = 0;
        x->lastRefusal = now;
        snprintf(x->lastError, sizeof x->lastError, "the API server refused the credential of exec plugin %s "
                 "(401 Unauthorized)", x->plugin->command);
        x->due = x->failures ? now + backoff(x, x->failures) : now;
        x->failures++;
        k8sLog(x->failures == 1 ? 1 : 0, "%s: %s; running it again%s", driverName, x->lastError,
               x->due > now ? " after a back-off" : "");
        pthread_cond_signal(&x->wake);
    }
    pthread_mutex_unlock(&x->lock);
}

void k8sExecSetNotify(k8sExec *x, void (*fn)(void *arg, int got), void *arg)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    x->notify = fn;
    x->notifyArg = arg;
    pthread_mutex_unlock(&x->lock);
}

void k8sExecGetStats(k8sExec *x, k8sExecStats *out)
{
    memset(out, 0, sizeof *out);
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    *out = x->stats;
    pthread_mutex_unlock(&x->lock);
}
