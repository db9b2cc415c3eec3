// parseH2Authority of src/classify/h2-authority.ts, rule for rule: the
// `:authority` (else `host`) of an h2c connection's first header block. Its
// header comment says which connections count as refused and why the work
// is bounded; errors are values here, the first one met decides.
#include <cstring>
#include <vector>

#include "host_name.h"
#include "hpack_tables.h"
#include "vhost_table.h"

namespace vhqos {

namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kPrefaceLen = sizeof kPreface - 1;
constexpr size_t kFrameHeader = 9;
constexpr size_t kMaxFrame = 16384;  // SETTINGS_MAX_FRAME_SIZE before the server says otherwise
constexpr size_t kMaxTable = 4096;   // SETTINGS_HEADER_TABLE_SIZE likewise
constexpr size_t kKeep = kMaxHostValue + 1;
constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPushPromise = 5, kGoaway = 7,
                  kContinuation = 9;
constexpr uint8_t kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;
constexpr int kOther = 0, kAuthority = 1, kHost = 2;
constexpr int kEos = 256;

H2Result kind_only(H2Result::Kind k) {
  H2Result r;
  r.kind = k;
  return r;
}

// The Huffman code as a tree: node i has children tree[2i] (bit 0) and
// tree[2i+1]; a leaf is -1 - symbol. Built once.
struct HuffmanTree {
  int16_t t[2 * 256] = {};
  HuffmanTree() {
    int nodes = 1;
    for (int sym = 0; sym < 257; sym++) {
      const HuffmanCode& c = kHuffmanCodes[sym];
      int node = 0;
      for (int i = c.bits - 1; i >= 0; i--) {
        int slot = 2 * node + ((c.code >> i) & 1);
        if (i == 0) {
          t[slot] = static_cast<int16_t>(-1 - sym);
        } else {
          if (t[slot] == 0) t[slot] = static_cast<int16_t>(nodes++);
          node = t[slot];
        }
      }
    }
  }
};
const HuffmanTree& tree() {
  static const HuffmanTree t;
  return t;
}

enum class Fail { None, Truncated, Malformed };

// What the decoder keeps of a field (see the TS Field).
struct Field {
  int kind = kOther;
  bool pseudo = false;
  size_t name_len = 0, size = 0;
  bool usable = true;  // AUTHORITY / HOST: the value is shorter than kKeep
  std::string value;
};

struct Decoder {
  const uint8_t* b;
  size_t n, pos = 0;
  Fail fail = Fail::None;
  std::vector<Field> table;  // oldest first (the TS keeps newest first)
  size_t table_size = 0, max_size = kMaxTable;
  bool have_host = false, host_usable = false;
  std::string host;
  int fields = 0;
  bool regular = false;

