#include "unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "sys.h"

namespace vhqos {

int unix_listen(const std::string& path, int mode, int backlog) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return -ENAMETOOLONG;
  memcpy(sa.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || chmod(path.c_str(), mode) < 0 ||
      listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

namespace {

// Tracks whether the bytes so far hold one complete top-level JSON value.
struct JsonFrame {
  int depth = 0;
  bool in_string = false, escaped = false, started = false;
  bool feed(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i++) {
      char c = static_cast<char>(p[i]);
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        depth++;
        started = true;
      } else if (c == '}' || c == ']') {
        depth--;
        if (started && depth <= 0) return true;
      }
    }
    return false;
  }
};

int remaining_ms(int64_t deadline) {
  int64_t r = deadline - now_ms();
  return r < 0 ? 0 : static_cast<int>(r);
}

}  // namespace

int unix_accept_message(int listen_fd, int timeout_ms, size_t max_bytes, Received& out) {
  int64_t deadline = now_ms() + timeout_ms;
  int conn;
  for (;;) {
    conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn >= 0) break;
    if (errno != EAGAIN && errno != EINTR) return -errno;
    struct pollfd p = {listen_fd, POLLIN, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n == 0) return -ETIMEDOUT;
    if (n < 0 && errno != EINTR) return -errno;
  }
  out.conn_fd = conn;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    out.pid = cred.pid;
    out.uid = cred.uid;
    out.gid = cred.gid;
  }
  // Each peer gets its own time budget for its message, from now.
  deadline = now_ms() + timeout_ms;
  JsonFrame frame;
  std::vector<uint8_t> buf(64 * 1024);
  char cbuf[CMSG_SPACE(sizeof(int) * 32)];
  while (!out.complete && out.data.size() < max_bytes) {
    struct iovec io = {buf.data(), std::min(buf.size(), max_bytes - out.data.size())};
    struct msghdr m = {};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {conn, POLLIN, 0};
      int r = poll(&p, 1, remaining_ms(deadline));
      if (r == 0) break;  // the peer went quiet: return what there is
      continue;
    }
    if (n < 0) return -errno;
    for (struct cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
        out.fds.push_back(fd);
      }
    }
    if (n == 0) break;  // EOF
    out.data.insert(out.data.end(), buf.data(), buf.data() + n);
    out.complete = frame.feed(buf.data(), n);
  }
  return 0;
}

}  // namespace vhqos
