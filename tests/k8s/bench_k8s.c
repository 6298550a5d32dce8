/* Throughput of the watch path (framing + JSON decode + cache) on one core,
 * and heap used per cached object. Prints figures for docs/k8s-layer.md. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sWatch.h"
#include "k8sCache.h"
#include "k8sObject.h"

#define NPODS 1000
#define NEVENTS 200000
#define CHUNK 16384

static k8sCache *cache;

static void hBegin(void *arg) { (void)arg; }
static void hEnd(void *arg) { (void)arg; }
static void hState(void *arg) { (void)arg; }
static void hObject(void *arg, const cJSON *obj, int deleted)
{
    k8sPod p;
    char err[128], key[300];
    (void)arg;
    if (k8sPodFromJson(obj, NULL, &p, err, sizeof err))
        abort();
    k8sCacheKey(key, sizeof key, p.namespace_, p.name);
    if (deleted)
        k8sCacheDelete(cache, key);
    else
        k8sCacheUpsert(cache, key, p.uid, p.resourceVersion, &p);
}

/* A pod as the API sends it for an ioc-instance chart, trimmed of nothing
 * that matters for size: ~3.5 KB per event line. */
static int podEvent(char *buf, size_t len, const char *type, int i, int rv)
{
    return snprintf(buf, len,
        "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"bl46p-ea-ioc-%04d-0\","
        "\"generateName\":\"bl46p-ea-ioc-%04d-\",\"namespace\":\"bl46p-iocs\",\"uid\":\"0b6f4c1e-1d2a-4c8e-9f3b-%012d\","
        "\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2024-05-01T10:00:00Z\",\"labels\":{\"app\":\"bl46p-ea-ioc-%04d\","
        "\"ioc\":\"true\",\"location\":\"bl46p\",\"domain\":\"bl46p\",\"enabled\":\"true\",\"description\":\"Simulated-area-detector\","
        "\"commitHash\":\"c0ffee1\",\"controller-revision-hash\":\"bl46p-ea-ioc-%04d-7d9f8c6b5\","
        "\"statefulset.kubernetes.io/pod-name\":\"bl46p-ea-ioc-%04d-0\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\","
        "\"kind\":\"StatefulSet\",\"name\":\"bl46p-ea-ioc-%04d\",\"uid\":\"5e1c\",\"controller\":true,\"blockOwnerDeletion\":true}],"
        "\"managedFields\":[{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
        "\"time\":\"2024-05-01T10:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:generateName\":{},"
        "\"f:labels\":{\".\":{},\"f:app\":{},\"f:ioc\":{}},\"f:ownerReferences\":{\".\":{}}},\"f:spec\":{\"f:containers\":{}}}}]},"
        "\"spec\":{\"volumes\":[{\"name\":\"config-volume\",\"configMap\":{\"name\":\"bl46p-ea-ioc-%04d-config\",\"defaultMode\":420}},"
        "{\"name\":\"runtime-volume\",\"persistentVolumeClaim\":{\"claimName\":\"bl46p-runtime-claim\"}},"
        "{\"name\":\"opi-volume\",\"persistentVolumeClaim\":{\"claimName\":\"bl46p-opi-claim\"}}],"
        "\"containers\":[{\"name\":\"ioc\",\"image\":\"ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1\","
        "\"command\":[\"bash\",\"-c\"],\"args\":[\"/epics/ioc/start.sh\"],\"env\":[{\"name\":\"IOC_NAME\",\"value\":\"bl46p-ea-ioc-%04d\"},"
        "{\"name\":\"IOC_PREFIX\",\"value\":\"BL46P-EA-IOC-%04d\"},{\"name\":\"IOC_LOCATION\",\"value\":\"bl46p\"}],"
        "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}},"
        "\"volumeMounts\":[{\"name\":\"config-volume\",\"mountPath\":\"/epics/ioc/config\"},{\"name\":\"runtime-volume\","
        "\"mountPath\":\"/epics/runtime\",\"subPath\":\"bl46p-ea-ioc-%04d\"}],\"livenessProbe\":{\"exec\":{\"command\":"
        "[\"/bin/bash\",\"-c\",\"/epics/ioc/liveness.sh\"]},\"initialDelaySeconds\":120,\"timeoutSeconds\":1,\"periodSeconds\":10,"
        "\"successThreshold\":1,\"failureThreshold\":3},\"terminationMessagePath\":\"/dev/termination-log\","
        "\"imagePullPolicy\":\"IfNotPresent\",\"stdin\":true,\"tty\":true}],\"restartPolicy\":\"Always\","
        "\"terminationGracePeriodSeconds\":3,\"nodeName\":\"bl46p-node-01\",\"hostNetwork\":true,"
        "\"tolerations\":[{\"key\":\"beamline\",\"operator\":\"Equal\",\"value\":\"bl46p\",\"effect\":\"NoSchedule\"}]},"
        "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\","
        "\"lastTransitionTime\":\"2024-05-01T10:00:00Z\"},{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":"
        "\"2024-05-01T10:00:05Z\"},{\"type\":\"ContainersReady\",\"status\":\"True\",\"lastTransitionTime\":\"2024-05-01T10:00:05Z\"},"
        "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"2024-05-01T10:00:00Z\"}],"
        "\"hostIP\":\"172.23.46.10\",\"podIP\":\"172.23.46.10\",\"podIPs\":[{\"ip\":\"172.23.46.10\"}],"
        "\"startTime\":\"2024-05-01T10:00:00Z\",\"containerStatuses\":[{\"name\":\"ioc\",\"state\":{\"running\":"
        "{\"startedAt\":\"2024-05-01T10:00:04Z\"}},\"lastState\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\","
        "\"startedAt\":\"2024-05-01T09:00:00Z\",\"finishedAt\":\"2024-05-01T09:59:59Z\"}},\"ready\":true,\"restartCount\":%d,"
        "\"image\":\"ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1\",\"imageID\":\"ghcr.io/epics-containers/"
        "ioc-adsimdetector-runtime@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
        "\"containerID\":\"containerd://4f1e\",\"started\":true}],\"qosClass\":\"Burstable\"}}}\n",
        type, i, i, i, rv, i, i, i, i, i, i, i, i, rv);
}

