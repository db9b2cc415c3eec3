#include "cgroup_mover.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vhqos {

CgroupMover::CgroupMover(std::vector<std::vector<std::string>> procs) : procs_(std::move(procs)) {
  for (auto& g : procs_) fds_.emplace_back(g.size(), -1);
}

CgroupMover::~CgroupMover() {
  for (auto& g : fds_)
    for (int fd : g)
      if (fd >= 0) close(fd);
}

int CgroupMover::fd_of(int group, size_t i) {
  std::lock_guard<std::mutex> g(mu_);
  int& fd = fds_[group][i];
  if (fd < 0) {
    fd = open(procs_[group][i].c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      fd = -1;
      return -e;
    }
  }
  return fd;
}

int CgroupMover::move(pid_t pid, int group) {
  if (group < 0 || group >= groups()) return -EINVAL;
  if (pid <= 0) return -EINVAL;  // "0" would move the writer itself
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", pid);
  for (size_t i = 0; i < procs_[group].size(); i++) {
    int fd = fd_of(group, i);
    if (fd < 0) return fd;
    if (write(fd, buf, n) != n) return -errno;
  }
  return 0;
}

}  // namespace vhqos
