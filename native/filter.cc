#include "filter.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>

namespace vhqos {

// Why each syscall is trapped (the supervisor's lineage tables, patent FIG. 2-6):
//   accept, accept4           a process takes a connection: at accept (default mode) vhqos
//                             performs it, classifies and hands the connection over
//   dup, dup2, dup3, fcntl    read mode: an fd is copied, e.g. inetd's dup2(conn, 0) (fd copy
//                             table); fcntl only for F_DUPFD / F_DUPFD_CLOEXEC
//   read, readv, recvfrom, recvmsg  read mode: the first read of a connection: classify it and
//                             move the process into its vhost's cgroup *before* the data is read;
//                             classifyEach: request (both modes): each later request likewise
//   close, close_range        read mode: reset the read flags of an fd (its number may be reused)
//   execve, execveat          read mode: exec closes CLOEXEC fds and replaces the program
// The fork family is never trapped: a trapped syscall can be interrupted by a
// signal while it waits for the supervisor, and a fork that returns EINTR
// (which it never does without vhqos) makes servers drop connections
// (vsftpd, xinetd). New processes are found at their first trapped syscall,
// with their parent from /proc.
namespace {
const char* const kReadSet[] = {"accept",   "accept4", "dup",   "dup2",        "dup3",   "read",    "readv",
                                "recvfrom", "recvmsg", "close", "close_range", "execve", "execveat"};
// Classification at accept: only accept, where the connection is classified
// and handed over. Reads, closes, dups, forks and execs run untouched.
const char* const kAcceptSet[] = {"accept", "accept4"};
// At accept with classifyEach: request: also the reads, where a later request
// of a watched connection is classified. Closes, dups and exec stay
// untrapped: a watched fd is recognised by its socket's inode at each read.
const char* const kAcceptRequestsSet[] = {"accept", "accept4", "read", "readv", "recvfrom", "recvmsg"};
}  // namespace

TrappedSyscalls trapped_syscalls(TrapSet set) {
  // Stand-alone placement: a filter that allows everything, so the instance's
  // listener, keeper and exit tracking work as for the other sets.
  if (set == TrapSet::None) return {kAcceptSet, 0, false};
  if (set == TrapSet::Accept) return {kAcceptSet, static_cast<int>(sizeof kAcceptSet / sizeof *kAcceptSet), false};
  if (set == TrapSet::AcceptRequests)
    return {kAcceptRequestsSet, static_cast<int>(sizeof kAcceptRequestsSet / sizeof *kAcceptRequestsSet), false};
  return {kReadSet, static_cast<int>(sizeof kReadSet / sizeof *kReadSet), true};
}

int build_notify_filter(TrapSet set, std::vector<sock_filter>& out) {
  TrappedSyscalls trapped = trapped_syscalls(set);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -ENOMEM;
  int rc = 0;
  // Foreign-architecture (e.g. i386) syscalls are allowed, not killed: vhqos
  // must never break the server; such processes are simply not supervised.
  rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
  for (int i = 0; rc == 0 && i < trapped.count; i++) {
    int nr = seccomp_syscall_resolve_name(trapped.names[i]);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0);
  }
  int fcntl_nr = seccomp_syscall_resolve_name("fcntl");
  if (rc == 0 && trapped.fcntl_dup)
    rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, fcntl_nr, 1, SCMP_A1(SCMP_CMP_EQ, F_DUPFD));
  if (rc == 0 && trapped.fcntl_dup)
    rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, fcntl_nr, 1, SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC));
  // libseccomp 2.5 exports BPF only to an fd: go through a memfd.
  int mfd = -1;
  if (rc == 0) {
    mfd = memfd_create("vhqos-bpf", MFD_CLOEXEC);
    if (mfd < 0) rc = -errno;
  }
  if (rc == 0) rc = seccomp_export_bpf(ctx, mfd);
  if (rc == 0) {
    struct stat st;
    if (fstat(mfd, &st) < 0) {
      rc = -errno;
    } else {
      out.resize(st.st_size / sizeof(sock_filter));
      ssize_t n = pread(mfd, out.data(), out.size() * sizeof(sock_filter), 0);
      if (n != static_cast<ssize_t>(out.size() * sizeof(sock_filter))) rc = n < 0 ? -errno : -EIO;
    }
  }
  if (mfd >= 0) close(mfd);
  seccomp_release(ctx);
  return rc;
}

}  // namespace vhqos
