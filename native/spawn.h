// Starting the server under the vhqos filter, and the fail-open keeper.
#pragma once
#include <sys/types.h>
#include <string>
#include <vector>

#include "filter.h"

namespace vhqos {

struct SpawnRequest {
  std::string file;  // absolute path, resolved by the caller
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string cwd;                // empty: inherit
  int stdio[3] = {-1, -1, -1};    // -1: inherit
  bool new_process_group = true;  // Apache stops its whole group: keep it out of ours
  TrapSet traps = TrapSet::Read;
};

struct SpawnResult {
  pid_t pid = -1;
  int pidfd = -1;
  int listener = -1;
  bool sync_wakeup = false;  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP accepted
};

// Forks; the child installs the filter (no_new_privs, NEW_LISTENER), hands the
// listener fd back over a socketpair and execs. Only async-signal-safe calls
// run between fork and exec (Node is multi-threaded). Returns 0 or -errno.
int spawn_supervised(const SpawnRequest& req, SpawnResult& res, const char** failed_syscall);

// Forks a process that holds a dup of `listener` and, once the supervisor
// (this process) is gone, answers every notification with CONTINUE until the
// last target exits, so the server never sees ENOSYS. Returns its pid or -errno.
// `keeper_pipe_out` receives the write end the supervisor keeps open;
// `pending_fd_out` a memfd of PendingIdSlots (pending_ids.h): the ids written
// there are answered CONTINUE by the keeper first when it takes over.
// `attach_path` (or null): the keeper's socket for `vhqos attach` (keeper.h);
// `root`: the server's root pid, told to who attaches.
int start_keeper(int listener, int* keeper_pipe_out, int* pending_fd_out, const char* attach_path = nullptr,
                 pid_t root = 0);

}  // namespace vhqos
