// One concept, the dispatcher of classification at accept (listeners, parked
// accepts, held and waiting connections, the move worker, wake-ups): longer
// than the other units because these share one state and one thread model.
#include "acceptor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sys.h"

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

namespace vhqos {

namespace {

int64_t now_us() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Same open file in both processes? (fd numbers can be closed and reused.)
bool same_file(pid_t a, int fa, pid_t b, int fb) { return syscall(SYS_kcmp, a, b, KCMP_FILE, fa, fb) == 0; }

bool is_tcp_listener(int fd, uint64_t* inode, bool* nonblocking) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || (v != AF_INET && v != AF_INET6)) return false;
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) return false;
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v) return false;
  int fl = fcntl(fd, F_GETFL);
  *nonblocking = fl >= 0 && (fl & O_NONBLOCK);
  *inode = st.st_ino;
  return true;
}

// Policy gets at most kBatchMax hand-overs per kBatchMs (the most recent):
// the tables it keeps are bounded anyway, and exact counts are native
// (per group connections and moves), so JS costs nothing per connection.
constexpr size_t kBatchMax = 32;
constexpr int kBatchMs = 20;
constexpr size_t kMaxListenerFdsPerProc = 32;
// How long a connection waits for a process to come back to accept by itself
// (SA_RESTART restarts at once) before vhqos wakes a polling server, and how
// often it tries again.
constexpr int kWakeGraceMs = 30, kWakeRetryMs = 250;
constexpr size_t kMaxWakers = 4;
// Hand-overs in flight at once: each waits for its target to run.
constexpr int kWorkers = 4;
// Connection slots: a process that comes back to accept has its hand-overs
// checked at once; others (fork-after-accept children, keep-alive) are
// checked this often while connections wait for a slot, else every second.
constexpr int kSlotCheckBusyMs = 100, kSlotCheckIdleMs = 1000;
// Idle server processes per group are counted this often (pids.max, status).
constexpr int kIdleMs = 20;

std::vector<SlotLimits> slot_limits(std::vector<SlotLimits> given, int groups) {
  given.resize(static_cast<size_t>(std::max(groups, 0)));
  return given;
}

// An HTTP/1.x request line starts with a method token and a space.
bool looks_like_http(const char* b, ssize_t n) {
  ssize_t i = 0;
  while (i < n && i < 16 && b[i] >= 'A' && b[i] <= 'Z') i++;
  return i >= 3 && i < n && b[i] == ' ';
}

}  // namespace

Acceptor::Acceptor(int notify_fd, int epfd, uint64_t held_tag, uint64_t listener_tag, AcceptOptions opts,
                   std::unique_ptr<VhostTable> table, std::unique_ptr<CgroupMover> mover, AcceptorHost* host,
                   PendingIds* pending)
    : notify_fd_(notify_fd),
      epfd_(epfd),
      held_tag_(held_tag),
      listener_tag_(listener_tag),
      opts_(opts),
      table_(std::move(table)),
      mover_(std::move(mover)),
      host_(host),
      pending_(pending),
      slots_(slot_limits(opts_.slots, mover_->groups())),
      pids_(std::move(opts_.pids), opts_.open_groups) {
  peek_buf_.resize(std::max(opts_.peek_bytes, 1));
  size_t groups = static_cast<size_t>(mover_->groups());
  stats_.group_connections.assign(groups, 0);
  stats_.group_moves.assign(groups, 0);
  for (auto* v : {&stats_.group_serving, &stats_.group_queued_now, &stats_.group_queued, &stats_.group_refused,
                  &stats_.group_idle})
    v->assign(groups, 0);
  over_max_.resize(groups);
  idle_.assign(groups, 0);
  is_queued_group_.assign(groups, 0);
  is_touched_.assign(groups, 0);
  self_ = getpid();
  for (int i = 0; i < kWorkers; i++) workers_.emplace_back([this] { worker(); });
}

Acceptor::~Acceptor() {
  {
    std::lock_guard<std::mutex> g(wmu_);
    wstop_ = true;
  }
  wcv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  for (auto& [seq, c] : held_) close(c.fd);
  for (auto& q : over_max_)
    for (auto& c : q) close(c.fd);
  for (auto& [ino, l] : listeners_) {
    for (auto& c : l.waiting) close(c.fd);
    for (auto& w : l.wakers) close(w.first);
    close(l.fd);
  }
  for (auto& [pid, pl] : proc_listeners_)
    for (int fd : pl.copies) close(fd);
}

