// Feature probes: what this kernel supports, tried rather than inferred from
// version numbers.
#pragma once

namespace vhqos {

struct Features {
  bool user_notif = false;          // SECCOMP_RET_USER_NOTIF (5.0)
  bool new_listener = false;        // a listener could really be created here
  bool sync_wakeup = false;         // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6)
  bool wait_killable_recv = false;  // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19)
  bool addfd = false;               // SECCOMP_IOCTL_NOTIF_ADDFD (5.9)
  bool addfd_send = false;          // SECCOMP_ADDFD_FLAG_SEND (5.14)
  bool pidfd_open = false;          // 5.3
  bool pidfd_getfd = false;         // 5.6
  int listener_errno = 0;           // why new_listener failed
};

Features probe_features();

}  // namespace vhqos
