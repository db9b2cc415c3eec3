// parseHttpHost of src/classify/http-host.ts, rule for rule; its header
// comment says which liberties are taken and why. One pass over the bytes;
// the Host value is gathered in a fixed buffer, only the result allocates.
#include <algorithm>
#include <cstring>

#include "host_name.h"
#include "vhost_table.h"

namespace vhqos {

namespace {

constexpr uint8_t LF = 10, CR = 13, SP = 32, HT = 9;
constexpr size_t kMaxMethod = 32;
constexpr int kMaxFields = 100;  // Apache's default LimitRequestFields
// Only this much of the request target is searched for an absolute-form authority.
constexpr size_t kMaxTarget = 2048;
constexpr size_t kNone = static_cast<size_t>(-1);

struct TcharTable {
  bool t[256] = {};
  constexpr TcharTable() {
    const char* s = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (; *s; s++) t[static_cast<uint8_t>(*s)] = true;
  }
};
constexpr TcharTable kTchar;

size_t find_lf(const uint8_t* b, size_t from, size_t n) {
  if (from >= n) return kNone;
  const void* p = memchr(b + from, LF, n - from);
  return p ? static_cast<size_t>(static_cast<const uint8_t*>(p) - b) : kNone;
}

// End of a line without its CR (CRLF is the normal line end).
size_t trim_cr(const uint8_t* b, size_t start, size_t end) { return end > start && b[end - 1] == CR ? end - 1 : end; }

enum class Line { Target, Partial, Bad };

// `method SP target SP HTTP/1.x` in [i, end): the target's bounds, Partial if
// the bytes so far could still become one, else Bad. `whole`: the line ended
// (LF seen) rather than the input.
Line request_line(const uint8_t* b, size_t i, size_t end, bool whole, size_t* ts, size_t* te) {
  const Line more = whole ? Line::Bad : Line::Partial;
  const size_t method_start = i;
  while (i < end && kTchar.t[b[i]] && i - method_start < kMaxMethod) i++;
  if (i - method_start >= kMaxMethod && i < end && kTchar.t[b[i]]) return Line::Bad;
  if (i == end) return more;
  if (i == method_start || b[i] != SP) return Line::Bad;
  while (i < end && b[i] == SP) i++;
  *ts = i;
  while (i < end && b[i] > 0x20 && b[i] < 0x7f) i++;
  if (i == end) return more;
  if (i == *ts || b[i] != SP) return Line::Bad;
  *te = i;
  while (i < end && b[i] == SP) i++;
  for (const char* v = "HTTP/1."; *v; v++, i++) {
    if (i == end) return more;
    if (b[i] != static_cast<uint8_t>(*v)) return Line::Bad;
  }
  if (i == end) return more;
  if (b[i] < '0' || b[i] > '9') return Line::Bad;
  i++;
  if (i == end) return whole ? Line::Target : Line::Partial;
  return Line::Bad;
}

bool is_alpha(uint8_t c) { return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
bool is_scheme_char(uint8_t c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-'; }

// `http://authority...` (scheme in any case) in [i, end): the authority,
// userinfo included. False for other schemes and other forms.
bool absolute_authority(const uint8_t* b, size_t i, size_t end, size_t* as, size_t* ae) {
  const size_t scheme = i;
  if (i == end || !is_alpha(b[i])) return false;
  i++;
  while (i < end && is_scheme_char(b[i])) i++;
  if (end - i < 3 || b[i] != ':' || b[i + 1] != '/' || b[i + 2] != '/') return false;
  if (i - scheme != 4 || (b[scheme] | 0x20) != 'h' || (b[scheme + 1] | 0x20) != 't' || (b[scheme + 2] | 0x20) != 't' ||
      (b[scheme + 3] | 0x20) != 'p')
    return false;
  i += 3;
  *as = i;
  while (i < end && b[i] != '/' && b[i] != '?' && b[i] != '#') i++;
  *ae = i;
  return true;
}

// Case-insensitive `host:` at the start of the line.
bool is_host_field(const uint8_t* b, size_t pos, size_t end) {
  return end - pos >= 5 && (b[pos] | 0x20) == 'h' && (b[pos + 1] | 0x20) == 'o' && (b[pos + 2] | 0x20) == 's' &&
         (b[pos + 3] | 0x20) == 't' && b[pos + 4] == ':';
}

// The first Host field and its folded continuations, capped like the TS
// strings: each piece at kMaxHostValue + 1 bytes, no piece appended once the
// value is longer than kMaxHostValue. So at most 2 * (kMaxHostValue + 1).
struct HostValue {
  uint8_t buf[2 * (kMaxHostValue + 1)];
  size_t len = 0;
  bool present = false;

  void append(const uint8_t* s, size_t n) {
    memcpy(buf + len, s, n);
    len += n;
  }
};

HostResult host_result(const HostValue& v) {
  size_t start = 0, end = v.len;
  while (start < end && (v.buf[start] == SP || v.buf[start] == HT)) start++;
  while (end > start && (v.buf[end - 1] == SP || v.buf[end - 1] == HT)) end--;
  HostResult r;
  r.kind = host_from_authority(v.buf + start, end - start, &r.host) ? HostResult::Host : HostResult::NoHost;
  if (r.kind != HostResult::Host) r.host.clear();
  return r;
}

HostResult kind_only(HostResult::Kind k) {
  HostResult r;
  r.kind = k;
  return r;
}

}  // namespace

HostResult parse_http_host(const uint8_t* b, size_t n) {
  size_t pos = 0;
  while (pos < n && (b[pos] == CR || b[pos] == LF)) pos++;
  const size_t nl = find_lf(b, pos, n);
  const size_t line_end = trim_cr(b, pos, nl == kNone ? n : nl);
  size_t ts = 0, te = 0;
  switch (request_line(b, pos, line_end, nl != kNone, &ts, &te)) {
    case Line::Bad: return kind_only(HostResult::NotHttp);
    case Line::Partial: return kind_only(HostResult::Incomplete);
    case Line::Target: break;
  }

  // An http:// target wins over Host; one without a usable host (userinfo
  // included) leaves the request without a name.
  size_t as, ae;
  if (absolute_authority(b, ts, te - ts > kMaxTarget ? ts + kMaxTarget : te, &as, &ae)) {
    HostResult r;
    if (memchr(b + as, '@', ae - as) == nullptr && host_from_authority(b + as, ae - as, &r.host)) {
      r.kind = HostResult::Host;
      return r;
    }
    r.host.clear();
    return kind_only(HostResult::NoHost);
  }

  // Header fields. The first Host field is final once the next line shows
  // it is not folded.
  HostValue value;
  int fields = 0;
  for (pos = nl + 1;;) {
    if (pos >= n) return kind_only(HostResult::Incomplete);
    const bool folded = b[pos] == SP || b[pos] == HT;
    if (value.present && !folded) return host_result(value);
    const size_t next = find_lf(b, pos, n);
    if (next == kNone) return kind_only(HostResult::Incomplete);
    const size_t end = trim_cr(b, pos, next);
    if (folded) {
      // Continuation of the previous field; joined with a space if it is Host.
      if (value.present && value.len <= kMaxHostValue) {
        value.append(&SP, 1);
        value.append(b + pos, std::min(end - pos, kMaxHostValue + 1));
      }
    } else {
      if (end == pos) return kind_only(HostResult::NoHost);  // end of the header block
      if (++fields > kMaxFields) return kind_only(HostResult::NoHost);
      if (is_host_field(b, pos, end)) {
        value.present = true;
        value.append(b + pos + 5, std::min(end - pos - 5, kMaxHostValue + 1));
      }
    }
    pos = next + 1;
  }
}

}  // namespace vhqos
