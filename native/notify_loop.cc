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

#include "sys.h"

#if defined(__x86_64__)
#define VHQOS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define VHQOS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

namespace vhqos {

namespace {

bool peer_closed(int fd) {
  struct pollfd p = {fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// epoll tags: kind in the top byte, payload below.
constexpr uint64_t kTagListener = 1ULL << 56, kTagEvent = 2ULL << 56, kTagPidfd = 3ULL << 56,
                   kTagParked = 4ULL << 56, kTagHeld = 5ULL << 56, kTagServerListener = 6ULL << 56,
                   kTagMask = 0xffULL << 56;

enum class Sys { Other, Read, Close, CloseRange, Dup, Dup2, Accept, Fork, Exec };

Sys classify(int nr, const char** name) {
  switch (nr) {
    case __NR_read: *name = "read"; return Sys::Read;
    case __NR_readv: *name = "readv"; return Sys::Read;
    case __NR_recvfrom: *name = "recvfrom"; return Sys::Read;
    case __NR_recvmsg: *name = "recvmsg"; return Sys::Read;
    case __NR_close: *name = "close"; return Sys::Close;
    case __NR_close_range: *name = "close_range"; return Sys::CloseRange;
    case __NR_dup: *name = "dup"; return Sys::Dup;
    case __NR_fcntl: *name = "fcntl"; return Sys::Dup;
    case __NR_dup3: *name = "dup3"; return Sys::Dup2;
    case __NR_accept4: *name = "accept4"; return Sys::Accept;
    case __NR_accept: *name = "accept"; return Sys::Accept;
    case __NR_clone: *name = "clone"; return Sys::Fork;
    case __NR_clone3: *name = "clone3"; return Sys::Fork;
    case __NR_execve: *name = "execve"; return Sys::Exec;
    case __NR_execveat: *name = "execveat"; return Sys::Exec;
#ifdef __NR_dup2
    case __NR_dup2: *name = "dup2"; return Sys::Dup2;
#endif
#ifdef __NR_fork
    case __NR_fork: *name = "fork"; return Sys::Fork;
#endif
#ifdef __NR_vfork
    case __NR_vfork: *name = "vfork"; return Sys::Fork;
#endif
    default: *name = "?"; return Sys::Other;
  }
}

}  // namespace

NotifyLoop::NotifyLoop(int listener, LoopOptions opts, Sink sink, std::unique_ptr<VhostTable> table,
                       std::unique_ptr<CgroupMover> mover)
    : listener_(listener), opts_(opts), sink_(std::move(sink)), table_(std::move(table)), mover_(std::move(mover)) {}

NotifyLoop::~NotifyLoop() {
  stop();
  acceptor_.reset();
  for (auto& [tgid, p] : procs_) close(p.pidfd);
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
}

int NotifyLoop::start() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return -errno;
  evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd_ < 0) return -errno;
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.u64 = kTagListener;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listener_, &e) < 0) return -errno;
  e.data.u64 = kTagEvent;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &e) < 0) return -errno;
  if (opts_.classify_at == ClassifyAt::Accept) {
    if (!table_ || !mover_) return -EINVAL;
    acceptor_ = std::make_unique<Acceptor>(listener_, epfd_, kTagHeld, kTagServerListener, opts_.accept,
                                           std::move(table_), std::move(mover_), this);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [tgid, p] : procs_) {
      e.data.u64 = kTagPidfd | static_cast<uint32_t>(tgid);
      epoll_ctl(epfd_, EPOLL_CTL_ADD, p.pidfd, &e);
    }
  }
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

int NotifyLoop::add_process(pid_t tgid, int group) {
  std::lock_guard<std::mutex> g(mu_);
  int rc = add_process_locked(tgid);
  if (rc == 0) procs_[tgid].group = group;
  return rc;
}

int NotifyLoop::add_process_locked(pid_t tgid) {
  if (procs_.count(tgid)) return 0;
  int pidfd = sys_pidfd_open(tgid);
  if (pidfd < 0) return pidfd;
  Proc& p = procs_[tgid];
  p.pidfd = pidfd;
  struct rlimit rl;
  p.max_fd = prlimit(tgid, RLIMIT_NOFILE, nullptr, &rl) == 0 ? rl.rlim_max : 1024;
  if (epfd_ >= 0) {
    struct epoll_event e = {};
    e.events = EPOLLIN;
    e.data.u64 = kTagPidfd | static_cast<uint32_t>(tgid);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, pidfd, &e);
  }
  return 0;
}

