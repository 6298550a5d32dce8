/* k8sLog.c - pluggable logger; see k8sLog.h */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <sys/time.h>

#include "k8sLog.h"

int k8sDebug = 0;

static void defaultLogger(int level, const char *msg)
{
    struct timeval tv;
    struct tm tm;
    char ts[32];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld k8s[%d] %s\n", ts, (long)(tv.tv_usec / 1000), level, msg);
}

/* Written once at IOC start before threads run; a plain pointer is enough. */
static k8sLogFn logger = defaultLogger;

void k8sSetLogger(k8sLogFn fn)
{
    logger = fn ? fn : defaultLogger;
}

void k8sLog(int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (level > 0 && k8sDebug < level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logger(level, msg);
}
