// createClassifier of src/classify/classifier.ts over lookup tables built
// once: names in hash maps (exact names, and wildcard suffixes), addresses
// in sorted arrays of binary networks, one per family and prefix length
// (with or without ports), each naming the candidate set it selects.
#include "vhost_table.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace vhqos {

namespace {

bool valid_port(int port, bool any_ok) { return (any_ok && port == 0) || (port >= 1 && port <= 65535); }

bool key_less(const Ip16& a, int ap, const Ip16& b, int bp) {
  if (a == b) return ap < bp;
  return a < b;
}

// The prefix within Ip16 an address spec names (IPv4's plus 96), -1 if out of range.
int spec_bits(const Ip16& ip, int prefix) {
  const bool v4 = ip_is_v4(ip);
  if (prefix < 0) return 128;
  if (prefix > (v4 ? 32 : 128)) return -1;
  return v4 ? prefix + 96 : prefix;
}

}  // namespace

bool needs_more_bytes(const uint8_t* bytes, size_t n, size_t peek_bytes) {
  if (n == 0 || n >= peek_bytes) return false;
  const SniResult tls = parse_tls_sni(bytes, n);
  if (tls.kind != SniResult::NotTls) return tls.kind == SniResult::Incomplete;
  const H2Result h2 = parse_h2_authority(bytes, n);
  if (h2.kind != H2Result::NotH2) return h2.kind == H2Result::Incomplete;
  return parse_http_host(bytes, n).kind == HostResult::Incomplete;
}

bool worth_reclassifying(const uint8_t* b, size_t old_n, size_t n) {
  if (old_n == 0 || n <= old_n || b[0] == 22 || b[0] == 'P') return n != old_n;  // TLS, h2c's PRI (and POST, PUT)
  if (b[old_n - 1] == '\n') return true;
  return memchr(b + old_n, '\n', n - old_n) != nullptr;
}

std::string spec_error(const TableSpec& spec) {
  Ip16 ip;
  for (const VhostSpec& v : spec.vhosts) {
    for (const AddrSpec& a : v.addresses) {
      if (!ip_from_text(a.ip, &ip)) return "vhost " + v.name + ": \"" + a.ip + "\" is not an IP address";
      if (spec_bits(ip, a.prefix) < 0)
        return "vhost " + v.name + ": prefix /" + std::to_string(a.prefix) + " is too long for " + a.ip;
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
      const int bits = spec_bits(ip, a.prefix);
      if (bits < 0) continue;
      const bool v4 = ip_is_v4(ip), ports = a.port != 0;
      auto level = std::find_if(levels_.begin(), levels_.end(),
                                [&](const Level& l) { return l.v4 == v4 && l.bits == bits && l.ports == ports; });
      if (level == levels_.end()) level = levels_.insert(levels_.end(), Level{v4, bits, ports, {}});
      level->keys.push_back(AddrKey{ip_masked(ip, bits), a.port, index});
    }
    if (v.addresses.empty()) anywhere_.members.push_back(index);
  }
  for (const ListenerRule& l : spec.listeners) {
    if (!valid_port(l.port, false)) continue;
    if (l.ip.empty()) {
      listener_port_.push_back(AddrKey{Ip16{}, l.port, static_cast<int>(l.mode)});
    } else if (ip_from_text(l.ip, &ip)) {
      listener_ip_port_.push_back(AddrKey{ip, l.port, static_cast<int>(l.mode)});
    }
  }
  auto by_key = [](const AddrKey& a, const AddrKey& b) { return key_less(a.ip, a.port, b.ip, b.port); };
  auto same_key = [](const AddrKey& a, const AddrKey& b) { return a.ip == b.ip && a.port == b.port; };
  auto finish = [&](Candidates& c) {
    std::sort(c.members.begin(), c.members.end());
    c.members.erase(std::unique(c.members.begin(), c.members.end()), c.members.end());
    for (int m : c.members) {
      if (!spec.vhosts[static_cast<size_t>(m)].hosts.empty())
        c.named = true;
      else if (c.hostless < 0)
        c.hostless = m;
    }
  };
  // Most specific first: the longer prefix, then ip:port before ip
  // (specificity in address.ts). Families never compete: each address is
  // looked up in its own family's levels only.
  std::stable_sort(levels_.begin(), levels_.end(), [](const Level& a, const Level& b) {
    return a.bits != b.bits ? a.bits > b.bits : a.ports > b.ports;
  });
  // Every vhost listing one key joins that key's candidate set; the keys,
  // sorted for binary search, then name their set.
  for (Level& level : levels_) {
    std::vector<AddrKey>* keys = &level.keys;
    std::stable_sort(keys->begin(), keys->end(), by_key);
    std::vector<AddrKey> merged;
    for (const AddrKey& k : *keys) {
      if (merged.empty() || !same_key(merged.back(), k)) {
        merged.push_back(AddrKey{k.ip, k.port, static_cast<int>(classes_.size())});
        classes_.emplace_back();
      }
      classes_.back().members.push_back(k.value);
    }
    keys->swap(merged);
  }
  for (Candidates& c : classes_) finish(c);
  finish(anywhere_);
  // Listener rules: of equal keys the first stays (stable sort, then unique
  // keeps the first), like the TS maps' `if (!map.has(key))`.
  for (auto* keys : {&listener_ip_port_, &listener_port_}) {
    std::stable_sort(keys->begin(), keys->end(), by_key);
    keys->erase(std::unique(keys->begin(), keys->end(), same_key), keys->end());
  }
}

