// The notification loop's thread: receive, answer on the fast path or hand to
// policy, and the read-mode handlers. Over 400 lines because the receive path
// and the per-syscall handlers share the loop's state and must stay readable
// as one sequence (the accept-mode dispatcher lives in acceptor.cc).
#include "notify_loop.h"

#include <linux/audit.h>
#include <sched.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>

#include "loop_internal.h"
#include "sys.h"

#if defined(__x86_64__)
#define VHQOS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define VHQOS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

namespace vhqos {

using namespace loop_internal;

NotifyLoop::NotifyLoop(int listener, LoopOptions opts, Sink sink, std::unique_ptr<VhostTable> table,
                       std::unique_ptr<CgroupMover> mover)
    : listener_(listener), opts_(opts), sink_(std::move(sink)), table_(std::move(table)), mover_(std::move(mover)) {}

NotifyLoop::~NotifyLoop() {
  stop();
  stop_request_worker();
  acceptor_.reset();
  for (auto& [tgid, p] : procs_) close(p.pidfd);
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
}

int NotifyLoop::start(const char** failed) {
  auto fail = [&](const char* call, int rc) {
    *failed = call;
    return rc;
  };
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return fail("epoll_create1", -errno);
  evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd_ < 0) return fail("eventfd", -errno);
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.u64 = kTagListener;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listener_, &e) < 0) return fail("epoll_ctl", -errno);
  e.data.u64 = kTagEvent;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &e) < 0) return fail("epoll_ctl", -errno);
  if (opts_.sync_wakeup >= 0) {
    // Off at accept: a hand-over would run the woken server process on the
    // loop's CPU, stacking the whole server on one CPU behind the loop.
    __u64 flags = opts_.sync_wakeup ? SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP : 0;
    ioctl(listener_, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags);
  }
  if (opts_.pending_fd >= 0) pending_ids_.attach(opts_.pending_fd);
  if (opts_.classify_at == ClassifyAt::Accept) {
    if (!table_ || !mover_) return fail("classifyAt accept without a vhost table", -EINVAL);
    acceptor_ = std::make_unique<Acceptor>(listener_, epfd_, kTagHeld, kTagServerListener, opts_.accept,
                                           std::move(table_), std::move(mover_), this, &pending_ids_);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [tgid, p] : procs_) {
      e.data.u64 = kTagPidfd | static_cast<uint32_t>(tgid);
      epoll_ctl(epfd_, EPOLL_CTL_ADD, p.pidfd, &e);
    }
  }
  if (opts_.each_request && req_table_ && req_mover_) req_thread_ = std::thread([this] { request_worker(); });
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return 0;
}

void NotifyLoop::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  if (write(evfd_, &one, sizeof one) < 0) {
  }
  thread_.join();
}

// A read-mode notification that waits here (first bytes, a verdict) is listed
// in the keeper's table until it is answered: if vhqos is killed, the keeper
// answers it. (Parked accepts are listed by the acceptor.)
void NotifyLoop::hold_id(uint64_t id) {
  std::lock_guard<std::mutex> g(slots_mu_);
  if (held_slots_.count(id)) return;
  int slot = pending_ids_.add(id);
  if (slot >= 0) held_slots_[id] = slot;
}

void NotifyLoop::release_id(uint64_t id) {
  std::lock_guard<std::mutex> g(slots_mu_);
  if (held_slots_.empty()) return;
  auto it = held_slots_.find(id);
  if (it == held_slots_.end()) return;
  pending_ids_.remove(it->second);
  held_slots_.erase(it);
}

int NotifyLoop::send_continue(uint64_t id) {
  release_id(id);
  struct seccomp_notif_resp r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0) {
    // ENOENT: the target was killed or the syscall interrupted meanwhile.
    std::lock_guard<std::mutex> g(mu_);
    stats_.send_errors++;
    return -errno;
  }
  return 0;
}

int NotifyLoop::send_error(uint64_t id, int error) {
  release_id(id);
  struct seccomp_notif_resp r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.error = -error;
  if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0) {
    std::lock_guard<std::mutex> g(mu_);
    stats_.send_errors++;
    return -errno;
  }
  return 0;
}