  bool set(Fail f) {
    fail = f;
    return false;
  }
  bool byte(uint8_t* c) {
    if (pos >= n) return set(Fail::Truncated);
    *c = b[pos++];
    return true;
  }
  bool integer(uint8_t first, int prefix_bits, size_t* out) {
    const size_t max = (1u << prefix_bits) - 1;
    size_t v = first & max;
    if (v < max) {
      *out = v;
      return true;
    }
    for (int shift = 0;; shift += 7) {
      if (shift > 21) return set(Fail::Malformed);
      uint8_t c;
      if (!byte(&c)) return false;
      v += static_cast<size_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) {
        *out = v;
        return true;
      }
    }
  }
  // A string literal: its decoded length and first kKeep bytes.
  bool str(size_t* len, std::string* text) {
    uint8_t first;
    size_t raw;
    if (!byte(&first) || !integer(first, 7, &raw)) return false;
    if (raw > n - pos) return set(Fail::Truncated);
    const uint8_t* s = b + pos;
    pos += raw;
    text->clear();
    if (!(first & 0x80)) {
      *len = raw;
      text->assign(reinterpret_cast<const char*>(s), raw < kKeep ? raw : kKeep);
      return true;
    }
    const HuffmanTree& t = tree();
    size_t count = 0;
    int node = 0, depth = 0;
    bool ones = true;
    for (size_t i = 0; i < raw; i++) {
      for (int bit = 7; bit >= 0; bit--) {
        int v = (s[i] >> bit) & 1;
        int next = t.t[2 * node + v];
        depth++;
        ones = ones && v == 1;
        if (next < 0) {
          int sym = -1 - next;
          if (sym == kEos) return set(Fail::Malformed);
          if (text->size() < kKeep) text->push_back(static_cast<char>(sym));
          count++;
          node = 0;
          depth = 0;
          ones = true;
        } else {
          node = next;
        }
      }
    }
    if (depth > 7 || !ones) return set(Fail::Malformed);
    *len = count;
    return true;
  }
  // Static (1..61) or dynamic (62.., newest first) entry; null on a bad index.
  const Field* entry(size_t index, Field* scratch) {
    if (index == 0) return nullptr;
    if (index <= 61) {
      const char* name = kHpackStaticNames[index - 1];
      scratch->kind = index == 1 ? kAuthority : index == 38 ? kHost : kOther;
      scratch->pseudo = name[0] == ':';
      scratch->name_len = strlen(name);
      scratch->usable = true;
      scratch->value.clear();  // the static values of these two are empty
      return scratch;
    }
    size_t k = index - 62;
    if (k >= table.size()) return nullptr;
    return &table[table.size() - 1 - k];
  }
  void evict() {
    size_t drop = 0;
    while (table_size > max_size) table_size -= table[drop++].size;
    if (drop) table.erase(table.begin(), table.begin() + static_cast<long>(drop));
  }
  // A decoded field: true (with *out) if it settles the answer.
  bool field(int kind, bool pseudo, bool usable, const std::string& value, H2Result* out) {
    fields++;
    if (pseudo && regular) {
      set(Fail::Malformed);  // pseudo-headers come first
      return false;
    }
    if (!pseudo) regular = true;
    if (kind == kAuthority) {
      *out = H2Result{};
      out->kind =
          usable && host_from_authority(reinterpret_cast<const uint8_t*>(value.data()), value.size(), &out->host)
              ? H2Result::Host
              : H2Result::NoHost;
      if (out->kind != H2Result::Host) out->host.clear();
      return true;
    }
    if (kind == kHost && !have_host) {
      have_host = true;
      host_usable = usable;
      host = value;
    }
    return false;
  }

  // Runs until an answer, an error (fail set) or the end of the bytes.
  bool run(H2Result* out) {
    Field scratch;
    std::string name_text, value_text;
    while (pos < n) {
      uint8_t c;
      byte(&c);
      size_t index;
      if (c & 0x80) {
        if (!integer(c, 7, &index)) return false;
        const Field* e = entry(index, &scratch);
        if (!e) return set(Fail::Malformed);
        if (field(e->kind, e->pseudo, e->usable, e->value, out)) return true;
      } else if ((c & 0x40) || (c & 0xe0) == 0) {
        const bool indexed = (c & 0x40) != 0;
        if (!integer(c, indexed ? 6 : 4, &index)) return false;
        int kind;
        bool pseudo;
        size_t name_len;
        if (index > 0) {
          const Field* e = entry(index, &scratch);
          if (!e) return set(Fail::Malformed);
          kind = e->kind;
          pseudo = e->pseudo;
          name_len = e->name_len;
        } else {
          if (!str(&name_len, &name_text)) return false;
          kind = name_text == ":authority" ? kAuthority : name_text == "host" ? kHost : kOther;
          pseudo = !name_text.empty() && name_text[0] == ':';
        }
        size_t value_len;
        if (!str(&value_len, &value_text)) return false;
        const bool usable = kind == kOther || value_len < kKeep;
        if (kind == kOther || !usable) value_text.clear();
        if (indexed) {
          const size_t size = name_len + value_len + 32;
          if (size > max_size) {
            table.clear();
            table_size = 0;
          } else {
            Field f;
            f.kind = kind;
            f.pseudo = pseudo;
            f.name_len = name_len;
            f.size = size;
            f.usable = usable;
            f.value = value_text;
            table.push_back(std::move(f));
            table_size += size;
            evict();
          }
        }
        if (field(kind, pseudo, usable, value_text, out)) return true;
        if (fail != Fail::None) return false;
      } else {
        size_t size;
        if (!integer(c, 5, &size)) return false;
        if (size > kMaxTable || fields > 0) return set(Fail::Malformed);
        max_size = size;
        evict();
      }
      if (fail != Fail::None) return false;
    }
    return false;
  }
};

