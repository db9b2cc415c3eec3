// IP addresses as the classifier compares and reports them: one binary form
// (Ip16) for matching, and normaliseIp's text (address.ts) for details.
#pragma once
#include <sys/socket.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vhqos {

// A canonical IP: 16 bytes, IPv4 as ::ffff:a.b.c.d, so that plain and
// mapped IPv4 compare equal (normaliseIp turns the mapped form into IPv4).
struct Ip16 {
  uint8_t b[16];
  bool operator==(const Ip16& o) const;
  bool operator<(const Ip16& o) const;
};

// inet_pton text: IPv4 first, then IPv6. False for anything else.
bool ip_from_text(std::string_view text, Ip16* out);
// IPv6 text only (net.isIP(text) === 6 without a zone id).
bool ip6_from_text(std::string_view text, Ip16* out);
// An IPv4 address (held as ::ffff:a.b.c.d).
bool ip_is_v4(const Ip16& ip);
// The first `bits` (0..128) bits of ip, the rest zero: a range's network.
Ip16 ip_masked(const Ip16& ip, int bits);
// AF_INET / AF_INET6 socket address; false for null, short or other families.
bool ip_from_sockaddr(const sockaddr* sa, socklen_t len, Ip16* out, int* port);

// normaliseIp's text: dotted quad for IPv4 (and mapped IPv4), else RFC 5952
// (lower-case hex, longest run of two or more zero groups as "::", the first
// on a tie).
void append_ip(const Ip16& ip, std::string* out);
// formatAddress: "a.b.c.d:port" or "[v6]:port".
void append_address(const Ip16& ip, int port, std::string* out);

}  // namespace vhqos
