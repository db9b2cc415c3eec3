#include "open_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace vhqos {

OpenFiles::~OpenFiles() {
  for (auto& x : e_)
    for (int fd : x.fds) close(fd);
}

void OpenFiles::unlink(int g) {
  Entry& x = e_[g];
  if (x.prev >= 0)
    e_[x.prev].next = x.next;
  else
    head_ = x.next;
  if (x.next >= 0)
    e_[x.next].prev = x.prev;
  else
    tail_ = x.prev;
  x.prev = x.next = -1;
}

void OpenFiles::push_front(int g) {
  Entry& x = e_[g];
  x.prev = -1;
  x.next = head_;
  if (head_ >= 0) e_[head_].prev = g;
  head_ = g;
  if (tail_ < 0) tail_ = g;
}

void OpenFiles::close_entry(int g) {
  Entry& x = e_[g];
  if (x.fds.empty()) return;
  unlink(g);
  for (int fd : x.fds) close(fd);
  x.fds.clear();
  x.stale = false;
  open_--;
}

// Closes the least recently used unpinned group other than `keep`.
bool OpenFiles::evict_one(int keep) {
  for (int g = tail_; g >= 0; g = e_[g].prev) {
    if (g == keep || e_[g].pins > 0) continue;
    close_entry(g);
    return true;
  }
  return false;
}

int OpenFiles::open_all(int g, const std::vector<std::string>& paths) {
  std::vector<int> fds;
  fds.reserve(paths.size());
  for (const auto& p : paths) {
    int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    // Out of fds: give back every idle group's and try once more.
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
      while (evict_one(g)) {
      }
      fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      int err = errno;
      for (int f : fds) close(f);
      return -err;
    }
    opens_++;
    fds.push_back(fd);
  }
  e_[g].fds = std::move(fds);
  push_front(g);
  open_++;
  while (open_ > max_ && evict_one(g)) {
  }
  return 0;
}

int OpenFiles::acquire(int g, const std::vector<std::string>& paths, std::vector<int>* out) {
  if (g < 0) return -EINVAL;
  if (static_cast<size_t>(g) >= e_.size()) e_.resize(g + 1);
  Entry& x = e_[g];
  if (x.fds.empty() && !paths.empty()) {
    int rc = open_all(g, paths);
    if (rc < 0) return rc;
  } else if (head_ != g && !x.fds.empty()) {
    unlink(g);
    push_front(g);
  }
  Entry& y = e_[g];
  y.pins++;
  out->insert(out->end(), y.fds.begin(), y.fds.end());
  return 0;
}

void OpenFiles::release(int g) {
  if (g < 0 || static_cast<size_t>(g) >= e_.size()) return;
  Entry& x = e_[g];
  if (x.pins > 0) x.pins--;
  if (x.pins == 0 && (x.stale || open_ > max_)) {
    if (x.stale)
      close_entry(g);
    else
      while (open_ > max_ && evict_one(-1)) {
      }
  }
}

void OpenFiles::forget(int g) {
  if (g < 0 || static_cast<size_t>(g) >= e_.size()) return;
  if (e_[g].pins > 0)
    e_[g].stale = true;
  else
    close_entry(g);
}

void OpenFiles::forget_all() {
  for (size_t g = 0; g < e_.size(); g++) forget(static_cast<int>(g));
}

}  // namespace vhqos
