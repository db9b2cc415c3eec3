// Test and inspection surface of the native classifier (vhost_table.h).
#pragma once
#include <napi.h>

#include "vhost_table.h"

// exports.VhostTable, exports.parseTlsSni, exports.parseHttpHost.
void RegisterVhostTableBindings(Napi::Env env, Napi::Object exports);

// A JS table spec ({vhosts, listeners, defaultListenerMode, peekBytes}); throws a TypeError naming the bad field.
vhqos::TableSpec ParseVhostTableSpec(Napi::Env env, Napi::Value value);