// The inode of the TCP listener `fd` names in process tgid, or 0 when it is
// not one vhqos classifies (unix sockets, UDP, files, closed fds).
uint64_t Acceptor::listener_of(pid_t tgid, int fd) {
  auto& pl = proc_listeners_[tgid];
  for (size_t i = 0; i < pl.fds.size(); i++) {
    if (pl.fds[i].first != fd) continue;
    if (same_file(self_, pl.copies[i], tgid, fd)) return pl.fds[i].second;
    close(pl.copies[i]);  // the number now names another file
    pl.fds.erase(pl.fds.begin() + i);
    pl.copies.erase(pl.copies.begin() + i);
    break;
  }
  int pidfd = host_->pidfd_of(tgid);
  if (pidfd < 0) return 0;
  int copy = sys_pidfd_getfd(pidfd, fd);
  if (copy < 0) return 0;
  uint64_t inode = 0;
  bool nonblocking = false;
  if (!is_tcp_listener(copy, &inode, &nonblocking)) inode = 0;
  if (inode && !listeners_.count(inode)) {
    int own = fcntl(copy, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      close(copy);
      return 0;
    }
    Listener l;
    l.inode = inode;
    l.fd = own;
    l.nonblocking = nonblocking;
    l.netns = SockDiag::netns_of(own);
    struct epoll_event e = {};
    e.events = 0;  // armed only while processes are parked on it
    e.data.u64 = listener_tag_ | inode;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, own, &e);
    listeners_.emplace(inode, std::move(l));
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.listeners++;
  }
  if (pl.fds.size() < kMaxListenerFdsPerProc) {
    pl.fds.emplace_back(fd, inode);
    pl.copies.push_back(copy);
  } else {
    close(copy);  // bounded: a process with many listeners costs a getfd per accept, not memory
  }
  return inode;
}

void Acceptor::on_tenant_accept(const struct seccomp_notif& n, pid_t tgid) {
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.tenant_accepts++;
  }
  // Tenant code may accept on its own sockets, unclassified; never on the
  // server's listeners (it would take a connection meant for the server,
  // and could make vhqos' own accept on that listener block).
  int fd = static_cast<int>(n.data.args[0]);
  int pidfd = host_->pidfd_of(tgid);
  int copy = pidfd >= 0 ? sys_pidfd_getfd(pidfd, fd) : -1;
  bool ours = false;
  if (copy >= 0) {
    struct stat st;
    ours = fstat(copy, &st) == 0 && listeners_.count(st.st_ino);
    close(copy);
  }
  host_->reply(n.id, ours ? EAGAIN : 0);
}

void Acceptor::on_accept(const struct seccomp_notif& n, pid_t tgid) {
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.accepts++;
  }
  int fd = static_cast<int>(n.data.args[0]);
  uint64_t inode = listener_of(tgid, fd);
  if (!inode) {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.not_listener++;
    host_->reply(n.id, 0);
    return;
  }
  // A thread has one syscall in flight: an older parked accept of it was interrupted.
  drop_calls_of(n.pid, false);
  Call call{n.id,           static_cast<pid_t>(n.pid),
            tgid,           n.data.args[1],
            n.data.args[2], n.data.nr == __NR_accept4 ? static_cast<int>(n.data.args[3]) : 0};
  call.slot = pending_->add(n.id);
  // Back at accept: the connections it was given may have ended (slots).
  check_slots(tgid);
  Listener& l = listeners_.at(inode);
  l.parked.push_back(call);
  idle_dirty_ = true;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.parked_peak = std::max<uint64_t>(stats_.parked_peak, l.parked.size());
  }
  if (!l.waiting.empty()) {  // a classified connection was waiting for a process
    drain_waiting(l);
  } else if (l.nonblocking) {
    // The server asked not to wait: take what is queued now, or say EAGAIN
    // (never CONTINUE: it would take an unclassified connection itself).
    Conn c;
    c.peer_len = sizeof c.peer;
    c.fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&c.peer), &c.peer_len, SOCK_CLOEXEC);
    if (c.fd < 0) {
      int e = errno;
      settle(l.parked.back());
      l.parked.pop_back();
      {
        std::lock_guard<std::mutex> g(stats_mu_);
        if (e == EAGAIN || e == EWOULDBLOCK) stats_.eagain++;
      }
      host_->reply(n.id, e == EWOULDBLOCK ? EAGAIN : e);
      return;
    }
    c.listener = inode;
    c.designated = call.id;
    if (is_waker(l, c)) {  // our own wake-up connection: nothing for the server
      settle(l.parked.back());
      l.parked.pop_back();
      host_->reply(n.id, EAGAIN);
      return;
    }
    take(l, std::move(c));
  }
  update_arming(listeners_.at(inode));
}

bool Acceptor::is_waker(Listener& l, const Conn& c) {
  if (l.wakers.empty()) return false;
  uint16_t port = c.peer.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&c.peer)->sin6_port)
                                               : ntohs(reinterpret_cast<const sockaddr_in*>(&c.peer)->sin_port);
  for (size_t i = 0; i < l.wakers.size(); i++) {
    if (l.wakers[i].second != port) continue;
    close(l.wakers[i].first);
    l.wakers.erase(l.wakers.begin() + i);
    close(c.fd);
    return true;
  }
  return false;
}

// Connects to the listener from its own network namespace (a container's
// may not be ours: a short-lived thread enters it), so a server waiting in
// poll/select sees it readable and calls accept, which gets a waiting connection.
void Acceptor::wake(Listener& l) {
  if (l.wakers.size() >= kMaxWakers) return;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(l.fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    if (a->sin_addr.s_addr == htonl(INADDR_ANY)) a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)) a->sin6_addr = in6addr_loopback;
  } else {
    return;
  }
  int nsfd = ioctl(l.fd, SIOCGSKNS);
  int fd = -1;
  std::thread t([&] {
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) return;
    fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 && errno != EINPROGRESS) {
      close(fd);
      fd = -1;
    }
  });
  t.join();
  if (nsfd >= 0) close(nsfd);
  if (fd < 0) return;
  sockaddr_storage me{};
  socklen_t mlen = sizeof me;
  getsockname(fd, reinterpret_cast<sockaddr*>(&me), &mlen);
  uint16_t port = me.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&me)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&me)->sin_port);
  l.wakers.emplace_back(fd, port);
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.wakeups++;
}

