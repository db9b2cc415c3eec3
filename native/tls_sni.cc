// parseTlsSni of src/classify/tls-sni.ts, rule for rule: a ClientHello
// gathered from consecutive handshake records, every length checked against
// its structure (inconsistent: NotTls) and against the bytes we have
// (missing: Incomplete). Errors are values here, not exceptions: the first
// one met decides, as the TS throw does.
#include <algorithm>
#include <cstring>
#include <vector>

#include "host_name.h"
#include "vhost_table.h"

namespace vhqos {

namespace {

constexpr uint8_t kHandshake = 22;
constexpr uint8_t kClientHello = 1;
constexpr unsigned kExtServerName = 0;
constexpr unsigned kNameTypeHost = 0;
constexpr size_t kMaxRecord = 16384;  // TLSPlaintext.length limit (2^14)
constexpr size_t kUnbounded = static_cast<size_t>(-1);

enum class Fail { None, Truncated, Malformed };

// Cursor that knows where its structure ends (end) and where our bytes end (avail).
struct Reader {
  const uint8_t* b;
  size_t pos, end, avail;
  Fail* fail;

  bool need(size_t n) {
    if (n > end - pos) return set(Fail::Malformed);
    if (pos + n > avail) return set(Fail::Truncated);
    return true;
  }
  bool set(Fail f) {
    *fail = f;
    return false;
  }
  bool u8(unsigned* v) {
    if (!need(1)) return false;
    *v = b[pos++];
    return true;
  }
  bool u16(unsigned* v) {
    if (!need(2)) return false;
    *v = (b[pos] << 8) | b[pos + 1];
    pos += 2;
    return true;
  }
  bool bytes(size_t n) {
    if (!need(n)) return false;
    pos += n;
    return true;
  }
  // A nested structure of n bytes; skipped here, whether we have them or not.
  bool sub(size_t n, Reader* out) {
    if (n > end - pos) return set(Fail::Malformed);
    *out = Reader{b, pos, pos + n, avail, fail};
    pos += n;
    return true;
  }
  bool done() const { return pos >= end; }
};

SniResult kind_only(SniResult::Kind k) {
  SniResult r;
  r.kind = k;
  return r;
}

SniResult failed(Fail f) { return kind_only(f == Fail::Truncated ? SniResult::Incomplete : SniResult::NotTls); }

// ServerNameList: u16 length, then entries name_type(1) length(2) name.
SniResult server_name(Reader& data) {
  Reader list;
  unsigned len, type;
  if (!data.u16(&len) || !data.sub(len, &list)) return failed(*data.fail);
  while (!list.done()) {
    if (!list.u8(&type) || !list.u16(&len)) return failed(*list.fail);
    const size_t at = list.pos;
    if (!list.bytes(len)) return failed(*list.fail);
    if (type == kNameTypeHost) {
      SniResult r;
      r.kind = clean_host_name(list.b + at, len, &r.host) ? SniResult::Sni : SniResult::NoSni;
      if (r.kind != SniResult::Sni) r.host.clear();
      return r;
    }
  }
  return kind_only(SniResult::NoSni);
}

// Walk a ClientHello (RFC 8446 §4.1.2, same layout back to SSL 3.0) to server_name.
SniResult client_hello(const uint8_t* hs, size_t n) {
  Fail fail = Fail::None;
  Reader top{hs, 0, kUnbounded, n, &fail};
  Reader r, skipped, exts, data;
  unsigned v, hi, lo, len, type;
  if (!top.u8(&v) || !top.u8(&hi) || !top.u16(&lo) || !top.sub((hi << 16) | lo, &r)) return failed(fail);
  if (!r.u8(&v)) return failed(fail);
  if (v != 3) return failed(Fail::Malformed);  // legacy_version major
  if (!r.u8(&v) || !r.bytes(32) || !r.u8(&len)) return failed(fail);
  if (len > 32) return failed(Fail::Malformed);  // session id
  if (!r.bytes(len) || !r.u16(&len)) return failed(fail);
  if (len < 2 || len % 2 != 0) return failed(Fail::Malformed);  // cipher suites
  if (!r.sub(len, &skipped) || !r.u8(&len)) return failed(fail);
  if (len < 1) return failed(Fail::Malformed);  // compression methods
  if (!r.sub(len, &skipped)) return failed(fail);
  if (r.done()) return kind_only(SniResult::NoSni);  // no extensions at all (SSL 3.0 style)
  if (!r.u16(&len) || !r.sub(len, &exts)) return failed(fail);
  while (!exts.done()) {
    if (!exts.u16(&type) || !exts.u16(&len) || !exts.sub(len, &data)) return failed(fail);
    if (type == kExtServerName) return server_name(data);
  }
  return kind_only(SniResult::NoSni);
}

// Gathering the handshake message from its records: where the message's
// bytes are, how many we have (have) and how many it says it has (want).
struct Handshake {
  enum { Ok, Partial, Bad } status = Partial;
  size_t have = 0;
  size_t want = kUnbounded;  // 4 + handshake length, once known
  size_t records = 0;
  uint8_t head[4] = {};  // the message's first bytes, across records
};

Handshake scan_records(const uint8_t* b, size_t n) {
  Handshake h;
  auto bad = [&h] {
    h.status = Handshake::Bad;
    return h;
  };
  for (size_t pos = 0;;) {
    // Record header: type(1) version(2) length(2).
    if (pos < n && b[pos] != kHandshake) return bad();
    if (pos + 1 < n && b[pos + 1] != 3) return bad();
    if (pos + 5 > n) break;
    const size_t len = (b[pos + 3] << 8) | b[pos + 4];
    if (len == 0 || len > kMaxRecord) return bad();
    const size_t got = std::min(len, n - (pos + 5));
    for (size_t i = 0; i < got && h.have + i < 4; i++) h.head[h.have + i] = b[pos + 5 + i];
    h.have += got;
    h.records++;
    if (h.want == kUnbounded && h.have >= 4) h.want = 4 + ((h.head[1] << 16) | (h.head[2] << 8) | h.head[3]);
    if (h.have >= h.want || got < len) break;
    pos += 5 + len;
  }
  if (h.have == 0) return h;  // Partial
  h.status = h.head[0] == kClientHello ? Handshake::Ok : Handshake::Bad;
  return h;
}

// Copies the first `count` message bytes out of consecutive records into out.
void gather(const uint8_t* b, size_t n, size_t count, uint8_t* out) {
  for (size_t pos = 0, done = 0; done < count && pos + 5 <= n;) {
    const size_t len = (b[pos + 3] << 8) | b[pos + 4];
    const size_t got = std::min({len, n - (pos + 5), count - done});
    memcpy(out + done, b + pos + 5, got);
    done += got;
    pos += 5 + len;
  }
}

}  // namespace

SniResult parse_tls_sni(const uint8_t* b, size_t n) {
  const Handshake h = scan_records(b, n);
  if (h.status == Handshake::Partial) return kind_only(SniResult::Incomplete);
  if (h.status == Handshake::Bad) return kind_only(SniResult::NotTls);
  // Bytes past `want` belong to a later message: no reader may reach them.
  const size_t count = std::min(h.have, h.want);
  if (h.records == 1) return client_hello(b + 5, count);
  // Split over records (big key shares do that): parse a contiguous copy.
  uint8_t small[4096];
  std::vector<uint8_t> big;
  uint8_t* copy = small;
  if (count > sizeof small) {
    big.resize(count);
    copy = big.data();
  }
  gather(b, n, count, copy);
  return client_hello(copy, count);
}

}  // namespace vhqos