int NotifyLoop::pidfd_of(pid_t tgid) {
  std::lock_guard<std::mutex> g(mu_);
  auto p = procs_.find(tgid);
  return p == procs_.end() ? -1 : p->second.pidfd;
}

int NotifyLoop::group_of(pid_t tgid) {
  std::lock_guard<std::mutex> g(mu_);
  auto p = procs_.find(tgid);
  return p == procs_.end() ? -1 : p->second.group;
}

void NotifyLoop::set_group(pid_t tgid, int group) {
  std::lock_guard<std::mutex> g(mu_);
  auto p = procs_.find(tgid);
  if (p != procs_.end()) p->second.group = group;
}

void NotifyLoop::reply(uint64_t id, int error) {
  if (error)
    send_error(id, error);
  else
    send_continue(id);
}

void NotifyLoop::wake() {
  uint64_t one = 1;
  if (write(evfd_, &one, sizeof one) < 0) {
  }
}

void NotifyLoop::report(std::vector<HandOver>&& batch) {
  auto* ev = new LoopEvent(EventKind::HandOvers);
  ev->handovers = std::move(batch);
  post(ev);
}

void NotifyLoop::post(LoopEvent* ev) {
  {
    std::lock_guard<std::mutex> g(mu_);
    stats_.events++;
  }
  sink_(ev);
}

bool NotifyLoop::respond(uint64_t id, const Verdict& v) {
  bool direct = false;
  bool quiet = v.kind == Verdict::Kind::ContinueQuiet;
  int retry_ms = v.kind == Verdict::Kind::PeekAgain ? std::max(v.retry_ms, 1) : 0;
  int error = v.kind == Verdict::Kind::Fail ? v.error : 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    Pending p = it->second;
    pending_.erase(it);
    if (retry_ms > 0 && p.is_read && running_) {
      // Policy wants more of the request (a Host or ClientHello cut short):
      // the loop peeks again after retry_ms; the target keeps waiting.
      to_retry_.emplace_back(p.read, retry_ms);
      uint64_t one = 1;
      if (write(evfd_, &one, sizeof one) < 0) {
      }
      return true;
    }
    stats_.verdicts++;
    if (quiet && p.fd >= 0) {
      auto proc = procs_.find(p.tgid);
      if (proc != procs_.end()) {
        FdState& f = proc->second.fds[p.fd];
        f.flags = kQuiet | kTracked;
        f.group = v.group;
        f.inode = p.is_read ? p.read.facts.inode : 0;
        if (v.group >= 0 && p.is_read) {
          // Policy placed the process in v.group for this connection.
          proc->second.group = v.group;
          if (opts_.each_request && req_table_ && req_mover_) f.flags |= kPerRequest;
        }
      }
    }
    if (running_)
      to_send_.emplace_back(id, error);
    else
      direct = true;
  }
  if (direct) {  // no loop thread to hand it to
    reply(id, error);
    return true;
  }
  uint64_t one = 1;
  if (write(evfd_, &one, sizeof one) < 0) {
  }
  return true;
}

FdTables NotifyLoop::fd_tables() {
  FdTables t;
  std::lock_guard<std::mutex> g(mu_);
  for (auto& [tgid, p] : procs_) {
    for (auto& [fd, f] : p.fds)
      if (f.flags & kTracked) t.read_flags.push_back(ReadFlag{tgid, fd, f.group, f.inode});
    for (auto c : p.copies) {
      c.pid = tgid;
      t.copies.push_back(c);
    }
  }
  return t;
}

LoopStats NotifyLoop::stats() {
  LoopStats s;
  {
    std::lock_guard<std::mutex> g(mu_);
    s = stats_;
  }
  if (acceptor_) s.accept = acceptor_->stats();
  return s;
}

void NotifyLoop::handle(struct seccomp_notif& n) {
  {
    std::lock_guard<std::mutex> g(mu_);
    stats_.notifications++;
  }
#ifdef VHQOS_AUDIT_ARCH
  if (n.data.arch != VHQOS_AUDIT_ARCH) {  // foreign ABI: not supervised
    send_continue(n.id);
    return;
  }
#endif
  const char* name;
  Sys kind = classify(n.data.nr, &name);
  pid_t tgid;
  if (kind == Sys::Other || !resolve_task(n.pid, &tgid)) {
    send_continue(n.id);
    return;
  }
  if (acceptor_) {
    handle_accept_mode(n, static_cast<int>(kind), tgid);
    return;
  }
  handle_read_mode(n, static_cast<int>(kind), tgid, name);
}

