// options.classifyEach: request. A connection classified at accept or at its
// first read stays watched: every later read of it peeks (never waits) at
// what is there, and when that is the start of a new HTTP/1.x request its
// Host is classified with the same native table; a request for another group
// than the process is in moves the process first (on a worker thread: a v1
// move can wait ~8 ms for an RCU grace period), then the read continues.
// Reads with nothing there yet, body bytes and cut-short heads continue at
// once; TLS connections and address-only listeners stop being watched.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "loop_internal.h"
#include "notify_loop.h"
#include "sys.h"

namespace vhqos {

using namespace loop_internal;

void NotifyLoop::set_request_classifier(std::unique_ptr<VhostTable> table, std::unique_ptr<CgroupMover> mover) {
  req_table_ = std::move(table);
  req_mover_ = std::move(mover);
  std::lock_guard<std::mutex> g(mu_);
  stats_.per_request.group_moves.assign(req_mover_ ? req_mover_->groups() : 0, 0);
}

void NotifyLoop::watch_requests(const HandOver& h, int fd) {
  if (h.by == Classification::Sni) return;  // TLS: its requests cannot be read
  watch_fd(h.pid, fd, h.inode, h.group);
}

void NotifyLoop::watch_fd(pid_t tgid, int fd, uint64_t inode, int group) {
  if (!opts_.each_request || !req_table_ || !req_mover_ || fd < 0) return;
  std::lock_guard<std::mutex> g(mu_);
  auto p = procs_.find(tgid);
  if (p == procs_.end() || p->second.tenant || static_cast<uint64_t>(fd) >= p->second.max_fd) return;
  FdState& f = p->second.fds[fd];
  f.flags |= kPerRequest | kTracked;
  f.group = group;
  f.inode = inode;
}

// Accept mode with the read trap set: reads of watched fds are inspected, and
// closes, dup2 over and exec keep the watch list true. True: answered.
bool NotifyLoop::handle_fd_bookkeeping(struct seccomp_notif& n, int kind_int, pid_t tgid) {
  Sys kind = static_cast<Sys>(kind_int);
  int fd = static_cast<int>(n.data.args[0]);
  switch (kind) {
    case Sys::Read: {
      bool watched;
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        auto it = fds.find(fd);
        watched = it != fds.end() && (it->second.flags & kPerRequest);
        if (!watched) stats_.fast++;
      }
      if (watched)
        request_read(n, tgid, fd);
      else
        send_continue(n.id);
      return true;
    }
    case Sys::Close:
    case Sys::CloseRange:
    case Sys::Dup2: {
      {
        std::lock_guard<std::mutex> g(mu_);
        auto& fds = procs_[tgid].fds;
        if (kind == Sys::Close) {
          fds.erase(fd);
        } else if (kind == Sys::Dup2) {
          if (static_cast<int>(n.data.args[1]) != fd) fds.erase(static_cast<int>(n.data.args[1]));
        } else {
          uint64_t first = n.data.args[0], last = n.data.args[1];
          for (auto it = fds.begin(); it != fds.end();)
            it = static_cast<uint64_t>(it->first) >= first && static_cast<uint64_t>(it->first) <= last ? fds.erase(it)
                                                                                                       : std::next(it);
        }
        stats_.fast++;
      }
      send_continue(n.id);
      return true;
    }
    default: return false;
  }
}

