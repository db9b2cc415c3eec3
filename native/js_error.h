// The one place a -errno becomes a JS error: a SyscallError (src/errors.ts),
// whose class JS hands over at load (setErrorClass); before that, a plain
// Error with the same fields (code, errno < 0, syscall).
#pragma once

#include <napi.h>

namespace vhqos {

// The error itself, for failures delivered rather than thrown (thread-safe function callbacks).
Napi::Error SysError(Napi::Env env, int neg_errno, const char* syscall);

[[noreturn]] void ThrowSys(Napi::Env env, int neg_errno, const char* syscall);

// Registers setErrorClass and the per-environment data ThrowSys reads.
void RegisterErrorClass(Napi::Env env, Napi::Object exports);

}  // namespace vhqos
