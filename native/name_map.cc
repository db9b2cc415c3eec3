#include "name_map.h"

#include <cstring>

namespace vhqos {

namespace {
size_t slot_of(uint64_t h, size_t mask) { return static_cast<size_t>(h ^ (h >> 29)) & mask; }
}  // namespace

int NameMap::find(std::string_view key, uint64_t h) const {
  if (count_ == 0) return -1;
  size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(h, mask);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.value < 0) return -1;
    if (s.hash == h && s.len == key.size() && memcmp(arena_.data() + s.off, key.data(), key.size()) == 0)
      return s.value;
  }
}

void NameMap::add(std::string_view key, int value) {
  if (value < 0 || key.size() > UINT32_MAX) return;
  uint64_t h = hash(key);
  if (find(key, h) >= 0) return;
  if ((count_ + 1) * 2 > slots_.size()) grow();  // at most half full: short probes
  size_t mask = slots_.size() - 1;
  size_t i = slot_of(h, mask);
  while (slots_[i].value >= 0) i = (i + 1) & mask;
  slots_[i] = Slot{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), value};
  arena_.append(key.data(), key.size());
  count_++;
}

void NameMap::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
  size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.value < 0) continue;
    size_t i = slot_of(s.hash, mask);
    while (slots_[i].value >= 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace vhqos
