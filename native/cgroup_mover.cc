#include "cgroup_mover.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vhqos {

CgroupMover::CgroupMover(std::vector<std::vector<std::string>> procs, size_t open_groups)
    : procs_(std::move(procs)), files_(open_groups) {}

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
    int rc = files_.acquire(group, procs_[group], &fds);
    if (rc < 0) return rc;
  }
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", pid);
  int rc = 0;
  for (int fd : fds)
    if (write(fd, buf, n) != n) {
      rc = -errno;
      break;
    }
  std::lock_guard<std::mutex> g(mu_);
  files_.release(group);
  return rc;
}

void CgroupMover::add_groups(std::vector<std::vector<std::string>> procs) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& p : procs) procs_.push_back(std::move(p));
}

void CgroupMover::remove_group(int group) {
  std::lock_guard<std::mutex> g(mu_);
  if (group < 0 || group >= static_cast<int>(procs_.size())) return;
  files_.forget(group);
  procs_[group].clear();
}

size_t CgroupMover::open_groups() const {
  std::lock_guard<std::mutex> g(mu_);
  return files_.open_groups();
}

unsigned long long CgroupMover::opens() const {
  std::lock_guard<std::mutex> g(mu_);
  return files_.opens();
}

}  // namespace vhqos
