/* fuzz_expected.c - libFuzzer target: the expected-instances YAML reader
 * (iocmgrExpectedRead). The input is the content of the file. Every name
 * handed to the callback must be a valid Kubernetes object name, and a
 * failure must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iocmgrExpected.h"
#include "fuzzFile.h"

static int add(void *arg, const char *name)
{
    if (iocmgrValidName(name) != 0 || strlen(name) > 63)
        abort();
    ++*(size_t *)arg;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzzWriteFile(0, "instances.yaml", data, size);
    char err[256];
    size_t n = 0;

    err[0] = '\0';
    if (iocmgrExpectedRead(path, add, &n, err, sizeof err) != 0 && !err[0])
        abort();
    return 0;
}
