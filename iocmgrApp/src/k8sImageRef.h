/* k8sImageRef.h - validate an OCI image reference before it reaches the cluster.
 *
 * Accepted form: [registry[:port]/]path[:tag][@sha256:<64 lowercase hex>]
 * following the distribution spec grammar: the first component is a registry
 * when it contains '.' or ':' or is "localhost"; path components are lowercase
 * alphanumerics joined by '.', '_', '__' or runs of '-'; a tag is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; the name is at most 255 characters.
 * At least a tag or a digest is required: a bare name silently means
 * ":latest", which is never what an operator rolling an IOC wants.
 */
#ifndef INC_k8sImageRef_H
#define INC_k8sImageRef_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0 when valid, -1 with the reason in err otherwise. */
int k8sImageRefValidate(const char *ref, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
