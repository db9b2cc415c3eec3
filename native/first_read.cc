// Read mode: a connection's first read is inspected here (pidfd_getfd of the
// socket, its addresses, a MSG_PEEK of the first bytes); a blocking read with
// nothing there yet waits in the loop's epoll set for its first bytes (never
// past the socket's SO_RCVTIMEO), then policy in TypeScript decides.
#include "notify_loop.h"

#include <linux/audit.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "loop_internal.h"
#include "sys.h"

namespace vhqos {

using namespace loop_internal;

void NotifyLoop::deliver(LoopEvent* ev, pid_t tgid, int fd) {
  {
    std::lock_guard<std::mutex> g(mu_);
    pending_[ev->id] = Pending{now_ms() + opts_.verdict_timeout_ms, tgid, fd};
    hold_id(ev->id);
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
  SocketFacts facts;
  if (describe_fd(local, facts) < 0 || !is_connection(facts)) {
    // Files, pipes, unix and listening sockets never carry a request: stay quiet.
    {
      std::lock_guard<std::mutex> g(mu_);
      auto p = procs_.find(tgid);
      if (p != procs_.end()) p->second.fds[fd].flags = kQuiet;
      stats_.quiet_inspections++;
    }
    close(local);
    send_continue(n.id);
    return;
  }
  auto* ev = notif_event(EventKind::Read, n, tgid, name, fd);
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
        hold_id(n.id);
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
  auto* ev = notif_event(EventKind::Read, pk.notif, pk.tgid, pk.syscall, pk.fd);
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

void NotifyLoop::deliver_read(LoopEvent* ev, const Parked& pk) {
  {
    std::lock_guard<std::mutex> g(mu_);
    Pending p{now_ms() + opts_.verdict_timeout_ms, pk.tgid, pk.fd, true, pk};
    p.read.local_fd = -1;
    pending_[ev->id] = p;
    hold_id(ev->id);
  }
  ev->needs_verdict = true;
  post(ev);
}

void NotifyLoop::record_copy(Proc& p, int fd, int new_fd, const char* syscall) {
  if (p.copies.size() >= kMaxCopies) p.copies.erase(p.copies.begin());
  p.copies.push_back(FdCopy{0, fd, new_fd, syscall});
}

// Read mode: the first read of a connection is classified (policy answers it);
// everything else that is trapped keeps the fd table (quiet/tracked flags)
// and is answered at once.
void NotifyLoop::handle_read_mode(struct seccomp_notif& n, int kind_int, pid_t tgid, const char* name) {
  Sys kind = static_cast<Sys>(kind_int);
  int fd = static_cast<int>(n.data.args[0]);
  auto simple = [&](EventKind k, int fd1, int new_fd) {
    auto* ev = notif_event(k, n, tgid, name, fd1);
    ev->new_fd = new_fd;
    return ev;
  };
  switch (kind) {
    case Sys::Read: {
      bool quiet = false, watched = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto it = fds.find(fd);
        quiet = it != fds.end() && (it->second.flags & kQuiet);
        watched = quiet && (it->second.flags & kPerRequest);
        if (quiet && !watched) stats_.fast++;
      }
      if (watched) {  // classifyEach: request
        request_read(n, tgid, fd);
        return;
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
          tracked = it->second.flags & kTracked;
          fds.erase(it);
        }
        // Its copies are forgotten with it (a reused number is another file).
        auto& cs = procs_[tgid].copies;
        cs.erase(std::remove_if(cs.begin(), cs.end(), [&](const FdCopy& c) { return c.fd == fd; }), cs.end());
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
            if (it->second.flags & kTracked) ev->fds.push_back(it->first);
            it = fds.erase(it);
          } else {
            ++it;
          }
        }
      }
      send_continue(n.id);
      if (ev->fds.empty())
        delete ev;
      else
        post(ev);
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
        report = (old != fds.end() && (old->second.flags & kTracked)) ||
                 (prev != fds.end() && (prev->second.flags & kTracked));
        if (old != fds.end() && (old->second.flags & kTracked)) record_copy(procs_[tgid], fd, newfd, name);
        // newfd now names old's file: it inherits old's state (or none).
        // A number the process cannot have (dup2 will fail) is never recorded.
        if (old != fds.end() && static_cast<uint64_t>(newfd) < procs_[tgid].max_fd)
          fds[newfd] = old->second;
        else if (prev != fds.end())
          fds.erase(prev);
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
        report = old != fds.end() && (old->second.flags & kTracked);
        if (report) record_copy(procs_[tgid], fd, -1, name);
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
        procs_[tgid].copies.clear();
      }
      send_continue(n.id);
      post(simple(EventKind::Exec, -1, -1));
      return;
    }
    default: send_continue(n.id);
  }
}

}  // namespace vhqos