void NotifyLoop::request_read(struct seccomp_notif& n, pid_t tgid, int fd) {
  int pidfd = -1, proc_group = -1;
  FdState st;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto p = procs_.find(tgid);
    if (p != procs_.end()) {
      pidfd = p->second.pidfd;
      proc_group = p->second.group;
      st = p->second.fds[fd];
    }
    stats_.per_request.inspected++;
  }
  // forget: the number no longer names the watched connection; else only
  // stop watching (a read-mode fd keeps its quiet read flag). Only the entry
  // judged here: a hand-over may have marked the number anew meanwhile.
  auto unwatch = [&](bool forget) {
    std::lock_guard<std::mutex> g(mu_);
    auto p = procs_.find(tgid);
    if (p == procs_.end()) return;
    auto it = p->second.fds.find(fd);
    if (it == p->second.fds.end() || it->second.inode != st.inode) return;
    stats_.per_request.unwatched++;
    if (forget)
      p->second.fds.erase(it);
    else
      it->second.flags &= static_cast<uint8_t>(~kPerRequest);
  };
  int local = pidfd >= 0 ? sys_pidfd_getfd(pidfd, fd) : -1;
  if (local < 0) {
    if (local == -EBADF) unwatch(true);
    send_continue(n.id);
    return;
  }
  struct stat sb;
  if (fstat(local, &sb) < 0 || !S_ISSOCK(sb.st_mode) || (st.inode && static_cast<uint64_t>(sb.st_ino) != st.inode)) {
    // The number names another file now: closed and reused (at accept closes
    // are not trapped, and a new connection's mark comes just after its
    // hand-over, so its first read may still find the old one).
    close(local);
    unwatch(true);
    send_continue(n.id);
    return;
  }
  uint8_t head[2];
  ssize_t r = recv(local, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (r <= 0) {  // nothing there yet, EOF or an error: the read goes on as it would
    close(local);
    send_continue(n.id);
    return;
  }
  if ((head[0] == 0x16 || head[0] == 0x17) && (r < 2 || head[1] == 3)) {  // a TLS record
    close(local);
    unwatch(false);
    send_continue(n.id);
    return;
  }
  // A request line starts with an upper-case method token; anything else is
  // the rest of a request (its body), not a new one.
  if (head[0] < 'A' || head[0] > 'Z') {
    close(local);
    send_continue(n.id);
    return;
  }
  ssize_t m = peek_bytes(local, req_buf_, static_cast<size_t>(opts_.peek_bytes));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  bool have_local = getsockname(local, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
  close(local);
  const sockaddr* sa = have_local ? reinterpret_cast<const sockaddr*>(&ss) : nullptr;
  if (have_local && req_table_->mode_for(sa, len) == ListenerMode::Address) {
    unwatch(false);  // the address decides, and it does not change
    send_continue(n.id);
    return;
  }
  if (m <= 0) {
    send_continue(n.id);
    return;
  }
  size_t got = static_cast<size_t>(m);
  HostResult hr = parse_http_host(req_buf_.data(), got);
  if (hr.kind == HostResult::NotHttp) {
    send_continue(n.id);
    return;
  }
  if (hr.kind == HostResult::Incomplete && got < static_cast<size_t>(opts_.peek_bytes)) {
    // Its Host has not arrived yet: leave the process where it is (holding
    // the read for the rest would stall a server that reads in pieces).
    {
      std::lock_guard<std::mutex> g(mu_);
      stats_.per_request.requests++;
      stats_.per_request.incomplete++;
    }
    send_continue(n.id);
    return;
  }
  Classification c = req_table_->classify(sa, have_local ? len : 0, req_buf_.data(), got, true);
  int group = c.vhost < 0                                                 ? opts_.accept.default_group
              : req_group_of_vhost_.empty()                               ? c.vhost
              : static_cast<size_t>(c.vhost) < req_group_of_vhost_.size() ? req_group_of_vhost_[c.vhost]
                                                                          : opts_.accept.default_group;
  bool move = group >= 0 && group != proc_group && group < req_mover_->groups();
  {
    std::lock_guard<std::mutex> g(mu_);
    stats_.per_request.requests++;
    if (move) stats_.per_request.reclassified++;
    auto p = procs_.find(tgid);
    if (p != procs_.end()) {
      auto it = p->second.fds.find(fd);
      if (it != p->second.fds.end() && group >= 0) it->second.group = group;
    }
  }
  if (!move) {
    send_continue(n.id);
    return;
  }
  RequestMove job;
  job.id = n.id;
  job.h.pid = tgid;
  job.h.group = group;
  job.h.vhost = c.vhost;
  job.h.by = c.by;
  job.h.detail = c.detail;
  job.h.local = ss;
  job.h.inode = st.inode;
  job.h.moved = true;
  hold_id(n.id);  // the keeper answers it if vhqos dies meanwhile
  {
    std::lock_guard<std::mutex> g(req_mu_);
    req_jobs_.push_back(std::move(job));
  }
  req_cv_.notify_one();
}

void NotifyLoop::request_worker() {
  for (;;) {
    RequestMove job;
    {
      std::unique_lock<std::mutex> g(req_mu_);
      req_cv_.wait(g, [this] { return req_stop_ || !req_jobs_.empty(); });
      if (req_jobs_.empty()) return;
      job = std::move(req_jobs_.front());
      req_jobs_.pop_front();
    }
    int mr = req_mover_->move(job.h.pid, job.h.group);
    {
      std::lock_guard<std::mutex> g(mu_);
      PerRequestStats& s = stats_.per_request;
      if (mr == 0) {
        auto p = procs_.find(job.h.pid);
        if (p != procs_.end()) p->second.group = job.h.group;
        s.moves++;
        if (static_cast<size_t>(job.h.group) < s.group_moves.size()) s.group_moves[job.h.group]++;
      } else if (mr != -ESRCH) {
        s.move_errors++;  // fail open: served from where it is
      }
    }
    // Reported before the read goes on, so policy hears of it before anything
    // the process does next.
    if (mr == 0) report_request_move(std::move(job.h));
    send_continue(job.id);
  }
}

void NotifyLoop::report_request_move(HandOver&& h) {
  if (!acceptor_) {
    // Read mode: policy keeps the groups and moves at later first reads; it
    // must know at once where the process is.
    auto* ev = new LoopEvent(EventKind::Requests);
    ev->handovers.push_back(std::move(h));
    post(ev);
    return;
  }
  bool first;
  {
    std::lock_guard<std::mutex> g(mu_);
    first = req_batch_.empty();
    if (first) req_batch_since_ = now_ms();
    pid_t pid = h.pid;
    req_batch_[pid] = std::move(h);  // the latest move per process is what matters
  }
  if (first) wake();  // the loop's next timeout then includes the flush
}

void NotifyLoop::flush_request_moves(bool force) {
  auto* ev = new LoopEvent(EventKind::Requests);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (req_batch_.empty() || (!force && now_ms() - req_batch_since_ < kReportEveryMs)) {
      delete ev;
      return;
    }
    for (auto& [pid, h] : req_batch_) ev->handovers.push_back(std::move(h));
    req_batch_.clear();
  }
  post(ev);
}

void NotifyLoop::stop_request_worker() {
  if (!req_thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> g(req_mu_);
    req_stop_ = true;
  }
  req_cv_.notify_all();
  req_thread_.join();  // it finishes the queued moves and answers them first
}

}  // namespace vhqos
