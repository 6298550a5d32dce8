/* iocmgrPvaAudit.cpp - a write over pvAccess reaches the same audit as one over
 * Channel Access.
 *
 * QSRV 1.2.2 (pva2pva, in Base 7.0.3.1) enforces access security on a put
 * (pdbsingle.cpp: ASCLIENT::canWrite) but never calls asTrapWrite, so the
 * TRAPWRITE rules of iocmgr.acf never fire for it and iocmgrCurrentWriter()
 * knows no PVA writer: a RESTART over PVA would act with no user in the log or
 * CMD_MSG. This file puts a thin provider in front of QSRV under QSRV's own
 * name ("QSRV" in the server registry, so EPICS_PVAS_PROVIDER_NAMES works as
 * before). It forwards every call, and around each put it does what RSRV does
 * around a CA put: when access security grants the write and its rule has
 * TRAPWRITE, asTrapWriteBeforeWithData() with the PVA peer's user and host
 * (derived exactly as QSRV derives them for asAddClient), the put, then
 * asTrapWriteAfterWrite(). The listeners (iocmgrManager.c's, caPutLog's) run
 * on the thread that then processes the record. Gets, monitors and field
 * requests go to QSRV untouched; a get or a process request goes through the
 * put path as pvAccess builds them from it (Channel::createChannelGet).
 *
 * Ownership follows pvAccess: the server holds our channel and put strongly,
 * QSRV holds them (as its requesters) weakly, we hold QSRV's strongly and the
 * server's requesters weakly. No cycles.
 *
 * Cost: QSRV's own "dbgl" iocsh command looks its provider up by name and
 * finds ours, so it says "No Provider"; pvasr and every client are unaffected.
 */
/* as the C files get it from the Makefile: Base's typed rset, no deprecation */
#define USE_TYPED_RSET

#include <algorithm>
#include <string>
#include <vector>
#include <stdexcept>

#include <asLib.h>
#include <dbAccess.h>
#include <dbChannel.h>
#include <dbStaticLib.h>
#include <epicsMutex.h>
#include <epicsGuard.h>
#include <errlog.h>
#include <initHooks.h>

#include <pv/pvAccess.h>
#include <pv/security.h>
#include <pv/pvData.h>

#include <epicsExport.h>

namespace pva = epics::pvAccess;
namespace pvd = epics::pvData;

namespace {

const char *const driverName = "iocmgrPvaAudit";
const char *const qsrvName = "QSRV";

typedef std::vector<char> cstring;   /* asAddClient wants mutable, lasting storage */

cstring toC(const std::string& s)
{
    cstring c(s.begin(), s.end());
    c.push_back('\0');
    return c;
}

/* The value of a put, for the listeners (caPutLog prints it): a scalar as
 * text, an enum's index; "" for anything else. */
std::string valueText(const pvd::PVStructure::shared_pointer& value)
{
    try {
        pvd::PVScalar::shared_pointer scalar(value->getSubField<pvd::PVScalar>("value"));
        if (scalar) return scalar->getAs<std::string>();
        pvd::PVScalar::shared_pointer index(value->getSubField<pvd::PVScalar>("value.index"));
        if (index) return index->getAs<std::string>();
    } catch (std::exception&) {
    }
    return std::string();
}

class AuditProvider;

/* A channel of QSRV's with the put path audited. It is QSRV's requester as well. */
class AuditChannel : public pva::Channel, public pva::ChannelRequester
{
public:
    POINTER_DEFINITIONS(AuditChannel);
    std::tr1::weak_ptr<AuditChannel> weakself;

    AuditChannel(const std::tr1::shared_ptr<AuditProvider>& provider, const std::string& name,
                 const pva::ChannelRequester::shared_pointer& requester)
        : provider(provider), name(name), requester(requester), dbch(0) {}

    virtual ~AuditChannel()
    {
        for (size_t i = 0; i < clients.size(); i++) asRemoveClient(&clients[i]);
        if (dbch) dbChannelDelete(dbch);
    }

