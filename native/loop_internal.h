// Internal to the notification loop's units (notify_loop.cc, process_table.cc,
// first_read.cc): the trapped syscalls as the loop sees them, and epoll tags.
#pragma once
#include <poll.h>
#include <sys/syscall.h>

#include <cstdint>

namespace vhqos {
namespace loop_internal {

// epoll tags: kind in the top byte, payload below.
constexpr uint64_t kTagListener = 1ULL << 56, kTagEvent = 2ULL << 56, kTagPidfd = 3ULL << 56, kTagParked = 4ULL << 56,
                   kTagHeld = 5ULL << 56, kTagServerListener = 6ULL << 56, kTagMask = 0xffULL << 56;

// classifyEach: request, accept mode: moves for later requests are reported
// to policy (status, tables) at most this often.
constexpr int64_t kReportEveryMs = 20;

enum class Sys { Other, Read, Close, CloseRange, Dup, Dup2, Accept, Fork, Exec };

inline Sys classify(int nr, const char** name) {
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

// The client has shut its side (no more bytes will come).
inline bool peer_closed(int fd) {
  struct pollfd p = {fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace loop_internal
}  // namespace vhqos
