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

int CgroupMover::groups() const {
  std::lock_guard<std::mutex> g(mu_);
  return static_cast<int>(procs_.size());
}

int CgroupMover::move(pid_t pid, int group) {
  if (pid <= 0) return -EINVAL;  // "0" would move the writer itself
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (group < 0 || group >= static_cast<int>(procs_.size())) return -EINVAL;
    if (procs_[group].empty()) return -ENOENT;  // a group removed by a reload
    for (size_t i = 0; i < procs_[group].size(); i++) {
      int& fd = fds_[group][i];
      if (fd < 0) fd = open(procs_[group][i].c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return -errno;
      fds.push_back(fd);
    }
  }
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", pid);
  for (int fd : fds)
    if (write(fd, buf, n) != n) return -errno;
  return 0;
}

void CgroupMover::add_groups(std::vector<std::vector<std::string>> procs) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& p : procs) {
    fds_.emplace_back(p.size(), -1);
    procs_.push_back(std::move(p));
  }
}

void CgroupMover::remove_group(int group) {
  std::lock_guard<std::mutex> g(mu_);
  if (group < 0 || group >= static_cast<int>(procs_.size())) return;
  for (int fd : fds_[group])
    if (fd >= 0) close(fd);
  fds_[group].clear();
  procs_[group].clear();
}

}  // namespace vhqos
