/* notif-epoll: ../shared/bench/notif-ref.c (the floor for a seccomp
 * user-notification supervisor) with one change: the supervisor waits in
 * epoll_wait() on an epoll set holding the listener and the child's pidfd,
 * as vhqos' native loop does, instead of poll() on the two fds. Everything
 * else (filter, getppid loop, CONTINUE answers, SYNC_WAKE_UP) is unchanged,
 * so the difference to notif-ref is the cost of waiting through epoll.
 * Original header:
 *
 * notif-ref: the floor for a seccomp user-notification supervisor.
 * A child traps getppid() N times; the parent answers each notification with
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE from a plain C loop. Prints the mean cost
 * of one trapped syscall, without and (where the kernel has it) with
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP.
 *   cc -O2 -o notif-epoll notif-epoll.c && ./notif-epoll [N]
 * Output, one line per mode:  mode=<default|sync> us_per_syscall=<float>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static int sys_seccomp(unsigned op, unsigned flags, void *args) { return syscall(__NR_seccomp, op, flags, args); }

static void send_fd(int sock, int fd) {
  char c = 'x', buf[CMSG_SPACE(sizeof(int))];
  struct iovec io = {&c, 1};
  struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  if (sendmsg(sock, &m, 0) < 0) { perror("sendmsg"); _exit(1); }
}

static int recv_fd(int sock) {
  char c, buf[CMSG_SPACE(sizeof(int))];
  struct iovec io = {&c, 1};
  struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
  if (recvmsg(sock, &m, 0) <= 0) { perror("recvmsg"); exit(1); }
  int fd; memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
  return fd;
}

static double run(long n, int sync) {
  int sv[2], res[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pipe(res);
  pid_t pid = fork();
  if (pid == 0) {
    struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (lfd < 0) { perror("seccomp"); _exit(1); }
    send_fd(sv[1], lfd); close(lfd);
    char go; read(sv[1], &go, 1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(__NR_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1000.0;
    write(res[1], &us, sizeof us);
    _exit(0);
  }
  int nfd = recv_fd(sv[0]);
  if (sync && ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0) {
    kill(pid, SIGKILL); waitpid(pid, 0, 0); close(nfd); return -1;
  }
  write(sv[0], "g", 1);
  struct seccomp_notif_sizes sz;
  sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz);
  struct seccomp_notif *req = calloc(1, sz.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp);
  /* Watch the child's pidfd too: POLLHUP on the listener only comes once the
   * target is reaped, and on 6.1 a blocking RECV never returns after exit. */
  int pfd = syscall(SYS_pidfd_open, pid, 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ee = {.events = EPOLLIN, .data.u32 = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, nfd, &ee);
  ee.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &ee);
  for (;;) {
    struct epoll_event evs[2];
    int k = epoll_wait(ep, evs, 2, -1);
    if (k < 0) { if (errno == EINTR) continue; break; }
    int lin = 0, lhup = 0, pin = 0;
    for (int i = 0; i < k; i++) {
      if (evs[i].data.u32 == 0) { lin |= !!(evs[i].events & EPOLLIN); lhup |= !!(evs[i].events & EPOLLHUP); }
      else pin = 1;
    }
    if (!lin && (pin || lhup)) break;
    if (!lin) continue;
    memset(req, 0, sz.seccomp_notif);
    if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) { if (errno == EINTR || errno == ENOENT) continue; break; }
    memset(resp, 0, sz.seccomp_notif_resp);
    resp->id = req->id; resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT) break;
  }
  double us = -1;
  read(res[0], &us, sizeof us);
  waitpid(pid, 0, 0);
  close(ep); close(pfd); close(nfd); close(sv[0]); close(sv[1]); close(res[0]); close(res[1]);
  free(req); free(resp);
  return us;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  printf("mode=default us_per_syscall=%.3f\n", run(n, 0));
  double s = run(n, 1);
  if (s < 0) printf("mode=sync unsupported\n"); else printf("mode=sync us_per_syscall=%.3f\n", s);
  return 0;
}
