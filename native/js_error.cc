#include "js_error.h"

#include <cstring>
#include <string>

namespace vhqos {

namespace {

// Per-environment data: the JS class failures are built as.
struct AddonData {
  Napi::FunctionReference syscall_error;
};

// setErrorClass(SyscallError): what every native failure is constructed as.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass(class)");
  info.Env().GetInstanceData<AddonData>()->syscall_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Error SysError(Napi::Env env, int neg_errno, const char* syscall) {
  int e = -neg_errno;
  const char* name = strerrorname_np(e);
  std::string msg = std::string(syscall) + ": " + strerror(e);
  auto facts = Napi::Object::New(env);
  facts.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  facts.Set("errno", Napi::Number::New(env, -e));
  facts.Set("syscall", Napi::String::New(env, syscall));
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data && !data->syscall_error.IsEmpty())
    return Napi::Error(env, data->syscall_error.New({Napi::String::New(env, msg), facts}));
  Napi::Error err = Napi::Error::New(env, msg);
  for (const char* k : {"code", "errno", "syscall"}) err.Set(k, facts.Get(k));
  return err;
}

void ThrowSys(Napi::Env env, int neg_errno, const char* syscall) { throw SysError(env, neg_errno, syscall); }

void RegisterErrorClass(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
}

}  // namespace vhqos
