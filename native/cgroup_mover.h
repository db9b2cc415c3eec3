// Moving a process into one of the instance's cgroups (one write of its pid
// to cgroup.procs per hierarchy). Mechanism only: the group table (which
// cgroup.procs files make up group N) comes from policy at start; files are
// opened on first use and only the most recently used groups' stay open
// (OpenFiles), so a large config does not hold thousands of fds.
#pragma once
#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

#include "open_files.h"

namespace vhqos {

class CgroupMover {
 public:
  // procs[g] = the cgroup.procs paths of group g, one per hierarchy; the files
  // of at most `open_groups` groups stay open at once.
  explicit CgroupMover(std::vector<std::vector<std::string>> procs, size_t open_groups = OpenFiles::kDefaultMaxGroups);
  CgroupMover(const CgroupMover&) = delete;
  CgroupMover& operator=(const CgroupMover&) = delete;
  // Writes pid into every hierarchy of group g. 0 or -errno (-ESRCH: gone).
  // Thread-safe: the loop and the move worker may both call it.
  int move(pid_t pid, int group);
  int groups() const;
  // A reload: groups are only ever appended (indices stay valid), and a
  // removed vhost's group is emptied (moves into it fail with -ENOENT).
  void add_groups(std::vector<std::vector<std::string>> procs);
  void remove_group(int group);
  size_t open_groups() const;
  unsigned long long opens() const;

 private:
  std::vector<std::vector<std::string>> procs_;
  OpenFiles files_;
  mutable std::mutex mu_;  // guards procs_ and files_
};

}  // namespace vhqos