void Acceptor::forget(Conn& c) {
  drop(c);
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.dropped++;
  }
  release_designated(c);
}

void Acceptor::drop(Conn& c) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  if (c.slot) {
    c.slot = false;
    slots_.give_back(c.group);
    slots_freed({c.group});
  }
}

void Acceptor::release_designated(Conn& c) {
  if (!c.designated) return;
  uint64_t designated = c.designated;
  c.designated = 0;
  auto lit = listeners_.find(c.listener);
  if (lit == listeners_.end()) return;
  auto& p = lit->second.parked;
  for (size_t i = 0; i < p.size(); i++) {
    if (p[i].id != designated) continue;
    uint64_t id = p[i].id;
    settle(p[i]);
    p.erase(p.begin() + i);
    {
      std::lock_guard<std::mutex> g(stats_mu_);
      stats_.eagain++;
    }
    host_->reply(id, EAGAIN);  // as if nothing had been queued
    return;
  }
}

// Accept once per readiness event: the copy shares the server's blocking
// mode, so a second accept with nothing queued would block the loop.
void Acceptor::on_listener_ready(uint64_t inode) {
  auto it = listeners_.find(inode);
  if (it == listeners_.end()) return;
  Listener& l = it->second;
  if (l.parked.empty() || l.nonblocking) {
    update_arming(l);
    return;
  }
  Conn c;
  c.peer_len = sizeof c.peer;
  c.fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&c.peer), &c.peer_len, SOCK_CLOEXEC);
  if (c.fd >= 0) {
    c.listener = inode;
    if (!is_waker(l, c)) take(l, std::move(c));
  }
  update_arming(listeners_.at(inode));
}

void Acceptor::take(Listener& l, Conn&& c) {
  (void)l;
  c.accepted_us = now_us();
  c.local_len = sizeof c.local;
  getsockname(c.fd, reinterpret_cast<sockaddr*>(&c.local), &c.local_len);
  bool names =
      table_->has_names() && table_->mode_for(reinterpret_cast<sockaddr*>(&c.local), c.local_len) == ListenerMode::Name;
  if (!names) {
    classify(c, nullptr, 0);
    dispatch(std::move(c));
    return;
  }
  ssize_t got = recv(c.fd, peek_buf_.data(), peek_buf_.size(), MSG_PEEK | MSG_DONTWAIT);
  if (got > 0) {
    classify(c, peek_buf_.data(), static_cast<size_t>(got));
    if (!c.cls.incomplete) {
      dispatch(std::move(c));
      return;
    }
  } else if (got == 0) {  // the client already left: nothing to serve
    forget(c);
    return;
  }
  hold(std::move(c));
}

void Acceptor::classify(Conn& c, const uint8_t* bytes, size_t n) {
  c.classified_n = n;
  bool names =
      table_->has_names() && table_->mode_for(reinterpret_cast<sockaddr*>(&c.local), c.local_len) == ListenerMode::Name;
  c.cls = table_->classify(reinterpret_cast<sockaddr*>(&c.local), c.local_len, bytes, n, names);
  c.group = c.cls.vhost < 0                                             ? opts_.default_group
            : group_of_vhost_.empty()                                   ? c.cls.vhost
            : static_cast<size_t>(c.cls.vhost) < group_of_vhost_.size() ? group_of_vhost_[c.cls.vhost]
                                                                        : opts_.default_group;
  if (n > 0 && host_->own_connection(c.local, c.peer, c.fd, bytes, n)) {
    c.cls = Classification{};
    c.cls.detail = "the server's own connection";
    c.group = opts_.server_group;
  }
}

// A user-space accept filter: the connection waits here for its first bytes
// (or the rest of a Host / ClientHello), not in a server process.
void Acceptor::hold(Conn&& c) {
  if (static_cast<int>(held_.size()) >= opts_.max_held) {
    if (c.group < 0) classify(c, nullptr, 0);
    dispatch(std::move(c));  // too many held: the server waits for the bytes, as without vhqos
    return;
  }
  uint64_t seq = next_held_++;
  struct epoll_event e = {};
  e.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  e.data.u64 = held_tag_ | seq;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &e) < 0) {
    if (c.group < 0) classify(c, nullptr, 0);
    dispatch(std::move(c));
    return;
  }
  c.held_since_ms = now_ms();
  c.was_held = true;
  held_.emplace(seq, std::move(c));
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.held++;
}

