/* k8sLog.h - logging for the Kubernetes layer (no EPICS headers).
 *
 * The IOC redirects messages to errlogPrintf with k8sSetLogger(); by default
 * they go to stderr with a timestamp. Level 0 messages are always emitted
 * (errors, and the loud insecure-TLS warning); level n > 0 only when
 * k8sDebug >= n.
 */
#ifndef INC_k8sLog_H
#define INC_k8sLog_H

#ifdef __cplusplus
extern "C" {
#endif

extern int k8sDebug;

typedef void (*k8sLogFn)(int level, const char *msg);

/* fn NULL restores the default stderr logger. */
void k8sSetLogger(k8sLogFn fn);

void k8sLog(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
