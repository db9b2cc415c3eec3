// The agent's side of the OCI listenerPath protocol: a unix stream socket on
// which a runtime (runc, crun) sends one JSON document with the seccomp
// listener fd in SCM_RIGHTS. Framing only; what the JSON means is policy.
// The thread that waits for peers is agent_listener.h.
#pragma once
#include <sys/types.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vhqos {

// socket(AF_UNIX, SOCK_STREAM) bound to `path` (an existing socket file there
// is replaced), listening, CLOEXEC|NONBLOCK, chmod `mode`. fd or -errno.
int unix_listen(const std::string& path, int mode, int backlog);

// One peer's message as it arrives.
struct Received {
  int conn_fd = -1;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<uint8_t> data;
  std::vector<int> fds;
  bool complete = false;  // a whole JSON value arrived (EOF, size cap or timeout otherwise)
};

// Tracks whether the bytes so far hold one complete top-level JSON value
// (the runtimes do not hang up after it, so EOF cannot be the frame).
class JsonFrame {
 public:
  bool feed(const uint8_t* p, size_t n);

 private:
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false, started_ = false;
};

// Reads one message from a non-blocking connection, a bit at a time.
class MessageReader {
 public:
  // Takes `conn_fd` (accepted, non-blocking) and its peer credentials.
  explicit MessageReader(int conn_fd);
  // Reads what is there without blocking; collects every fd sent along.
  // 1: done (a whole JSON value, EOF or max_bytes), 0: wants more, -errno.
  int on_readable(size_t max_bytes);
  Received& message() { return out_; }
  // Closes the connection and every fd received (the message is dropped).
  void discard();

 private:
  Received out_;
  JsonFrame frame_;
};

}  // namespace vhqos