H2Result decode_block(const std::vector<uint8_t>& blk, bool complete) {
  Decoder d;
  d.b = blk.data();
  d.n = blk.size();
  H2Result out;
  if (d.run(&out)) return out;
  if (d.fail == Fail::Malformed) return kind_only(H2Result::NoHost);
  if (d.fail == Fail::Truncated || !complete) return kind_only(complete ? H2Result::NoHost : H2Result::Incomplete);
  H2Result r;
  if (d.have_host && d.host_usable &&
      host_from_authority(reinterpret_cast<const uint8_t*>(d.host.data()), d.host.size(), &r.host)) {
    r.kind = H2Result::Host;
    return r;
  }
  return kind_only(H2Result::NoHost);
}

uint32_t be24(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }

}  // namespace

H2Result parse_h2_authority(const uint8_t* b, size_t n) {
  for (size_t i = 0; i < kPrefaceLen; i++) {
    if (i == n) return kind_only(H2Result::Incomplete);
    if (b[i] != static_cast<uint8_t>(kPreface[i])) return kind_only(H2Result::NotH2);
  }
  std::vector<uint8_t> blk;
  bool complete = false, any = false, first = true;
  int64_t stream = -1;
  for (size_t pos = kPrefaceLen;;) {
    if (n - pos < kFrameHeader) break;
    const size_t len = be24(b + pos);
    const uint8_t type = b[pos + 3], flags = b[pos + 4];
    const uint32_t sid = ((uint32_t{b[pos + 5]} & 0x7f) << 24) | be24(b + pos + 6);
    if (len > kMaxFrame) return kind_only(H2Result::NoHost);
    if (first && type != kSettings) return kind_only(H2Result::NoHost);
    first = false;
    const size_t start = pos + kFrameHeader, end = start + len, avail = end < n ? end : n;
    auto take = [&](size_t from, size_t to) {  // clamped to the bytes we have
      from = from < avail ? from : avail;
      to = to < avail ? to : avail;
      if (to > from) blk.insert(blk.end(), b + from, b + to);
      any = true;
    };
    if (stream >= 0) {
      if (type != kContinuation || sid != stream) return kind_only(H2Result::NoHost);
      take(start, end);
      if (avail < end) break;
      if (flags & kEndHeaders) {
        complete = true;
        break;
      }
    } else if (type == kHeaders) {
      if (sid == 0 || sid % 2 == 0) return kind_only(H2Result::NoHost);
      size_t p = start, pad = 0;
      if (flags & kPadded) {
        if (p >= avail) break;
        pad = b[p++];
      }
      if (flags & kPriority) p += 5;
      if (p + pad > end) return kind_only(H2Result::NoHost);
      take(p, end - pad);
      if (end - pad > n) break;
      stream = sid;
      if (flags & kEndHeaders) {
        complete = true;
        break;
      }
      if (avail < end) break;
    } else if (type == kContinuation || type == kData || type == kRstStream || type == kPushPromise ||
               type == kGoaway) {
      return kind_only(H2Result::NoHost);
    }
    pos = end;
    if (pos >= n) break;
  }
  if (!any) return kind_only(H2Result::Incomplete);
  return decode_block(blk, complete);
}

}  // namespace vhqos
