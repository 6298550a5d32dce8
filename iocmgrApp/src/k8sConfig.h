/* k8sConfig.h - where the API server is and how to authenticate to it.
 *
 * Sources, as kubectl reads them:
 *  - kubeconfig: an explicit file; else $KUBECONFIG, a ':'-separated list
 *    merged as kubectl does (the first file to set current-context wins; for
 *    clusters, users and contexts the first entry of a name wins; missing
 *    files are skipped); else ~/.kube/config. Paths inside a file are
 *    relative to that file.
 *    cluster: server, certificate-authority / -data, insecure-skip-tls-verify
 *    (logged loudly; verification is otherwise always on).
 *    user: token, tokenFile (re-read on use), client-certificate / -data +
 *    client-key / -data, exec (client.authentication.k8s.io/v1 or v1beta1
 *    ExecCredential, run and refreshed on a thread of its own: k8sExec.h).
 *  - in-cluster service account: KUBERNETES_SERVICE_HOST/PORT, token,
 *    ca.crt and namespace under /var/run/secrets/kubernetes.io/serviceaccount;
 *    the token file is re-read on use, so a rotated token is picked up.
 * All functions return 0, or -1 with a reason in err.
 */
#ifndef INC_k8sConfig_H
#define INC_k8sConfig_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct k8sConfig k8sConfig;

typedef struct k8sCredentials {   /* malloc'd copies; free with k8sCredentialsFree */
    char *token;                  /* bearer token, NULL when none */
    char *certPem; size_t certLen;   /* client certificate, NULL when none */
    char *keyPem; size_t keyLen;
    unsigned long generation;     /* of an exec plugin's credential (k8sConfigInvalidate); 0 otherwise */
} k8sCredentials;

/* kubeconfig: a file path, NULL for $KUBECONFIG / ~/.kube/config,
 * "incluster" for the service account, or "incluster:DIR" for service account
 * files under DIR. context: NULL for current-context. */
int k8sConfigLoad(const char *kubeconfig, const char *context, k8sConfig **out,
                  char *err, size_t errlen);
/* saDir: NULL for K8S_SA_DIR (tests point it elsewhere). */
int k8sConfigLoadInCluster(const char *saDir, k8sConfig **out, char *err, size_t errlen);
void k8sConfigFree(k8sConfig *c);

const char *k8sConfigServer(const k8sConfig *c);        /* "https://host:port", no trailing '/' */
const char *k8sConfigNamespace(const k8sConfig *c);     /* context's / service account's, "" if none */
const char *k8sConfigContext(const k8sConfig *c);       /* context name, "incluster" */
int k8sConfigInsecure(const k8sConfig *c);
/* CA bundle in PEM (from file or data), NULL to use the system store. */
const char *k8sConfigCa(const k8sConfig *c, size_t *len);
/* Describes the auth method, e.g. "client certificate", "bearer token file
 * /x", "exec plugin kubelogin". */
const char *k8sConfigAuthKind(const k8sConfig *c);

/* Credentials to use now, never waiting on an exec plugin (the network
 * thread): 0 ready; 1 not yet: the exec plugin's run is due or under way,
 * the function given to k8sConfigSetNotify is called when it ends; -1 with
 * err (the plugin failed and is not due again yet, a token file unreadable).
 * Reads a token file. Thread-safe. */
int k8sConfigTryCredentials(k8sConfig *c, k8sCredentials *out, char *err, size_t errlen);
/* The same, waiting for an exec plugin's run up to its timeout (30 s) and a
 * little: 0 or -1 (boot-time list, the CLI). */
int k8sConfigGetCredentials(k8sConfig *c, k8sCredentials *out, char *err, size_t errlen);
/* Called when an exec plugin's run ends, got 1 when it gave a credential
 * (k8sExecSetNotify); one per config. */
void k8sConfigSetNotify(k8sConfig *c, void (*fn)(void *arg, int got), void *arg);
void k8sCredentialsFree(k8sCredentials *cr);
/* The API answered 401 to a request with credentials of this generation:
 * an exec plugin's credential is dropped and the plugin run again. */
void k8sConfigInvalidate(k8sConfig *c, unsigned long generation);
/* The exec plugin's runner (k8sExec.h), NULL without one (tests read its stats). */
struct k8sExec *k8sConfigExec(k8sConfig *c);

/* Decode standard base64 (whitespace ignored). Returns a malloc'd,
 * NUL-terminated buffer and its length, or NULL if the input is not base64. */
char *k8sBase64Decode(const char *in, size_t *outLen);

#ifdef __cplusplus
}
#endif
#endif
