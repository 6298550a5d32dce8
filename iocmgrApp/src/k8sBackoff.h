/* k8sBackoff.h - reconnect delays: exponential with jitter, reset after a
 * healthy period. Pure arithmetic on caller-supplied time and randomness, so
 * it is tested without sleeping.
 */
#ifndef INC_k8sBackoff_H
#define INC_k8sBackoff_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8sBackoff {
    double initial;       /* first delay, s (0.5) */
    double max;           /* cap, s (30) */
    double factor;        /* growth per failure (2) */
    double jitter;        /* +/- fraction (0.2) */
    double resetAfter;    /* healthy this long, s, forgets past failures (60) */
    int failures;         /* consecutive failures counted */
    double healthySince;  /* time of the last success, <0 when none */
} k8sBackoff;

/* Defaults above. */
void k8sBackoffInit(k8sBackoff *b);
/* The stream works again (listed and watching) at time now. */
void k8sBackoffSuccess(k8sBackoff *b, double now);
/* A failure at time now: returns the delay before the next attempt.
 * rnd is uniform in [0,1). */
double k8sBackoffFailure(k8sBackoff *b, double now, double rnd);

#ifdef __cplusplus
}
#endif
#endif
