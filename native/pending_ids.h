// Ids of notifications the supervisor holds unanswered (parked accepts), in
// memory it shares with the keeper: if the supervisor is killed, the keeper
// answers them CONTINUE, so no server process waits forever on a dead
// supervisor. One writer adds (the loop thread); any thread removes.
#pragma once
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vhqos {

struct PendingIdSlots {
  static constexpr size_t kSlots = 16384;
  std::atomic<uint64_t> id[kSlots];
};

class PendingIds {
 public:
  // Maps the keeper's shared memory (a memfd of sizeof(PendingIdSlots)); false if it cannot.
  bool attach(int memfd) {
    void* p = mmap(nullptr, sizeof(PendingIdSlots), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (p == MAP_FAILED) return false;
    slots_ = static_cast<PendingIdSlots*>(p);
    return true;
  }
  ~PendingIds() {
    if (slots_) munmap(slots_, sizeof(PendingIdSlots));
  }
  // A slot index, or -1 when there is no table or it is full (then that id is not covered).
  int add(uint64_t id) {
    if (!slots_) return -1;
    for (size_t n = 0; n < PendingIdSlots::kSlots; n++) {
      size_t i = (next_ + n) % PendingIdSlots::kSlots;
      uint64_t zero = 0;
      if (slots_->id[i].compare_exchange_strong(zero, id)) {
        next_ = i + 1;
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  void remove(int slot) {
    if (slots_ && slot >= 0) slots_->id[slot].store(0);
  }

 private:
  PendingIdSlots* slots_ = nullptr;
  size_t next_ = 0;
};

}  // namespace vhqos
