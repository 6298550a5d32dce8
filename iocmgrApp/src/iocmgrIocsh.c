/* iocmgrIocsh.c - iocsh commands that configure the manager from st.cmd. */
#include <iocsh.h>
#include <epicsExport.h>

#include "iocmgrManager.h"
#include "iocmgrSlots.h"

static const iocshArg argKubeconfig = {"kubeconfig (\"\": $KUBECONFIG or ~/.kube/config; \"incluster\": service account)", iocshArgString};
static const iocshArg argContext = {"context (\"\": current-context)", iocshArgString};
static const iocshArg argNamespace = {"namespace (\"\": the context's, $EC_TARGET or $EC_K8S_NAMESPACE)", iocshArgString};
static const iocshArg *const configureArgs[] = {&argKubeconfig, &argContext, &argNamespace};
static const iocshFuncDef configureDef = {"iocmgrConfigure", 3, configureArgs};
static void configureCall(const iocshArgBuf *a)
{
    iocmgrConfigure(a[0].sval, a[1].sval, a[2].sval);
}

static const iocshArg argSelector = {"label selectors, comma = either (default \"ioc=true,is_ioc=true\")", iocshArgString};
static const iocshArg *const selectorArgs[] = {&argSelector};
static const iocshFuncDef selectorDef = {"iocmgrSetSelector", 1, selectorArgs};
static void selectorCall(const iocshArgBuf *a) { iocmgrSetSelector(a[0].sval); }

static const iocshArg argName = {"instance name", iocshArgString};
static const iocshArg *const expectArgs[] = {&argName};
static const iocshFuncDef expectDef = {"iocmgrExpect", 1, expectArgs};
static void expectCall(const iocshArgBuf *a) { iocmgrExpect(a[0].sval); }

static const iocshArg argPath = {"YAML file with the expected instances", iocshArgString};
static const iocshArg *const expectFileArgs[] = {&argPath};
static const iocshFuncDef expectFileDef = {"iocmgrExpectFile", 1, expectFileArgs};
static void expectFileCall(const iocshArgBuf *a) { iocmgrExpectFile(a[0].sval); }

static const iocshArg argReadOnly = {"1: refuse every command", iocshArgInt};
static const iocshArg *const readOnlyArgs[] = {&argReadOnly};
static const iocshFuncDef readOnlyDef = {"iocmgrReadOnly", 1, readOnlyArgs};
static void readOnlyCall(const iocshArgBuf *a) { iocmgrSetReadOnly(a[0].ival); }

static const iocshArg argGrace = {"seconds Pending/Starting is normal before a MAJOR alarm", iocshArgDouble};
static const iocshArg *const graceArgs[] = {&argGrace};
static const iocshFuncDef graceDef = {"iocmgrPendingGrace", 1, graceArgs};
static void graceCall(const iocshArgBuf *a) { iocmgrSetPendingGrace(a[0].dval); }

static const iocshArg argSettle = {"seconds a crash-looping IOC must stay Ready before its CrashLoop clears", iocshArgDouble};
static const iocshArg *const settleArgs[] = {&argSettle};
static const iocshFuncDef settleDef = {"iocmgrCrashSettle", 1, settleArgs};
static void settleCall(const iocshArgBuf *a) { iocmgrSetCrashSettle(a[0].dval); }

static const iocshArg argWatchTimeout = {"seconds a silent watch counts as broken (default 120)", iocshArgDouble};
static const iocshArg *const watchTimeoutArgs[] = {&argWatchTimeout};
static const iocshFuncDef watchTimeoutDef = {"iocmgrWatchTimeout", 1, watchTimeoutArgs};
static void watchTimeoutCall(const iocshArgBuf *a) { iocmgrSetWatchTimeout(a[0].dval); }

static const iocshArg argAppNs = {"Argo CD Applications' namespace (\"\": EC_TARGET's <ns>/<root>, else the instances'; \"none\": no Argo CD)", iocshArgString};
static const iocshArg argRoot = {"root Application (\"\": EC_TARGET's, else each child's tracking-id)", iocshArgString};
static const iocshArg argLabel = {"instance label of label tracking (\"\": app.kubernetes.io/instance; \"-\": none)", iocshArgString};
static const iocshArg *const argoArgs[] = {&argAppNs, &argRoot, &argLabel};
static const iocshFuncDef argoDef = {"iocmgrArgoCD", 3, argoArgs};
static void argoCall(const iocshArgBuf *a) { iocmgrSetArgoCD(a[0].sval, a[1].sval, a[2].sval); }

static const iocshArg argSpare = {"spare slots for instances deployed after boot (default 16; 0: none)", iocshArgInt};
static const iocshArg *const spareArgs[] = {&argSpare};
static const iocshFuncDef spareDef = {"iocmgrSpareSlots", 1, spareArgs};
static void spareCall(const iocshArgBuf *a) { iocmgrSetSpareSlots(a[0].ival); }

static const iocshArg argPrefix = {"PV prefix $(P)", iocshArgString};
static const iocshArg argTemplate = {"instance template", iocshArgString};
static const iocshArg argMacros = {"extra macros", iocshArgString};
static const iocshArg argTimeout = {"list timeout in seconds (default 10)", iocshArgDouble};
static const iocshArg *const loadArgs[] = {&argPrefix, &argTemplate, &argMacros, &argTimeout};
static const iocshFuncDef loadDef = {"iocmgrLoadInstances", 4, loadArgs};
static void loadCall(const iocshArgBuf *a)
{
    iocmgrLoadInstances(a[0].sval, a[1].sval, a[2].sval, a[3].dval);
}

static const iocshArg argOpiDir = {"directory for iocmgr-overview.bob (\"\": none)", iocshArgString};
static const iocshArg *const screensArgs[] = {&argOpiDir};
static const iocshFuncDef screensDef = {"iocmgrWriteScreens", 1, screensArgs};
static void screensCall(const iocshArgBuf *a) { iocmgrWriteScreens(a[0].sval); }

static const iocshArg argAlarmPath = {"alarm configuration XML path (\"\": none)", iocshArgString};
static const iocshArg argAlarmName = {"alarm configuration name", iocshArgString};
static const iocshArg *const alarmArgs[] = {&argAlarmPath, &argAlarmName};
static const iocshFuncDef alarmDef = {"iocmgrWriteAlarmConfig", 2, alarmArgs};
static void alarmCall(const iocshArgBuf *a) { iocmgrWriteAlarmConfig(a[0].sval, a[1].sval); }

static void iocmgrRegister(void)
{
    iocshRegister(&configureDef, configureCall);
    iocshRegister(&selectorDef, selectorCall);
    iocshRegister(&expectDef, expectCall);
    iocshRegister(&expectFileDef, expectFileCall);
    iocshRegister(&readOnlyDef, readOnlyCall);
    iocshRegister(&graceDef, graceCall);
    iocshRegister(&settleDef, settleCall);
    iocshRegister(&watchTimeoutDef, watchTimeoutCall);
    iocshRegister(&argoDef, argoCall);
    iocshRegister(&spareDef, spareCall);
    iocshRegister(&loadDef, loadCall);
    iocshRegister(&screensDef, screensCall);
    iocshRegister(&alarmDef, alarmCall);
}
epicsExportRegistrar(iocmgrRegister);
