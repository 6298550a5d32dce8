# Sources of the Kubernetes layer (no EPICS headers). Included by
# iocmgrApp/src/Makefile (EPICS build) and tests/k8s/Makefile (plain make).
# System libraries: curl yaml cjson pthread.
K8S_SRCS = k8sLog.c k8sImageRef.c k8sLineBuffer.c k8sObject.c k8sCache.c k8sApply.c k8sBackoff.c \
           k8sConfig.c k8sExec.c k8sNet.c k8sWatch.c k8sOps.c k8sArgo.c k8sArgoOps.c k8sClient.c
