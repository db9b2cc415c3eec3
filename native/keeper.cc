#include "keeper.h"

#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pending_ids.h"

namespace vhqos {

namespace {

void send_continue(int lfd, uint64_t id, struct seccomp_notif_resp* resp, unsigned resp_size) {
  memset(resp, 0, resp_size);
  resp->id = id;
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp);
}

void answer_held(int lfd, PendingIdSlots* pending, struct seccomp_notif_resp* resp, unsigned resp_size) {
  // What a dead supervisor had received and not answered: it continues. An
  // id answered meanwhile is refused by the kernel (ENOENT), harmlessly.
  for (size_t i = 0; i < PendingIdSlots::kSlots; i++) {
    uint64_t id = pending->id[i].load();
    if (id) send_continue(lfd, id, resp, resp_size);
  }
  // And the one it had in hand when it died (pending_ids.h).
  if (pending->received_any.load(std::memory_order_acquire)) {
    uint64_t last = pending->last_received.load(std::memory_order_relaxed);
    for (uint64_t k = 0; k <= PendingIdSlots::kAfterReceived; k++) send_continue(lfd, last + k, resp, resp_size);
  }
}

// Hands the listener and the table to a root peer. true: it has them now.
bool hand_over(int conn, int lfd, int memfd, pid_t root) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) return false;
  int32_t data = root;
  struct iovec iov = {&data, sizeof data};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))];
  memset(ctl, 0, sizeof ctl);
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  int fds[2] = {lfd, memfd};
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  return sendmsg(conn, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof data);
}

}  // namespace

void keeper_serve(int lfd, int wfd, int memfd, int sock, const char* path, pid_t root, void* pending_mem, void* req_buf,
                  unsigned req_size, void* resp_buf, unsigned resp_size) {
  auto* pending = static_cast<PendingIdSlots*>(pending_mem);
  auto* req = static_cast<struct seccomp_notif*>(req_buf);
  auto* resp = static_cast<struct seccomp_notif_resp*>(resp_buf);
  auto leave = [&](int code) {
    if (sock >= 0 && path) unlink(path);
    _exit(code);
  };
  // The supervisor now: the one that started us (its pipe), later one that attached (its connection).
  int owner = wfd;
  for (;;) {
    if (owner >= 0) {
      // Someone supervises: wait until they are gone (their end closes), or every target is.
      // Attaches meanwhile are refused: one supervisor at a time.
      struct pollfd p[3] = {{owner, POLLIN, 0}, {lfd, 0, 0}, {sock, POLLIN, 0}};
      int n = poll(p, sock >= 0 ? 3 : 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) leave(1);
      if (p[1].revents & POLLHUP) leave(0);
      if (sock >= 0 && (p[2].revents & POLLIN)) {
        int c = accept4(sock, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) close(c);
      }
      if (p[0].revents) {
        char b;
        if (owner != wfd && recv(owner, &b, 1, MSG_DONTWAIT) > 0) continue;  // not a close
        close(owner);
        owner = -1;
        answer_held(lfd, pending, resp, resp_size);
      }
      continue;
    }
    struct pollfd p[2] = {{lfd, POLLIN, 0}, {sock, POLLIN, 0}};
    int n = poll(p, sock >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) leave(1);
    if (sock >= 0 && (p[1].revents & POLLIN)) {
      int c = accept4(sock, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        if (hand_over(c, lfd, memfd, root)) {
          owner = c;  // it answers from now on
          continue;
        }
        close(c);
      }
    }
    if (p[0].revents & POLLHUP && !(p[0].revents & POLLIN)) leave(0);  // no target left
    if (!(p[0].revents & POLLIN)) continue;
    memset(req, 0, req_size);
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      leave(1);
    }
    note_received(pending, req->id);  // the next supervisor's gap starts from here
    send_continue(lfd, req->id, resp, resp_size);
  }
}

int keeper_attach(const char* path, int* listener, int* memfd, pid_t* root) {
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a.sun_path) return -ENAMETOOLONG;
  strcpy(a.sun_path, path);
  int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) return -errno;
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    int e = errno;
    close(c);
    return -e;
  }
  struct timeval tv = {5, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int32_t data = 0;
  struct iovec iov = {&data, sizeof data};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))];
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
  struct cmsghdr* cm = n == static_cast<ssize_t>(sizeof data) ? CMSG_FIRSTHDR(&m) : nullptr;
  if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
    int e = n < 0 ? errno : EBUSY;  // closed at once: another supervisor has it
    close(c);
    return -e;
  }
  int fds[2];
  memcpy(fds, CMSG_DATA(cm), sizeof fds);
  *listener = fds[0];
  *memfd = fds[1];
  *root = data;
  return c;
}

}  // namespace vhqos
