// N-API surface of the native core. Mechanism only: every failure becomes one
// typed error (code, errno, syscall) built in ThrowSys; no policy, no logging.
// Over 400 lines: it is the binding table of every unit (argument checks and
// conversions only); the agent listener, peer credentials and the vhost
// table have binding files of their own.
#include <napi.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "agent_listener_binding.h"
#include "filter.h"
#include "inspect.h"
#include "notify_loop.h"
#include "peer_cred.h"
#include "js_error.h"
#include "probes.h"
#include "spawn.h"
#include "keeper.h"
#include "sys.h"
#include "unix_socket.h"
#include "vhost_table_binding.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

using namespace vhqos;

namespace {

int IntArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number argument");
  return info[i].As<Napi::Number>().Int32Value();
}

uint64_t IdArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsBigInt()) throw Napi::TypeError::New(info.Env(), "expected a bigint id");
  bool lossless;
  return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
}

Napi::Object FactsToJs(Napi::Env env, const SocketFacts& f) {
  auto o = Napi::Object::New(env);
  o.Set("isSocket", f.is_socket);
  o.Set("domain", f.domain);
  o.Set("type", f.type);
  o.Set("listening", f.listening);
  o.Set("nonblocking", f.nonblocking);
  o.Set("inode", Napi::Number::New(env, static_cast<double>(f.inode)));
  auto addr = [&](const SockAddrText& a) {
    auto x = Napi::Object::New(env);
    x.Set("ip", a.ip);
    x.Set("port", a.port);
    return x;
  };
  if (f.has_local) o.Set("local", addr(f.local));
  if (f.has_peer) o.Set("peer", addr(f.peer));
  return o;
}

const char* KindName(EventKind k) {
  switch (k) {
    case EventKind::Read: return "read";
    case EventKind::Fork: return "fork";
    case EventKind::Accept: return "accept";
    case EventKind::Requests: return "requests";
    case EventKind::Dup: return "dup";
    case EventKind::Close: return "close";
    case EventKind::Exec: return "exec";
    case EventKind::Process: return "process";
    case EventKind::Exit: return "exit";
    case EventKind::Timeout: return "timeout";
    case EventKind::Hup: return "hup";
    case EventKind::Stopped: return "stopped";
    case EventKind::Error: return "error";
    case EventKind::HandOvers: return "handovers";
  }
  return "?";
}

Napi::Object AddrToJs(Napi::Env env, const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  auto o = Napi::Object::New(env);
  o.Set("ip", buf);
  o.Set("port", port);
  return o;
}

