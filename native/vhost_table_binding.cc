// JS access to the native classifier, for tests and inspection: the hot
// loop calls VhostTable directly. Bad spec shapes are TypeErrors; the
// classifier itself never fails.
#include "vhost_table_binding.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "own_connection.h"
#include "vhost_table.h"

using namespace vhqos;

namespace {

// Where timeClassify leaves its results, so the timed loop is not optimised away.
volatile size_t g_sink;

[[noreturn]] void Fail(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

std::string Str(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsString()) Fail(env, what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// An integer in [lo, hi].
int Int(Napi::Env env, Napi::Value v, const std::string& what, double lo, double hi) {
  if (!v.IsNumber()) Fail(env, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<long long>(d)))
    Fail(env, what + " must be an integer in " + std::to_string(static_cast<long long>(lo)) + ".." +
                  std::to_string(static_cast<long long>(hi)));
  return static_cast<int>(d);
}

Napi::Array Arr(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) Fail(env, what + " must be an array");
  return v.As<Napi::Array>();
}

Napi::Object Obj(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || v.IsArray()) Fail(env, what + " must be an object");
  return v.As<Napi::Object>();
}

bool Given(Napi::Object o, const char* key) {
  if (!o.Has(key)) return false;
  Napi::Value v = o.Get(key);
  return !v.IsUndefined();
}

ListenerMode Mode(Napi::Env env, Napi::Value v, const std::string& what) {
  std::string m = Str(env, v, what);
  if (m == "name") return ListenerMode::Name;
  if (m == "address") return ListenerMode::Address;
  Fail(env, what + " must be 'name' or 'address'");
}

const char* ModeName(ListenerMode m) { return m == ListenerMode::Name ? "name" : "address"; }

}  // namespace

vhqos::TableSpec ParseVhostTableSpec(Napi::Env env, Napi::Value value) {
  TableSpec spec;
  Napi::Object o = Obj(env, value, "spec");
  Napi::Array vhosts = Arr(env, o.Get("vhosts"), "spec.vhosts");
  for (uint32_t i = 0; i < vhosts.Length(); i++) {
    const std::string where = "spec.vhosts[" + std::to_string(i) + "]";
    Napi::Object v = Obj(env, vhosts.Get(i), where);
    VhostSpec vs;
    vs.name = Str(env, v.Get("name"), where + ".name");
    if (Given(v, "hosts")) {
      Napi::Array hosts = Arr(env, v.Get("hosts"), where + ".hosts");
      for (uint32_t k = 0; k < hosts.Length(); k++)
        vs.hosts.push_back(Str(env, hosts.Get(k), where + ".hosts[" + std::to_string(k) + "]"));
    }
    if (Given(v, "addresses")) {
      Napi::Array addrs = Arr(env, v.Get("addresses"), where + ".addresses");
      for (uint32_t k = 0; k < addrs.Length(); k++) {
        const std::string at = where + ".addresses[" + std::to_string(k) + "]";
        Napi::Object a = Obj(env, addrs.Get(k), at);
        AddrSpec as;
        as.ip = Str(env, a.Get("ip"), at + ".ip");
        if (Given(a, "prefix")) as.prefix = Int(env, a.Get("prefix"), at + ".prefix", 0, 128);
        if (Given(a, "port")) as.port = Int(env, a.Get("port"), at + ".port", 1, 65535);
        vs.addresses.push_back(as);
      }
    }
    spec.vhosts.push_back(std::move(vs));
  }
  if (Given(o, "listeners")) {
    Napi::Array ls = Arr(env, o.Get("listeners"), "spec.listeners");
    for (uint32_t i = 0; i < ls.Length(); i++) {
      const std::string where = "spec.listeners[" + std::to_string(i) + "]";
      Napi::Object l = Obj(env, ls.Get(i), where);
      ListenerRule rule;
      if (Given(l, "ip")) rule.ip = Str(env, l.Get("ip"), where + ".ip");
      rule.port = Int(env, l.Get("port"), where + ".port", 1, 65535);
      rule.mode = Mode(env, l.Get("mode"), where + ".mode");
      spec.listeners.push_back(rule);
    }
  }
  if (Given(o, "defaultListenerMode"))
    spec.default_mode = Mode(env, o.Get("defaultListenerMode"), "spec.defaultListenerMode");
  if (Given(o, "peekBytes")) spec.peek_bytes = Int(env, o.Get("peekBytes"), "spec.peekBytes", 1, 1 << 30);
  std::string problem = spec_error(spec);
  if (!problem.empty()) Fail(env, "spec: " + problem);
  return spec;
}

namespace {

// Bytes of a Uint8Array (or Buffer), without copying.
void Bytes(Napi::Env env, Napi::Value v, const uint8_t** data, size_t* n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    Fail(env, "bytes must be a Uint8Array");
  auto a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *n = a.ElementLength();
}

// The socket address getsockname would report for ip:port; len 0 if ip is no IP.
struct LocalAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const sockaddr* sa() const { return len ? reinterpret_cast<const sockaddr*>(&ss) : nullptr; }
};

LocalAddr Local(Napi::Env env, const Napi::CallbackInfo& info, size_t i) {
  std::string ip = Str(env, info[i], "localIp");
  int port = Int(env, info[i + 1], "localPort", 0, 65535);
  LocalAddr out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof *v6;
  }
  return out;
}

