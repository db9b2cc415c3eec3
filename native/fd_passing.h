// A small fixed-size message with at most one fd (SCM_RIGHTS) over a unix
// socketpair: how a child reports back after fork, before exec.
#pragma once
#include <sys/types.h>
#include <cstddef>

namespace vhqos {

// Sends `len` bytes and, if fd >= 0, the fd. Async-signal-safe (no allocation).
void send_with_fd(int sock, const void* data, size_t len, int fd);

// Receives up to `len` bytes and the fd sent along (-1 if none, CLOEXEC).
// Returns the byte count (0: the peer closed without a message) or -errno.
ssize_t recv_with_fd(int sock, void* data, size_t len, int* fd_out);

}  // namespace vhqos
