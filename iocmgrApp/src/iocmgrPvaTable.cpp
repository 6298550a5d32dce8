/* iocmgrPvaTable.cpp - $(P)TABLE: every managed instance as one NTTable
 * (epics:nt/NTTable:1.0) over pvAccess, served by a provider of iocmgr's own
 * ("iocmgr", beside QSRV in the PVA server). docs/pva.md.
 *
 * devIocmgrTable.c hands over each snapshot, once per update of the manager's
 * coalesced I/O Intr list; it is posted as one update to every subscriber
 * (pvas::SharedPV keeps a queue per subscriber and squashes into the newest
 * when a slow one falls behind). Strings are whole (a name as long as
 * Kubernetes allows, MESSAGE up to 511 characters); a QSRV group of waveform
 * records would have cut them at 39 (DBF_STRING).
 *
 * The table's own alarm is INVALID while the Kubernetes API is unreachable
 * (every row then reads Unknown/INVALID, as the records do); otherwise
 * NO_ALARM: the rows carry their severities.
 */
#include <algorithm>
#include <string>
#include <stdexcept>

#include <alarm.h>
#include <epicsGuard.h>
#include <epicsMutex.h>
#include <epicsTime.h>
#include <errlog.h>
#include <initHooks.h>

#include <pv/pvData.h>
#include <pv/standardField.h>
#include <pv/pvAccess.h>
#include <pva/server.h>
#include <pva/sharedstate.h>

#include <epicsExport.h>

#include "iocmgrManager.h"
#include "iocmgrBeamlineTable.h"

namespace pva = epics::pvAccess;
namespace pvd = epics::pvData;

namespace {

const char *const driverName = "iocmgrPvaTable";
const char *const providerName = "iocmgr";

/* The columns in order; labels as a Phoebus table shows them. */
const char *const labels[] = {"Name", "Status", "Severity", "Ready", "Enabled", "Restarts",
                              "Version", "Node", "Message"};

pvd::StructureConstPtr tableType()
{
    pvd::FieldCreatePtr create(pvd::getFieldCreate());
    pvd::StandardFieldPtr standard(pvd::getStandardField());
    return create->createFieldBuilder()
        ->setId("epics:nt/NTTable:1.0")
        ->addArray("labels", pvd::pvString)
        ->addNestedStructure("value")
            ->addArray("name", pvd::pvString)
            ->addArray("status", pvd::pvString)
            ->addArray("severity", pvd::pvString)
            ->addArray("ready", pvd::pvInt)
            ->addArray("enabled", pvd::pvInt)
            ->addArray("restarts", pvd::pvInt)
            ->addArray("version", pvd::pvString)
            ->addArray("node", pvd::pvString)
            ->addArray("message", pvd::pvString)
        ->endNested()
        ->add("descriptor", pvd::pvString)
        ->add("alarm", standard->alarm())
        ->add("timeStamp", standard->timeStamp())
        ->createStructure();
}

struct Table {
    epicsMutex lock;
    pvas::StaticProvider provider;
    pvas::SharedPV::shared_pointer pv;
    pvd::PVStructurePtr value;        /* reused: only its arrays are replaced */
    pvd::BitSet changed;              /* what fill() changed: posted */