void NotifyLoop::remove_process(pid_t tgid) {
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = procs_.find(tgid);
    if (it == procs_.end()) return;
    close(it->second.pidfd);  // also leaves the epoll set
    procs_.erase(it);
    for (auto t = threads_.begin(); t != threads_.end();)
      t = t->second == tgid ? threads_.erase(t) : std::next(t);
  }
  if (acceptor_) acceptor_->on_process_exit(tgid);
  auto* ev = new LoopEvent(EventKind::Exit);
  ev->tgid = ev->tid = tgid;
  post(ev);
}

int NotifyLoop::send_continue(uint64_t id) {
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
  if (error) send_error(id, error);
  else send_continue(id);
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
      if (proc != procs_.end()) proc->second.fds[p.fd] = kQuiet | kTracked;
    }
    if (running_) to_send_.emplace_back(id, error);
    else direct = true;
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

LoopStats NotifyLoop::stats() {
  LoopStats s;
  {
    std::lock_guard<std::mutex> g(mu_);
    s = stats_;
  }
  if (acceptor_) s.accept = acceptor_->stats();
  return s;
}

// Maps a notification's thread id to its process. New tasks are registered
// here (mechanism), and reported to policy as Process events.
bool NotifyLoop::resolve_task(pid_t tid, pid_t* tgid) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (procs_.count(tid)) {
      *tgid = tid;
      return true;
    }
    auto t = threads_.find(tid);
    if (t != threads_.end()) {
      // A thread id can be reused once the thread is gone: confirm it.
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/task/%d", t->second, tid);
      struct stat st;
      if (stat(path, &st) == 0) {
        *tgid = t->second;
        return true;
      }
      threads_.erase(t);
    }
  }
  pid_t tg = 0, ppid = 0;
  if (task_ids(tid, &tg, &ppid) < 0) return false;
  bool new_proc = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!procs_.count(tg)) {
      if (tg != tid) {
        pid_t t2, pp2;
        if (task_ids(tg, &t2, &pp2) == 0) ppid = pp2;
      }
      if (add_process_locked(tg) < 0) return false;
      new_proc = true;
      // Born where its parent was when it forked. A process created by code
      // serving a tenant (a CGI, an inetd handler) is the tenant's: it is
      // never classified, whatever it accepts or reads.
      Proc& child = procs_[tg];
      auto parent = procs_.find(ppid);
      if (opts_.classify_at != ClassifyAt::Accept) {
        // read mode: policy tracks groups and decides what is a tenant's
      } else if (parent != procs_.end()) {
        // Forks are not trapped: the parent's group now stands for its group
        // at the fork (a server process only moves when it is handed a
        // connection, and the children of one that serves are a tenant's anyway).
        Proc& pp = parent->second;
        child.group = pp.group_at_fork >= 0 ? pp.group_at_fork : pp.group;
        child.tenant = pp.tenant || (child.group >= 0 && child.group != opts_.accept.server_group);
      } else {
        child.tenant = true;  // lineage unknown (its parent is gone): not the server's
      }
    }
    if (tg != tid) threads_[tid] = tg;
  }
  if (new_proc) {
    auto* ev = new LoopEvent(EventKind::Process);
    ev->tid = tid;
    ev->tgid = tg;
    ev->ppid = ppid;
    {
      std::lock_guard<std::mutex> g(mu_);
      ev->flags = procs_[tg].tenant ? 1 : 0;
    }
    post(ev);
  }
  *tgid = tg;
  return true;
}

void NotifyLoop::deliver(LoopEvent* ev, pid_t tgid, int fd) {
  {
    std::lock_guard<std::mutex> g(mu_);
    pending_[ev->id] = Pending{now_ms() + opts_.verdict_timeout_ms, tgid, fd};
  }
  ev->needs_verdict = true;
  post(ev);
}