Napi::Object EventToJs(Napi::Env env, const LoopEvent& ev) {
  auto o = Napi::Object::New(env);
  o.Set("kind", KindName(ev.kind));
  o.Set("needsVerdict", ev.needs_verdict);
  if (ev.id) o.Set("id", Napi::BigInt::New(env, static_cast<uint64_t>(ev.id)));
  if (ev.tid) o.Set("tid", ev.tid);
  if (ev.pid) o.Set("pid", ev.pid);
  if (ev.ppid) o.Set("ppid", ev.ppid);
  if (!ev.syscall.empty()) o.Set("syscall", ev.syscall);
  if (ev.fd >= 0) o.Set("fd", ev.fd);
  if (ev.new_fd >= 0) o.Set("newFd", ev.new_fd);
  if (ev.flags) o.Set("flags", Napi::Number::New(env, static_cast<double>(ev.flags)));
  if (ev.accepts) o.Set("accepts", ev.accepts);
  if (ev.kind == EventKind::Read) {
    o.Set("socket", FactsToJs(env, ev.facts));
    o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, ev.bytes.data(), ev.bytes.size()));
    o.Set("peekResult", ev.peek_result);
    o.Set("waitedMs", ev.waited_ms);
    o.Set("peerClosed", ev.peer_closed);
  }
  if (!ev.fds.empty()) {
    auto a = Napi::Array::New(env, ev.fds.size());
    for (size_t i = 0; i < ev.fds.size(); i++) a.Set(i, ev.fds[i]);
    o.Set("fds", a);
  }
  if (ev.kind == EventKind::Process) o.Set("tenant", ev.flags != 0);
  if (ev.kind == EventKind::Fork) o.Set("afterAccept", ev.after_accept);
  if (ev.kind == EventKind::HandOvers || ev.kind == EventKind::Requests) {
    auto a = Napi::Array::New(env, ev.handovers.size());
    for (size_t i = 0; i < ev.handovers.size(); i++) {
      const HandOver& h = ev.handovers[i];
      auto x = Napi::Object::New(env);
      x.Set("pid", h.pid);
      x.Set("group", h.group);
      x.Set("vhost", h.vhost);
      x.Set("by", classified_by_name(h.by));
      if (!h.detail.empty()) x.Set("detail", h.detail);
      x.Set("local", AddrToJs(env, h.local));
      x.Set("peer", AddrToJs(env, h.peer));
      x.Set("inode", Napi::Number::New(env, static_cast<double>(h.inode)));
      x.Set("moved", h.moved);
      x.Set("heldMs", h.held_ms);
      a.Set(i, x);
    }
    o.Set("items", a);
  }
  if (ev.error) {
    o.Set("errno", ev.error);
    o.Set("code", strerrorname_np(-ev.error) ? strerrorname_np(-ev.error) : "EUNKNOWN");
  }
  return o;
}

std::vector<std::string> StringArray(Napi::Env env, Napi::Value v);

// slots: [{max, reserve, queueTimeoutMs}], by group (optional; at most n).
std::vector<SlotLimits> ParseSlots(Napi::Value v, int n) {
  std::vector<SlotLimits> out;
  if (!v.IsArray()) return out;
  auto field = [](Napi::Object x, const char* k, int def) {
    return x.Get(k).IsNumber() ? x.Get(k).As<Napi::Number>().Int32Value() : def;
  };
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length() && i < static_cast<uint32_t>(n); i++) {
    SlotLimits l;
    if (a.Get(i).IsObject()) {
      auto x = a.Get(i).As<Napi::Object>();
      l.max = std::max(0, field(x, "max", 0));
      l.reserve = std::max(0, field(x, "reserve", 0));
      l.queue_timeout_ms = std::max(0, field(x, "queueTimeoutMs", l.queue_timeout_ms));
    }
    out.push_back(l);
  }
  return out;
}

// pidsMax: [{max, files} | null], by group (optional; at most n).
std::vector<PidsLimit> ParsePidsMax(Napi::Env env, Napi::Value v, int n) {
  std::vector<PidsLimit> out;
  if (!v.IsArray()) return out;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length() && i < static_cast<uint32_t>(n); i++) {
    PidsLimit l;
    if (a.Get(i).IsObject()) {
      auto x = a.Get(i).As<Napi::Object>();
      if (x.Get("max").IsNumber()) l.max = static_cast<long long>(x.Get("max").As<Napi::Number>().Int64Value());
      if (x.Get("files").IsArray()) l.files = StringArray(env, x.Get("files"));
    }
    out.push_back(std::move(l));
  }
  return out;
}

