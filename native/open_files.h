// The cgroup interface files a group's moves (or pids.max writes) go to,
// kept open for the groups used most recently, at most `max_groups` of them
// (issue 10: 10,000 vhosts x 5 v1 hierarchies ran out of fds). Opening a
// cgroup.procs costs about as much as the move it serves (open+close ~24 us
// for 5 hierarchies, a quick move ~25 us, on v1 / 6.18), so a few vhosts keep
// one open set each, as before; past the bound the least recently used idle
// group is closed. A group is pinned while a write to its fds is under way, so
// no other thread closes (and reuses the numbers of) fds being written.
// Not thread-safe: the owner locks around acquire/release/forget.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace vhqos {

class OpenFiles {
 public:
  static constexpr size_t kDefaultMaxGroups = 256;
  explicit OpenFiles(size_t max_groups = kDefaultMaxGroups) : max_(max_groups ? max_groups : 1) {}
  ~OpenFiles();
  OpenFiles(const OpenFiles&) = delete;
  OpenFiles& operator=(const OpenFiles&) = delete;

  // The fds of group g's `paths` (opened O_WRONLY|O_CLOEXEC if not open),
  // appended to `out`; g is pinned until release(g). 0 or -errno of an open.
  int acquire(int g, const std::vector<std::string>& paths, std::vector<int>* out);
  void release(int g);
  // Closes g's files (now, or at its last release if it is pinned; a group's
  // paths never change, so a pinned one is still the right set meanwhile).
  void forget(int g);
  void forget_all();
  size_t open_groups() const { return open_; }
  size_t max_groups() const { return max_; }
  unsigned long long opens() const { return opens_; }  // files opened so far

 private:
  struct Entry {
    std::vector<int> fds;  // empty: not open
    int pins = 0;
    bool stale = false;        // forgotten while pinned
    int prev = -1, next = -1;  // LRU list, most recent at head_
  };
  void unlink(int g);
  void push_front(int g);
  void close_entry(int g);
  bool evict_one(int keep);
  int open_all(int g, const std::vector<std::string>& paths);
  std::vector<Entry> e_;
  size_t max_, open_ = 0;
  int head_ = -1, tail_ = -1;
  unsigned long long opens_ = 0;
};

}  // namespace vhqos
