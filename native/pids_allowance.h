// Idle server processes are not a tenant's (issue "per-vhost connection
// slots", part 4): a prefork child stays in the cgroup of the vhost it last
// served (moving it out and back costs a move per connection), so that
// vhost's pids.max is written as its configured value plus the server
// processes idle in it (parked in accept). Its own requests' processes and
// the children serving it are limited as configured; the idle pool is not
// counted. One write when the number changes, from the loop thread.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "open_files.h"

namespace vhqos {

struct PidsLimit {
  long long max = -1;              // configured pids.max; -1: none (nothing written)
  std::vector<std::string> files;  // the group's pids.max file(s)
};

class PidsAllowance {
 public:
  // The pids.max files of at most `open_groups` groups stay open at once.
  explicit PidsAllowance(std::vector<PidsLimit> limits, size_t open_groups = OpenFiles::kDefaultMaxGroups);
  PidsAllowance(const PidsAllowance&) = delete;
  PidsAllowance& operator=(const PidsAllowance&) = delete;
  bool any() const { return any_; }
  // A reload: new limits by group; each is written again at the next count.
  void set_limits(std::vector<PidsLimit> limits);
  // Group g has `idle` idle server processes now. 0 or -errno of the write.
  int set_idle(int g, int idle);
  long long written(int g) const { return g >= 0 && static_cast<size_t>(g) < written_.size() ? written_[g] : -1; }
  unsigned long long writes() const { return writes_; }
  size_t open_groups() const { return files_->open_groups(); }

 private:
  std::vector<PidsLimit> limits_;
  std::unique_ptr<OpenFiles> files_;  // opened on first write
  std::vector<long long> written_;
  bool any_ = false;
  unsigned long long writes_ = 0;
};

}  // namespace vhqos