class Loop : public Napi::ObjectWrap<Loop> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Loop",
                       {InstanceMethod("start", &Loop::Start), InstanceMethod("stop", &Loop::Stop),
                        InstanceMethod("addProcess", &Loop::AddProcess), InstanceMethod("respond", &Loop::Respond),
                        InstanceMethod("stats", &Loop::Stats), InstanceMethod("fdTables", &Loop::FdTablesJs),
                        InstanceMethod("reconfigure", &Loop::Reconfigure)});
  }

  // new Loop(listenerFd, {verdictTimeoutMs, firstByteTimeoutMs, peekBytes, peek, classifyAt,
  //          vhostTable, groups, serverGroup, defaultGroup, maxHeld, classifyEach, openGroups}, onEvent)
  Loop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Loop>(info) {
    Napi::Env env = info.Env();
    int listener = IntArg(info, 0);
    if (info.Length() < 3 || !info[1].IsObject() || !info[2].IsFunction())
      throw Napi::TypeError::New(env, "new Loop(listenerFd, options, onEvent)");
    auto o = info[1].As<Napi::Object>();
    LoopOptions opts;
    auto num = [&](const char* k, int def) {
      return o.Has(k) && o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().Int32Value() : def;
    };
    opts.verdict_timeout_ms = num("verdictTimeoutMs", opts.verdict_timeout_ms);
    opts.first_byte_timeout_ms = num("firstByteTimeoutMs", opts.first_byte_timeout_ms);
    opts.peek_bytes = num("peekBytes", opts.peek_bytes);
    opts.peek = !o.Has("peek") || o.Get("peek").ToBoolean();
    if (o.Get("pendingFd").IsNumber()) opts.pending_fd = o.Get("pendingFd").As<Napi::Number>().Int32Value();
    if (o.Get("syncWakeup").IsBoolean()) opts.sync_wakeup = o.Get("syncWakeup").ToBoolean() ? 1 : 0;
    // openGroups: how many groups' cgroup files each mover (and the pids
    // allowance) keeps open; the least recently used beyond are closed.
    size_t open_groups =
        static_cast<size_t>(std::max(1, num("openGroups", static_cast<int>(OpenFiles::kDefaultMaxGroups))));
    std::unique_ptr<VhostTable> table;
    std::unique_ptr<CgroupMover> mover;
    if (o.Has("classifyAt") && o.Get("classifyAt").ToString().Utf8Value() == "accept") {
      opts.classify_at = ClassifyAt::Accept;
      opts.accept.first_byte_timeout_ms = opts.first_byte_timeout_ms;
      opts.accept.peek_bytes = opts.peek_bytes;
      opts.accept.max_held = num("maxHeld", opts.accept.max_held);
      opts.accept.server_group = num("serverGroup", -1);
      opts.accept.default_group = num("defaultGroup", -1);
      if (!o.Get("vhostTable").IsObject() || !o.Get("groups").IsArray())
        throw Napi::TypeError::New(env, "classifyAt accept needs vhostTable and groups");
      table = std::make_unique<VhostTable>(ParseVhostTableSpec(env, o.Get("vhostTable")));
      std::vector<std::vector<std::string>> procs;
      auto groups = o.Get("groups").As<Napi::Array>();
      for (uint32_t i = 0; i < groups.Length(); i++) procs.push_back(StringArray(env, groups.Get(i)));
      int n = static_cast<int>(procs.size());
      if (opts.accept.server_group < 0 || opts.accept.server_group >= n || opts.accept.default_group < 0 ||
          opts.accept.default_group >= n)
        throw Napi::RangeError::New(env, "serverGroup and defaultGroup must index groups");
      opts.accept.slots = ParseSlots(o.Get("slots"), n);
      opts.accept.pids = ParsePidsMax(env, o.Get("pidsMax"), n);
      opts.accept.open_groups = open_groups;
      mover = std::make_unique<CgroupMover>(std::move(procs), open_groups);
    } else if (o.Get("vhostTable").IsObject()) {
      // read mode: the listener rules say which first reads are worth waiting for
      table = std::make_unique<VhostTable>(ParseVhostTableSpec(env, o.Get("vhostTable")));
    }
    // classifyEach: request: a table and mover of the loop's own (at accept
    // the acceptor owns the first ones).
    std::unique_ptr<VhostTable> req_table;
    std::unique_ptr<CgroupMover> req_mover;
    if (o.Has("classifyEach") && o.Get("classifyEach").ToString().Utf8Value() == "request") {
      if (!o.Get("vhostTable").IsObject() || !o.Get("groups").IsArray())
        throw Napi::TypeError::New(env, "classifyEach request needs vhostTable and groups");
      opts.each_request = true;
      req_table = std::make_unique<VhostTable>(ParseVhostTableSpec(env, o.Get("vhostTable")));
      std::vector<std::vector<std::string>> procs;
      auto groups = o.Get("groups").As<Napi::Array>();
      for (uint32_t i = 0; i < groups.Length(); i++) procs.push_back(StringArray(env, groups.Get(i)));
      opts.accept.default_group = num("defaultGroup", -1);
      if (opts.accept.default_group < 0 || opts.accept.default_group >= static_cast<int>(procs.size()))
        throw Napi::RangeError::New(env, "defaultGroup must index groups");
      req_mover = std::make_unique<CgroupMover>(std::move(procs), open_groups);
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "vhqos-notify", 0, 1);
    auto tsfn = tsfn_;
    loop_ = std::make_unique<NotifyLoop>(
        listener, opts,
        [tsfn](LoopEvent* ev) mutable {
          bool last = ev->kind == EventKind::Hup || ev->kind == EventKind::Stopped;
          napi_status st = tsfn.NonBlockingCall(ev, [](Napi::Env env, Napi::Function cb, LoopEvent* e) {
            std::unique_ptr<LoopEvent> owned(e);
            if (env == nullptr || cb.IsEmpty()) return;
            try {
              cb.Call({EventToJs(env, *owned)});
            } catch (const Napi::Error& e) {
              // Policy catches its own errors; one that escapes is a bug: it goes to
              // process' uncaughtException handling instead of vanishing (the
              // verdict timeout still keeps the target safe).
              napi_fatal_exception(env, e.Value());
            }
          });
          if (st != napi_ok) delete ev;
          if (last) tsfn.Release();
        },
        std::move(table), std::move(mover));
    if (opts.each_request) loop_->set_request_classifier(std::move(req_table), std::move(req_mover));
  }

  ~Loop() override {
    if (loop_) loop_->stop();
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    const char* failed = "start";
    int rc = loop_->start(&failed);
    if (rc < 0) ThrowSys(info.Env(), rc, failed);
    return info.Env().Undefined();
  }
  // reconfigure({vhostTable, vhostGroups: number[], newGroups: string[][], slots, pidsMax, removedGroups: number[]})
  Napi::Value Reconfigure(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "reconfigure(options)");
    auto o = info[0].As<Napi::Object>();
    if (!o.Get("vhostTable").IsObject()) throw Napi::TypeError::New(env, "reconfigure needs vhostTable");
    Reconfig r;
    r.table = std::make_unique<VhostTable>(ParseVhostTableSpec(env, o.Get("vhostTable")));
    r.request_table = std::make_unique<VhostTable>(ParseVhostTableSpec(env, o.Get("vhostTable")));
    auto ints = [&](const char* k) {
      std::vector<int> out;
      if (!o.Get(k).IsArray()) return out;
      auto a = o.Get(k).As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToNumber().Int32Value());
      return out;
    };
    r.group_of_vhost = ints("vhostGroups");
    r.removed = ints("removedGroups");
    if (o.Get("newGroups").IsArray()) {
      auto a = o.Get("newGroups").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) r.new_groups.push_back(StringArray(env, a.Get(i)));
    }
    constexpr int kAll = 1 << 30;
    r.slots = ParseSlots(o.Get("slots"), kAll);
    r.pids = ParsePidsMax(env, o.Get("pidsMax"), kAll);
    int rc = loop_->reconfigure(std::move(r));
    if (rc < 0) ThrowSys(env, rc, "reconfigure");
    return env.Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    loop_->stop();
    return info.Env().Undefined();
  }
  Napi::Value AddProcess(const Napi::CallbackInfo& info) {
    int group = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
    bool tenant = info.Length() > 2 && info[2].ToBoolean();
    int rc = loop_->add_process(IntArg(info, 0), group, tenant);
    if (rc < 0) ThrowSys(info.Env(), rc, "pidfd_open");
    return info.Env().Undefined();
  }
  Napi::Value Respond(const Napi::CallbackInfo& info) {
    // respond(id, {kind: 'continue' | 'quiet' | 'peekAgain' | 'fail', retryMs?, errno?})
    uint64_t id = IdArg(info, 0);
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "respond(id, verdict)");
    auto o = info[1].As<Napi::Object>();
    std::string kind = o.Get("kind").ToString().Utf8Value();
    Verdict v;
    if (kind == "continue")
      v.kind = Verdict::Kind::Continue;
    else if (kind == "quiet")
      v.kind = Verdict::Kind::ContinueQuiet;
    else if (kind == "peekAgain")
      v.kind = Verdict::Kind::PeekAgain;
    else if (kind == "fail")
      v.kind = Verdict::Kind::Fail;
    else
      throw Napi::TypeError::New(info.Env(), "verdict kind must be continue, quiet, peekAgain or fail");
    if (o.Get("retryMs").IsNumber()) v.retry_ms = o.Get("retryMs").As<Napi::Number>().Int32Value();
    if (o.Get("errno").IsNumber()) v.error = std::abs(o.Get("errno").As<Napi::Number>().Int32Value());
    if (o.Get("group").IsNumber()) v.group = o.Get("group").As<Napi::Number>().Int32Value();
    if (v.kind == Verdict::Kind::Fail && v.error == 0) throw Napi::RangeError::New(info.Env(), "fail needs errno");
    return Napi::Boolean::New(info.Env(), loop_->respond(id, v));
  }
  // fdTables() -> {readFlags: [{pid, fd, group, inode}], fdCopies: [{pid, fd, newFd, syscall}]}
  Napi::Value FdTablesJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FdTables t = loop_->fd_tables();
    auto flags = Napi::Array::New(env, t.read_flags.size());
    for (size_t i = 0; i < t.read_flags.size(); i++) {
      auto o = Napi::Object::New(env);
      o.Set("pid", t.read_flags[i].pid);
      o.Set("fd", t.read_flags[i].fd);
      o.Set("group", t.read_flags[i].group);
      o.Set("inode", Napi::Number::New(env, static_cast<double>(t.read_flags[i].inode)));
      flags.Set(i, o);
    }
    auto copies = Napi::Array::New(env, t.copies.size());
    for (size_t i = 0; i < t.copies.size(); i++) {
      auto o = Napi::Object::New(env);
      o.Set("pid", t.copies[i].pid);
      o.Set("fd", t.copies[i].fd);
      o.Set("newFd", t.copies[i].new_fd);
      o.Set("syscall", t.copies[i].syscall);
      copies.Set(i, o);
    }
    auto r = Napi::Object::New(env);
    r.Set("readFlags", flags);
    r.Set("fdCopies", copies);
    return r;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    LoopStats s = loop_->stats();
    auto o = Napi::Object::New(info.Env());
    o.Set("notifications", static_cast<double>(s.notifications));
    o.Set("fast", static_cast<double>(s.fast));
    o.Set("quietInspections", static_cast<double>(s.quiet_inspections));
    o.Set("events", static_cast<double>(s.events));
    o.Set("verdicts", static_cast<double>(s.verdicts));
    o.Set("timeouts", static_cast<double>(s.timeouts));
    o.Set("parked", static_cast<double>(s.parked));
    o.Set("sendErrors", static_cast<double>(s.send_errors));
    o.Set("running", loop_->running());
    const AcceptStats& a = s.accept;
    auto x = Napi::Object::New(info.Env());
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    x.Set("accepts", d(a.accepts));
    x.Set("handovers", d(a.handovers));
    x.Set("moves", d(a.moves));
    x.Set("moveErrors", d(a.move_errors));
    x.Set("noMoveNeeded", d(a.noop_moves_skipped));
    x.Set("held", d(a.held));
    x.Set("heldNow", d(a.held_now));
    x.Set("heldTimeouts", d(a.held_timeouts));
    x.Set("dropped", d(a.dropped));
    x.Set("interrupted", d(a.interrupted));
    x.Set("wakeups", d(a.wakeups));
    x.Set("eagain", d(a.eagain));
    x.Set("notListener", d(a.not_listener));
    x.Set("tenantAccepts", d(a.tenant_accepts));
    x.Set("listeners", d(a.listeners));
    x.Set("parkedNow", d(a.parked_now));
    x.Set("waitingNow", d(a.waiting_now));
    auto lat = [&](const LatencySummary& l) {
      auto y = Napi::Object::New(info.Env());
      y.Set("count", d(l.count));
      y.Set("p50", l.p50);
      y.Set("p90", l.p90);
      y.Set("p99", l.p99);
      y.Set("max", l.max);
      return y;
    };
    x.Set("reported", d(a.reported));
    x.Set("unreported", d(a.unreported));
    auto arr = [&](const std::vector<uint64_t>& v) {
      auto y = Napi::Array::New(info.Env(), v.size());
      for (size_t i = 0; i < v.size(); i++) y.Set(i, d(v[i]));
      return y;
    };
    x.Set("groupConnections", arr(a.group_connections));
    x.Set("groupMoves", arr(a.group_moves));
    x.Set("groupServing", arr(a.group_serving));
    x.Set("groupQueuedNow", arr(a.group_queued_now));
    x.Set("groupQueued", arr(a.group_queued));
    x.Set("groupRefused", arr(a.group_refused));
    x.Set("groupIdle", arr(a.group_idle));
    x.Set("slotChecks", d(a.slot_checks));
    x.Set("parkedPeak", d(a.parked_peak));
    x.Set("pidsWrites", d(a.pids_writes));
    x.Set("handoverUs", lat(a.handover_us));
    x.Set("handoverMovedUs", lat(a.handover_moved_us));
    o.Set("accept", x);
    const PerRequestStats& q = s.per_request;
    auto y = Napi::Object::New(info.Env());
    y.Set("inspected", d(q.inspected));
    y.Set("requests", d(q.requests));
    y.Set("reclassified", d(q.reclassified));
    y.Set("moves", d(q.moves));
    y.Set("moveErrors", d(q.move_errors));
    y.Set("incomplete", d(q.incomplete));
    y.Set("unwatched", d(q.unwatched));
    y.Set("groupMoves", arr(q.group_moves));
    o.Set("perRequest", y);
    return o;
  }

  std::unique_ptr<NotifyLoop> loop_;
  Napi::ThreadSafeFunction tsfn_;
};

