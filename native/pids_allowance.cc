#include "pids_allowance.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vhqos {

PidsAllowance::PidsAllowance(std::vector<PidsLimit> limits, size_t open_groups)
    : files_(std::make_unique<OpenFiles>(open_groups)) {
  set_limits(std::move(limits));
}

void PidsAllowance::set_limits(std::vector<PidsLimit> limits) {
  files_->forget_all();
  limits_ = std::move(limits);
  written_.assign(limits_.size(), -1);
  any_ = false;
  for (auto& l : limits_) any_ = any_ || (l.max >= 0 && !l.files.empty());
}

int PidsAllowance::set_idle(int g, int idle) {
  if (g < 0 || static_cast<size_t>(g) >= limits_.size() || limits_[g].max < 0) return 0;
  long long want = limits_[g].max + (idle > 0 ? idle : 0);
  if (want == written_[g]) return 0;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld\n", want);
  std::vector<int> fds;
  int rc = files_->acquire(g, limits_[g].files, &fds);
  for (int fd : fds)
    if (pwrite(fd, buf, n, 0) != n) rc = -errno;
  files_->release(g);
  if (rc == 0) written_[g] = want;
  writes_++;
  return rc;
}

}  // namespace vhqos