// Accept mode: accept is classified here; the fork family and exec are
// answered at once (a wait there could end them with EINTR, which a plain
// fork never returns) and reported for the lineage tables; anything else a
// container profile may still trap continues untouched.
void NotifyLoop::handle_accept_mode(struct seccomp_notif& n, int kind_int, pid_t tgid) {
  Sys kind = static_cast<Sys>(kind_int);
  const char* name;
  classify(n.data.nr, &name);
  auto post_simple = [&](EventKind k, uint64_t flags) {
    auto* ev = notif_event(k, n, tgid, name);
    ev->flags = flags;
    post(ev);
  };
  switch (kind) {
    case Sys::Accept: {
      bool tenant;
      {
        std::lock_guard<std::mutex> g(mu_);
        tenant = procs_[tgid].tenant;
        procs_[tgid].accepts++;
      }
      if (tenant)
        acceptor_->on_tenant_accept(n, tgid);
      else
        acceptor_->on_accept(n, tgid);
      return;
    }
    case Sys::Fork: {
      uint64_t flags = n.data.nr == __NR_clone ? n.data.args[0] : 0;
      if (!(flags & CLONE_THREAD)) {
        std::lock_guard<std::mutex> g(mu_);
        procs_[tgid].group_at_fork = procs_[tgid].group;
      }
      send_continue(n.id);
      if (!(flags & CLONE_THREAD)) post_simple(EventKind::Fork, flags);
      return;
    }
    case Sys::Exec:
      if (opts_.each_request) {
        std::lock_guard<std::mutex> g(mu_);
        procs_[tgid].fds.clear();  // CLOEXEC fds close and the program changes
      }
      send_continue(n.id);
      post_simple(EventKind::Exec, 0);
      return;
    default:
      // classifyEach: request traps reads too: watched connections are inspected.
      if (opts_.each_request && handle_fd_bookkeeping(n, kind_int, tgid)) return;
      {
        std::lock_guard<std::mutex> g(mu_);
        stats_.fast++;
      }
      send_continue(n.id);
  }
}

void NotifyLoop::drain_sends() {
  std::vector<std::pair<uint64_t, int>> ids;
  std::vector<std::pair<Parked, int>> retries;
  {
    std::lock_guard<std::mutex> g(mu_);
    ids.swap(to_send_);
    retries.swap(to_retry_);
  }
  for (auto& [id, error] : ids) reply(id, error);
  for (auto& [pk, delay] : retries) {
    int pidfd = -1;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto p = procs_.find(pk.tgid);
      if (p != procs_.end()) pidfd = p->second.pidfd;
    }
    int local = pidfd >= 0 ? sys_pidfd_getfd(pidfd, pk.fd) : -1;
    if (local < 0 || !running_) {
      if (local >= 0) close(local);
      send_continue(pk.notif.id);
      continue;
    }
    if (peer_closed(local)) {
      // The client left with its request cut short: no more bytes will come,
      // so policy decides now instead of waiting out the budget.
      Parked now = pk;
      now.local_fd = local;
      now.timer_only = true;
      uint64_t seq = next_parked_++;
      parked_.emplace(seq, now);
      finish_parked(seq, false);
      continue;
    }
    Parked again = pk;
    again.local_fd = local;
    again.deadline = now_ms() + delay;
    again.timer_only = true;
    parked_.emplace(next_parked_++, again);
  }
}

void NotifyLoop::sweep_timeouts() {
  std::vector<uint64_t> expired;
  int64_t now = now_ms();
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(it->first);
        it = pending_.erase(it);
        stats_.timeouts++;
      } else {
        ++it;
      }
    }
  }
  for (uint64_t id : expired) {
    send_continue(id);  // fail open
    auto* ev = new LoopEvent(EventKind::Timeout);
    ev->id = id;
    post(ev);
  }
  std::vector<uint64_t> late;
  for (auto& [seq, pk] : parked_)
    if (pk.deadline <= now) late.push_back(seq);
  for (uint64_t seq : late) finish_parked(seq, true);
  if (acceptor_) acceptor_->sweep(now);
  if (opts_.each_request) flush_request_moves(false);
}