int VhostTable::find(const std::vector<AddrKey>& keys, const Ip16& ip, int port) {
  auto it = std::lower_bound(keys.begin(), keys.end(), ip,
                             [port](const AddrKey& k, const Ip16& x) { return key_less(k.ip, k.port, x, port); });
  return it != keys.end() && it->ip == ip && it->port == port ? it->value : -1;
}

// Exact name first, else the longest wildcard suffix (strict sub-domains:
// only suffixes after a dot), each only if it names a candidate. One
// right-to-left pass hashes every suffix.
int VhostTable::lookup_name(const std::string& name, const Candidates& c) const {
  const bool wild = !wildcard_.empty();
  int wildcard = -1;
  uint64_t h = NameMap::kSeed;
  for (size_t i = name.size(); i-- > 0;) {
    if (wild && name[i] == '.') {
      // The suffix name[i+1..] has been hashed; a longer match found later replaces it.
      int v = wildcard_.find(std::string_view(name).substr(i + 1), h);
      if (v >= 0 && c.has(v)) wildcard = v;
    }
    h = NameMap::step(h, static_cast<uint8_t>(name[i]));
  }
  int exact = exact_.find(name, h);
  return exact >= 0 && c.has(exact) ? exact : wildcard;
}

Classification VhostTable::classify(const sockaddr* local, socklen_t len, const uint8_t* bytes, size_t n,
                                    bool use_names) const {
  Classification v;
  Ip16 ip;
  int port = 0;
  const bool have_local = ip_from_sockaddr(local, len, &ip, &port);
  const Candidates* cands = &anywhere_;
  if (have_local) {
    const bool v4 = ip_is_v4(ip);
    for (const Level& level : levels_) {
      if (level.v4 != v4) continue;
      const int k = find(level.keys, level.bits == 128 ? ip : ip_masked(ip, level.bits), level.ports ? port : 0);
      if (k >= 0) {
        cands = &classes_[static_cast<size_t>(k)];
        break;
      }
    }
  }

  SniResult tls;
  H2Result h2;
  HostResult http;
  bool have_tls = false, have_h2 = false, have_http = false;
  std::string* unmatched = nullptr;
  if (use_names && cands->named && n > 0) {
    // The name the connection asks for: SNI if TLS, else :authority if h2c, else Host if HTTP.
    tls = parse_tls_sni(bytes, n);
    have_tls = true;
    std::string* name = nullptr;
    Classification::By by = Classification::Sni;
    if (tls.kind == SniResult::Sni) {
      name = &tls.host;
    } else if (tls.kind == SniResult::NotTls) {
      h2 = parse_h2_authority(bytes, n);
      have_h2 = true;
      by = Classification::Host;
      if (h2.kind == H2Result::Host) {
        name = &h2.host;
      } else if (h2.kind == H2Result::NotH2) {
        http = parse_http_host(bytes, n);
        have_http = true;
        if (http.kind == HostResult::Host) name = &http.host;
      }
    }
    if (name) {
      const int vhost = lookup_name(*name, *cands);
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
      if (!have_h2) h2 = parse_h2_authority(bytes, n);
      if (h2.kind != H2Result::NotH2) {
        v.incomplete = h2.kind == H2Result::Incomplete;
      } else {
        if (!have_http) http = parse_http_host(bytes, n);
        v.incomplete = http.kind == HostResult::Incomplete;
      }
    }
  }

  if (cands->hostless >= 0 && have_local) {
    v.vhost = cands->hostless;
    v.by = Classification::Address;
    append_address(ip, port, &v.detail);
    return v;
  }
  v.by = Classification::Default;
  if (unmatched) v.detail = std::move(*unmatched);  // for the logs: the name no candidate claims
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
