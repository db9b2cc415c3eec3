// The seccomp program vhqos installs in the supervised server.
#pragma once
#include <linux/filter.h>
#include <vector>

namespace vhqos {

// Which syscalls go to the supervisor: everything the first-read model needs,
// only what classification at accept needs (accept), or accept and the reads
// (classification at accept with classifyEach: request); or nothing (the
// stand-alone placement mode: the server asks vhqos itself, see src/placement/).
enum class TrapSet { Read, Accept, AcceptRequests, None };

// Builds the BPF program (with libseccomp) that sends the vhqos syscalls to
// the supervisor as user notifications and allows everything else.
// Returns 0 or -errno; the program is left in `out`.
int build_notify_filter(TrapSet set, std::vector<sock_filter>& out);

// The one list of trapped syscalls per set (fcntl: only F_DUPFD and
// F_DUPFD_CLOEXEC, in the read set). The addon exports them for the OCI
// profile transformation and for `vhqos check`.
struct TrappedSyscalls {
  const char* const* names;
  int count;
  bool fcntl_dup;
};
TrappedSyscalls trapped_syscalls(TrapSet set);

}  // namespace vhqos
