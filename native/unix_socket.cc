#include "unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

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

bool JsonFrame::feed(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = static_cast<char>(p[i]);
    if (in_string_) {
      if (escaped_)
        escaped_ = false;
      else if (c == '\\')
        escaped_ = true;
      else if (c == '"')
        in_string_ = false;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      depth_++;
      started_ = true;
    } else if (c == '}' || c == ']') {
      depth_--;
      if (started_ && depth_ <= 0) return true;
    }
  }
  return false;
}

MessageReader::MessageReader(int conn_fd) {
  out_.conn_fd = conn_fd;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(conn_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    out_.pid = cred.pid;
    out_.uid = cred.uid;
    out_.gid = cred.gid;
  }
}

int MessageReader::on_readable(size_t max_bytes) {
  uint8_t buf[64 * 1024];
  char cbuf[CMSG_SPACE(sizeof(int) * 32)];
  while (!out_.complete && out_.data.size() < max_bytes) {
    struct iovec io = {buf, std::min(sizeof buf, max_bytes - out_.data.size())};
    struct msghdr m = {};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(out_.conn_fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    if (n < 0) return -errno;
    for (struct cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
        out_.fds.push_back(fd);
      }
    }
    if (n == 0) return 1;  // EOF
    out_.data.insert(out_.data.end(), buf, buf + n);
    out_.complete = frame_.feed(buf, static_cast<size_t>(n));
  }
  return 1;
}

void MessageReader::discard() {
  for (int fd : out_.fds) close(fd);
  out_.fds.clear();
  if (out_.conn_fd >= 0) close(out_.conn_fd);
  out_.conn_fd = -1;
}

}  // namespace vhqos
