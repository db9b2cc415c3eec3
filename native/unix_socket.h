// The agent's side of the OCI listenerPath protocol: a unix stream socket on
// which a runtime (runc, crun) sends one JSON document with the seccomp
// listener fd in SCM_RIGHTS. Framing only; what the JSON means is policy.
#pragma once
#include <sys/types.h>
#include <cstdint>
#include <string>
#include <vector>

namespace vhqos {

// socket(AF_UNIX, SOCK_STREAM) bound to `path` (an existing socket file there
// is replaced), listening, CLOEXEC|NONBLOCK, chmod `mode`. fd or -errno.
int unix_listen(const std::string& path, int mode, int backlog);

struct Received {
  int conn_fd = -1;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<uint8_t> data;
  std::vector<int> fds;
  bool complete = false;   // a whole JSON value arrived (EOF or size cap otherwise)
};

// Waits up to timeout_ms for a connection, then reads until one complete JSON
// value has arrived (no need for EOF), the peer closes, max_bytes is reached
// or the time is up; collects every fd sent along. 0, or -errno (-ETIMEDOUT
// when nobody connected in time).
int unix_accept_message(int listen_fd, int timeout_ms, size_t max_bytes, Received& out);

}  // namespace vhqos
