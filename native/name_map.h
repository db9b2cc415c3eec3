// Host name → vhost index: built once, looked up per connection without
// allocating. The hash runs from a name's last byte to its first, so a caller
// trying every suffix of a name (wildcards) hashes each byte once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vhqos {

class NameMap {
 public:
  static constexpr uint64_t kSeed = 14695981039346656037ull;  // FNV-1a, 64 bit
  static uint64_t step(uint64_t h, uint8_t c) { return (h ^ c) * 1099511628211ull; }
  static uint64_t hash(std::string_view s) {
    uint64_t h = kSeed;
    for (size_t i = s.size(); i-- > 0;) h = step(h, static_cast<uint8_t>(s[i]));
    return h;
  }

  // The first claim of a key wins (the TS trie's `??=`).
  void add(std::string_view key, int value);
  // The value of key (whose hash(key) is h), or -1.
  int find(std::string_view key, uint64_t h) const;
  int find(std::string_view key) const { return find(key, hash(key)); }
  bool empty() const { return count_ == 0; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t off = 0, len = 0;  // the key, in arena_
    int value = -1;             // -1: empty slot
  };
  void grow();

  std::string arena_;
  std::vector<Slot> slots_;  // open addressing, linear probing, power-of-two size
  size_t count_ = 0;
};

}  // namespace vhqos
