#include "sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace vhqos {

SockDiag::~SockDiag() {
  for (auto& [ns, fd] : fds_) close(fd);
}

uint64_t SockDiag::netns_of(int sock) {
  int ns = ioctl(sock, SIOCGSKNS);
  if (ns < 0) return 0;
  struct stat st;
  uint64_t ino = fstat(ns, &st) == 0 ? st.st_ino : 0;
  close(ns);
  return ino;
}

// Created from inside the socket's namespace when it is not ours (a
// container's): a short-lived thread enters it, so the loop thread never does.
int SockDiag::fd_for(uint64_t netns, int sock_in_ns) {
  auto it = fds_.find(netns);
  if (it != fds_.end()) return it->second;
  if (sock_in_ns < 0) return -1;
  int fd = -1;
  int ns = ioctl(sock_in_ns, SIOCGSKNS);
  std::thread t([&] {
    if (ns >= 0 && setns(ns, CLONE_NEWNET) < 0) return;
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  });
  t.join();
  if (ns >= 0) close(ns);
  if (fd < 0) return -1;
  fds_[netns] = fd;
  return fd;
}

static void put_address(const sockaddr_storage& a, __be16* port, __be32* addr) {
  if (a.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&a);
    *port = s->sin_port;
    addr[0] = s->sin_addr.s_addr;
  } else {
    auto* s = reinterpret_cast<const sockaddr_in6*>(&a);
    *port = s->sin6_port;
    memcpy(addr, &s->sin6_addr, 16);
  }
}

void SockDiag::prepare(uint64_t netns, int listener) {
  if (fds_.count(netns) || proc_.count(netns)) return;
  int fd = fd_for(netns, listener);
  // A listener is found by its own address and an empty peer: if the kernel
  // cannot find this one, it cannot answer for connections either.
  sockaddr_storage local{}, none{};
  socklen_t len = sizeof local;
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&local), &len) < 0) return;
  none.ss_family = local.ss_family;
  if (fd < 0 || ask_kernel(fd, local, none, socket_cookie(listener), nullptr) != 1) proc_[netns] = true;
}

int SockDiag::held(uint64_t netns, int sock_in_ns, pid_t pid, const sockaddr_storage& local,
                   const sockaddr_storage& peer, uint64_t cookie, uint64_t* inode, uint32_t* uid) {
  if (inode) *inode = 0;
  if (uid) *uid = kNoUid;
  if ((local.ss_family != AF_INET && local.ss_family != AF_INET6) || local.ss_family != peer.ss_family)
    return -EAFNOSUPPORT;
  if (proc_.count(netns)) return held_per_proc(pid, local, peer, inode, uid);
  int fd = fd_for(netns, sock_in_ns);
  if (fd < 0) return -EPROTONOSUPPORT;
  return ask_kernel(fd, local, peer, cookie, inode, uid);
}

int SockDiag::ask_kernel(int fd, const sockaddr_storage& local, const sockaddr_storage& peer, uint64_t cookie,
                         uint64_t* inode, uint32_t* uid) {
  struct {
    nlmsghdr nh;
    inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nh.nlmsg_len = sizeof msg;
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = static_cast<__u8>(local.ss_family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0U;
  put_address(local, &msg.req.id.idiag_sport, msg.req.id.idiag_src);
  put_address(peer, &msg.req.id.idiag_dport, msg.req.id.idiag_dst);
  msg.req.id.idiag_cookie[0] = static_cast<__u32>(cookie);
  msg.req.id.idiag_cookie[1] = static_cast<__u32>(cookie >> 32);
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return -errno;
  alignas(nlmsghdr) char buf[1024];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < 0) return -errno;
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      int e = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
      // Not found, or found but another socket (cookie): the connection is gone.
      if (e == ENOENT || e == ESTALE) return 0;
      return e ? -e : 0;
    }
    if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      auto* m = reinterpret_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (inode) *inode = m->idiag_inode;
      if (uid) *uid = m->idiag_uid;
      return m->idiag_inode != 0 ? 1 : 0;
    }
  }
  return -EPROTO;
}

// /proc/net/tcp prints addresses as the raw 32-bit words in hex (%08X of
// each __be32 as the CPU reads it) and ports in host order (%04X).
static std::string proc_address(const sockaddr_storage& a) {
  char buf[64];
  if (a.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&a);
    snprintf(buf, sizeof buf, "%08X:%04X", s->sin_addr.s_addr, ntohs(s->sin_port));
  } else {
    auto* s = reinterpret_cast<const sockaddr_in6*>(&a);
    uint32_t w[4];
    memcpy(w, &s->sin6_addr, 16);
    snprintf(buf, sizeof buf, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], ntohs(s->sin6_port));
  }
  return buf;
}

int held_per_proc(pid_t pid, const sockaddr_storage& local, const sockaddr_storage& peer, uint64_t* inode,
                  uint32_t* uid) {
  if (uid) *uid = kNoUid;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/net/%s", static_cast<int>(pid), local.ss_family == AF_INET6 ? "tcp6" : "tcp");
  FILE* f = fopen(path, "re");
  if (!f) return -errno;
  std::string want = proc_address(local) + " " + proc_address(peer);
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    // "  sl: local rem st tx:rx tr:when retr uid timeout inode ..."
    char* p = strchr(line, ':');
    if (!p || strncmp(p + 2, want.c_str(), want.size()) != 0) continue;
    unsigned long long ino = 0, owner = kNoUid;
    int field = 0;
    for (char* tok = strtok(p + 1, " "); tok; tok = strtok(nullptr, " ")) {
      if (++field == 7) owner = strtoull(tok, nullptr, 10);
      if (field == 9) {
        ino = strtoull(tok, nullptr, 10);
        break;
      }
    }
    if (inode) *inode = ino;
    if (uid) *uid = static_cast<uint32_t>(owner);
    found = ino != 0 ? 1 : 0;
    if (found) break;  // a TIME_WAIT entry of an older connection may share the addresses
  }
  fclose(f);
  return found;
}

uint64_t socket_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0) return 0;
  return cookie;
}

}  // namespace vhqos