std::vector<std::string> StringArray(Napi::Env env, Napi::Value v) {
  std::vector<std::string> out;
  if (!v.IsArray()) throw Napi::TypeError::New(env, "expected an array of strings");
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

// spawn({file, argv, env, cwd?, stdio?: [fd|null x3], newProcessGroup?})
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "spawn(options)");
  auto o = info[0].As<Napi::Object>();
  SpawnRequest req;
  req.file = o.Get("file").ToString().Utf8Value();
  req.argv = StringArray(env, o.Get("argv"));
  req.envp = StringArray(env, o.Get("env"));
  if (o.Has("cwd") && o.Get("cwd").IsString()) req.cwd = o.Get("cwd").ToString().Utf8Value();
  if (o.Has("stdio") && o.Get("stdio").IsArray()) {
    auto s = o.Get("stdio").As<Napi::Array>();
    for (uint32_t i = 0; i < 3 && i < s.Length(); i++)
      if (s.Get(i).IsNumber()) req.stdio[i] = s.Get(i).As<Napi::Number>().Int32Value();
  }
  if (o.Has("newProcessGroup")) req.new_process_group = o.Get("newProcessGroup").ToBoolean();
  if (o.Has("traps") && o.Get("traps").ToString().Utf8Value() == "accept") req.traps = TrapSet::Accept;
  if (o.Has("traps") && o.Get("traps").ToString().Utf8Value() == "accept-requests") req.traps = TrapSet::AcceptRequests;
  if (o.Has("traps") && o.Get("traps").ToString().Utf8Value() == "none") req.traps = TrapSet::None;
  SpawnResult res;
  const char* failed = "spawn";
  int rc = spawn_supervised(req, res, &failed);
  if (rc < 0) ThrowSys(env, rc, failed);
  auto r = Napi::Object::New(env);
  r.Set("pid", res.pid);
  r.Set("pidfd", res.pidfd);
  r.Set("listener", res.listener);
  r.Set("syncWakeup", res.sync_wakeup);
  return r;
}

