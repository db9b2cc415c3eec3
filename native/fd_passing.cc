#include "fd_passing.h"

#include <sys/socket.h>
#include <cerrno>
#include <cstring>

namespace vhqos {

void send_with_fd(int sock, const void* data, size_t len, int fd) {
  char buf[CMSG_SPACE(sizeof(int))];
  memset(buf, 0, sizeof buf);
  struct iovec io = {const_cast<void*>(data), len};
  struct msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (fd >= 0) {
    m.msg_control = buf;
    m.msg_controllen = sizeof buf;
    struct cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
  }
  while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

ssize_t recv_with_fd(int sock, void* data, size_t len, int* fd_out) {
  char buf[CMSG_SPACE(sizeof(int))];
  struct iovec io = {data, len};
  struct msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = buf;
  m.msg_controllen = sizeof buf;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  *fd_out = -1;
  if (n < 0) return -errno;
  struct cmsghdr* h = CMSG_FIRSTHDR(&m);
  if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) memcpy(fd_out, CMSG_DATA(h), sizeof(int));
  return n;
}

}  // namespace vhqos