void Acceptor::on_held_event(uint64_t seq, uint32_t events) {
  auto it = held_.find(seq);
  if (it == held_.end()) return;
  Conn& c = it->second;
  ssize_t got = recv(c.fd, peek_buf_.data(), peek_buf_.size(), MSG_PEEK | MSG_DONTWAIT);
  bool closed = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
  if (got < 0 && (errno == EAGAIN || errno == EINTR) && !closed) return;
  if (got > 0) {
    const size_t n = static_cast<size_t>(got);
    if (!closed && !worth_reclassifying(peek_buf_.data(), c.classified_n, n)) return;  // nothing decided yet
    classify(c, peek_buf_.data(), n);
    if (c.cls.incomplete && !closed) return;  // wait for the rest (edge-triggered: next arrival)
  }
  Conn out = std::move(c);
  held_.erase(it);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, out.fd, nullptr);
  if (got <= 0 || out.cls.incomplete) {
    // The client went away (EOF, reset, or closed with a request cut short):
    // forget it now; no server process is ever given it.
    forget(out);
    return;
  }
  dispatch(std::move(out));
}

// Which parked accept gets a connection of `group`: the most recently parked
// process already in that group (no move, warm cache); else one that serves
// nobody yet (_server or unknown); else the one parked longest (its group is
// the least in demand). So each vhost keeps "its" processes and most
// connections need no move.
//
// Reserves: a connection never takes one of the last free processes other
// vhosts' unused reserves keep (SIZE_MAX: it waits for a process).
size_t Acceptor::pick_call(const Listener& l, int group) {
  if (l.parked.size() <= slots_.held_back_for(group)) return SIZE_MAX;
  size_t fresh = SIZE_MAX;
  for (size_t i = l.parked.size(); i-- > 0;) {
    int g = host_->group_of(l.parked[i].tgid);
    if (g == group) return i;
    if (g < 0 || g == opts_.server_group) fresh = i;
  }
  return fresh != SIZE_MAX ? fresh : 0;
}

// Hands the connection to a process parked on its listener (pick_call),
// once its vhost has a free connection slot.
void Acceptor::dispatch(Conn&& c) {
  auto lit = listeners_.find(c.listener);
  if (lit == listeners_.end()) {
    drop(c);
    return;
  }
  if (!c.slot) {
    if (slots_.full(c.group) && !closing_) {
      queue_for_slot(std::move(c));
      return;
    }
    slots_.take(c.group);
    touch(c.group);
    c.slot = true;
  }
  Listener& l = lit->second;
  while (!l.parked.empty()) {
    size_t pick = pick_call(l, c.group);
    if (pick == SIZE_MAX) break;
    Call call = l.parked[pick];
    l.parked.erase(l.parked.begin() + pick);
    idle_dirty_ = true;
    bool move = host_->group_of(call.tgid) != c.group && c.group >= 0;
    if (!closing_) {
      // The hand-over waits for the target to run and install the fd, and a
      // move may wait for an RCU grace period (cgroup v1: ~8 ms when idle):
      // workers do both, several at once, and the loop goes on.
      {
        std::lock_guard<std::mutex> g(wmu_);
        jobs_.push_back(Job{call, std::move(c), move});
        in_flight_++;
      }
      wcv_.notify_one();
      update_arming(l);
      return;
    }
    int r = inject(call, c);  // shutting down: no moves, no workers
    if (r >= 0) {
      handed(call, c, false, now_us(), r);
      update_arming(l);
      return;
    }
    refused(call, r);
  }
  touch(c.group);
  l.waiting.push_back(std::move(c));
  if (!l.wake_at) l.wake_at = now_ms() + kWakeGraceMs;
  update_arming(l);
}

// Connections that have a slot and wait for a process, in arrival order;
// the first that may take a parked process now does (reserves may hold
// back one vhost's and not another's).
void Acceptor::drain_waiting(Listener& l) {
  for (size_t i = 0; i < l.waiting.size() && !l.parked.empty();) {
    if (pick_call(l, l.waiting[i].group) == SIZE_MAX) {
      i++;
      continue;
    }
    Conn c = std::move(l.waiting[i]);
    l.waiting.erase(l.waiting.begin() + static_cast<long>(i));
    touch(c.group);
    size_t before = l.waiting.size();
    dispatch(std::move(c));
    if (l.waiting.size() > before) break;  // it came back: nothing more fits now
  }
}

void Acceptor::queue_for_slot(Conn&& c) {
  release_designated(c);  // a non-blocking accept must not wait seconds for it
  // Bounded like held connections: beyond maxHeldConnections waiting for a
  // slot in all, a connection is refused at once (each one is an fd here).
  size_t queued = 0;
  for (int g : queued_groups_) queued += over_max_[g].size();
  if (queued >= static_cast<size_t>(std::max(opts_.max_held, 1))) {
    refuse(c);
    return;
  }
  c.queued_ms = now_ms();
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.group_queued[c.group]++;
  }
  if (!is_queued_group_[c.group]) {
    is_queued_group_[c.group] = 1;
    queued_groups_.push_back(c.group);
  }
  touch(c.group);
  over_max_[c.group].push_back(std::move(c));
}

