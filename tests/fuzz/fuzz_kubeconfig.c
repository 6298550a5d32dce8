/* fuzz_kubeconfig.c - libFuzzer target: the kubeconfig parser (k8sConfigLoad).
 *
 * The input is the content of a kubeconfig file. Two optional YAML comment
 * lines widen what one input can reach while keeping every seed a plain,
 * valid kubeconfig:
 *   "# context: NAME" as the first line  -> load that context, not current-context;
 *   "#--- next file" on a line of its own -> the text after it is a second (third)
 *                                            file, and all are merged via $KUBECONFIG.
 * The files sit in a private directory that is also $HOME, so relative and
 * "~/" paths in the input resolve to those files or to nothing.
 *
 * No command is ever run: only loading is exercised, and exec plugins run only
 * on k8sExec.c's thread, which starts when credentials are first asked for
 * (k8sConfigTryCredentials / GetCredentials), never here. To make that a fact
 * rather than a promise, posix_spawn (the only way k8sExec.c starts a
 * process) is defined below as an abort.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sConfig.h"
#include "k8sLog.h"
#include "fuzzFile.h"

#define SEP "#--- next file\n"
#define MAXFILES 3

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    (void)pid; (void)fa; (void)attr; (void)argv; (void)envp;
    fprintf(stderr, "fuzz_kubeconfig: attempted to run %s\n", path);
    abort();
}

static void quiet(int level, const char *msg) { (void)level; (void)msg; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    k8sSetLogger(quiet);
    setenv("HOME", fuzzDir(), 1);
    unsetenv("KUBECONFIG");
    return 0;
}

static void check(k8sConfig *c)
{
    const char *s = k8sConfigServer(c), *ca;
    size_t n = strlen(s), len = 0, i;
    unsigned sum = 0;

    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        abort();
    if (s[n - 1] == '/')
        abort();
    if (k8sConfigInsecure(c) != 0 && k8sConfigInsecure(c) != 1)
        abort();
    ca = k8sConfigCa(c, &len);
    for (i = 0; ca && i < len; i++)   /* ASan checks len against the allocation */
        sum += (unsigned char)ca[i];
    (void)sum;
    n = strlen(k8sConfigNamespace(c)) + strlen(k8sConfigContext(c)) + strlen(k8sConfigAuthKind(c));
    (void)n;
    k8sConfigInvalidate(c, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *end = text + size, *p = text;
    const char *paths[MAXFILES];
    char context[256], list[1600], err[512], name[8];
    const char *ctx = NULL;
    k8sConfig *c = NULL;
    int nfiles = 0, i;

    err[0] = '\0';
    if (size >= 11 && memcmp(text, "# context: ", 11) == 0) {
        const char *nl = memchr(text, '\n', size);
        size_t n = (size_t)((nl ? nl : end) - (text + 11));
        if (n >= sizeof context)
            n = sizeof context - 1;
        memcpy(context, text + 11, n);
        context[n] = '\0';
        ctx = context;
    }
    /* Every slot is rewritten (empty when unused) so that a path in the input
     * naming one never sees a previous input's text. */
    for (i = 0; i < MAXFILES; i++) {
        const char *sep = p ? memmem(p, (size_t)(end - p), SEP, strlen(SEP)) : NULL;
        const char *stop = i == MAXFILES - 1 || !sep ? end : sep;
        snprintf(name, sizeof name, "kc%d", i);
        if (p) {
            paths[nfiles++] = fuzzWriteFile(i, name, (const uint8_t *)p, (size_t)(stop - p));
            p = stop == end ? NULL : sep + strlen(SEP);
        } else {
            fuzzWriteFile(i, name, NULL, 0);
        }
    }
    if (nfiles == 1) {
        if (k8sConfigLoad(paths[0], ctx, &c, err, sizeof err) == 0)
            check(c);
    } else {
        snprintf(list, sizeof list, "%s", paths[0]);
        for (i = 1; i < nfiles; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), ":%s", paths[i]);
        setenv("KUBECONFIG", list, 1);
        if (k8sConfigLoad(NULL, ctx, &c, err, sizeof err) == 0)
            check(c);
        unsetenv("KUBECONFIG");
    }
    if (!c && !err[0])
        abort();   /* a failure always says why */
    k8sConfigFree(c);
    return 0;
}