    Table() : provider(providerName) {}
};

Table *table;   /* lives as long as the IOC: the server may hold its provider to the end */

/* Only a column that changed is replaced and marked: a post then carries the
 * status and severity columns of a restart, not 1,000 messages as well. */
template<typename T>
void putColumn(const pvd::PVStructurePtr& value, const char *name, pvd::shared_vector<T>& column)
{
    typename pvd::PVValueArray<T>::shared_pointer field(
        value->getSubFieldT<pvd::PVValueArray<T> >(std::string("value.") + name));
    typename pvd::PVValueArray<T>::const_svector old(field->view());
    if (old.size() == column.size() && std::equal(old.begin(), old.end(), column.begin()))
        return;
    field->replace(pvd::freeze(column));
    table->changed.set(field->getFieldOffset());
}

void fill(const iocmgrTableSnapshot *snap)
{
    const size_t n = snap->rows;
    pvd::shared_vector<std::string> name(n), status(n), severity(n), version(n), node(n), message(n);
    pvd::shared_vector<pvd::int32> ready(n), enabled(n), restarts(n);
    for (size_t i = 0; i < n; i++) {
        const iocmgrTableRow& r = snap->row[i];
        name[i] = r.name;
        status[i] = r.status;
        severity[i] = iocmgrTableSeverityName(r.severity);
        ready[i] = r.ready;
        enabled[i] = r.enabled;
        restarts[i] = r.restarts;
        version[i] = r.version;
        node[i] = r.node;
        message[i] = r.message;
    }
    const pvd::PVStructurePtr& v = table->value;
    table->changed.clear();
    table->changed.set(v->getSubFieldT("alarm")->getFieldOffset());
    table->changed.set(v->getSubFieldT("timeStamp")->getFieldOffset());
    putColumn(v, "name", name);
    putColumn(v, "status", status);
    putColumn(v, "severity", severity);
    putColumn(v, "ready", ready);
    putColumn(v, "enabled", enabled);
    putColumn(v, "restarts", restarts);
    putColumn(v, "version", version);
    putColumn(v, "node", node);
    putColumn(v, "message", message);

    v->getSubFieldT<pvd::PVInt>("alarm.severity")->put(snap->connected ? NO_ALARM : INVALID_ALARM);
    /* pvData's alarm status: 0 none, 2 driver (what QSRV shows for COMM) */
    v->getSubFieldT<pvd::PVInt>("alarm.status")->put(snap->connected ? 0 : 2);
    v->getSubFieldT<pvd::PVString>("alarm.message")->put(snap->connected ? "" : "Kubernetes API unreachable");
    v->getSubFieldT<pvd::PVLong>("timeStamp.secondsPastEpoch")
        ->put((pvd::int64)snap->stamp.secPastEpoch + POSIX_TIME_AT_EPICS_EPOCH);
    v->getSubFieldT<pvd::PVInt>("timeStamp.nanoseconds")->put((pvd::int32)snap->stamp.nsec);
}

void publish(const iocmgrTableSnapshot *snap)
{
    try {
        epicsGuard<epicsMutex> G(table->lock);
        fill(snap);
        if (!table->pv) {
            /* the first snapshot (TABLE_ROWS' PINI, before the server starts) */
            table->pv = pvas::SharedPV::buildReadOnly();
            table->pv->open(*table->value);
            table->provider.add(std::string(iocmgrPrefix()) + "TABLE", table->pv);
        } else {
            table->pv->post(*table->value, table->changed);
        }
    } catch (std::exception& e) {
        errlogPrintf("%s: cannot update %sTABLE: %s\n", driverName, iocmgrPrefix(), e.what());
    }
}

void bootMessage(initHookState state)
{
    if (state != initHookAfterIocRunning) return;
    errlogPrintf("iocmgr: pvAccess: every record and alias through QSRV (writes audited like CA's), "
                 "%sTABLE as an NTTable; clients find the server with EPICS_PVA_ADDR_LIST "
                 "(docs/pva.md)\n", iocmgrPrefix());
}

void iocmgrPvaTableRegister()
{
    if (table) return;
    try {
        table = new Table;
        table->value = pvd::getPVDataCreate()->createPVStructure(tableType());
        pvd::shared_vector<std::string> names;
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) names.push_back(labels[i]);
        table->value->getSubFieldT<pvd::PVStringArray>("labels")->replace(pvd::freeze(names));
        table->value->getSubFieldT<pvd::PVString>("descriptor")->put("IOC instances managed by iocmgr");
        pva::ChannelProviderRegistry::servers()->addSingleton(table->provider.provider());
    } catch (std::exception& e) {
        errlogPrintf("%s: cannot serve TABLE over pvAccess: %s\n", driverName, e.what());
        return;
    }
    iocmgrTableSetPublisher(publish);
    initHookRegister(bootMessage);
}

} // namespace

extern "C" {
    epicsExportRegistrar(iocmgrPvaTableRegister);
}