// startKeeper(listenerFd, attachPath?, rootPid?)
Napi::Value StartKeeper(const Napi::CallbackInfo& info) {
  int pipe_fd = -1, pending_fd = -1;
  std::string path = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  pid_t root = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  int pid = start_keeper(IntArg(info, 0), &pipe_fd, &pending_fd, path.c_str(), root);
  if (pid < 0) ThrowSys(info.Env(), pid, "fork");
  auto r = Napi::Object::New(info.Env());
  r.Set("pid", pid);
  r.Set("pipeFd", pipe_fd);
  r.Set("pendingFd", pending_fd);
  return r;
}

// attachKeeper(path) -> {conn, listener, pendingFd, rootPid}: takes the
// listener back from a keeper whose supervisor is gone (keep conn open).
Napi::Value AttachKeeper(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "attachKeeper(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int listener = -1, memfd = -1;
  pid_t root = 0;
  int conn = keeper_attach(path.c_str(), &listener, &memfd, &root);
  if (conn < 0) ThrowSys(info.Env(), conn, "keeper_attach");
  auto r = Napi::Object::New(info.Env());
  r.Set("conn", conn);
  r.Set("listener", listener);
  r.Set("pendingFd", memfd);
  r.Set("rootPid", root);
  return r;
}

// Non-blocking reap of a child by pidfd: null while it runs.
Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(static_cast<idtype_t>(3) /*P_PIDFD*/, IntArg(info, 0), &si, WEXITED | WNOHANG) < 0)
    ThrowSys(info.Env(), -errno, "waitid");
  if (si.si_pid == 0) return info.Env().Null();
  auto r = Napi::Object::New(info.Env());
  if (si.si_code == CLD_EXITED) {
    r.Set("code", si.si_status);
    r.Set("signal", info.Env().Null());
  } else {
    r.Set("code", info.Env().Null());
    r.Set("signal", si.si_status);
  }
  return r;
}

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int rc = sys_pidfd_open(IntArg(info, 0));
  if (rc < 0) ThrowSys(info.Env(), rc, "pidfd_open");
  return Napi::Number::New(info.Env(), rc);
}

Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  int rc = sys_pidfd_getfd(IntArg(info, 0), IntArg(info, 1));
  if (rc < 0) ThrowSys(info.Env(), rc, "pidfd_getfd");
  return Napi::Number::New(info.Env(), rc);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  long rc = syscall(SYS_pidfd_send_signal, IntArg(info, 0), IntArg(info, 1), nullptr, 0);
  if (rc < 0) ThrowSys(info.Env(), -errno, "pidfd_send_signal");
  return info.Env().Undefined();
}

