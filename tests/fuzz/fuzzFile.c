/* fuzzFile.c - see fuzzFile.h */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "fuzzFile.h"

static char dir[256];

/* Only our own flat files are in the directory: unlink them, then rmdir. */
static void removeDir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

const char *fuzzDir(void)
{
    const char *base;

    if (dir[0])
        return dir;
    /* fuzz.sh sets FUZZ_TMPDIR to a directory it removes itself, as a crash skips atexit */
    base = getenv("FUZZ_TMPDIR") ? getenv("FUZZ_TMPDIR")
         : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/iocmgr-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("fuzzDir: mkdtemp");
        abort();
    }
    atexit(removeDir);
    return dir;
}

const char *fuzzWriteFile(int slot, const char *name, const uint8_t *data, size_t n)
{
    static char paths[4][512];
    char *p = paths[slot & 3];
    FILE *f;

    snprintf(p, sizeof paths[0], "%s/%s", fuzzDir(), name);
    f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror("fuzzWriteFile");
        abort();
    }
    return p;
}
