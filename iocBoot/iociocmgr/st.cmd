#!../../bin/linux-x86_64/iocmgr
#- iocmgr: manages a beamline's IOC instances on Kubernetes over Channel Access.
#-
#- Environment (all optional):
#-   IOCMGR_PREFIX      PV prefix $(P), default BL46P-CS-IOCMGR-01:
#-   IOCMGR_KUBECONFIG  kubeconfig path, "incluster" (the pod's service account) or
#-                      "incluster:DIR"; empty: $KUBECONFIG or ~/.kube/config
#-   IOCMGR_CONTEXT     kubeconfig context, default current-context
#-   IOCMGR_NAMESPACE   namespace, default the context's, $EC_TARGET or $EC_K8S_NAMESPACE
#-   IOCMGR_SELECTOR    label selectors, comma = either; default ioc=true,is_ioc=true
#-   IOCMGR_EXPECTED    YAML file of instances that must exist (Absent otherwise)
#-   IOCMGR_READONLY    1: refuse every command
#-   IOCMGR_PENDING_GRACE  seconds Pending/Starting is normal before MAJOR (60)
#-   IOCMGR_CRASH_SETTLE  seconds a crash-looping IOC must stay Ready before CrashLoop clears (120),
#-                        beyond the longest run of the loop that ended in a crash (docs/status.md)
#-   IOCMGR_WATCH_TIMEOUT  seconds a silent watch counts as broken (120)
#-   IOCMGR_SPARE_SLOTS spare instance slots for IOCs deployed after boot (16; 0: none)
#-   IOCMGR_LOG_NELM    characters of console log per LOG PV (16384)
#-   IOCMGR_UPTIME_SCAN, IOCMGR_ALIVE_SCAN  "1 second" (default) ... "10 second"
#-   IOCMGR_USERS, IOCMGR_HOSTS  who may write control PVs (iocmgr.acf)
#-   IOCMGR_OPI_DIR     where to write iocmgr-overview.bob (beside the static screens)
#-   IOCMGR_ALARM_CONFIG, IOCMGR_ALARM_CONFIG_NAME  Phoebus alarm-server XML to write

< envPaths

cd "${TOP}"

dbLoadDatabase "dbd/iocmgr.dbd"
iocmgr_registerRecordDeviceDriver pdbbase

< iocBoot/iociocmgr/expected.iocsh
iocshLoad("iocBoot/iociocmgr/iocmgr.iocsh", "P=$(IOCMGR_PREFIX=BL46P-CS-IOCMGR-01:),KUBECONFIG=$(IOCMGR_KUBECONFIG=),CONTEXT=$(IOCMGR_CONTEXT=),NAMESPACE=$(IOCMGR_NAMESPACE=),SELECTOR=$(IOCMGR_SELECTOR=),EXPECTED=$(IOCMGR_EXPECTED=),READONLY=$(IOCMGR_READONLY=0),GRACE=$(IOCMGR_PENDING_GRACE=60),CRASH_SETTLE=$(IOCMGR_CRASH_SETTLE=120),WATCH_TIMEOUT=$(IOCMGR_WATCH_TIMEOUT=120),ARGO_NAMESPACE=$(IOCMGR_ARGO_NAMESPACE=),ARGO_ROOT=$(IOCMGR_ARGO_ROOT=),ARGO_INSTANCE_LABEL=$(IOCMGR_ARGO_INSTANCE_LABEL=),SPARE=$(IOCMGR_SPARE_SLOTS=16),LOG_NELM=$(IOCMGR_LOG_NELM=16384),UPTIME_SCAN=$(IOCMGR_UPTIME_SCAN=1 second),ALIVE_SCAN=$(IOCMGR_ALIVE_SCAN=1 second),OPI_DIR=$(IOCMGR_OPI_DIR=),ALARM_CONFIG=$(IOCMGR_ALARM_CONFIG=),ALARM_CONFIG_NAME=$(IOCMGR_ALARM_CONFIG_NAME=BL46P)")

# HOSTS with each name's address added: pvAccess (QSRV) gives asLib the client's
# address where Channel Access gives the name the client declares (docs/pva.md).
iocmgrAsHosts("IOCMGR_AS_HOSTS", "$(IOCMGR_HOSTS=localhost)")
# quoted: the lists are comma-separated, and a bare comma would end the macro's value
asSetSubstitutions("USERS='$(IOCMGR_USERS=root)',HOSTS='$(IOCMGR_AS_HOSTS)'")
asSetFilename("iocBoot/iociocmgr/iocmgr.acf")

iocInit