    /* the put path: RSRV's asTrapWriteWithData(), for this peer */
    void *trapBefore(const pvd::PVStructure::shared_pointer& value)
    {
        bool allowed = false, trap = false;
        if (!asActive || !dbch) return 0;
        {
            epicsGuard<epicsMutex> G(lock);
            for (size_t i = 0; i < clients.size(); i++) {
                if (clients[i] && asCheckPut(clients[i])) {
                    allowed = true;
                    trap = trap || clients[i]->trapMask;
                }
            }
        }
        if (!allowed || !trap) return 0;    /* QSRV refuses it, or the rule has no TRAPWRITE */
        std::string text(valueText(value));
        char data[MAX_STRING_SIZE] = "";
        text.copy(data, sizeof data - 1);
        return asTrapWriteBeforeWithData(&user[0], &host[0], dbch, DBR_STRING, text.empty() ? 0 : 1, data);
    }

    /* ---- pva::Channel, toward the server ---- */
    virtual std::string getRequesterName()
    {
        pva::ChannelRequester::shared_pointer req(requester.lock());
        return req ? req->getRequesterName() : name;
    }
    virtual void message(std::string const& msg, pvd::MessageType type)
    {
        pva::ChannelRequester::shared_pointer req(requester.lock());
        if (req) req->message(msg, type);
    }
    virtual std::tr1::shared_ptr<pva::ChannelProvider> getProvider();
    virtual std::string getRemoteAddress()
    {
        pva::Channel::shared_pointer ch(innerChannel());
        return ch ? ch->getRemoteAddress() : getRequesterName();
    }
    virtual ConnectionState getConnectionState()
    {
        pva::Channel::shared_pointer ch(innerChannel());
        return ch ? ch->getConnectionState() : DESTROYED;
    }
    virtual std::string getChannelName() { return name; }
    virtual pva::ChannelRequester::shared_pointer getChannelRequester() { return requester.lock(); }
    virtual void getField(pva::GetFieldRequester::shared_pointer const& req, std::string const& subField)
    {
        pva::Channel::shared_pointer ch(innerChannel());
        if (ch) ch->getField(req, subField);
        else req->getDone(pvd::Status::error("channel destroyed"), pvd::FieldConstPtr());
    }
    virtual pva::AccessRights getAccessRights(pvd::PVField::shared_pointer const& field)
    {
        pva::Channel::shared_pointer ch(innerChannel());
        return ch ? ch->getAccessRights(field) : pva::none;
    }
    virtual pva::ChannelPut::shared_pointer createChannelPut(pva::ChannelPutRequester::shared_pointer const& req,
                                                             pvd::PVStructure::shared_pointer const& pvRequest);
    virtual pva::Monitor::shared_pointer createMonitor(pva::MonitorRequester::shared_pointer const& req,
                                                       pvd::PVStructure::shared_pointer const& pvRequest)
    {
        pva::Channel::shared_pointer ch(innerChannel());
        if (ch) return ch->createMonitor(req, pvRequest);
        return pva::Channel::createMonitor(req, pvRequest);
    }
    virtual void printInfo(std::ostream& out)
    {
        pva::Channel::shared_pointer ch(innerChannel());
        if (ch) ch->printInfo(out);
    }
    /* QSRV's channel stays referenced until this one goes: the server destroys a
     * channel before its operations (ServerChannel::destroy), and releasing QSRV's
     * channel here made a monitor's destructor the last holder of QSRV's PV, which
     * aborted the IOC (std::terminate in ~PDBSingleMonitor) when a client with a
     * monitor went away. Plain QSRV keeps that order too. */
    virtual void destroy()
    {
        pva::Channel::shared_pointer ch(innerChannel());
        if (ch) ch->destroy();
    }

