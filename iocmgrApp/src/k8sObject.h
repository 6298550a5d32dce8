/* k8sObject.h - decode Kubernetes JSON (StatefulSet, Deployment, Pod, Event,
 * watch events, Status errors) into plain C structs.
 *
 * Strings are fixed-size copies, truncated on a UTF-8 character boundary, so
 * a struct can be copied with memcpy and handed between threads freely.
 * Decoders return 0, or -1 with a reason in err (e.g. missing metadata.name).
 */
#ifndef INC_k8sObject_H
#define INC_k8sObject_H

#include <stddef.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One StatefulSet or (old charts) Deployment = one IOC instance. */
typedef struct k8sInstance {
    char name[254]; char kind[16];    /* "StatefulSet" | "Deployment" */
    char uid[64]; char resourceVersion[32];
    int specReplicas, statusReplicas, readyReplicas, updatedReplicas;
    char image[512];                  /* container of the pod template chosen as below */
    char labelApp[254], labelLocation[128], labelDomain[128], labelEnabled[16], labelDescription[256],
         labelVersion[128];           /* ioc_version, else app.kubernetes.io/version, else helm.sh/chart */
    int isIocLabel;                   /* ioc=true or is_ioc=true */
    long long generation, observedGeneration;
    int deleting;                     /* metadata.deletionTimestamp set */
    /* additions */
    char namespace_[64];
    char containerName[64];           /* name of the container `image` came from (for image patches) */
    /* Argo CD (k8sArgo.h): who owns it */
    char argoTrackingId[320];         /* annotation argocd.argoproj.io/tracking-id */
    char argoInstanceLabel[128];      /* value of the instance label (k8sObjectSetInstanceLabel) */
} k8sInstance;

typedef struct k8sPod {
    char name[254]; char uid[64]; char ownerName[254];   /* label app, else controller ownerReference
                                                            (StatefulSet name; ReplicaSet name minus its hash) */
    char phase[16];                   /* Pending Running Succeeded Failed Unknown */
    int ready; int deleting;          /* Ready condition True; deletionTimestamp set */
    char nodeName[254]; char podIP[64]; char image[512];
    int restartCount;
    char waitingReason[64]; char waitingMessage[512];     /* state.waiting of the chosen container */
    char startedAt[32];               /* state.running.startedAt (RFC3339) */
    long long startedAtEpoch;         /* same, seconds since epoch, 0 if none */
    int ended;                        /* state.terminated: the container ended, not started again yet */
    int lastExitCode; char lastReason[64];                /* state.terminated, else lastState.terminated */
    long long lastEndedEpoch;         /* same: finishedAt, seconds since epoch; 0 unknown */
    long long lastRunSeconds;         /* same: finishedAt - startedAt, how long that run lasted; 0 unknown */
    char unschedulableMessage[512];   /* PodScheduled=False condition message (scheduler's words) */
    char createdAt[32];               /* metadata.creationTimestamp */
    long long createdAtEpoch;
    /* additions */
    char namespace_[64];
    char resourceVersion[32];
} k8sPod;

typedef struct k8sEvent {
    char name[254]; char namespace_[64]; char resourceVersion[32];
    char involvedKind[32]; char involvedName[254];
    char type[16];                    /* Normal | Warning */
    char reason[64];
    char message[512];
    long long timeEpoch;              /* lastTimestamp, else eventTime, else creationTimestamp */
} k8sEvent;

/* The label Argo CD's label tracking puts on what it deploys, read into
 * k8sInstance.argoInstanceLabel; NULL or "" reads none (the default). Set
 * once, before any decoding thread runs. */
void k8sObjectSetInstanceLabel(const char *label);

/* kind: "StatefulSet" or "Deployment" (list items carry no kind).
 * container: name of the container to report, NULL for the first. */
int k8sInstanceFromJson(const cJSON *obj, const char *kind, const char *container,
                        k8sInstance *out, char *err, size_t errlen);
int k8sPodFromJson(const cJSON *obj, const char *container, k8sPod *out, char *err, size_t errlen);
int k8sEventFromJson(const cJSON *obj, k8sEvent *out, char *err, size_t errlen);

typedef enum {
    K8S_WATCH_ADDED, K8S_WATCH_MODIFIED, K8S_WATCH_DELETED, K8S_WATCH_BOOKMARK, K8S_WATCH_ERROR
} k8sWatchEventType;

typedef struct k8sWatchEvent {
    k8sWatchEventType type;
    cJSON *root;                 /* owns the parse tree */
    const cJSON *object;         /* the "object" member */
    char resourceVersion[32];    /* object's metadata.resourceVersion (ADDED..BOOKMARK) */
    long errorCode;              /* ERROR: Status.code (410 = resourceVersion too old) */
    char errorMessage[512];      /* ERROR: Status.message */
} k8sWatchEvent;

/* Parse one watch line. On success free with k8sWatchEventFree. */
int k8sWatchEventParse(const char *line, size_t len, k8sWatchEvent *ev, char *err, size_t errlen);
void k8sWatchEventFree(k8sWatchEvent *ev);

/* Text for a failed HTTP exchange: the Status message of the API when the
 * body is a Status ("statefulsets.apps \"x\" not found"; with withCode set
 * prefixed by "404 Not Found: "), else the status code with its reason
 * phrase and the start of the body. Always fills msg. */
void k8sStatusMessage(long httpStatus, const char *body, size_t len, int withCode,
                      char *msg, size_t msglen);

/* RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets accepted) to
 * seconds since the epoch; 0 for NULL/empty/unparsable. */
long long k8sParseTime(const char *s);

/* strncpy that always terminates and never splits a UTF-8 character. */
void k8sCopyString(char *dst, size_t dstlen, const char *src);

/* Does the object carry a label matching any term of a comma-separated list
 * of "key=value" or "key" terms? (OR, unlike a Kubernetes selector.) */
int k8sLabelsMatchAny(const cJSON *obj, const char *terms);

#ifdef __cplusplus
}
#endif
#endif
