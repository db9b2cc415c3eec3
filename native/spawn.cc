#include "spawn.h"
#include "keeper.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>

#include <sys/mman.h>

#include "fd_passing.h"
#include "filter.h"
#include "pending_ids.h"
#include "sys.h"

namespace vhqos {

namespace {

// Child side: report (errno, optional fd) over the socketpair. Signal-safe.
void send_status(int sock, int err, int fd) { send_with_fd(sock, &err, sizeof err, fd); }

int recv_status(int sock, int* fd_out) {
  int err = 0;
  ssize_t n = recv_with_fd(sock, &err, sizeof err, fd_out);
  if (n < 0) return static_cast<int>(n);
  if (n != sizeof err) return -EPIPE;  // child died before reporting
  return err ? -err : 0;
}

[[noreturn]] void child_fail(int sock, int err) {
  send_status(sock, err, -1);
  _exit(127);
}

}  // namespace

int spawn_supervised(const SpawnRequest& req, SpawnResult& res, const char** failed_syscall) {
  *failed_syscall = "seccomp_export_bpf";
  std::vector<sock_filter> prog_insns;
  int rc = build_notify_filter(req.traps, prog_insns);
  if (rc < 0) return rc;
  struct sock_fprog prog = {static_cast<unsigned short>(prog_insns.size()), prog_insns.data()};

  // Everything the child needs is prepared here: no allocation after fork.
  std::vector<char*> argv, envp;
  for (auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : req.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* cwd = req.cwd.empty() ? nullptr : req.cwd.c_str();

  *failed_syscall = "socketpair";
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -errno;

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  *failed_syscall = "fork";
  pid_t pid = fork();
  if (pid == 0) {
    int sock = sv[1];
    // Node ignores SIGPIPE and installs handlers: give the server defaults.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, nullptr);
    if (req.new_process_group) setpgid(0, 0);
    for (int i = 0; i < 3; i++) {
      int fd = req.stdio[i];
      if (fd < 0 || fd == i) {  // inherited stdio must survive exec (Node may mark it CLOEXEC)
        fcntl(i, F_SETFD, 0);
      } else if (dup2(fd, i) < 0) {
        child_fail(sock, errno);
      }
    }
    if (cwd && chdir(cwd) < 0) child_fail(sock, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(sock, errno);
    int lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (lfd < 0) child_fail(sock, -lfd);
    // From here on every trapped syscall waits for the supervisor, which
    // starts answering as soon as it has the listener.
    send_status(sock, 0, lfd);
    close(lfd);
    // Node's own descriptors must not leak into the server.
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    execve(req.file.c_str(), argv.data(), envp.data());
    _exit(127);  // the listener is already handed over: the exit code says it
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return -fork_errno;
  }
  int lfd = -1;
  *failed_syscall = "seccomp";
  rc = recv_status(sv[0], &lfd);
  close(sv[0]);
  if (rc < 0 || lfd < 0) {
    waitpid(pid, nullptr, 0);
    return rc < 0 ? rc : -EPROTO;
  }
  res.pid = pid;
  res.listener = lfd;
  res.pidfd = sys_pidfd_open(pid);
  __u64 flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
  res.sync_wakeup = ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0;
  if (res.pidfd < 0) {
    *failed_syscall = "pidfd_open";
    int err = res.pidfd;
    kill(pid, SIGKILL);
    close(lfd);
    waitpid(pid, nullptr, 0);
    return err;
  }
  return 0;
}

int start_keeper(int listener, int* keeper_pipe_out, int* pending_fd_out, const char* attach_path, pid_t root) {
  // The table of notifications the supervisor holds: shared with the keeper
  // (mapped before the fork, so the keeper has it whatever becomes of us).
  int mfd = memfd_create("vhqos-pending", MFD_CLOEXEC);
  if (mfd < 0) return -errno;
  if (ftruncate(mfd, sizeof(PendingIdSlots)) < 0) {
    int e = errno;
    close(mfd);
    return -e;
  }
  void* shared = mmap(nullptr, sizeof(PendingIdSlots), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (shared == MAP_FAILED) {
    int e = errno;
    close(mfd);
    return -e;
  }
  auto* pending = static_cast<PendingIdSlots*>(shared);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    int e = errno;
    munmap(shared, sizeof(PendingIdSlots));
    close(mfd);
    return -e;
  }
  struct seccomp_notif_sizes sz;
  int rc = sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz);
  if (rc < 0) {
    close(p[0]);
    close(p[1]);
    munmap(shared, sizeof(PendingIdSlots));
    close(mfd);
    return rc;
  }
  // Buffers sized before fork: malloc is not safe in the child of a threaded process.
  std::vector<char> req_buf(sz.seccomp_notif), resp_buf(sz.seccomp_notif_resp);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    int watch = p[0];
    setsid();  // out of the server's and the supervisor's process groups
    // Keep only the listener, the pipe and the table.
    int lfd = fcntl(listener, F_DUPFD_CLOEXEC, 1000);
    int wfd = fcntl(watch, F_DUPFD_CLOEXEC, 1001);
    int kfd = fcntl(mfd, F_DUPFD_CLOEXEC, 1002);
    if (lfd < 0 || wfd < 0 || kfd < 0) _exit(1);
    syscall(SYS_close_range, 0, 999, 0);
    syscall(SYS_close_range, 1003, ~0U, 0);
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &ign, nullptr);
    sigaction(SIGINT, &ign, nullptr);
    sigaction(SIGTERM, &ign, nullptr);  // a group kill must not take the keeper
    sigaction(SIGPIPE, &ign, nullptr);
    // The socket a new supervisor attaches through (root only: 0600, and the peer is checked).
    int sock = -1;
    if (attach_path && attach_path[0]) {
      sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a = {};
      a.sun_family = AF_UNIX;
      if (sock >= 0 && strlen(attach_path) < sizeof a.sun_path) {
        strcpy(a.sun_path, attach_path);
        unlink(attach_path);
        if (bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || chmod(attach_path, 0600) < 0 ||
            listen(sock, 4) < 0) {
          close(sock);
          sock = -1;
        }
      } else if (sock >= 0) {
        close(sock);
        sock = -1;
      }
    }
    keeper_serve(lfd, wfd, kfd, sock, attach_path, root, pending, req_buf.data(), sz.seccomp_notif, resp_buf.data(),
                 sz.seccomp_notif_resp);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(p[0]);
  munmap(shared, sizeof(PendingIdSlots));  // the loop maps it again from the fd
  if (pid < 0) {
    close(p[1]);
    close(mfd);
    return -fork_errno;
  }
  *keeper_pipe_out = p[1];
  *pending_fd_out = mfd;
  return pid;
}

}  // namespace vhqos
