#include "inspect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vhqos {

namespace {

bool addr_text(const sockaddr_storage& ss, SockAddrText& out) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    out.port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    out.port = ntohs(a->sin6_port);
  } else {
    return false;
  }
  out.ip = buf;
  return true;
}

int sockopt_int(int fd, int opt, int* v) {
  socklen_t len = sizeof *v;
  return getsockopt(fd, SOL_SOCKET, opt, v, &len) < 0 ? -errno : 0;
}

}  // namespace

int describe_fd(int fd, SocketFacts& out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  out.is_socket = S_ISSOCK(st.st_mode);
  out.inode = st.st_ino;
  int fl = fcntl(fd, F_GETFL);
  out.nonblocking = fl >= 0 && (fl & O_NONBLOCK);
  if (!out.is_socket) return 0;
  int v = 0;
  if (sockopt_int(fd, SO_DOMAIN, &v) == 0) out.domain = v;
  if (sockopt_int(fd, SO_TYPE, &v) == 0) out.type = v;
  if (sockopt_int(fd, SO_ACCEPTCONN, &v) == 0) out.listening = v != 0;
  if (out.domain != AF_INET && out.domain != AF_INET6) return 0;
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) out.has_local = addr_text(ss, out.local);
  len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) out.has_peer = addr_text(ss, out.peer);
  return 0;
}

ssize_t peek_bytes(int fd, std::vector<uint8_t>& out, size_t max) {
  // Only as much buffer as is queued (max is 64 KiB by default; a request is
  // usually well under 1 KiB): the peek copies what is there, never more.
  int queued = 0;
  size_t want = max < 4096 ? max : 4096;
  if (ioctl(fd, SIOCINQ, &queued) == 0 && queued > 0)
    want = static_cast<size_t>(queued) < max ? static_cast<size_t>(queued) : max;
  out.resize(want);
  ssize_t n;
  do n = recv(fd, out.data(), want, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    out.clear();
    return -errno;
  }
  out.resize(n);
  return n;
}

ssize_t read_target_memory(pid_t pid, uint64_t addr, size_t len, std::vector<uint8_t>& out) {
  out.resize(len);
  struct iovec local = {out.data(), len};
  struct iovec remote = {reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0) {
    out.clear();
    return -errno;
  }
  out.resize(n);
  return n;
}

int task_ids(pid_t tid, pid_t* tgid, pid_t* ppid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int err = errno;
  close(fd);
  if (n < 0) return -err;
  buf[n] = 0;
  const char* t = strstr(buf, "\nTgid:");
  const char* p = strstr(buf, "\nPPid:");
  if (!t || !p) return -EPROTO;
  *tgid = static_cast<pid_t>(strtol(t + 6, nullptr, 10));
  *ppid = static_cast<pid_t>(strtol(p + 6, nullptr, 10));
  return 0;
}

}  // namespace vhqos
