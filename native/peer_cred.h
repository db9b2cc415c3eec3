// Who is at the other end of a unix socket, from the kernel (SO_PEERCRED and
// SO_PEERPIDFD), never from what the peer says: the placement socket
// (src/placement/) lets a process ask to be placed in a vhost's cgroup, and
// only the kernel's word says which process asked.
#pragma once
#include <napi.h>
#include <sys/types.h>

namespace vhqos {

struct PeerIdentity {
  pid_t pid = 0;  // the thread group id of the process that connected, in our pid namespace
  uid_t uid = 0;
  gid_t gid = 0;
  int pidfd = -1;  // a pidfd of that process (CLOEXEC), owned by the caller
  // true: the pidfd came with the socket (SO_PEERPIDFD, Linux >= 6.5), so it
  // is the connecting process itself even if its pid was reused since; false:
  // pidfd_open(pid) of whatever holds that pid now (the caller must check).
  bool pidfd_from_socket = false;
};

// 0 or -errno (-ESRCH: the peer's pid is not visible here, or it is gone).
int peer_identity(int sock, PeerIdentity& out);

// 1 if the process behind `pidfd` has exited, 0 if it runs, or -errno.
int pidfd_exited(int pidfd);

}  // namespace vhqos

// exports.peerIdentity(fd) -> {pid, uid, gid, pidfd, pidfdFromSocket}; exports.pidfdExited(pidfd) -> boolean.
void RegisterPeerCredBindings(Napi::Env env, Napi::Object exports);