// A vhost that stays at its max for queueTimeoutMs: the client gets a
// complete answer (HTTP) instead of a reset, and no server process is used.
void Acceptor::refuse(Conn& c) {
  char buf[4096];
  ssize_t got = recv(c.fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  bool http = got > 0 && looks_like_http(buf, got);
  // Read what the client sent, so closing does not reset the connection
  // before it has read the answer.
  for (int i = 0; i < 16 && recv(c.fd, buf, sizeof buf, MSG_DONTWAIT) > 0; i++) {
  }
  if (http) {
    int retry = std::max(1, (slots_.limits(c.group).queue_timeout_ms + 999) / 1000);
    static const char body[] = "This site is serving as many connections as it may. Please retry shortly.\n";
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     retry, sizeof body - 1, body);
    if (n > 0) send(c.fd, head, static_cast<size_t>(std::min<int>(n, sizeof head - 1)), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  ::shutdown(c.fd, SHUT_WR);
  close(c.fd);
  c.fd = -1;
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.group_refused[c.group]++;
}

void Acceptor::absorb_served() {
  std::vector<Served> in;
  {
    std::lock_guard<std::mutex> bg(batch_mu_);
    in.swap(served_in_);
  }
  for (auto& sv : in) {
    auto lit = listeners_.find(sv.listener);
    // The server closed that listener, or the socket has no cookie: no way
    // to follow the connection, so its slot is free (fail open).
    if (lit == listeners_.end() || !sv.conn.cookie) {
      slots_.give_back(sv.conn.group);
      slots_freed({sv.conn.group});
      continue;
    }
    sv.conn.netns = lit->second.netns;
    slots_.served(sv.pid, sv.conn, lit->second.fd);
  }
}

void Acceptor::check_slots(pid_t tgid) {
  absorb_served();
  std::vector<int> freed;
  slots_.check(tgid, &freed);
  if (!freed.empty()) slots_freed(freed);
}

// Slots came free: the oldest connections waiting for one go on; with
// reserves, connections waiting for a process may now fit too.
void Acceptor::slots_freed(const std::vector<int>& groups) {
  for (int g : groups) {
    touch(g);
    auto& q = over_max_[g];
    while (!q.empty() && !slots_.full(g)) {
      Conn c = std::move(q.front());
      q.pop_front();
      char b;
      if (recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {  // the client gave up meanwhile
        forget(c);
        continue;
      }
      dispatch(std::move(c));
    }
  }
  if (slots_.reserves())
    for (auto& [ino, l] : listeners_) drain_waiting(l);
}

int Acceptor::inject(const Call& call, Conn& c) {
  // vhqos accepted it blocking; the file's status flags are shared with the target.
  bool want_nb = call.flags & SOCK_NONBLOCK;
  if (want_nb != c.nonblocking) {
    int fl = fcntl(c.fd, F_GETFL);
    if (fl >= 0 && fcntl(c.fd, F_SETFL, want_nb ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) == 0) c.nonblocking = want_nb;
  }
  bool read_memory = false;
  if (call.addr && call.addrlen) {
    // accept(2) semantics: write at most *addrlen bytes of the address, and
    // the address's real length back into *addrlen.
    socklen_t room = 0;
    struct iovec l1 = {&room, sizeof room}, r1 = {reinterpret_cast<void*>(call.addrlen), sizeof room};
    read_memory = true;
    if (process_vm_readv(call.tgid, &l1, 1, &r1, 1, 0) == static_cast<ssize_t>(sizeof room)) {
      socklen_t w = std::min(room, c.peer_len);
      struct iovec lv[2] = {{&c.peer, w}, {&c.peer_len, sizeof c.peer_len}};
      struct iovec rv[2] = {{reinterpret_cast<void*>(call.addr), w},
                            {reinterpret_cast<void*>(call.addrlen), sizeof c.peer_len}};
      process_vm_writev(call.tgid, lv, 2, rv, 2, 0);
    }
  }
  // What was read belongs to this notification only if it is still live.
  uint64_t id = call.id;
  if (read_memory && ioctl(notify_fd_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return -ENOENT;
  struct seccomp_notif_addfd a;
  memset(&a, 0, sizeof a);
  a.id = call.id;
  a.flags = SECCOMP_ADDFD_FLAG_SEND;
  a.srcfd = static_cast<__u32>(c.fd);
  a.newfd_flags = (call.flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0;
  int r = ioctl(notify_fd_, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
  return r < 0 ? -errno : r;
}

// The hand-over to `call` failed: ENOENT means the accept is gone
// (interrupted by a signal, or its process exited); any other error leaves
// it pending, and it gets that error, as its own accept would have (EMFILE).
void Acceptor::refused(const Call& call, int r) {
  if (r != -ENOENT) host_->reply(call.id, -r);
  settle(call);
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.interrupted++;
}

void Acceptor::handed(const Call& call, Conn& c, bool moved, int64_t done_us, int fd) {
  settle(call);
  HandOver h;
  h.pid = call.tgid;
  h.group = c.group;
  h.vhost = c.cls.vhost;
  h.by = c.cls.by;
  h.detail = c.cls.detail;
  h.local = c.local;
  h.peer = c.peer;
  struct stat st;
  if (fstat(c.fd, &st) == 0) h.inode = st.st_ino;
  h.moved = moved;
  h.held_ms = c.was_held ? static_cast<uint32_t>(now_ms() - c.held_since_ms) : 0;
  Served sv{call.tgid, c.listener, {}};
  sv.conn.group = c.group;
  sv.conn.local = c.local;
  sv.conn.peer = c.peer;
  sv.conn.cookie = socket_cookie(c.fd);
  sv.conn.since_ms = now_ms();
  close(c.fd);
  c.fd = -1;
  c.slot = false;  // now the slot table's (absorb_served)
  host_->watch_requests(h, fd);
  std::lock_guard<std::mutex> bg(batch_mu_);  // workers and the loop both hand over
  served_in_.push_back(sv);
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.handovers++;
    if (c.group >= 0 && static_cast<size_t>(c.group) < stats_.group_connections.size()) {
      stats_.group_connections[c.group]++;
      if (moved) stats_.group_moves[c.group]++;
    }
    // accept -> hand-over of connections whose bytes were there at once;
    // held ones wait for their client, not for vhqos.
    if (!c.was_held)
      (moved ? lat_moved_ : lat_).record(static_cast<uint64_t>(std::max<int64_t>(0, done_us - c.accepted_us)));
  }
  bool first = batch_.empty();
  if (first) batch_since_ms_ = now_ms();
  if (batch_.size() >= kBatchMax) {  // keep the most recent
    batch_.erase(batch_.begin());
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.unreported++;
  }
  batch_.push_back(std::move(h));
  // A worker filled an empty batch while the loop may sleep without a
  // deadline: wake it, so it flushes within kBatchMs (not at the next event).
  if (first) host_->wake();
}

void Acceptor::flush_batch() {
  std::vector<HandOver> out;
  {
    std::lock_guard<std::mutex> bg(batch_mu_);
    if (batch_.empty()) return;
    out.swap(batch_);
  }
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.reported += out.size();
  }
  host_->report(std::move(out));
}

void Acceptor::update_arming(Listener& l) {
  bool want = !l.nonblocking && !l.parked.empty();
  if (want == l.armed) return;
  struct epoll_event e = {};
  e.events = want ? static_cast<uint32_t>(EPOLLIN) : 0u;
  e.data.u64 = listener_tag_ | l.inode;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, l.fd, &e) == 0) l.armed = want;
}

void Acceptor::drop_calls_of(pid_t id, bool whole_process) {
  idle_dirty_ = true;
  for (auto& [ino, l] : listeners_) {
    auto& p = l.parked;
    p.erase(std::remove_if(p.begin(), p.end(),
                           [&](const Call& c) {
                             bool gone = whole_process ? c.tgid == id : c.tid == id;
                             if (gone) settle(c);
                             return gone;
                           }),
            p.end());
    update_arming(l);
  }
}

void Acceptor::on_process_exit(pid_t tgid) {
  drop_calls_of(tgid, true);
  check_slots(tgid);
  auto it = proc_listeners_.find(tgid);
  if (it == proc_listeners_.end()) return;
  std::vector<uint64_t> inodes;
  for (auto& [fd, ino] : it->second.fds)
    if (ino) inodes.push_back(ino);
  for (int fd : it->second.copies) close(fd);
  proc_listeners_.erase(it);
  // vhqos' copy must not keep a listener alive (and its port bound) once no
  // supervised process has it: a restarted server could not bind it again.
  for (uint64_t ino : inodes) {
    bool used = false;
    for (auto& [pid, pl] : proc_listeners_)
      for (auto& [fd, other] : pl.fds) used = used || other == ino;
    if (!used) release_listener(ino);
  }
}

void Acceptor::release_listener(uint64_t inode) {
  auto lit = listeners_.find(inode);
  if (lit == listeners_.end()) return;
  Listener& l = lit->second;
  for (auto& call : l.parked) {
    host_->reply(call.id, 0);
    settle(call);
  }
  std::deque<Conn> waiting;
  waiting.swap(l.waiting);
  for (auto& w : l.wakers) close(w.first);
  for (auto& q : over_max_)
    for (auto it = q.begin(); it != q.end();) {
      if (it->listener == inode) {
        close(it->fd);
        it = q.erase(it);
      } else {
        ++it;
      }
    }
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.listener == inode) {
      close(it->second.fd);  // closing also leaves the epoll set
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  close(l.fd);
  listeners_.erase(lit);
  for (auto& c : waiting) drop(c);
}

void Acceptor::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> g(wmu_);
      wcv_.wait(g, [this] { return wstop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    int mr = 0;
    if (job.move) {
      mr = mover_->move(job.call.tgid, job.conn.group);
      std::lock_guard<std::mutex> g(stats_mu_);
      if (mr == 0)
        stats_.moves++;
      else if (mr != -ESRCH)
        stats_.move_errors++;  // fail open: served from where it is
    } else {
      std::lock_guard<std::mutex> g(stats_mu_);
      stats_.noop_moves_skipped++;
    }
    if (job.move && mr == 0) host_->set_group(job.call.tgid, job.conn.group);
    int r = mr == -ESRCH ? -ENOENT : inject(job.call, job.conn);
    if (r >= 0) {
      handed(job.call, job.conn, job.move && mr == 0, now_us(), r);
    } else {
      refused(job.call, r);
    }
    bool back = r < 0;
    {
      std::lock_guard<std::mutex> g(wmu_);
      in_flight_--;
      if (back) returned_.push_back(std::move(job.conn));
    }
    if (back) host_->wake();  // the loop places it again
  }
}

void Acceptor::on_wake() {
  std::deque<Conn> back;
  {
    std::lock_guard<std::mutex> g(wmu_);
    back.swap(returned_);
  }
  for (auto& c : back) dispatch(std::move(c));
}

void Acceptor::sweep(int64_t now) {
  std::vector<uint64_t> late;
  for (auto& [seq, c] : held_)
    if (now - c.held_since_ms >= opts_.first_byte_timeout_ms) late.push_back(seq);
  for (uint64_t seq : late) {
    auto it = held_.find(seq);
    Conn c = std::move(it->second);
    held_.erase(it);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
    // Classify with what arrived; the server deals with the slow client as it would without vhqos.
    ssize_t got = recv(c.fd, peek_buf_.data(), peek_buf_.size(), MSG_PEEK | MSG_DONTWAIT);
    classify(c, peek_buf_.data(), got > 0 ? static_cast<size_t>(got) : 0);
    {
      std::lock_guard<std::mutex> g(stats_mu_);
      stats_.held_timeouts++;
    }
    dispatch(std::move(c));
  }
  bool due;
  {
    std::lock_guard<std::mutex> bg(batch_mu_);
    due = !batch_.empty() && now - batch_since_ms_ >= kBatchMs;
  }
  if (due) flush_batch();
  for (auto& [ino, l] : listeners_) {
    if (!l.wake_at || now < l.wake_at) continue;
    if (l.waiting.empty()) {
      l.wake_at = 0;
      continue;
    }
    if (l.parked.empty()) wake(l);
    l.wake_at = now + kWakeRetryMs;
  }
  // Connection slots: waits past queueTimeoutMs are refused; hand-overs
  // whose process has not come back to accept are checked now and then.
  for (size_t i = 0; i < queued_groups_.size();) {
    int g = queued_groups_[i];
    auto& q = over_max_[g];
    while (!q.empty() && now - q.front().queued_ms >= slots_.limits(g).queue_timeout_ms) {
      Conn c = std::move(q.front());
      q.pop_front();
      touch(g);
      refuse(c);
    }
    if (q.empty()) {  // no longer listed
      is_queued_group_[g] = 0;
      queued_groups_[i] = queued_groups_.back();
      queued_groups_.pop_back();
    } else {
      i++;
    }
  }
  if (now >= next_slot_check_ms_) {
    absorb_served();
    bool busy = false;
    for (int g : queued_groups_) busy = busy || !over_max_[g].empty();
    int every = busy ? kSlotCheckBusyMs : kSlotCheckIdleMs;
    std::vector<int> freed;
    slots_.check_all(now, every, &freed);
    if (!freed.empty()) slots_freed(freed);
    next_slot_check_ms_ = now + every;
  }
  count_idle(now);
  publish_gauges();
}

// Idle server processes (parked in accept) per group, for pids.max and status.
void Acceptor::count_idle(int64_t now) {
  if (!idle_dirty_ || now < next_idle_ms_) return;
  idle_dirty_ = false;
  next_idle_ms_ = now + kIdleMs;
  // Only the groups that had or have idle processes can change.
  std::vector<int> before;
  before.swap(idle_groups_);
  std::vector<uint64_t> was;
  for (int g : before) {
    was.push_back(idle_[g]);
    idle_[g] = 0;
  }
  std::vector<pid_t> seen;
  for (auto& [ino, l] : listeners_)
    for (auto& call : l.parked) {
      if (std::find(seen.begin(), seen.end(), call.tgid) != seen.end()) continue;
      seen.push_back(call.tgid);
      int g = host_->group_of(call.tgid);
      if (g >= 0 && static_cast<size_t>(g) < idle_.size() && idle_[g]++ == 0) idle_groups_.push_back(g);
    }
  for (size_t i = 0; i < before.size(); i++)
    if (idle_[before[i]] != was[i]) touch(before[i]);
  for (int g : idle_groups_) touch(g);
  if (pids_.any() && !closing_) {
    if (pids_all_) {
      for (size_t g = 0; g < idle_.size(); g++) pids_.set_idle(static_cast<int>(g), static_cast<int>(idle_[g]));
      pids_all_ = false;
    } else {
      for (int g : before) pids_.set_idle(g, static_cast<int>(idle_[g]));
      for (int g : idle_groups_) pids_.set_idle(g, static_cast<int>(idle_[g]));
    }
  }
}

// Sizes of loop-thread state, copied where stats() (another thread) can read them.
void Acceptor::touch(int g) {
  if (g < 0 || static_cast<size_t>(g) >= is_touched_.size() || is_touched_[g]) return;
  is_touched_[g] = 1;
  touched_.push_back(g);
}

void Acceptor::publish_gauges() {
  size_t parked = 0, waiting = 0;
  for (auto& [ino, l] : listeners_) {
    parked += l.parked.size();
    waiting += l.waiting.size();
  }
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.held_now = held_.size();
  stats_.parked_now = parked;
  stats_.waiting_now = waiting;
  if (!touched_.empty()) {
    // A connection waiting for a process has its slot already, but is not served yet.
    std::unordered_map<int, uint64_t> for_process;
    for (auto& [ino, l] : listeners_)
      for (auto& c : l.waiting)
        if (c.group >= 0) for_process[c.group]++;
    for (int i : touched_) {
      is_touched_[i] = 0;
      if (static_cast<size_t>(i) >= stats_.group_serving.size()) continue;
      auto fp = for_process.find(i);
      uint64_t waiting_for_process = fp == for_process.end() ? 0 : fp->second;
      uint64_t slots = static_cast<uint64_t>(slots_.serving(i));
      stats_.group_serving[i] = slots - std::min(slots, waiting_for_process);
      stats_.group_queued_now[i] = over_max_[i].size() + waiting_for_process;
      stats_.group_idle[i] = idle_[i];
    }
    touched_.clear();
  }
  stats_.pids_writes = pids_.writes();
  stats_.slot_checks = slots_.queries();
}

int Acceptor::next_deadline_ms(int64_t now) const {
  int64_t next = INT64_MAX;
  for (auto& [seq, c] : held_) next = std::min(next, c.held_since_ms + opts_.first_byte_timeout_ms);
  {
    std::lock_guard<std::mutex> bg(batch_mu_);
    if (!batch_.empty()) next = std::min(next, batch_since_ms_ + kBatchMs);
  }
  for (auto& [ino, l] : listeners_)
    if (l.wake_at) next = std::min(next, l.wake_at);
  for (int g : queued_groups_)
    if (!over_max_[g].empty()) {
      next = std::min<int64_t>(next, over_max_[g].front().queued_ms + slots_.limits(g).queue_timeout_ms);
      next = std::min(next, next_slot_check_ms_);
    }
  if (slots_.tracked()) next = std::min(next, next_slot_check_ms_);
  if (idle_dirty_) next = std::min(next, next_idle_ms_);  // the last change gets counted too
  if (next == INT64_MAX) return -1;
  return static_cast<int>(std::max<int64_t>(0, next - now) + 1);
}

void Acceptor::shutdown() {
  closing_ = true;
  {
    std::lock_guard<std::mutex> g(wmu_);
    wstop_ = true;
  }
  wcv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  for (auto& job : jobs_) {  // not started: their processes get CONTINUE below
    listeners_[job.conn.listener].parked.push_back(job.call);
    returned_.push_back(std::move(job.conn));
  }
  jobs_.clear();
  on_wake();
  // Held and waiting connections go to whoever is still parked, unclassified
  // if need be; then every parked accept continues and accepts by itself.
  std::vector<uint64_t> seqs;
  for (auto& [seq, c] : held_) seqs.push_back(seq);
  for (uint64_t seq : seqs) {
    Conn c = std::move(held_[seq]);
    held_.erase(seq);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.group < 0) classify(c, nullptr, 0);
    dispatch(std::move(c));  // closing_: no more moves, handed over where the process is
  }
  for (auto& q : over_max_)  // waiting for a slot: the server takes them as it would without vhqos
    while (!q.empty()) {
      Conn c = std::move(q.front());
      q.pop_front();
      dispatch(std::move(c));
    }
  for (auto& [ino, l] : listeners_) {
    for (auto& c : l.waiting) {
      close(c.fd);
      touch(c.group);
    }
    l.waiting.clear();
    for (auto& call : l.parked) {
      host_->reply(call.id, 0);
      settle(call);
    }
    l.parked.clear();
  }
  flush_batch();
  // Nothing of the server's stays open here (its ports must be free to bind again).
  std::vector<uint64_t> all;
  for (auto& [ino, l] : listeners_) all.push_back(ino);
  for (uint64_t ino : all) release_listener(ino);
  for (auto& [pid, pl] : proc_listeners_)
    for (int fd : pl.copies) close(fd);
  proc_listeners_.clear();
}

void Acceptor::reconfigure(Reconfig& r) {
  table_ = std::move(r.table);
  group_of_vhost_ = r.group_of_vhost;
  if (!r.new_groups.empty()) mover_->add_groups(std::move(r.new_groups));
  size_t groups = static_cast<size_t>(mover_->groups());
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    for (auto* v : {&stats_.group_connections, &stats_.group_moves, &stats_.group_serving, &stats_.group_queued_now,
                    &stats_.group_queued, &stats_.group_refused, &stats_.group_idle})
      v->resize(groups, 0);
  }
  over_max_.resize(groups);
  idle_.resize(groups, 0);
  is_queued_group_.resize(groups, 0);
  is_touched_.resize(groups, 0);
  r.slots.resize(groups);
  slots_.set_limits(std::move(r.slots));
  r.pids.resize(groups);
  pids_.set_limits(std::move(r.pids));
  pids_all_ = true;
  idle_dirty_ = true;
  // A removed vhost's connections that wait for a slot are _default's now.
  for (int g : r.removed) {
    if (g < 0 || static_cast<size_t>(g) >= groups) continue;
    mover_->remove_group(g);
    std::deque<Conn> q;
    q.swap(over_max_[g]);
    for (auto& c : q) {
      c.group = opts_.default_group;
      dispatch(std::move(c));
    }
  }
  std::vector<int> all(groups);
  for (size_t g = 0; g < groups; g++) all[g] = static_cast<int>(g);
  slots_freed(all);  // a raised max lets waiting connections go on now
}

AcceptStats Acceptor::stats() {
  std::lock_guard<std::mutex> g(stats_mu_);
  AcceptStats s = stats_;
  s.handover_us = lat_.summary();
  s.handover_moved_us = lat_moved_.summary();
  return s;
}

}  // namespace vhqos
