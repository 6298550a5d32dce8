/* k8sExec.h - an exec credential plugin (client.authentication.k8s.io
 * ExecCredential, e.g. kubelogin for OIDC at facilities) and the credential
 * it gives, kept fresh by a thread of its own.
 *
 * A plugin may take seconds (a browserless OIDC refresh) or up to its 30 s
 * timeout, so it never runs on a caller's thread: the thread runs it on
 * first use, again before the credential expires (status.expirationTimestamp:
 * a quarter of its lifetime early, at most 60 s), after the API refused it
 * (401), and after a failure with a back-off (1 s doubling to 120 s, +/-20 %).
 * Callers only take the credential that is ready (k8sExecTry) or wait for
 * one with a bound (k8sExecWait). The plugin runs with stdin /dev/null,
 * KUBERNETES_EXEC_INFO (interactive false) and the kubeconfig's env added.
 * Functions return 0, or -1 with words in err, unless said otherwise.
 */
#ifndef INC_k8sExec_H
#define INC_k8sExec_H

#include <stddef.h>

#include "k8sConfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#define K8S_EXEC_TIMEOUT_S 30

/* What the kubeconfig's exec stanza says (k8sConfig.c fills it). */
typedef struct k8sExecPlugin {
    char *command;          /* resolved against the kubeconfig's directory when it has a '/' */
    char **argv;            /* command + args + NULL */
    char **env;             /* "NAME=value" added to the environment, NULL-terminated */
    char apiVersion[128];
    char *installHint;
} k8sExecPlugin;

void k8sExecPluginFree(k8sExecPlugin *p);

typedef struct k8sExec k8sExec;

/* Takes the plugin (freed with the k8sExec, also on failure). No thread
 * runs until the first k8sExecTry / k8sExecWait. NULL when out of memory. */
k8sExec *k8sExecCreate(k8sExecPlugin *plugin);
/* Stops the thread (a plugin running is killed). NULL is fine. */
void k8sExecFree(k8sExec *x);

/* The credential, never waiting: 0 ready (token or certificate copied into
 * out, with its generation); 1 not yet (a run is due or under way: the
 * notify function is called when it ends); -1 the last run failed and the
 * next is not due yet (err: why, and when it runs again). Also 0 with out
 * empty when x is NULL. */
int k8sExecTry(k8sExec *x, k8sCredentials *out, char *err, size_t errlen);
/* As k8sExecTry, waiting up to timeout s for a run due or under way. */
int k8sExecWait(k8sExec *x, double timeout, k8sCredentials *out, char *err, size_t errlen);
/* The API answered 401 to a request carrying the credential of this
 * generation: drop it (if it is still the current one) and run the plugin
 * again, at once the first time, with the back-off when refusals repeat. */
void k8sExecRefused(k8sExec *x, unsigned long generation);
/* Called on the plugin's thread, with the k8sExec's lock held, each time a
 * run ends, got 1 when it gave a credential (keep it short: e.g.
 * curl_multi_wakeup). fn NULL: none. After it returns, the previous function
 * is never called again. */
void k8sExecSetNotify(k8sExec *x, void (*fn)(void *arg, int got), void *arg);

typedef struct k8sExecStats {
    unsigned long runs, failedRuns, refusals;
    double lastRunSeconds, longestRunSeconds;
} k8sExecStats;
void k8sExecGetStats(k8sExec *x, k8sExecStats *out);

#ifdef __cplusplus
}
#endif
#endif
