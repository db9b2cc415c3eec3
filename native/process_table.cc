// The loop's process table: every supervised process (thread-group leader)
// with its pidfd, fd flags (read mode), cgroup group and whether it is a
// tenant's (accept mode); threads mapped to their process. New processes are
// found at their first trapped syscall, their parent read from /proc.
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
#include <cstdio>
#include <cstring>

#include "loop_internal.h"
#include "sys.h"

namespace vhqos {

using namespace loop_internal;

int NotifyLoop::add_process(pid_t tgid, int group, bool tenant) {
  std::lock_guard<std::mutex> g(mu_);
  int rc = add_process_locked(tgid);
  if (rc == 0) {
    procs_[tgid].group = group;
    procs_[tgid].tenant = tenant;
  }
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
    for (auto t = threads_.begin(); t != threads_.end();) t = t->second == tgid ? threads_.erase(t) : std::next(t);
  }
  if (acceptor_) acceptor_->on_process_exit(tgid);
  auto* ev = new LoopEvent(EventKind::Exit);
  ev->pid = ev->tid = tgid;
  post(ev);
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
    ev->pid = tg;
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

}  // namespace vhqos