void NotifyLoop::inspect_read(struct seccomp_notif& n, pid_t tgid, int fd, const char* name) {
  int pidfd;
  {
    std::lock_guard<std::mutex> g(mu_);
    pidfd = procs_[tgid].pidfd;
  }
  int local = sys_pidfd_getfd(pidfd, fd);
  if (local < 0) {  // not open (the read will fail by itself) or process gone
    send_continue(n.id);
    return;
  }
  FdFacts facts;
  if (describe_fd(local, facts) < 0 || !is_connection(facts)) {
    // Files, pipes, unix and listening sockets never carry a request: stay quiet.
    {
      std::lock_guard<std::mutex> g(mu_);
      auto p = procs_.find(tgid);
      if (p != procs_.end()) p->second.fds[fd] = kQuiet;
      stats_.quiet_inspections++;
    }
    close(local);
    send_continue(n.id);
    return;
  }
  auto* ev = new LoopEvent(EventKind::Read);
  ev->id = n.id;
  ev->tid = n.pid;
  ev->tgid = tgid;
  ev->fd = fd;
  ev->syscall = name;
  ev->facts = facts;
  {
    // The process reads its connection itself (fork-before-accept): a later
    // fork (a CGI) is not a hand-over of a fresh connection.
    std::lock_guard<std::mutex> g(mu_);
    auto& p = procs_[tgid];
    p.accept_pending = false;
    ev->accepts = p.accepts;
  }
  // A listener classified by address only (a server-speaks-first protocol):
  // nothing to wait for or peek at.
  bool names = opts_.peek;
  if (names && table_) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(local, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
        table_->mode_for(reinterpret_cast<sockaddr*>(&ss), len) == ListenerMode::Address)
      names = false;
  }
  if (names) {
    ssize_t r = peek_bytes(local, ev->bytes, opts_.peek_bytes);
    ev->peek_result = static_cast<int>(r);
    if (r == -EAGAIN && !facts.nonblocking) {
      // A blocking read would wait for the request anyway: wait for its first
      // bytes here, without holding up other notifications.
      uint64_t seq = next_parked_++;
      // Never outlast the server's own read timeout: at its SO_RCVTIMEO the
      // read fails with EAGAIN, as it would have without vhqos.
      int64_t budget = opts_.first_byte_timeout_ms;
      struct timeval tv = {};
      socklen_t tl = sizeof tv;
      int64_t rcvtimeo = 0;
      if (getsockopt(local, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0)
        rcvtimeo = static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
      bool by_rcvtimeo = rcvtimeo > 0 && rcvtimeo < budget;
      if (by_rcvtimeo) budget = rcvtimeo;
      Parked pk{n, tgid, fd, local, facts, now_ms(), now_ms() + budget, name};
      pk.by_rcvtimeo = by_rcvtimeo;
      struct epoll_event e = {};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.u64 = kTagParked | seq;
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, local, &e) == 0) {
        parked_.emplace(seq, pk);
        {
          std::lock_guard<std::mutex> g(mu_);
          stats_.parked++;
        }
        delete ev;
        return;
      }
    }
  }
  close(local);
  Parked pk{n, tgid, fd, -1, facts, now_ms(), 0, name};
  deliver_read(ev, pk);
}

