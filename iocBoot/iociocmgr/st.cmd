#!../../bin/linux-x86_64/iocmgr
#- iocmgr: manages a beamline's IOC instances on Kubernetes over Channel Access.
#-
#- Environment (all optional):
#-   IOCMGR_PREFIX      PV prefix $(P), default BL46P-CS-IOCMGR-01:
#-   IOCMGR_KUBECONFIG  kubeconfig path, "incluster" (the pod's service account) or
#-                      "incluster:DIR"; empty: $KUBECONFIG or ~/.kube/config
#-   IOCMGR_CONTEXT     kubeconfig context, default current-context
#-   IOCMGR_NAMESPACE   namespace, default the context's, $EC_TARGET or $EC_K8S_NAMESPACE
#-   IOCMGR_EXPECTED    YAML file of instances that must exist (Absent otherwise)
#-   IOCMGR_READONLY    1: refuse every command
#-   IOCMGR_USERS, IOCMGR_HOSTS  who may write control PVs (iocmgr.acf)
#-   IOCMGR_OPI_DIR     where to write iocmgr-overview.bob (beside the static screens)
#-   IOCMGR_ALARM_CONFIG, IOCMGR_ALARM_CONFIG_NAME  Phoebus alarm-server XML to write

< envPaths

cd "${TOP}"

dbLoadDatabase "dbd/iocmgr.dbd"
iocmgr_registerRecordDeviceDriver pdbbase

iocmgrConfigure("$(IOCMGR_KUBECONFIG=)", "$(IOCMGR_CONTEXT=)", "$(IOCMGR_NAMESPACE=)")
iocmgrReadOnly($(IOCMGR_READONLY=0))
iocmgrPendingGrace($(IOCMGR_PENDING_GRACE=60))
< iocBoot/iociocmgr/expected.iocsh

dbLoadRecords("db/iocmgrManager.template", "P=$(IOCMGR_PREFIX=BL46P-CS-IOCMGR-01:)")
iocmgrLoadInstances("$(IOCMGR_PREFIX=BL46P-CS-IOCMGR-01:)", "db/iocmgrInstance.template", "", 10)
iocmgrWriteScreens("$(IOCMGR_OPI_DIR=)")
iocmgrWriteAlarmConfig("$(IOCMGR_ALARM_CONFIG=)", "$(IOCMGR_ALARM_CONFIG_NAME=BL46P)")

asSetSubstitutions("USERS=$(IOCMGR_USERS=root),HOSTS=$(IOCMGR_HOSTS=localhost)")
asSetFilename("iocBoot/iociocmgr/iocmgr.acf")

iocInit
