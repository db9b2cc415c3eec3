#include "agent_listener.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <system_error>

#include "sys.h"

namespace vhqos {

AgentListener::AgentListener(int listen_fd, AgentListenerOptions opts, Deliver deliver)
    : listen_fd_(listen_fd), opts_(opts), deliver_(std::move(deliver)) {
  if (opts_.max_peers < 1) opts_.max_peers = 1;
  if (opts_.peer_timeout_ms < 0) opts_.peer_timeout_ms = 0;
}

AgentListener::~AgentListener() {
  stop();
  if (epfd_ >= 0) close(epfd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

int AgentListener::start() {
  if (thread_.joinable() || epfd_ >= 0) return -EALREADY;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return -errno;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return -errno;
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) return -errno;
  ev.data.fd = listen_fd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) return -errno;
  listening_ = true;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return -e.code().value();
  }
  return 0;
}

void AgentListener::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void AgentListener::watch_listener(bool on) {
  if (on == listening_) return;
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (epoll_ctl(epfd_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd_, &ev) == 0) listening_ = on;
}

int AgentListener::timeout_ms(int64_t now) const {
  int64_t next = -1;
  for (const auto& [fd, p] : peers_) next = next < 0 || p->deadline < next ? p->deadline : next;
  if (resume_at_ > 0 && (next < 0 || resume_at_ < next)) next = resume_at_;
  if (next < 0) return -1;
  return next <= now ? 0 : static_cast<int>(next - now);
}

void AgentListener::run() {
  struct epoll_event evs[32];
  for (;;) {
    int n = epoll_wait(epfd_, evs, 32, timeout_ms(now_ms()));
    if (n < 0 && errno != EINTR) break;  // cannot happen with a valid epfd; leave rather than spin
    bool stopping = false;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == wake_fd_)
        stopping = true;
      else if (fd == listen_fd_)
        accept_ready(now_ms());
      else
        peer_ready(fd);
    }
    if (stopping) break;
    int64_t now = now_ms();
    expire(now);
    if (resume_at_ > 0 && now >= resume_at_) resume_at_ = 0;
    watch_listener(resume_at_ == 0 && static_cast<int>(peers_.size()) < opts_.max_peers);
  }
  for (auto& [fd, p] : peers_) p->reader.discard();
  peers_.clear();
  stats_.peers = 0;
}

void AgentListener::accept_ready(int64_t now) {
  while (static_cast<int>(peers_.size()) < opts_.max_peers) {
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      stats_.accept_errors++;
      auto* ev = new ListenerEvent();
      ev->error = -errno;
      ev->syscall = "accept";
      resume_at_ = now + opts_.accept_backoff_ms;
      watch_listener(false);
      deliver_(ev);
      return;
    }
    stats_.accepted++;
    auto peer = std::unique_ptr<Peer>(new Peer{MessageReader(conn), now + opts_.peer_timeout_ms});
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = conn;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, conn, &ev) < 0) {
      peer->reader.discard();
      continue;
    }
    peers_[conn] = std::move(peer);
    stats_.peers = static_cast<int>(peers_.size());
    peer_ready(conn);  // the message may be there already
  }
}

void AgentListener::peer_ready(int fd) {
  auto it = peers_.find(fd);
  if (it == peers_.end()) return;
  int rc = it->second->reader.on_readable(opts_.max_bytes);
  if (rc != 0) finish(fd, rc, false);
}

void AgentListener::expire(int64_t now) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    int fd = it->first;
    bool late = it->second->deadline <= now;
    ++it;  // finish() erases fd
    if (late) finish(fd, 1, true);
  }
}

void AgentListener::finish(int fd, int rc, bool timed_out) {
  auto it = peers_.find(fd);
  std::unique_ptr<Peer> peer = std::move(it->second);
  peers_.erase(it);
  stats_.peers = static_cast<int>(peers_.size());
  // Out of the set before anyone else may close (and reuse) the fd number.
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  auto* ev = new ListenerEvent();
  if (rc < 0) {
    stats_.read_errors++;
    ev->peer_pid = peer->reader.message().pid;
    peer->reader.discard();
    ev->error = rc;
    ev->syscall = "recvmsg";
  } else {
    Received& r = peer->reader.message();
    if (timed_out)
      stats_.timeouts++;
    else if (!r.complete && r.data.size() >= opts_.max_bytes)
      stats_.oversized++;
    ev->timed_out = timed_out;
    ev->message = std::make_unique<Received>(std::move(r));
  }
  deliver_(ev);
}

}  // namespace vhqos
