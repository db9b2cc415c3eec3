// Looking at a target's descriptors and memory from the supervisor.
#pragma once
#include <sys/types.h>
#include <cstdint>
#include <string>
#include <vector>

namespace vhqos {

struct SockAddrText {
  std::string ip;  // textual, as the kernel reports it (may be ::ffff:a.b.c.d)
  int port = 0;
};

// What the supervisor knows about one descriptor of a target.
struct SocketFacts {
  bool is_socket = false;
  int domain = 0;  // AF_INET, AF_INET6, AF_UNIX...
  int type = 0;    // SOCK_STREAM...
  bool listening = false;
  bool nonblocking = false;
  uint64_t inode = 0;  // identity of the open socket (robust to fd reuse/dup)
  bool has_local = false, has_peer = false;
  SockAddrText local, peer;
};

// fstat + getsockopt + getsockname/getpeername on a descriptor the
// supervisor owns (usually a pidfd_getfd copy). Returns 0 or -errno.
int describe_fd(int fd, SocketFacts& out);

// True for connected TCP-like sockets (the ones that carry requests).
inline bool is_connection(const SocketFacts& f) {
  return f.is_socket && (f.domain == 2 /*AF_INET*/ || f.domain == 10 /*AF_INET6*/) && f.type == 1 /*SOCK_STREAM*/ &&
         !f.listening;
}

// recv(MSG_PEEK|MSG_DONTWAIT) of at most `max` bytes. Returns the byte count
// (0 = orderly EOF) or -errno (-EAGAIN: nothing there yet).
ssize_t peek_bytes(int fd, std::vector<uint8_t>& out, size_t max);

// process_vm_readv of at most `max` bytes. Returns bytes read or -errno.
ssize_t read_target_memory(pid_t pid, uint64_t addr, size_t len, std::vector<uint8_t>& out);

// Reads Tgid and PPid of a task from /proc/<tid>/status. 0 or -errno.
int task_ids(pid_t tid, pid_t* tgid, pid_t* ppid);

}  // namespace vhqos
