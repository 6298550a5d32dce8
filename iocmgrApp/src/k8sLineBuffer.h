/* k8sLineBuffer.h - newline framing of a Kubernetes watch stream.
 *
 * A watch response is one JSON object per line, delivered in arbitrary
 * chunks. Each chunk is appended once; only the newly added bytes are
 * searched for '\n', so a line split over many chunks is never re-scanned,
 * and every complete line is handed to the caller exactly once. What follows
 * the last '\n' is kept for the next chunk.
 */
#ifndef INC_k8sLineBuffer_H
#define INC_k8sLineBuffer_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8sLineBuffer {
    char *buf;
    size_t len;       /* bytes held */
    size_t cap;
    size_t scanned;   /* prefix of buf known to hold no '\n' */
    size_t maxLine;   /* a longer line is an error (protects memory) */
} k8sLineBuffer;

/* Called with a NUL-terminated line (no '\n', trailing '\r' removed; empty
 * lines are skipped). The line may be modified in place. Return 0 to go on,
 * -1 to stop feeding (k8sLineBufferFeed then returns -1). */
typedef int (*k8sLineFn)(void *arg, char *line, size_t len);

/* maxLine 0 means 64 MiB. */
void k8sLineBufferInit(k8sLineBuffer *lb, size_t maxLine);
void k8sLineBufferReset(k8sLineBuffer *lb);   /* drop content, keep memory */
void k8sLineBufferFree(k8sLineBuffer *lb);

/* Returns 0, or -1 with err set: line too long, out of memory, or fn returned
 * -1 ("stopped by caller"). After -1 the buffer is empty. */
int k8sLineBufferFeed(k8sLineBuffer *lb, const char *data, size_t n,
                      k8sLineFn fn, void *arg, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
