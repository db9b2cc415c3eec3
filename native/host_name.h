// Host names as SNI and Host carry them, reduced to what the classifier
// compares: cleanHostName and hostFromAuthority of http-host.ts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace vhqos {

// Longest Host value / authority worth looking at (MAX_HOST_VALUE).
constexpr size_t kMaxHostValue = 300;

// Lower-case, one trailing dot stripped, 1..253 chars of dot-separated
// non-empty labels of [a-z0-9_-]; false if nothing sensible is left.
bool clean_host_name(const uint8_t* s, size_t n, std::string* out);

// `name[:port]` or `[ipv6][:port]` → the cleaned name or the normalised IP
// (IPv4-mapped becomes IPv4); false if unusable or longer than kMaxHostValue.
bool host_from_authority(const uint8_t* s, size_t n, std::string* out);

}  // namespace vhqos
