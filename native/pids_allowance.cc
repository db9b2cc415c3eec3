#include "pids_allowance.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vhqos {

PidsAllowance::PidsAllowance(std::vector<PidsLimit> limits) : limits_(std::move(limits)) {
  fds_.resize(limits_.size());
  written_.assign(limits_.size(), -1);
  for (size_t g = 0; g < limits_.size(); g++) {
    fds_[g].assign(limits_[g].files.size(), -1);
    any_ = any_ || (limits_[g].max >= 0 && !limits_[g].files.empty());
  }
}

PidsAllowance::~PidsAllowance() { close_all(); }

void PidsAllowance::close_all() {
  for (auto& v : fds_)
    for (int fd : v)
      if (fd >= 0) close(fd);
  fds_.clear();
}

void PidsAllowance::set_limits(std::vector<PidsLimit> limits) {
  close_all();
  limits_ = std::move(limits);
  fds_.resize(limits_.size());
  written_.assign(limits_.size(), -1);
  any_ = false;
  for (size_t g = 0; g < limits_.size(); g++) {
    fds_[g].assign(limits_[g].files.size(), -1);
    any_ = any_ || (limits_[g].max >= 0 && !limits_[g].files.empty());
  }
}

int PidsAllowance::set_idle(int g, int idle) {
  if (g < 0 || static_cast<size_t>(g) >= limits_.size() || limits_[g].max < 0) return 0;
  long long want = limits_[g].max + (idle > 0 ? idle : 0);
  if (want == written_[g]) return 0;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld\n", want);
  int rc = 0;
  for (size_t i = 0; i < limits_[g].files.size(); i++) {
    int& fd = fds_[g][i];
    if (fd < 0) fd = open(limits_[g].files[i].c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, buf, n, 0) != n) rc = -errno;
  }
  if (rc == 0) written_[g] = want;
  writes_++;
  return rc;
}

}  // namespace vhqos
