// Is a TCP connection still open in some process? The sock_diag netlink
// interface reports a socket's inode; a socket no file refers to any more
// (closed by every process: orphaned, FIN_WAIT, TIME_WAIT) reports inode 0
// or is gone. vhqos uses it to know when a connection it handed over has
// ended without keeping a reference to it (which would keep it open), and
// to find which socket is the other end of a loopback connection.
// Where the kernel has no inet_diag (a module that could not be loaded), the
// same is read from /proc/<pid>/net/tcp{,6} of a process in that namespace:
// slower (the whole table as text), without the cookie check.
#pragma once
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <unordered_map>

namespace vhqos {

constexpr uint64_t kNoCookie = ~0ULL;
constexpr uint32_t kNoUid = ~0U;

// A NETLINK_SOCK_DIAG socket per network namespace (a netlink socket sees
// the namespace it was created in), opened on first use.
class SockDiag {
 public:
  ~SockDiag();
  // The namespace of `sock` (SIOCGSKNS), as a key for the calls below; 0 if unknown.
  static uint64_t netns_of(int sock);
  // 1: a file still refers to the socket whose own address is `local` and
  // whose peer is `peer` (and whose SO_COOKIE is `cookie`, unless kNoCookie);
  // 0: none does (closed by all, or another socket has those addresses now);
  // -errno when the kernel could not be asked. `inode` gets the socket's inode,
  // `uid` its owner's uid (kNoUid when there is no such socket at all).
  // `pid`: a process in that namespace, for the /proc fallback.
  int held(uint64_t netns, int sock_in_ns, pid_t pid, const sockaddr_storage& local, const sockaddr_storage& peer,
           uint64_t cookie, uint64_t* inode = nullptr, uint32_t* uid = nullptr);
  // Opens the namespace's netlink socket now, while a socket of it is at
  // hand (a listener), and checks that the kernel answers for it; later
  // queries need none (sock_in_ns -1).
  void prepare(uint64_t netns, int listener);
  bool uses_proc(uint64_t netns) const { return proc_.count(netns) > 0; }

 private:
  int fd_for(uint64_t netns, int sock_in_ns);
  int ask_kernel(int fd, const sockaddr_storage& local, const sockaddr_storage& peer, uint64_t cookie, uint64_t* inode,
                 uint32_t* uid = nullptr);
  std::unordered_map<uint64_t, int> fds_;    // netns inode -> netlink socket
  std::unordered_map<uint64_t, bool> proc_;  // namespaces where inet_diag does not answer
};

// The /proc/<pid>/net/tcp{,6} fallback: 1 open (inode != 0), 0 not, -errno.
int held_per_proc(pid_t pid, const sockaddr_storage& local, const sockaddr_storage& peer, uint64_t* inode,
                  uint32_t* uid = nullptr);

// SO_COOKIE of a socket, 0 if unavailable.
uint64_t socket_cookie(int fd);

}  // namespace vhqos