    /* ---- pva::ChannelRequester, toward QSRV ---- */
    virtual void channelCreated(const pvd::Status& status, pva::Channel::shared_pointer const& channel)
    {
        pva::ChannelRequester::shared_pointer req(requester.lock());
        if (status.isSuccess() && channel) {
            {
                epicsGuard<epicsMutex> G(lock);
                inner = channel;
            }
            if (req) addClients(req);
        }
        if (req) req->channelCreated(status, status.isSuccess() && channel ? pva::Channel::shared_pointer(weakself)
                                                                       : pva::Channel::shared_pointer());
    }
    virtual void channelStateChange(pva::Channel::shared_pointer const&, ConnectionState state)
    {
        pva::ChannelRequester::shared_pointer req(requester.lock());
        pva::Channel::shared_pointer self(weakself.lock());
        if (req && self) req->channelStateChange(self, state);
    }
    virtual std::tr1::shared_ptr<const pva::PeerInfo> getPeerInfo()
    {
        pva::ChannelRequester::shared_pointer req(requester.lock());
        return req ? req->getPeerInfo() : std::tr1::shared_ptr<const pva::PeerInfo>();
    }

    pva::Channel::shared_pointer innerChannel()
    {
        epicsGuard<epicsMutex> G(lock);
        return inner;
    }

private:
    /* The user and host QSRV gives asAddClient (pva2pva pvif.cpp, ASCred::update):
     * "ca" authority: the account without any "realm/"; another: "authority/account";
     * the host is the peer's address without the port. Roles as "role/<name>". */
    void addClients(const pva::ChannelRequester::shared_pointer& req)
    {
        std::tr1::shared_ptr<const pva::PeerInfo> info(req->getPeerInfo());
        std::string u, h;
        std::vector<std::string> roles;
        if (info && info->identified) {
            h = info->peer;
            if (info->authority == "ca") {
                u = info->account;
                size_t sep = u.find_last_of('/');
                if (sep != std::string::npos) u = u.substr(sep + 1);
            } else {
                u = info->authority + "/" + info->account;
            }
            for (pva::PeerInfo::roles_t::const_iterator it = info->roles.begin(); it != info->roles.end(); ++it)
                roles.push_back("role/" + *it);
        } else {
            h = req->getRequesterName();
        }
        h.resize(std::min(h.size(), h.find_first_of(':')));

        dbch = dbChannelCreate(name.c_str());
        if (!dbch) return;              /* a QSRV group: its members' access is QSRV's */
        epicsGuard<epicsMutex> G(lock);
        user = toC(u);
        host = toC(h);
        roleNames.resize(roles.size());
        clients.assign(1 + roles.size(), ASCLIENTPVT(0));
        dbCommon *rec = dbChannelRecord(dbch);
        int asl = dbChannelFldDes(dbch)->as_level;
        (void)asAddClient(&clients[0], rec->asp, asl, &user[0], &host[0]);
        for (size_t i = 0; i < roles.size(); i++) {
            roleNames[i] = toC(roles[i]);
            (void)asAddClient(&clients[i + 1], rec->asp, asl, &roleNames[i][0], &host[0]);
        }
    }

    const std::tr1::shared_ptr<AuditProvider> provider;
    const std::string name;
    const pva::ChannelRequester::weak_pointer requester;
    epicsMutex lock;
    pva::Channel::shared_pointer inner;
    dbChannel *dbch;
    cstring user, host;
    std::vector<cstring> roleNames;
    std::vector<ASCLIENTPVT> clients;
};

/* A put of QSRV's with the trap around it. It is QSRV's put requester as well. */
class AuditPut : public pva::ChannelPut, public pva::ChannelPutRequester
{
public:
    POINTER_DEFINITIONS(AuditPut);
    std::tr1::weak_ptr<AuditPut> weakself;

    AuditPut(const AuditChannel::shared_pointer& channel, const pva::ChannelPutRequester::shared_pointer& requester)
        : channel(channel), requester(requester) {}
    virtual ~AuditPut() {}

