/* iocmgrUnmanaged.c - the instances the manager cannot serve
 * (iocmgrUnmanaged.h); iocmgrReadUnmanaged (iocmgrManager.h) reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cantProceed.h>
#include <epicsString.h>

#include "iocmgrManager.h"
#include "iocmgrUnmanaged.h"

static struct {
    char **names;
    iocmgrUnmanagedWhy *why;
    size_t count, cap;
} list;

static int find(const char *name)
{
    size_t i;
    for (i = 0; i < list.count; i++)
        if (strcmp(list.names[i], name) == 0) return (int)i;
    return -1;
}

int iocmgrUnmanagedAdd(const char *name, iocmgrUnmanagedWhy why)
{
    if (find(name) >= 0) return 0;
    if (list.count == list.cap) {
        list.cap = list.cap ? 2 * list.cap : 16;
        list.names = realloc(list.names, list.cap * sizeof *list.names);
        list.why = realloc(list.why, list.cap * sizeof *list.why);
        if (!list.names || !list.why) cantProceed("iocmgr: out of memory");
    }
    list.names[list.count] = epicsStrDup(name);
    list.why[list.count++] = why;
    return 1;
}

void iocmgrUnmanagedRemove(const char *name)
{
    int i = find(name);
    if (i < 0) return;
    free(list.names[i]);
    list.count--;
    list.names[i] = list.names[list.count];
    list.why[i] = list.why[list.count];
}

size_t iocmgrUnmanagedCount(iocmgrUnmanagedWhy why)
{
    size_t i, n = 0;
    for (i = 0; i < list.count; i++) n += list.why[i] == why;
    return n;
}

size_t iocmgrReadUnmanaged(char *out, size_t len, const char *sep)
{
    size_t i, used = 0, left = 0, sl = strlen(sep);
    if (!len) return list.count;
    out[0] = '\0';
    for (i = 0; i < list.count; i++) {
        const char *name = list.names[i];
        size_t need = strlen(name) + (used ? sl : 0);
        if (used + need + 1 > len) {
            left++;
            continue;
        }
        used += (size_t)sprintf(out + used, "%s%s", used ? sep : "", name);
    }
    return left;
}
