// Ids of notifications the supervisor holds unanswered (parked accepts), in
// memory it shares with the keeper: if the supervisor is killed, the keeper
// answers them CONTINUE, so no server process waits forever on a dead
// supervisor. One writer adds (the loop thread); any thread removes.
//
// The table alone leaves a gap: a notification the loop has received but not
// yet answered or listed (the instant between RECV and SEND, which a busy
// server makes most of the loop's time). So whoever receives also records the
// last id it got; the keeper answers that one and the few after it. Ids are
// sequential per filter and received in order, so a lost one is there; an
// answered id gives ENOENT and one not yet received EINPROGRESS, harmlessly.
#pragma once
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vhqos {

struct PendingIdSlots {
  static constexpr size_t kSlots = 16384;
  // Ids after last_received the keeper also answers (RECV returned, not yet recorded).
  static constexpr uint64_t kAfterReceived = 8;
  std::atomic<uint64_t> id[kSlots];
  std::atomic<uint64_t> last_received;
  std::atomic<uint64_t> received_any;  // 1 once last_received is set
};
// A table made by an older vhqos (a keeper from before an upgrade) ends before last_received.
constexpr size_t kSlotsOnlySize = PendingIdSlots::kSlots * sizeof(std::atomic<uint64_t>);

// What RECV just returned: recorded before anything else is done with it.
inline void note_received(PendingIdSlots* slots, uint64_t id) {
  slots->last_received.store(id, std::memory_order_relaxed);
  slots->received_any.store(1, std::memory_order_release);
}

class PendingIds {
 public:
  // Maps the keeper's shared memory (a memfd of sizeof(PendingIdSlots)); false if it cannot.
  bool attach(int memfd) {
    struct stat st;
    if (fstat(memfd, &st) < 0 || static_cast<size_t>(st.st_size) < kSlotsOnlySize) return false;
    with_received_ = static_cast<size_t>(st.st_size) >= sizeof(PendingIdSlots);
    size_ = with_received_ ? sizeof(PendingIdSlots) : kSlotsOnlySize;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (p == MAP_FAILED) return false;
    slots_ = static_cast<PendingIdSlots*>(p);
    return true;
  }
  ~PendingIds() {
    if (slots_) munmap(slots_, size_);
  }
  // The loop thread, right after each RECV.
  void received(uint64_t id) {
    if (with_received_) note_received(slots_, id);
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
  size_t size_ = 0;
  bool with_received_ = false;  // false: an older keeper's table (no last_received cell to touch)
  size_t next_ = 0;
};

}  // namespace vhqos