    /* ---- pva::ChannelPut, toward the server ---- */
    virtual void put(pvd::PVStructure::shared_pointer const& value, pvd::BitSet::shared_pointer const& changed)
    {
        pva::ChannelPut::shared_pointer op(innerPut());
        if (!op) return;
        void *trap = channel->trapBefore(value);
        op->put(value, changed);
        if (trap) asTrapWriteAfterWrite(trap);
    }
    virtual void get()
    {
        pva::ChannelPut::shared_pointer op(innerPut());
        if (op) op->get();
    }
    virtual pva::Channel::shared_pointer getChannel() { return channel; }
    virtual void cancel()
    {
        pva::ChannelPut::shared_pointer op(innerPut());
        if (op) op->cancel();
    }
    virtual void lastRequest()
    {
        pva::ChannelPut::shared_pointer op(innerPut());
        if (op) op->lastRequest();
    }
    virtual void destroy()     /* QSRV's put stays referenced until this one goes, as above */
    {
        pva::ChannelPut::shared_pointer op(innerPut());
        if (op) op->destroy();
    }

    /* ---- pva::ChannelPutRequester, toward QSRV ---- */
    virtual std::string getRequesterName()
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        return req ? req->getRequesterName() : channel->getChannelName();
    }
    virtual void message(std::string const& msg, pvd::MessageType type)
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        if (req) req->message(msg, type);
    }
    virtual void channelPutConnect(const pvd::Status& status, pva::ChannelPut::shared_pointer const& put,
                                   pvd::Structure::const_shared_pointer const& structure)
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        {
            epicsGuard<epicsMutex> G(lock);
            inner = put;
        }
        if (req) req->channelPutConnect(status, put ? pva::ChannelPut::shared_pointer(weakself)
                                                    : pva::ChannelPut::shared_pointer(), structure);
    }
    virtual void putDone(const pvd::Status& status, pva::ChannelPut::shared_pointer const&)
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        pva::ChannelPut::shared_pointer self(weakself.lock());
        if (req && self) req->putDone(status, self);
    }
    virtual void getDone(const pvd::Status& status, pva::ChannelPut::shared_pointer const&,
                         pvd::PVStructure::shared_pointer const& value, pvd::BitSet::shared_pointer const& changed)
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        pva::ChannelPut::shared_pointer self(weakself.lock());
        if (req && self) req->getDone(status, self, value, changed);
    }
    virtual void channelDisconnect(bool destroy)
    {
        pva::ChannelPutRequester::shared_pointer req(requester.lock());
        if (req) req->channelDisconnect(destroy);
    }

private:
    pva::ChannelPut::shared_pointer innerPut()
    {
        epicsGuard<epicsMutex> G(lock);
        return inner;
    }

    const AuditChannel::shared_pointer channel;
    const pva::ChannelPutRequester::weak_pointer requester;
    epicsMutex lock;
    pva::ChannelPut::shared_pointer inner;
};

pva::ChannelPut::shared_pointer AuditChannel::createChannelPut(pva::ChannelPutRequester::shared_pointer const& req,
                                                               pvd::PVStructure::shared_pointer const& pvRequest)
{
    pva::Channel::shared_pointer ch(innerChannel());
    if (!ch) return pva::Channel::createChannelPut(req, pvRequest);
    AuditPut::shared_pointer op(new AuditPut(AuditChannel::shared_pointer(weakself), req));
    op->weakself = op;
    /* QSRV connects the put before it returns (channelPutConnect) */
    return ch->createChannelPut(op, pvRequest) ? op : AuditPut::shared_pointer();
}

/* The search answer names the provider the server then creates the channel
 * through (ServerChannelFindRequesterImpl): it must name us, not QSRV. */
class AuditFind : public pva::ChannelFindRequester
{
public:
    AuditFind(const pva::ChannelFindRequester::shared_pointer& requester, const pva::ChannelProvider::shared_pointer& self)
        : requester(requester), self(self) {}
    virtual void channelFindResult(const pvd::Status& status, pva::ChannelFind::shared_pointer const&, bool found)
    {
        requester->channelFindResult(status, pva::ChannelFind::buildDummy(self), found);
    }
    virtual std::tr1::shared_ptr<const pva::PeerInfo> getPeerInfo() { return requester->getPeerInfo(); }
private:
    const pva::ChannelFindRequester::shared_pointer requester;
    const pva::ChannelProvider::shared_pointer self;
};

