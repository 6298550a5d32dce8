/* k8sLineBuffer.c - watch stream line framing; see k8sLineBuffer.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sLineBuffer.h"

void k8sLineBufferInit(k8sLineBuffer *lb, size_t maxLine)
{
    memset(lb, 0, sizeof *lb);
    lb->maxLine = maxLine ? maxLine : (size_t)64 << 20;
}

void k8sLineBufferReset(k8sLineBuffer *lb)
{
    lb->len = 0;
    lb->scanned = 0;
}

void k8sLineBufferFree(k8sLineBuffer *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->len = lb->cap = lb->scanned = 0;
}

static int emit(char *line, size_t len, k8sLineFn fn, void *arg)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    line[len] = '\0';
    return fn(arg, line, len);
}

int k8sLineBufferFeed(k8sLineBuffer *lb, const char *data, size_t n,
                      k8sLineFn fn, void *arg, char *err, size_t errlen)
{
    size_t start = 0;
    char *nl;

    /* Appending before scanning keeps one code path (lines are NUL-terminated
     * in place, so they need a writable buffer); it costs one memcpy per byte. */
    if (lb->len + n + 1 > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 4096;
        char *nb;
        while (cap < lb->len + n + 1)
            cap *= 2;
        nb = realloc(lb->buf, cap);
        if (!nb) {
            snprintf(err, errlen, "out of memory buffering a %zu-byte watch line", lb->len + n);
            return -1;
        }
        lb->buf = nb;
        lb->cap = cap;
    }
    memcpy(lb->buf + lb->len, data, n);
    lb->len += n;

    while ((nl = memchr(lb->buf + lb->scanned, '\n', lb->len - lb->scanned)) != NULL) {
        size_t lineLen = (size_t)(nl - (lb->buf + start));
        if (emit(lb->buf + start, lineLen, fn, arg) != 0) {
            snprintf(err, errlen, "stopped by caller");
            k8sLineBufferReset(lb);
            return -1;
        }
        start += lineLen + 1;
        lb->scanned = start;
    }
    if (start) {
        memmove(lb->buf, lb->buf + start, lb->len - start);
        lb->len -= start;
    }
    lb->scanned = lb->len;
    if (lb->len > lb->maxLine) {
        snprintf(err, errlen, "watch line longer than %zu bytes without a newline", lb->maxLine);
        k8sLineBufferReset(lb);
        return -1;
    }
    return 0;
}