Napi::Value DescribeFd(const Napi::CallbackInfo& info) {
  SocketFacts f;
  int rc = describe_fd(IntArg(info, 0), f);
  if (rc < 0) ThrowSys(info.Env(), rc, "fstat");
  return FactsToJs(info.Env(), f);
}

Napi::Value Peek(const Napi::CallbackInfo& info) {
  std::vector<uint8_t> out;
  ssize_t n = peek_bytes(IntArg(info, 0), out, static_cast<size_t>(IntArg(info, 1)));
  if (n < 0) ThrowSys(info.Env(), static_cast<int>(n), "recv");
  return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
}

Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  std::vector<uint8_t> out;
  int pid = IntArg(info, 0);
  uint64_t addr = IdArg(info, 1);
  int len = IntArg(info, 2);
  if (len < 0 || len > (1 << 20)) throw Napi::RangeError::New(info.Env(), "readMemory: len must be 0..1MiB");
  ssize_t n = read_target_memory(pid, addr, len, out);
  if (n < 0) ThrowSys(info.Env(), static_cast<int>(n), "process_vm_readv");
  return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (close(IntArg(info, 0)) < 0) ThrowSys(info.Env(), -errno, "close");
  return info.Env().Undefined();
}

Napi::Value NotifIdValid(const Napi::CallbackInfo& info) {
  uint64_t id = IdArg(info, 1);
  return Napi::Boolean::New(info.Env(), ioctl(IntArg(info, 0), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0);
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Features f = probe_features();
  auto o = Napi::Object::New(info.Env());
  o.Set("userNotif", f.user_notif);
  o.Set("newListener", f.new_listener);
  o.Set("syncWakeup", f.sync_wakeup);
  o.Set("waitKillableRecv", f.wait_killable_recv);
  o.Set("addfd", f.addfd);
  o.Set("addfdSend", f.addfd_send);
  o.Set("pidfdOpen", f.pidfd_open);
  o.Set("pidfdGetfd", f.pidfd_getfd);
  if (f.listener_errno) {
    const char* n = strerrorname_np(f.listener_errno);
    o.Set("listenerError", n ? n : "EUNKNOWN");
  }
  return o;
}

// unixListen(path, mode, backlog) -> fd
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(info.Env(), "unixListen(path, mode, backlog)");
  int fd = unix_listen(info[0].As<Napi::String>().Utf8Value(), info.Length() > 1 ? IntArg(info, 1) : 0600,
                       info.Length() > 2 ? IntArg(info, 2) : 64);
  if (fd < 0) ThrowSys(info.Env(), fd, "bind");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterErrorClass(env, exports);
  exports.Set("unixListen", Napi::Function::New(env, UnixListen));
  exports.Set("Loop", Loop::Init(env));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("startKeeper", Napi::Function::New(env, StartKeeper));
  exports.Set("attachKeeper", Napi::Function::New(env, AttachKeeper));
  exports.Set("waitExit", Napi::Function::New(env, WaitExit));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("describeFd", Napi::Function::New(env, DescribeFd));
  exports.Set("peek", Napi::Function::New(env, Peek));
  exports.Set("readMemory", Napi::Function::New(env, ReadMemory));
  exports.Set("close", Napi::Function::New(env, CloseFd));
  exports.Set("notifIdValid", Napi::Function::New(env, NotifIdValid));
  exports.Set("probe", Napi::Function::New(env, Probe));
  auto sets = Napi::Object::New(env);
  for (auto [name, set] : {std::pair<const char*, TrapSet>{"read", TrapSet::Read},
                           {"accept", TrapSet::Accept},
                           {"acceptRequests", TrapSet::AcceptRequests}}) {
    TrappedSyscalls t = trapped_syscalls(set);
    auto names = Napi::Array::New(env);
    for (int i = 0; i < t.count; i++) names.Set(i, t.names[i]);
    if (t.fcntl_dup) names.Set(t.count, "fcntl");
    sets.Set(name, names);
  }
  exports.Set("trappedSyscalls", sets);
  RegisterVhostTableBindings(env, exports);
  RegisterPeerCredBindings(env, exports);
  RegisterAgentListener(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vhqos, Init)
