#include "peer_cred.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

#include "js_error.h"
#include "sys.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace vhqos {

int peer_identity(int sock, PeerIdentity& out) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  // pid 0: the peer lives in a pid namespace that has no name for it here.
  if (cred.pid <= 0) return -ESRCH;
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
  int pidfd = -1;
  len = sizeof pidfd;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) {
    out.pidfd = pidfd;
    out.pidfd_from_socket = true;
    return 0;
  }
  // Any other error (ESRCH, EINVAL: the peer is gone) must not fall back to
  // its pid, which may be someone else's by now.
  if (errno != ENOPROTOOPT) return -ESRCH;
  // Older kernels: the process that holds the pid now (the caller checks it).
  int fd = sys_pidfd_open(cred.pid);
  if (fd < 0) return fd;
  out.pidfd = fd;
  out.pidfd_from_socket = false;
  return 0;
}

int pidfd_exited(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  if (n < 0) return -errno;
  if (p.revents & POLLNVAL) return -EBADF;
  return (p.revents & (POLLIN | POLLHUP)) ? 1 : 0;
}

}  // namespace vhqos

namespace {

int FdArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected an fd");
  return info[0].As<Napi::Number>().Int32Value();
}

Napi::Value PeerIdentityJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vhqos::PeerIdentity id;
  int rc = vhqos::peer_identity(FdArg(info), id);
  if (rc < 0) vhqos::ThrowSys(env, rc, "getsockopt(SO_PEERCRED)");
  auto o = Napi::Object::New(env);
  o.Set("pid", id.pid);
  o.Set("uid", id.uid);
  o.Set("gid", id.gid);
  o.Set("pidfd", id.pidfd);
  o.Set("pidfdFromSocket", id.pidfd_from_socket);
  return o;
}

Napi::Value PidfdExitedJs(const Napi::CallbackInfo& info) {
  int rc = vhqos::pidfd_exited(FdArg(info));
  if (rc < 0) vhqos::ThrowSys(info.Env(), rc, "poll");
  return Napi::Boolean::New(info.Env(), rc == 1);
}

}  // namespace

void RegisterPeerCredBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("peerIdentity", Napi::Function::New(env, PeerIdentityJs));
  exports.Set("pidfdExited", Napi::Function::New(env, PidfdExitedJs));
}