class AuditProvider : public pva::ChannelProvider
{
public:
    POINTER_DEFINITIONS(AuditProvider);
    std::tr1::weak_ptr<AuditProvider> weakself;

    explicit AuditProvider(const pva::ChannelProvider::shared_pointer& qsrv) : qsrv(qsrv) {}
    virtual ~AuditProvider() {}

    virtual std::string getProviderName() { return qsrvName; }
    virtual void destroy() { qsrv->destroy(); }
    virtual pva::ChannelFind::shared_pointer channelFind(std::string const& name,
                                                         pva::ChannelFindRequester::shared_pointer const& req)
    {
        pva::ChannelFindRequester::shared_pointer answer(new AuditFind(req, shared_pointer(weakself)));
        qsrv->channelFind(name, answer);
        return pva::ChannelFind::buildDummy(shared_pointer(weakself));
    }
    virtual pva::ChannelFind::shared_pointer channelList(pva::ChannelListRequester::shared_pointer const& req)
    {
        return qsrv->channelList(req);
    }
    virtual pva::Channel::shared_pointer createChannel(std::string const& name,
                                                       pva::ChannelRequester::shared_pointer const& req,
                                                       short priority, std::string const& address)
    {
        AuditChannel::shared_pointer ch(new AuditChannel(shared_pointer(weakself), name, req));
        ch->weakself = ch;
        /* QSRV answers channelCreated() before it returns */
        return qsrv->createChannel(name, ch, priority, address) ? ch : AuditChannel::shared_pointer();
    }

private:
    const pva::ChannelProvider::shared_pointer qsrv;
};

std::tr1::shared_ptr<pva::ChannelProvider> AuditChannel::getProvider() { return provider; }

class AuditFactory : public pva::ChannelProviderFactory
{
public:
    explicit AuditFactory(const pva::ChannelProviderFactory::shared_pointer& qsrv) : qsrv(qsrv) {}
    virtual std::string getFactoryName() { return qsrvName; }
    virtual pva::ChannelProvider::shared_pointer sharedInstance()
    {
        epicsGuard<epicsMutex> G(lock);
        AuditProvider::shared_pointer ret(last.lock());
        if (!ret) {
            ret.reset(new AuditProvider(qsrv->sharedInstance()));
            ret->weakself = ret;
            last = ret;
        }
        return ret;
    }
    virtual pva::ChannelProvider::shared_pointer newInstance(const std::tr1::shared_ptr<pva::Configuration>& conf)
    {
        AuditProvider::shared_pointer ret(new AuditProvider(qsrv->newInstance(conf)));
        ret->weakself = ret;
        return ret;
    }
private:
    const pva::ChannelProviderFactory::shared_pointer qsrv;
    epicsMutex lock;
    std::tr1::weak_ptr<AuditProvider> last;
};

/* Before iocInit builds anything and long before the PVA server starts (at
 * initHookAfterIocRunning), whatever order the registrars ran in. */
void wrapQsrv(initHookState state)
{
    if (state != initHookAtBeginning) return;
    try {
        pva::ChannelProviderRegistry::shared_pointer reg(pva::ChannelProviderRegistry::servers());
        pva::ChannelProviderFactory::shared_pointer qsrv(reg->getFactory(qsrvName));
        if (!qsrv) {
            errlogPrintf("%s: QSRV is not registered: writes over pvAccess will not reach the audit log\n",
                         driverName);
            return;
        }
        if (dynamic_cast<AuditFactory *>(qsrv.get())) return;
        reg->add(pva::ChannelProviderFactory::shared_pointer(new AuditFactory(qsrv)), true);
    } catch (std::exception& e) {
        errlogPrintf("%s: cannot put the audit in front of QSRV (%s): writes over pvAccess will not "
                     "reach the audit log\n", driverName, e.what());
    }
}

void iocmgrPvaAuditRegister()
{
    initHookRegister(wrapQsrv);
}

} // namespace

extern "C" {
    epicsExportRegistrar(iocmgrPvaAuditRegister);
}
