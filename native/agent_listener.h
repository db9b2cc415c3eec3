// The agent's accept loop on a thread of its own. It must not borrow libuv
// pool threads: those serve every fs, dns and crypto call of the process,
// and a peer that connects and sends nothing would hold one for its whole
// time budget. Here one epoll set holds the listening socket, every peer
// still sending its message and an eventfd for stop(); each peer has its own
// deadline, so a slow or silent one delays nobody. A finished message (or a
// peer that failed) goes to `deliver`, which then owns its fds.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "unix_socket.h"

namespace vhqos {

struct AgentListenerOptions {
  int peer_timeout_ms = 5000;   // per peer, from its accept
  size_t max_bytes = 1 << 20;   // a longer message is cut here (complete = false)
  int max_peers = 64;           // peers read at once; the rest wait in the backlog
  int accept_backoff_ms = 200;  // after an accept error such as EMFILE: do not spin
};

// What the thread hands over: a message, or an error (-errno and the syscall).
struct ListenerEvent {
  std::unique_ptr<Received> message;  // null for an error
  int error = 0;
  const char* syscall = "";
  bool timed_out = false;  // the peer's time ran out before its message did
  pid_t peer_pid = 0;      // with an error: who it was (0: an accept error)
};

struct AgentListenerStats {
  std::atomic<uint64_t> accepted{0}, timeouts{0}, oversized{0}, read_errors{0}, accept_errors{0};
  std::atomic<int> peers{0};  // being read now
};

class AgentListener {
 public:
  using Deliver = std::function<void(ListenerEvent*)>;  // called on the listener thread; takes ownership
  AgentListener(int listen_fd, AgentListenerOptions opts, Deliver deliver);
  ~AgentListener();
  AgentListener(const AgentListener&) = delete;
  AgentListener& operator=(const AgentListener&) = delete;

  // Starts the thread. 0 or -errno. The listening fd stays the caller's.
  int start();
  // Wakes the thread and joins it; peers still sending are closed with what
  // they sent. Idempotent. Nothing is delivered after it returns.
  void stop();
  const AgentListenerStats& stats() const { return stats_; }

 private:
  struct Peer {
    MessageReader reader;
    int64_t deadline;
  };
  void run();
  void accept_ready(int64_t now);
  void peer_ready(int fd);
  void finish(int fd, int rc, bool timed_out);
  void expire(int64_t now);
  int timeout_ms(int64_t now) const;
  void watch_listener(bool on);

  int listen_fd_;
  AgentListenerOptions opts_;
  Deliver deliver_;
  int epfd_ = -1, wake_fd_ = -1;
  bool listening_ = false;
  int64_t resume_at_ = 0;  // accept backoff: when to watch the listener again
  std::map<int, std::unique_ptr<Peer>> peers_;
  std::thread thread_;
  AgentListenerStats stats_;
};

}  // namespace vhqos
