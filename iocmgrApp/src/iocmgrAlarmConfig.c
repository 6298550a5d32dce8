/* iocmgrAlarmConfig.c - write the Phoebus alarm server configuration (the XML
 * its "-import" reads: config / component / pv with description, enabled,
 * latching and guidance title + details).
 *
 * The records already carry the severities (iocmgrInstance.template), so the
 * alarm tree only names PVs and tells the operator what to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocmgrAlarmConfig.h"
#include "iocmgrScreens.h"

static const char *driverName = "iocmgrAlarmConfig";

#define OTHER_DOMAIN "other"

static const char connectedGuidance[] =
    "Disconnected (MAJOR): iocmgr cannot reach the Kubernetes API or its watch failed, so "
    "every instance PV is INVALID and commands are refused. Read $(P)LAST_ERROR. "
    "403 Forbidden: the iocmgr ServiceAccount lacks its Role or RoleBinding in the "
    "namespace. x509 / certificate errors: the CA does not match the API server. "
    "Connection refused or timeouts: the API server or the network to it is down. "
    "Kubernetes keeps the IOC instances running meanwhile; iocmgr reconnects by itself.";

static const char statusGuidance[] =
    "Starting, Terminating (MINOR): the pod is being created or removed; clears by itself. "
    "Pending (MINOR, MAJOR past the grace period): Kubernetes cannot place or start the pod. "
    "$(P)$(I):MESSAGE says why: an untolerated taint or unmatched node affinity means the beamline's "
    "IOC server node is missing, cordoned or not labelled; an unbound PersistentVolumeClaim "
    "means the beamline volumes are missing; ErrImagePull / ImagePullBackOff means a wrong "
    "image or no access to the registry. "
    "CrashLoop (MAJOR): the IOC exits soon after it starts. Fetch the previous console log "
    "(caput $(P)$(I):LOG_PREV_FETCH 1, or the instance screen) and read LAST_REASON and "
    "LAST_EXIT; OOMKilled "
    "means the memory limit is too low. "
    "Failed (MAJOR): the container ended with an error; read the log, fix, then RESTART. "
    "Absent (MAJOR): the instance is expected but no StatefulSet exists in the namespace: "
    "deploy it again (ec deploy, helm upgrade) or drop it from the expected list. "
    "Unknown (INVALID): iocmgr lost the Kubernetes API; see the CONNECTED alarm. "
    "Stopped (MINOR, beamlines deployed by Argo CD): a start was requested through the root "
    "Application but Argo CD has not applied it: $(P)$(I):MESSAGE says what the root asks for, "
    "$(P)$(I):SYNC and $(P)$(I):SYNC_MSG show the sync and its last operation's message.";

static const char aliveGuidance[] =
    "Silent (MAJOR) while the pod is Ready: Kubernetes says the IOC is up, but nothing answers "
    "Channel Access on $(I):UPTIME (iocStats, the chart's liveness check), or its value has "
    "stopped changing. The IOC may be hung, or unreachable from iocmgr: check the CA address list and "
    "that the pod uses hostNetwork. Read the console log on the instance screen; RESTART if it "
    "is hung. Kubernetes restarts it too once the liveness probe fails. A pod that is booting, "
    "crash-looping or stopped raises STATUS, not ALIVE.";

/* The alarm server shows guidance as written, so the PV names an operator
 * should look at are spelled out: $(P) and $(I) are replaced here. */
static void putExpanded(FILE *f, const char *text, const char *prefix, const char *pvBase)
{
    char one[2] = {0, 0};
    while (*text) {
        if (strncmp(text, "$(P)", 4) == 0) {
            iocmgrXmlPut(f, prefix);
            text += 4;
        } else if (strncmp(text, "$(I)", 4) == 0 && pvBase) {
            iocmgrXmlPut(f, pvBase);
            text += 4;
        } else {
            one[0] = *text++;
            iocmgrXmlPut(f, one);
        }
    }
}

static void guidance(FILE *f, const char *indent, const char *title, const char *details,
                     const char *prefix, const char *pvBase)
{
    fprintf(f, "%s<guidance>\n%s  <title>", indent, indent);
    iocmgrXmlPut(f, title);
    fprintf(f, "</title>\n%s  <details>", indent);
    putExpanded(f, details, prefix, pvBase);
    fprintf(f, "</details>\n%s</guidance>\n", indent);
}

/* The protocol the alarm server reads the PVs with (docs/alarms.md, docs/pva.md):
 * IOCMGR_ALARM_PROTOCOL "ca" (or unset) names them bare, which Phoebus reads over
 * Channel Access; "pva" names them pva://..., as Phoebus' alarm-server containers
 * default to. Anything else is refused: a misspelt switch must not silently give CA. */
static const char *scheme;

