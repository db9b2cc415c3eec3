// new AgentListener(listenFd, {peerTimeoutMs, maxBytes, maxPeers}, onEvent):
// the listener thread calls onEvent(null, message) or onEvent(error) on the
// JS thread through a thread-safe function. stop() joins the thread.
#include "agent_listener_binding.h"

#include <string.h>
#include <unistd.h>

#include <memory>

#include "agent_listener.h"
#include "js_error.h"

using namespace vhqos;

namespace {

Napi::Object MessageToJs(Napi::Env env, const Received& m, bool timed_out) {
  auto o = Napi::Object::New(env);
  o.Set("connFd", m.conn_fd);
  o.Set("pid", m.pid);
  o.Set("uid", m.uid);
  o.Set("gid", m.gid);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, m.data.data(), m.data.size()));
  o.Set("complete", m.complete);
  o.Set("timedOut", timed_out);
  auto fds = Napi::Array::New(env, m.fds.size());
  for (size_t i = 0; i < m.fds.size(); i++) fds.Set(i, m.fds[i]);
  o.Set("fds", fds);
  return o;
}

// Nobody will read this message (the environment is going away): its fds must not leak.
void Drop(ListenerEvent* ev) {
  if (ev->message) {
    for (int fd : ev->message->fds) close(fd);
    if (ev->message->conn_fd >= 0) close(ev->message->conn_fd);
  }
  delete ev;
}

void CallJs(Napi::Env env, Napi::Function cb, void*, ListenerEvent* ev) {
  if (env == nullptr || cb.IsEmpty()) return Drop(ev);
  std::unique_ptr<ListenerEvent> owned(ev);
  Napi::Value err = env.Null(), msg = env.Null();
  if (owned->message) {
    msg = MessageToJs(env, *owned->message, owned->timed_out);
  } else {
    auto e = SysError(env, owned->error, owned->syscall);
    if (owned->peer_pid) e.Set("peerPid", Napi::Number::New(env, owned->peer_pid));
    err = e.Value();
  }
  try {
    cb.Call({err, msg});
  } catch (const Napi::Error& e) {
    // An exception escaping the handler is a bug: it goes to the process'
    // uncaughtException handling. Left pending here, Node would only print a
    // deprecation warning (DEP0168) and drop it.
    napi_fatal_exception(env, e.Value());
  }
}

using Tsfn = Napi::TypedThreadSafeFunction<void, ListenerEvent, CallJs>;

class AgentListenerWrap : public Napi::ObjectWrap<AgentListenerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "AgentListener",
        {InstanceMethod("stop", &AgentListenerWrap::Stop), InstanceMethod("stats", &AgentListenerWrap::Stats)});
  }

  AgentListenerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AgentListenerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsObject() || !info[2].IsFunction())
      throw Napi::TypeError::New(env, "new AgentListener(listenFd, {peerTimeoutMs, maxBytes, maxPeers}, onEvent)");
    auto o = info[1].As<Napi::Object>();
    AgentListenerOptions opts;
    auto num = [&](const char* k, double def) {
      return o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().DoubleValue() : def;
    };
    opts.peer_timeout_ms = static_cast<int>(num("peerTimeoutMs", opts.peer_timeout_ms));
    double max_bytes = num("maxBytes", static_cast<double>(opts.max_bytes));
    opts.max_bytes = max_bytes > 0 ? static_cast<size_t>(max_bytes) : 0;
    opts.max_peers = static_cast<int>(num("maxPeers", opts.max_peers));
    tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "vhqos-agent-listener", 0, 1);
    Tsfn tsfn = tsfn_;
    listener_ = std::make_unique<AgentListener>(info[0].As<Napi::Number>().Int32Value(), opts,
                                                [tsfn](ListenerEvent* ev) mutable {
                                                  if (tsfn.NonBlockingCall(ev) != napi_ok) Drop(ev);
                                                });
    int rc = listener_->start();
    if (rc < 0) {
      listener_.reset();
      tsfn_.Release();
      throw SysError(env, rc, "epoll_ctl");
    }
    running_ = true;
  }

  ~AgentListenerWrap() override { StopThread(); }

 private:
  void StopThread() {
    if (!running_) return;
    running_ = false;
    listener_->stop();
    // Events already queued still reach onEvent; then the function goes.
    tsfn_.Release();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopThread();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    const AgentListenerStats* s = listener_ ? &listener_->stats() : nullptr;
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    o.Set("running", running_);
    o.Set("peers", s ? s->peers.load() : 0);
    o.Set("accepted", d(s ? s->accepted.load() : 0));
    o.Set("timeouts", d(s ? s->timeouts.load() : 0));
    o.Set("oversized", d(s ? s->oversized.load() : 0));
    o.Set("readErrors", d(s ? s->read_errors.load() : 0));
    o.Set("acceptErrors", d(s ? s->accept_errors.load() : 0));
    return o;
  }

  Tsfn tsfn_;
  std::unique_ptr<AgentListener> listener_;
  bool running_ = false;
};

}  // namespace

void RegisterAgentListener(Napi::Env env, Napi::Object exports) {
  exports.Set("AgentListener", AgentListenerWrap::Init(env));
}
