// Test and inspection surface of the native classifier (vhost_table.h).
#pragma once
#include <napi.h>

// exports.VhostTable, exports.parseTlsSni, exports.parseHttpHost.
void RegisterVhostTableBindings(Napi::Env env, Napi::Object exports);
