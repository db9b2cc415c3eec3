#include "probes.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>

#include "fd_passing.h"
#include "sys.h"

namespace vhqos {

namespace {

// In a throw-away child: install a filter with a listener (with the killable
// flag if the kernel takes it) and send the listener back.
int child_listener(bool* killable, int* err) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    *err = errno;
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, f};
    int result[2] = {0, 0};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER,
                          SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
    if (lfd >= 0)
      result[1] = 1;
    else
      lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (lfd < 0) result[0] = -lfd;
    send_with_fd(sv[1], result, sizeof result, lfd);
    _exit(0);
  }
  close(sv[1]);
  if (pid < 0) {
    *err = errno;
    close(sv[0]);
    return -1;
  }
  int result[2] = {0, 0}, lfd = -1;
  ssize_t n = recv_with_fd(sv[0], result, sizeof result, &lfd);
  close(sv[0]);
  waitpid(pid, nullptr, 0);
  if (n != sizeof result) {
    if (lfd >= 0) close(lfd);
    *err = EPROTO;
    return -1;
  }
  *killable = result[1];
  *err = result[0];
  return lfd;
}

}  // namespace

Features probe_features() {
  Features f;
  unsigned action = SECCOMP_RET_USER_NOTIF;
  f.user_notif = sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
  int pfd = sys_pidfd_open(getpid());
  f.pidfd_open = pfd >= 0;
  if (pfd >= 0) close(pfd);
  f.pidfd_getfd = sys_pidfd_getfd(-1, 0) != -ENOSYS;
  if (!f.user_notif) return f;
  int err = 0;
  int lfd = child_listener(&f.wait_killable_recv, &err);
  f.listener_errno = err;
  if (lfd < 0) return f;
  f.new_listener = true;
  __u64 flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
  f.sync_wakeup = ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0;
  // ADDFD with a notification id that cannot exist: ENOENT means the kernel
  // understood the request (and the flag) and only lacked the notification.
  struct seccomp_notif_addfd add;
  memset(&add, 0, sizeof add);
  add.id = ~0ULL;
  add.srcfd = lfd;
  f.addfd = ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 && errno == ENOENT;
  add.flags = SECCOMP_ADDFD_FLAG_SEND;
  f.addfd_send = ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 && errno == ENOENT;
  close(lfd);
  return f;
}

}  // namespace vhqos
