#include "own_connection.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "notify_loop.h"
#include "sock_diag.h"

namespace vhqos {

namespace {

constexpr char kDummyStart[] = "OPTIONS * HTTP/1.0\r\nUser-Agent: ";
constexpr char kDummyEnd[] = " (internal dummy connection)\r\n\r\n";
constexpr uint8_t kCloseNotify[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00};
constexpr size_t kMaxDummy = 1024;

bool is_loopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&a)->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family != AF_INET6) return false;
  const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

bool same_ip(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&b)->sin_addr.s_addr;
  if (a.ss_family == AF_INET6)
    return memcmp(&reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr,
                  &reinterpret_cast<const sockaddr_in6*>(&b)->sin6_addr, 16) == 0;
  return false;
}

// Some fd of process `pid` is socket:[inode].
bool holds_socket(pid_t pid, uint64_t inode) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", static_cast<int>(pid));
  DIR* d = opendir(dir);
  if (!d) return false;
  char want[48];
  int wlen = snprintf(want, sizeof want, "socket:[%llu]", static_cast<unsigned long long>(inode));
  bool found = false;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char path[320], link[64];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    ssize_t n = readlink(path, link, sizeof link);
    if (n == wlen && memcmp(link, want, static_cast<size_t>(n)) == 0) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

bool looks_like_dummy_request(const uint8_t* b, size_t n) {
  if (n == sizeof kCloseNotify) return memcmp(b, kCloseNotify, n) == 0;
  const size_t start = sizeof kDummyStart - 1, end = sizeof kDummyEnd - 1;
  if (n > kMaxDummy || n < start + end || memcmp(b, kDummyStart, start) != 0 ||
      memcmp(b + n - end, kDummyEnd, end) != 0)
    return false;
  for (size_t i = start; i < n - end; i++) {
    if (b[i] < 0x20 || b[i] > 0x7e) return false;  // one printable User-Agent line
  }
  return true;
}

bool peer_is_local(const sockaddr_storage& local, const sockaddr_storage& peer) {
  return is_loopback(peer) || same_ip(local, peer);
}

// Accept mode: the servers are the supervised processes that never served a
// tenant (the server's parent, children before their first connection).
bool NotifyLoop::own_connection(const sockaddr_storage& local, const sockaddr_storage& peer, int sock,
                                const uint8_t* bytes, size_t n) {
  if (!looks_like_dummy_request(bytes, n) || !peer_is_local(local, peer)) return false;
  std::vector<pid_t> servers;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [pid, p] : procs_) {
      if (!p.tenant && (p.group < 0 || p.group == opts_.accept.server_group)) servers.push_back(pid);
    }
  }
  return is_own_connection(local, peer, sock, bytes, n, servers);
}

bool is_own_connection(const sockaddr_storage& local, const sockaddr_storage& peer, int sock, const uint8_t* bytes,
                       size_t n, const std::vector<pid_t>& servers) {
  if (servers.empty() || !looks_like_dummy_request(bytes, n) || !peer_is_local(local, peer)) return false;
  thread_local SockDiag diag;  // one netlink socket per network namespace, per thread
  const uint64_t netns = sock >= 0 ? SockDiag::netns_of(sock) : 0;
  // Without inet_diag (a kernel without the module) the kernel finds not even
  // our own end: then read the namespace's /proc/<pid>/net/tcp instead.
  const bool kernel = diag.held(netns, sock, servers[0], local, peer, sock >= 0 ? socket_cookie(sock) : kNoCookie) == 1;
  uint64_t inode = 0;
  uint32_t uid = kNoUid;
  // The client socket's own address is our peer, its peer our local address.
  int r = kernel ? diag.held(netns, sock, servers[0], peer, local, kNoCookie, &inode, &uid)
                 : held_per_proc(servers[0], peer, local, &inode, &uid);
  if (r < 0 || uid == kNoUid) return false;
  for (pid_t pid : servers) {
    if (r == 1 && inode != 0) {
      if (holds_socket(pid, inode)) return true;
    } else {
      char path[32];
      snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
      struct stat st;
      if (stat(path, &st) == 0 && st.st_uid == uid) return true;
    }
  }
  return false;
}

}  // namespace vhqos
