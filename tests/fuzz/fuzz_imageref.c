/* fuzz_imageref.c - libFuzzer target: the image-reference validator (k8sImageRefValidate).
 *
 * The input, up to its first NUL, is the reference. Oracle: whatever the
 * validator accepts must match the reference grammar of the distribution
 * project (reference/regexp.go, as containerd and the kubelet parse it),
 * written below as a POSIX ERE; an accepted reference the runtime cannot
 * parse would only fail later, on the pod, as InvalidImageName. The other
 * direction is not checked: refusing what the grammar allows (a bare name,
 * a digest other than sha256) is the validator's intent.
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sImageRef.h"

#define PATH_COMPONENT "[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*"
#define DOMAIN_COMPONENT "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
#define HOST "(" DOMAIN_COMPONENT "(\\." DOMAIN_COMPONENT ")*|\\[[a-fA-F0-9:]+\\])"
#define NAME "(" HOST "(:[0-9]+)?/)?" PATH_COMPONENT "(/" PATH_COMPONENT ")*"
#define TAG "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#define DIGEST "[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

static regex_t grammar;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    if (regcomp(&grammar, "^" NAME "(:" TAG ")?(@" DIGEST ")?$", REG_EXTENDED | REG_NOSUB) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ref = malloc(size + 1), err[256], tiny[1];
    int rc;

    if (!ref)
        abort();
    memcpy(ref, data, size);
    ref[size] = '\0';
    rc = k8sImageRefValidate(ref, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && strncmp(err, "invalid image reference", 23) != 0)
        abort();   /* a refusal always says why */
    if (k8sImageRefValidate(ref, tiny, sizeof tiny) != rc)
        abort();
    if (rc == 0 && regexec(&grammar, ref, 0, NULL, 0) != 0) {
        fprintf(stderr, "accepted, but not a reference by the distribution grammar: \"%s\"\n", ref);
        abort();
    }
    free(ref);
    return 0;
}
