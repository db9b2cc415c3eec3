// createClassifier of src/classify/classifier.ts over lookup tables built
// once: names in hash maps (exact names, and wildcard suffixes tried from
// the longest down), addresses in sorted arrays of binary IPs.
#include "vhost_table.h"

#include <algorithm>
#include <string_view>

namespace vhqos {

namespace {

bool valid_port(int port, bool any_ok) { return (any_ok && port == 0) || (port >= 1 && port <= 65535); }

bool key_less(const Ip16& a, int ap, const Ip16& b, int bp) {
  if (a == b) return ap < bp;
  return a < b;
}

}  // namespace

bool needs_more_bytes(const uint8_t* bytes, size_t n, size_t peek_bytes) {
  if (n == 0 || n >= peek_bytes) return false;
  const SniResult tls = parse_tls_sni(bytes, n);
  if (tls.kind != SniResult::NotTls) return tls.kind == SniResult::Incomplete;
  return parse_http_host(bytes, n).kind == HostResult::Incomplete;
}

std::string spec_error(const TableSpec& spec) {
  Ip16 ip;
  for (const VhostSpec& v : spec.vhosts) {
    for (const AddrSpec& a : v.addresses) {
      if (!ip_from_text(a.ip, &ip)) return "vhost " + v.name + ": \"" + a.ip + "\" is not an IP address";
      if (!valid_port(a.port, true)) return "vhost " + v.name + ": port " + std::to_string(a.port) + " is not 0..65535";
    }
  }
  for (const ListenerRule& l : spec.listeners) {
    if (!l.ip.empty() && !ip_from_text(l.ip, &ip)) return "listener: \"" + l.ip + "\" is not an IP address";
    if (!valid_port(l.port, false)) return "listener: port " + std::to_string(l.port) + " is not 1..65535";
  }
  return "";
}

VhostTable::VhostTable(const TableSpec& spec)
    : default_mode_(spec.default_mode), peek_bytes_(spec.peek_bytes), vhost_count_(spec.vhosts.size()) {
  Ip16 ip;
  for (size_t i = 0; i < spec.vhosts.size(); i++) {
    const VhostSpec& v = spec.vhosts[i];
    const int index = static_cast<int>(i);
    if (!v.hosts.empty()) has_names_ = true;
    for (const std::string& pattern : v.hosts) {
      if (pattern.size() >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        wildcard_.add(std::string_view(pattern).substr(2), index);
      } else {
        exact_.add(pattern, index);
      }
    }
    for (const AddrSpec& a : v.addresses) {
      if (!ip_from_text(a.ip, &ip) || !valid_port(a.port, true)) continue;
      (a.port ? by_ip_port_ : by_ip_).push_back(AddrKey{ip, a.port, index});
    }
  }
  for (const ListenerRule& l : spec.listeners) {
    if (!valid_port(l.port, false)) continue;
    if (l.ip.empty()) {
      listener_port_.push_back(AddrKey{Ip16{}, l.port, static_cast<int>(l.mode)});
    } else if (ip_from_text(l.ip, &ip)) {
      listener_ip_port_.push_back(AddrKey{ip, l.port, static_cast<int>(l.mode)});
    }
  }
  // Sorted for binary search; of equal keys the first claim stays (stable
  // sort, then unique keeps the first), like the TS maps' `if (!map.has(key))`.
  for (auto* keys : {&by_ip_port_, &by_ip_, &listener_ip_port_, &listener_port_}) {
    std::stable_sort(keys->begin(), keys->end(),
                     [](const AddrKey& a, const AddrKey& b) { return key_less(a.ip, a.port, b.ip, b.port); });
    keys->erase(std::unique(keys->begin(), keys->end(),
                            [](const AddrKey& a, const AddrKey& b) { return a.ip == b.ip && a.port == b.port; }),
                keys->end());
  }
}

int VhostTable::find(const std::vector<AddrKey>& keys, const Ip16& ip, int port) {
  auto it = std::lower_bound(keys.begin(), keys.end(), ip,
                             [port](const AddrKey& k, const Ip16& x) { return key_less(k.ip, k.port, x, port); });
  return it != keys.end() && it->ip == ip && it->port == port ? it->value : -1;
}

// Exact name first, else the longest wildcard suffix (strict sub-domains:
// only suffixes after a dot). One right-to-left pass hashes every suffix.
int VhostTable::lookup_name(const std::string& name) const {
  const bool wild = !wildcard_.empty();
  int wildcard = -1;
  uint64_t h = NameMap::kSeed;
  for (size_t i = name.size(); i-- > 0;) {
    if (wild && name[i] == '.') {
      // The suffix name[i+1..] has been hashed; a longer match found later replaces it.
      int v = wildcard_.find(std::string_view(name).substr(i + 1), h);
      if (v >= 0) wildcard = v;
    }
    h = NameMap::step(h, static_cast<uint8_t>(name[i]));
  }
  int exact = exact_.find(name, h);
  return exact >= 0 ? exact : wildcard;
}

Classification VhostTable::classify(const sockaddr* local, socklen_t len, const uint8_t* bytes, size_t n,
                             bool use_names) const {
  Classification v;
  SniResult tls;
  HostResult http;
  bool have_tls = false, have_http = false;
  std::string* unmatched = nullptr;
  if (use_names && has_names_ && n > 0) {
    // The name the connection asks for: SNI if TLS, else Host if HTTP.
    tls = parse_tls_sni(bytes, n);
    have_tls = true;
    std::string* name = nullptr;
    Classification::By by = Classification::Sni;
    if (tls.kind == SniResult::Sni) {
      name = &tls.host;
    } else if (tls.kind == SniResult::NotTls) {
      http = parse_http_host(bytes, n);
      have_http = true;
      if (http.kind == HostResult::Host) {
        name = &http.host;
        by = Classification::Host;
      }
    }
    if (name) {
      const int vhost = lookup_name(*name);
      if (vhost >= 0) {
        v.vhost = vhost;
        v.by = by;
        v.detail = std::move(*name);
        return v;  // a complete name: not incomplete
      }
      unmatched = name;
    }
  }

  // needsMoreBytes, reusing what was parsed above.
  if (n > 0 && n < peek_bytes_) {
    if (!have_tls) tls = parse_tls_sni(bytes, n);
    if (tls.kind != SniResult::NotTls) {
      v.incomplete = tls.kind == SniResult::Incomplete;
    } else {
      if (!have_http) http = parse_http_host(bytes, n);
      v.incomplete = http.kind == HostResult::Incomplete;
    }
  }

  Ip16 ip;
  int port;
  if (ip_from_sockaddr(local, len, &ip, &port)) {
    int vhost = find(by_ip_port_, ip, port);
    if (vhost < 0) vhost = find(by_ip_, ip, 0);
    if (vhost >= 0) {
      v.vhost = vhost;
      v.by = Classification::Address;
      append_address(ip, port, &v.detail);
      return v;
    }
  }
  v.by = Classification::Default;
  if (unmatched) v.detail = std::move(*unmatched);  // for the logs: the name nobody claims
  return v;
}

ListenerMode VhostTable::mode_for(const sockaddr* local, socklen_t len) const {
  Ip16 ip;
  int port;
  if (!ip_from_sockaddr(local, len, &ip, &port)) return default_mode_;
  int mode = find(listener_ip_port_, ip, port);
  if (mode < 0) mode = find(listener_port_, Ip16{}, port);
  return mode < 0 ? default_mode_ : static_cast<ListenerMode>(mode);
}

}  // namespace vhqos
