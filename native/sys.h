// Thin syscall wrappers and constants the Debian 12 headers may lack.
// Every function returns >= 0 on success or -errno: policy lives in src/.
#pragma once
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstdint>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace vhqos {

inline int neg_errno() { return -errno; }

inline int sys_pidfd_open(pid_t pid) {
  long r = syscall(SYS_pidfd_open, pid, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

inline int sys_pidfd_getfd(int pidfd, int fd) {
  long r = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

inline int sys_seccomp(unsigned op, unsigned flags, void* args) {
  long r = syscall(__NR_seccomp, op, flags, args);
  return r < 0 ? -errno : static_cast<int>(r);
}

inline int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace vhqos