int NotifyLoop::next_timeout_ms() {
  int64_t next = INT64_MAX, now = now_ms();
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [id, p] : pending_) next = std::min(next, p.deadline);
  }
  for (auto& [seq, pk] : parked_) next = std::min(next, pk.deadline);
  if (acceptor_) {
    int a = acceptor_->next_deadline_ms(now);
    if (a >= 0) next = std::min(next, now + a);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!req_batch_.empty()) next = std::min(next, req_batch_since_ + kReportEveryMs);
  }
  if (next == INT64_MAX) return -1;
  return static_cast<int>(std::max<int64_t>(0, next - now) + 1);
}

void NotifyLoop::run() {
  struct seccomp_notif_sizes sz;
  sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz);
  std::vector<char> buf(std::max<size_t>(sz.seccomp_notif, sizeof(struct seccomp_notif)));
  auto* n = reinterpret_cast<struct seccomp_notif*>(buf.data());
  struct epoll_event evs[64];
  bool hup = false;
  while (!stopping_ && !hup) {
    int cnt = epoll_wait(epfd_, evs, 64, next_timeout_ms());
    if (cnt < 0) {
      if (errno == EINTR) continue;
      auto* ev = new LoopEvent(EventKind::Error);
      ev->error = -errno;
      ev->syscall = "epoll_wait";
      post(ev);
      break;
    }
    for (int i = 0; i < cnt && !stopping_; i++) {
      uint64_t tag = evs[i].data.u64 & kTagMask, val = evs[i].data.u64 & ~kTagMask;
      if (tag == kTagEvent) {
        uint64_t v;
        if (read(evfd_, &v, sizeof v) < 0) {
        }
        drain_sends();
        apply_reconfig();
        if (acceptor_) acceptor_->on_wake();
      } else if (tag == kTagPidfd) {
        remove_process(static_cast<pid_t>(val));
      } else if (tag == kTagParked) {
        finish_parked(val, false);
      } else if (tag == kTagServerListener) {
        if (acceptor_) acceptor_->on_listener_ready(val);
      } else if (tag == kTagHeld) {
        if (acceptor_) acceptor_->on_held_event(val, evs[i].events);
      } else if (tag == kTagListener) {
        if (!(evs[i].events & EPOLLIN)) {  // POLLHUP: every target has exited
          hup = true;
          continue;
        }
        memset(n, 0, buf.size());
        if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
          if (errno == EINTR || errno == ENOENT) continue;
          auto* ev = new LoopEvent(EventKind::Error);
          ev->error = -errno;
          ev->syscall = "SECCOMP_IOCTL_NOTIF_RECV";
          post(ev);
          hup = true;
          continue;
        }
        pending_ids_.received(n->id);  // before anything can stall: the keeper covers it if we die here
        handle(*n);
      }
    }
    sweep_timeouts();
  }
  // Leave nothing waiting: queued verdicts, parked and pending notifications continue.
  running_ = false;
  drain_sends();
  if (acceptor_) acceptor_->shutdown();
  for (auto& [seq, pk] : parked_) {
    send_continue(pk.notif.id);
    close(pk.local_fd);
  }
  parked_.clear();
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [id, p] : pending_) ids.push_back(id);
    pending_.clear();
  }
  for (uint64_t id : ids) send_continue(id);
  // Moves for later requests finish and their reads continue; none is reported after the end.
  stop_request_worker();
  flush_request_moves(true);
  if (hup) {
    // Every target is gone, but their pidfd events may not have been read
    // yet: report the exits before the end of the stream.
    std::vector<pid_t> left;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (auto& [tgid, p] : procs_) left.push_back(tgid);
    }
    for (pid_t tgid : left) remove_process(tgid);
  }
  running_ = false;
  post(new LoopEvent(hup ? EventKind::Hup : EventKind::Stopped));
}

}  // namespace vhqos
