#include "host_name.h"

#include <string_view>

#include "ip_text.h"

namespace vhqos {

namespace {

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }
bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_label_char(uint8_t c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-'; }
bool is_name_char(uint8_t c) { return is_label_char(lower(c)) || c == '.'; }
bool is_ip6_char(uint8_t c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.'; }

// `(?::[0-9]*)?$` from position i.
bool port_then_end(const uint8_t* s, size_t i, size_t n) {
  if (i == n) return true;
  if (s[i] != ':') return false;
  for (i++; i < n; i++) {
    if (!is_digit(s[i])) return false;
  }
  return true;
}

}  // namespace

bool clean_host_name(const uint8_t* s, size_t n, std::string* out) {
  // Only ASCII letters change case; anything non-ASCII fails the label check.
  if (n > 0 && s[n - 1] == '.') n--;
  if (n == 0 || n > 253) return false;
  bool empty_label = true;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = lower(s[i]);
    if (c == '.') {
      if (empty_label) return false;
      empty_label = true;
    } else if (is_label_char(c)) {
      empty_label = false;
    } else {
      return false;
    }
  }
  if (empty_label) return false;
  out->resize(n);
  for (size_t i = 0; i < n; i++) (*out)[i] = static_cast<char>(lower(s[i]));
  return true;
}

bool host_from_authority(const uint8_t* s, size_t n, std::string* out) {
  if (n > kMaxHostValue) return false;
  if (n > 0 && s[0] == '[') {
    size_t i = 1;
    while (i < n && is_ip6_char(s[i])) i++;
    if (i == 1 || i == n || s[i] != ']' || !port_then_end(s, i + 1, n)) return false;
    Ip16 ip;
    if (!ip6_from_text(std::string_view(reinterpret_cast<const char*>(s + 1), i - 1), &ip)) return false;
    out->clear();
    append_ip(ip, out);
    return true;
  }
  size_t i = 0;
  while (i < n && is_name_char(s[i])) i++;
  if (i == 0 || !port_then_end(s, i, n)) return false;
  return clean_host_name(s, i, out);
}

}  // namespace vhqos
