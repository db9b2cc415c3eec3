// JS surface of the agent's listener thread (agent_listener.h).
#pragma once
#include <napi.h>

// exports.AgentListener.
void RegisterAgentListener(Napi::Env env, Napi::Object exports);