class VhostTableWrap : public Napi::ObjectWrap<VhostTableWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "VhostTable",
        {InstanceMethod("classify", &VhostTableWrap::Classify), InstanceMethod("modeFor", &VhostTableWrap::ModeFor),
         InstanceMethod("timeClassify", &VhostTableWrap::TimeClassify)});
  }

  VhostTableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VhostTableWrap>(info) {
    TableSpec spec = ParseVhostTableSpec(info.Env(), info[0]);
    for (const VhostSpec& v : spec.vhosts) names_.push_back(v.name);
    table_ = std::make_unique<VhostTable>(spec);
  }

 private:
  bool UseNames(const Napi::CallbackInfo& info, size_t i) {
    if (info.Length() <= i || info[i].IsUndefined()) return true;
    if (!info[i].IsBoolean()) Fail(info.Env(), "useNames must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }

  // classify(localIp, localPort, bytes, useNames = true) -> {vhost, by, detail?, incomplete}
  Napi::Value Classify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LocalAddr local = Local(env, info, 0);
    const uint8_t* data;
    size_t n;
    Bytes(env, info[2], &data, &n);
    Classification v = table_->classify(local.sa(), local.len, data, n, UseNames(info, 3));
    auto o = Napi::Object::New(env);
    o.Set("vhost", v.vhost >= 0 ? Napi::Value(Napi::String::New(env, names_[v.vhost])) : env.Null());
    o.Set("by", classified_by_name(v.by));
    if (!v.detail.empty()) o.Set("detail", Napi::String::New(env, v.detail));
    o.Set("incomplete", v.incomplete);
    return o;
  }

  // modeFor(ip, port) -> 'name' | 'address'
  Napi::Value ModeFor(const Napi::CallbackInfo& info) {
    LocalAddr local = Local(info.Env(), info, 0);
    return Napi::String::New(info.Env(), ModeName(table_->mode_for(local.sa(), local.len)));
  }

  // timeClassify(localIp, localPort, bytes, iterations, useNames = true) -> ns per classify,
  // measured in C++ so that the N-API call does not count.
  Napi::Value TimeClassify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LocalAddr local = Local(env, info, 0);
    const uint8_t* data;
    size_t n;
    Bytes(env, info[2], &data, &n);
    int iterations = Int(env, info[3], "iterations", 1, 1e9);
    bool use_names = UseNames(info, 4);
    size_t sink = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; i++) {
      Classification v = table_->classify(local.sa(), local.len, data, n, use_names);
      sink += v.detail.size() + static_cast<size_t>(v.vhost);
    }
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    g_sink = sink;
    return Napi::Number::New(env, ns / iterations);
  }

  std::unique_ptr<VhostTable> table_;
  std::vector<std::string> names_;
};

// parseTlsSni(bytes) / parseHttpHost(bytes) / parseH2Authority(bytes) -> {kind, host?}, kinds as in the TS.
Napi::Value ParseTlsSni(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t n;
  Bytes(env, info[0], &data, &n);
  SniResult r = parse_tls_sni(data, n);
  static const char* const kKinds[] = {"sni", "no-sni", "incomplete", "not-tls"};
  auto o = Napi::Object::New(env);
  o.Set("kind", kKinds[r.kind]);
  if (r.kind == SniResult::Sni) o.Set("host", r.host);
  return o;
}

Napi::Value ParseHttpHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t n;
  Bytes(env, info[0], &data, &n);
  HostResult r = parse_http_host(data, n);
  static const char* const kKinds[] = {"host", "no-host", "incomplete", "not-http"};
  auto o = Napi::Object::New(env);
  o.Set("kind", kKinds[r.kind]);
  if (r.kind == HostResult::Host) o.Set("host", r.host);
  return o;
}

Napi::Value ParseH2Authority(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t n;
  Bytes(env, info[0], &data, &n);
  H2Result r = parse_h2_authority(data, n);
  static const char* const kKinds[] = {"host", "no-host", "incomplete", "not-h2"};
  auto o = Napi::Object::New(env);
  o.Set("kind", kKinds[r.kind]);
  if (r.kind == H2Result::Host) o.Set("host", r.host);
  return o;
}

// ownConnection(localIp, localPort, peerIp, peerPort, bytes, serverPids) -> boolean: read
// mode's check that a connection is the server's own (policy knows which
// processes never served a tenant); sock_diag in vhqos' own network namespace.
Napi::Value OwnConnection(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LocalAddr local = Local(env, info, 0), peer = Local(env, info, 2);
  const uint8_t* data;
  size_t n;
  Bytes(env, info[4], &data, &n);
  Napi::Array pids = Arr(env, info[5], "serverPids");
  std::vector<pid_t> servers;
  for (uint32_t i = 0; i < pids.Length(); i++) servers.push_back(Int(env, pids.Get(i), "serverPids[]", 1, 4194304));
  if (!local.len || !peer.len) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, is_own_connection(local.ss, peer.ss, -1, data, n, servers));
}

}  // namespace

void RegisterVhostTableBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("VhostTable", VhostTableWrap::Init(env));
  exports.Set("parseTlsSni", Napi::Function::New(env, ParseTlsSni));
  exports.Set("parseHttpHost", Napi::Function::New(env, ParseHttpHost));
  exports.Set("parseH2Authority", Napi::Function::New(env, ParseH2Authority));
  exports.Set("ownConnection", Napi::Function::New(env, OwnConnection));
}