static int chooseScheme(char *err, size_t errlen)
{
    const char *protocol = getenv("IOCMGR_ALARM_PROTOCOL");
    if (!protocol || !*protocol || strcmp(protocol, "ca") == 0) {
        scheme = "";
    } else if (strcmp(protocol, "pva") == 0) {
        scheme = "pva://";
    } else {
        snprintf(err, errlen, "%s: IOCMGR_ALARM_PROTOCOL is '%s'; it must be ca or pva",
                 driverName, protocol);
        return -1;
    }
    return 0;
}

static void pv(FILE *f, const char *indent, const char *prefix, const char *pvBase,
               const char *field, const char *description, const char *title,
               const char *details)
{
    char inner[64];
    fprintf(f, "%s<pv name=\"%s", indent, scheme);
    iocmgrXmlPut(f, prefix);
    if (pvBase) {
        iocmgrXmlPut(f, pvBase);
        fputc(':', f);
    }
    iocmgrXmlPut(f, field);
    fprintf(f, "\">\n%s  <description>", indent);
    iocmgrXmlPut(f, description);
    fprintf(f, "</description>\n%s  <enabled>true</enabled>\n%s  <latching>false</latching>\n",
            indent, indent);
    snprintf(inner, sizeof inner, "%s  ", indent);
    guidance(f, inner, title, details, prefix, pvBase);
    fprintf(f, "%s</pv>\n", indent);
}

static const char *domainOf(const char *const *domains, size_t i)
{
    return domains && domains[i] && *domains[i] ? domains[i] : OTHER_DOMAIN;
}

/* Only STATUS and ALIVE per instance: one alarm per fault (DESIGN.md). Argo CD's
 * SYNC, HEALTH and OVERRIDE stay on the screens, not here: HEALTH Degraded is the
 * pod STATUS already alarms on; an OutOfSync app whose start is not applied is the
 * Stopped (MINOR) STATUS already alarming, and a drift self-heal reverts in seconds;
 * OVERRIDE is what every Start/Stop from the screens sets, an operator's act and
 * not a fault. The root's SYNC/HEALTH on the manager aggregate the same faults. */
static void instance(FILE *f, const char *prefix, const char *name, const char *pvName)
{
    char description[160];
    fputs("    <component name=\"", f);
    iocmgrXmlPut(f, name);
    fputs("\">\n", f);
    snprintf(description, sizeof description, "%s: not running as it should", name);
    pv(f, "      ", prefix, pvName, "STATUS", description, "What STATUS means", statusGuidance);
    snprintf(description, sizeof description, "%s: IOC does not answer over CA", name);
    pv(f, "      ", prefix, pvName, "ALIVE", description, "What ALIVE means", aliveGuidance);
    fputs("    </component>\n", f);
}

/* One pass per distinct domain keeps the file in the manager's instance order
 * without allocating; instance lists are a few hundred at most. */
static void domain(FILE *f, const char *prefix, const char *const *names,
                   const char *const *pvNames, const char *const *domains, size_t n,
                   size_t first)
{
    const char *d = domainOf(domains, first);
    size_t i;
    fputs("  <component name=\"", f);
    iocmgrXmlPut(f, d);
    fputs("\">\n", f);
    for (i = first; i < n; i++)
        if (strcmp(domainOf(domains, i), d) == 0)
            instance(f, prefix, names[i], pvNames[i]);
    fputs("  </component>\n", f);
}

static int seenBefore(const char *const *domains, size_t i)
{
    size_t j;
    for (j = 0; j < i; j++)
        if (strcmp(domainOf(domains, j), domainOf(domains, i)) == 0)
            return 1;
    return 0;
}

int iocmgrAlarmConfigWrite(const char *path, const char *configName, const char *prefix,
                           const char *const *names, const char *const *pvNames,
                           const char *const *domains, size_t n, char *err, size_t errlen)
{
    char tmp[4200];
    FILE *f;
    size_t i;

    if (!path || !*path || !configName || !*configName || !prefix ||
        (n && (!names || !pvNames))) {
        snprintf(err, errlen, "%s: needs a path, a config name, a prefix and the instance names",
                 driverName);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!names[i] || !*names[i] || !pvNames[i] || !*pvNames[i]) {
            snprintf(err, errlen, "%s: instance %lu has no name", driverName, (unsigned long)i);
            return -1;
        }
    }
    if (chooseScheme(err, errlen) != 0)
        return -1;
    if (!(f = iocmgrXmlBegin(path, tmp, sizeof tmp, err, errlen)))
        return -1;

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<!-- Generated by iocmgr at boot for the instances it manages. -->\n"
          "<config name=\"", f);
    iocmgrXmlPut(f, configName);
    fputs("\">\n  <component name=\"IOC-manager\">\n", f);
    pv(f, "    ", prefix, NULL, "CONNECTED", "IOC manager lost the Kubernetes API",
       "What CONNECTED means", connectedGuidance);
    fputs("  </component>\n", f);
    for (i = 0; i < n; i++)
        if (!seenBefore(domains, i))
            domain(f, prefix, names, pvNames, domains, n, i);
    fputs("</config>\n", f);
    return iocmgrXmlCommit(f, tmp, path, err, errlen);
}
