/* k8sBackoff.c - see k8sBackoff.h */
#include "k8sBackoff.h"

void k8sBackoffInit(k8sBackoff *b)
{
    b->initial = 0.5;
    b->max = 30.0;
    b->factor = 2.0;
    b->jitter = 0.2;
    b->resetAfter = 60.0;
    b->failures = 0;
    b->healthySince = -1.0;
}

void k8sBackoffSuccess(k8sBackoff *b, double now)
{
    b->healthySince = now;
}

double k8sBackoffFailure(k8sBackoff *b, double now, double rnd)
{
    double d = b->initial;
    int i;

    /* A connection that was healthy long enough was not part of the last
     * outage: start again from the shortest delay. */
    if (b->healthySince >= 0 && now - b->healthySince >= b->resetAfter)
        b->failures = 0;
    b->healthySince = -1.0;
    for (i = 0; i < b->failures && d < b->max; i++)
        d *= b->factor;
    if (d > b->max)
        d = b->max;
    b->failures++;
    d *= 1.0 + b->jitter * (2.0 * rnd - 1.0);
    return d;
}
