// The seccomp program vhqos installs in the supervised server.
#pragma once
#include <linux/filter.h>
#include <vector>

namespace vhqos {

// Builds the BPF program (with libseccomp) that sends the vhqos syscalls to
// the supervisor as user notifications and allows everything else.
// Returns 0 or -errno; the program is left in `out`.
int build_notify_filter(std::vector<sock_filter>& out);

// Names of the trapped syscalls, in the order the addon reports them.
extern const char* const kTrappedSyscalls[];
extern const int kTrappedSyscallCount;

}  // namespace vhqos
