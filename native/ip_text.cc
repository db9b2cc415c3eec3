#include "ip_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <cstring>

namespace vhqos {

namespace {

const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_mapped(const Ip16& ip) { return memcmp(ip.b, kMappedPrefix, 12) == 0; }

void set_v4(const void* four, Ip16* out) {
  memcpy(out->b, kMappedPrefix, 12);
  memcpy(out->b + 12, four, 4);
}

// inet_pton wants a C string; longer texts are no IP anyway (max 45 chars).
bool c_string(std::string_view text, char (&buf)[64]) {
  if (text.size() >= sizeof buf || memchr(text.data(), 0, text.size())) return false;
  memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  return true;
}

void append_decimal(unsigned v, std::string* out) {
  char d[10];
  int k = 0;
  do {
    d[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (k) out->push_back(d[--k]);
}

void append_hex(unsigned v, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    unsigned nib = (v >> shift) & 15;
    if (nib || started || shift == 0) {
      out->push_back(kHex[nib]);
      started = true;
    }
  }
}

}  // namespace

bool Ip16::operator==(const Ip16& o) const { return memcmp(b, o.b, 16) == 0; }
bool Ip16::operator<(const Ip16& o) const { return memcmp(b, o.b, 16) < 0; }

bool ip_is_v4(const Ip16& ip) { return is_mapped(ip); }

Ip16 ip_masked(const Ip16& ip, int bits) {
  Ip16 out = ip;
  for (int i = 0; i < 16; i++) {
    const int keep = bits - 8 * i;
    if (keep >= 8) continue;
    out.b[i] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xff00 >> keep);
  }
  return out;
}

bool ip_from_text(std::string_view text, Ip16* out) {
  char buf[64];
  if (!c_string(text, buf)) return false;
  in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    set_v4(&a4, out);
    return true;
  }
  return inet_pton(AF_INET6, buf, out->b) == 1;
}

bool ip6_from_text(std::string_view text, Ip16* out) {
  char buf[64];
  return c_string(text, buf) && inet_pton(AF_INET6, buf, out->b) == 1;
}

bool ip_from_sockaddr(const sockaddr* sa, socklen_t len, Ip16* out, int* port) {
  if (!sa || len < static_cast<socklen_t>(sizeof(sa_family_t))) return false;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    set_v4(&a->sin_addr, out);
    *port = ntohs(a->sin_port);
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    memcpy(out->b, &a->sin6_addr, 16);  // the scope id is ignored, as inet_ntop does
    *port = ntohs(a->sin6_port);
    return true;
  }
  return false;
}

void append_ip(const Ip16& ip, std::string* out) {
  if (is_mapped(ip)) {
    for (int i = 12; i < 16; i++) {
      if (i > 12) out->push_back('.');
      append_decimal(ip.b[i], out);
    }
    return;
  }
  unsigned g[8];
  for (int i = 0; i < 8; i++) g[i] = (ip.b[2 * i] << 8) | ip.b[2 * i + 1];
  // Longest run of at least two zero groups; the first one on a tie.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i]) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      out->append("::");
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) out->push_back(':');
    append_hex(g[i], out);
  }
}

void append_address(const Ip16& ip, int port, std::string* out) {
  if (is_mapped(ip)) {
    append_ip(ip, out);
  } else {
    out->push_back('[');
    append_ip(ip, out);
    out->push_back(']');
  }
  out->push_back(':');
  append_decimal(static_cast<unsigned>(port), out);
}

}  // namespace vhqos