static size_t heapInUse(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* After a relist every instance is re-derived and looks up its pods: with the
 * group index that is one bucket each; a scan of the whole pod cache per
 * instance was O(N^2). Both ways over the same 5000 pods, one core. */
static const char *ownerOf(const void *o) { return ((const k8sPod *)o)->ownerName; }
typedef struct find { const char *owner; size_t n; } find;
static int visitOwned(void *arg, const void *o)
{
    find *f = arg;
    if (strcmp(((const k8sPod *)o)->ownerName, f->owner) == 0)
        f->n++;
    return 0;
}

static void benchPodLookup(void)
{
    const int n = 5000;
    k8sCache *c = k8sCacheCreate(sizeof(k8sPod), NULL, NULL);
    k8sPod p;
    char key[300], owner[64];
    double t0, tScan, tGroup;
    size_t found = 0;
    int i;

    memset(&p, 0, sizeof p);
    for (i = 0; i < n; i++) {
        snprintf(p.ownerName, sizeof p.ownerName, "bl46p-ea-ioc-%05d", i);
        snprintf(p.name, sizeof p.name, "bl46p-ea-ioc-%05d-0", i);
        k8sCacheUpsert(c, k8sCacheKey(key, sizeof key, "bl46p-iocs", p.name), p.name, "1", &p);
    }
    t0 = k8sNow();
    for (i = 0; i < n; i++) {
        find f = { owner, 0 };
        snprintf(owner, sizeof owner, "bl46p-ea-ioc-%05d", i);
        k8sCacheForEach(c, visitOwned, &f);
        found += f.n;
    }
    tScan = k8sNow() - t0;
    if (k8sCacheSetGroup(c, ownerOf) != 0)
        abort();
    t0 = k8sNow();
    for (i = 0; i < n; i++) {
        find f = { owner, 0 };
        snprintf(owner, sizeof owner, "bl46p-ea-ioc-%05d", i);
        k8sCacheForEachInGroup(c, owner, visitOwned, &f);
        found += f.n;
    }
    tGroup = k8sNow() - t0;
    if (found != 2 * (size_t)n)
        abort();
    printf("pod lookup for every instance after a relist of %d: scan %.1f ms, group index %.2f ms (%.0fx)\n",
           n, tScan * 1e3, tGroup * 1e3, tScan / tGroup);
    k8sCacheDestroy(c);
}

int main(void)
{
    k8sWatchHandler h = { NULL, hBegin, hObject, hEnd, hState };
    k8sWatch w;
    char *stream;
    size_t len = 0, cap = (size_t)NEVENTS * 4096, off;
    double t0, t1;
    int i;
    char line[8192];
    size_t before, after;

    stream = malloc(cap);
    for (i = 0; i < NEVENTS; i++) {
        int n = podEvent(line, sizeof line, i < NPODS ? "ADDED" : "MODIFIED", i % NPODS, 1000 + i);
        if (n <= 0 || (size_t)n >= sizeof line || len + (size_t)n > cap)
            abort();
        memcpy(stream + len, line, (size_t)n);
        len += (size_t)n;
    }
    cache = k8sCacheCreate(sizeof(k8sPod), NULL, NULL);
    k8sWatchInit(&w, NULL, "pods", "/api/v1/namespaces/bl46p-iocs/pods", "", 300, &h);
    t0 = k8sNow();
    for (off = 0; off < len; off += CHUNK)
        if (k8sWatchFeed(&w, stream + off, len - off < CHUNK ? len - off : CHUNK))
            abort();
    t1 = k8sNow();
    printf("watch path: %d pod events (%.1f KB each) in %.2f s = %.0f events/s, %.1f MB/s on one core\n",
           NEVENTS, len / (double)NEVENTS / 1024, t1 - t0, NEVENTS / (t1 - t0), len / (t1 - t0) / 1e6);
    k8sWatchFree(&w);
    k8sCacheDestroy(cache);
    free(stream);

    /* heap per cached object, measured over 10000 objects */
    {
        const int n = 10000;
        k8sCache *c;
        k8sPod p;
        k8sInstance inst;
        char key[300];

        memset(&p, 0, sizeof p);
        memset(&inst, 0, sizeof inst);
        before = heapInUse();
        c = k8sCacheCreate(sizeof(k8sPod), NULL, NULL);
        for (i = 0; i < n; i++) {
            snprintf(p.name, sizeof p.name, "bl46p-ea-ioc-%05d-0", i);
            k8sCacheUpsert(c, k8sCacheKey(key, sizeof key, "bl46p-iocs", p.name), "uid", "1", &p);
        }
        after = heapInUse();
        printf("cache: %.0f bytes per pod (sizeof k8sPod %zu)\n", (after - before) / (double)n, sizeof(k8sPod));
        k8sCacheDestroy(c);
        before = heapInUse();
        c = k8sCacheCreate(sizeof(k8sInstance), NULL, NULL);
        for (i = 0; i < n; i++) {
            snprintf(inst.name, sizeof inst.name, "bl46p-ea-ioc-%05d", i);
            k8sCacheUpsert(c, k8sCacheKey(key, sizeof key, "bl46p-iocs", inst.name), "uid", "1", &inst);
        }
        after = heapInUse();
        printf("cache: %.0f bytes per instance (sizeof k8sInstance %zu)\n", (after - before) / (double)n,
               sizeof(k8sInstance));
        k8sCacheDestroy(c);
    }
    benchPodLookup();
    return 0;
}