void NotifyLoop::finish_parked(uint64_t seq, bool timed_out) {
  auto it = parked_.find(seq);
  if (it == parked_.end()) return;
  Parked pk = it->second;
  parked_.erase(it);
  if (!pk.timer_only) epoll_ctl(epfd_, EPOLL_CTL_DEL, pk.local_fd, nullptr);
  auto* ev = new LoopEvent(EventKind::Read);
  ev->id = pk.notif.id;
  ev->tid = pk.notif.pid;
  ev->tgid = pk.tgid;
  ev->fd = pk.fd;
  ev->syscall = pk.syscall;
  ev->facts = pk.facts;
  ssize_t r = peek_bytes(pk.local_fd, ev->bytes, opts_.peek_bytes);
  ev->peek_result = static_cast<int>(r);
  ev->waited_ms = static_cast<int>(now_ms() - pk.started);
  ev->peer_closed = peer_closed(pk.local_fd);
  close(pk.local_fd);
  if (timed_out && pk.by_rcvtimeo && r == -EAGAIN) {
    delete ev;
    send_error(pk.notif.id, EAGAIN);  // the server's own timeout, on time
    return;
  }
  deliver_read(ev, pk);
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
  int fd = static_cast<int>(n.data.args[0]);
  auto simple = [&](EventKind k, int fd1, int fd2) {
    auto* ev = new LoopEvent(k);
    ev->id = n.id;
    ev->tid = n.pid;
    ev->tgid = tgid;
    ev->syscall = name;
    ev->fd = fd1;
    ev->fd2 = fd2;
    return ev;
  };
  switch (kind) {
    case Sys::Read: {
      bool quiet = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto it = fds.find(fd);
        quiet = it != fds.end() && (it->second & kQuiet);
        if (quiet) stats_.fast++;
      }
      if (quiet) {
        send_continue(n.id);
        return;
      }
      inspect_read(n, tgid, fd, name);
      return;
    }
    case Sys::Close: {
      bool tracked = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto it = fds.find(fd);
        if (it != fds.end()) {
          tracked = it->second & kTracked;
          fds.erase(it);
        }
        stats_.fast++;
      }
      send_continue(n.id);
      if (tracked) post(simple(EventKind::Close, fd, -1));
      return;
    }
    case Sys::CloseRange: {
      auto* ev = simple(EventKind::Close, -1, -1);
      uint64_t first = n.data.args[0], last = n.data.args[1];
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        for (auto it = fds.begin(); it != fds.end();) {
          if (static_cast<uint64_t>(it->first) >= first && static_cast<uint64_t>(it->first) <= last) {
            if (it->second & kTracked) ev->fds.push_back(it->first);
            it = fds.erase(it);
          } else {
            ++it;
          }
        }
      }
      send_continue(n.id);
      if (ev->fds.empty()) delete ev;
      else post(ev);
      return;
    }
    case Sys::Dup2: {
      int newfd = static_cast<int>(n.data.args[1]);
      bool report = false;
      if (newfd != fd) {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto old = fds.find(fd);
        auto prev = fds.find(newfd);
        report = (old != fds.end() && (old->second & kTracked)) ||
                 (prev != fds.end() && (prev->second & kTracked));
        // newfd now names old's file: it inherits old's state (or none).
        // A number the process cannot have (dup2 will fail) is never recorded.
        if (old != fds.end() && static_cast<uint64_t>(newfd) < procs_[tgid].max_fd) fds[newfd] = old->second;
        else if (prev != fds.end()) fds.erase(prev);
      }
      send_continue(n.id);
      if (report) post(simple(EventKind::Dup, fd, newfd));
      return;
    }
    case Sys::Dup: {
      bool report;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto old = fds.find(fd);
        report = old != fds.end() && (old->second & kTracked);
      }
      send_continue(n.id);
      if (report) post(simple(EventKind::Dup, fd, -1));
      return;
    }
    case Sys::Accept: {
      // Counted, not posted: policy learns of the connection at its first
      // read, or at the fork that follows (fork-after-accept).
      {
        std::lock_guard<std::mutex> g(mu_);
        procs_[tgid].accept_pending = true;
        procs_[tgid].accepts++;
        stats_.fast++;
      }
      send_continue(n.id);
      return;
    }
    case Sys::Fork: {
      uint64_t flags = n.data.nr == __NR_clone ? n.data.args[0] : 0;
      if (flags & CLONE_THREAD) {  // a new thread: registered on its first trap
        send_continue(n.id);
        return;
      }
      bool scan;
      uint32_t accepts;
      {
        std::lock_guard<std::mutex> g(mu_);
        scan = procs_[tgid].accept_pending;
        procs_[tgid].accept_pending = false;
        accepts = procs_[tgid].accepts;
      }
      auto* ev = simple(EventKind::Fork, -1, -1);
      ev->flags = flags;
      ev->accepts = accepts;
      // Never wait here: a fork held for policy can end with EINTR when a
      // signal arrives meanwhile, which a plain fork never returns. After an
      // accept (fork-after-accept) policy records the connection the parent
      // holds, as long as it still does; the child is classified at its own
      // first read either way.
      ev->after_accept = scan;
      send_continue(n.id);
      post(ev);
      return;
    }
    case Sys::Exec: {
      {
        std::lock_guard<std::mutex> g(mu_);
        procs_[tgid].fds.clear();  // CLOEXEC fds close and the program changes
      }
      send_continue(n.id);
      post(simple(EventKind::Exec, -1, -1));
      return;
    }
    default:
      send_continue(n.id);
  }
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
    auto* ev = new LoopEvent(k);
    ev->id = n.id;
    ev->tid = n.pid;
    ev->tgid = tgid;
    ev->syscall = name;
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
      if (tenant) acceptor_->on_tenant_accept(n, tgid);
      else acceptor_->on_accept(n, tgid);
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
      send_continue(n.id);
      post_simple(EventKind::Exec, 0);
      return;
    default:
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

void NotifyLoop::deliver_read(LoopEvent* ev, const Parked& pk) {
  {
    std::lock_guard<std::mutex> g(mu_);
    Pending p{now_ms() + opts_.verdict_timeout_ms, pk.tgid, pk.fd, true, pk};
    p.read.local_fd = -1;
    pending_[ev->id] = p;
  }
  ev->needs_verdict = true;
  post(ev);
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
