// The server's own connections to itself: Apache's parent wakes its children
// (graceful restart, fewer idle children) by connecting to its own listener
// and sending one request ("internal dummy connection"), then closing. Such a
// connection serves nobody and is charged to _server, but only if the kernel
// confirms where it comes from: the bytes alone could come from any client.
#pragma once
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vhqos {

// Exactly Apache's dummy request and nothing after it (so nothing can be
// pipelined behind it): `OPTIONS * HTTP/1.0`, a User-Agent ending in
// "(internal dummy connection)", the empty line; or, on an https listener,
// the TLS 1.0 close_notify alert it sends there instead.
bool looks_like_dummy_request(const uint8_t* bytes, size_t n);

// The peer is on this host: a loopback address, or the local address itself.
bool peer_is_local(const sockaddr_storage& local, const sockaddr_storage& peer);

// Apache's dummy request from a local peer whose socket (the other end of
// this connection, found with sock_diag in the namespace of `sock`; -1: ours)
// is open in one of `servers` (processes that never served a tenant), or
// already closed, with the uid of one of them. Called on one thread per
// SockDiag (thread_local).
bool is_own_connection(const sockaddr_storage& local, const sockaddr_storage& peer, int sock, const uint8_t* bytes,
                       size_t n, const std::vector<pid_t>& servers);

}  // namespace vhqos
