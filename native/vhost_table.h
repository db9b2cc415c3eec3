// Which vhost a connection belongs to, decided natively from its local
// address and first bytes: a port of src/classify/ (tls-sni.ts, http-host.ts,
// classifier.ts), answer for answer. Pure C++17: no N-API, no logging, no
// syscalls; it runs once per connection on the hot path, gets raw bytes from
// the network, and never throws, never reads past `n`.
#pragma once
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ip_text.h"
#include "name_map.h"

namespace vhqos {

// SNI of a TLS ClientHello (tls-sni.ts). host is set for Sni only: lower
// case, one trailing dot stripped.
struct SniResult {
  enum Kind { Sni, NoSni, Incomplete, NotTls } kind = NotTls;
  std::string host;
};
SniResult parse_tls_sni(const uint8_t* bytes, size_t n);

// Host of an HTTP/1.x request head (http-host.ts). host is set for Host
// only: a cleaned name, or a normalised IP literal.
struct HostResult {
  enum Kind { Host, NoHost, Incomplete, NotHttp } kind = NotHttp;
  std::string host;
};
HostResult parse_http_host(const uint8_t* bytes, size_t n);

// :authority (else host) of an h2c connection's first header block
// (h2-authority.ts). host is set for Host only, like HostResult's.
struct H2Result {
  enum Kind { Host, NoHost, Incomplete, NotH2 } kind = NotH2;
  std::string host;
};
H2Result parse_h2_authority(const uint8_t* bytes, size_t n);

// needsMoreBytes (classifier.ts): a prefix of a ClientHello or request head
// whose name has not arrived, with room left below peek_bytes.
bool needs_more_bytes(const uint8_t* bytes, size_t n, size_t peek_bytes);

// A connection held for more bytes had `old_n` of them at its last
// classification and has `n` now: can the answer have changed? For an HTTP/1
// request head only when a line has ended since (the parse decides at line
// ends, or at the first byte after one); TLS and HTTP/2 always. Keeps a head
// sent in tiny segments from being re-parsed per segment (with at most 100
// fields, at most ~100 parses of at most peek_bytes).
bool worth_reclassifying(const uint8_t* bytes, size_t old_n, size_t n);

// --- The table -------------------------------------------------------------

struct AddrSpec {
  std::string ip;   // any inet_pton text; ::ffff:a.b.c.d means a.b.c.d
  int prefix = -1;  // a range: ip's first `prefix` bits (of its family: 0..32 or 0..128); -1: ip itself
  int port = 0;     // 0: any port
};

struct VhostSpec {
  std::string name;
  std::vector<std::string> hosts;  // lower case; "*.x.y" = strict sub-domains of x.y
  std::vector<AddrSpec> addresses;
};

// Whether connections on a listener are classified by name (SNI/Host, then
// address) or by address only. Chosen by the caller, per listener.
enum class ListenerMode { Name, Address };

struct ListenerRule {
  std::string ip;  // empty: any address on that port
  int port = 0;    // 1..65535
  ListenerMode mode = ListenerMode::Name;
};

struct TableSpec {
  std::vector<VhostSpec> vhosts;
  std::vector<ListenerRule> listeners;
  ListenerMode default_mode = ListenerMode::Name;
  size_t peek_bytes = 65536;  // the loop's peek size (config options.peekBytes)
};

// The first problem in a spec (an IP inet_pton refuses, a port or prefix
// out of range), or "" if it is fine. VhostTable skips such entries.
std::string spec_error(const TableSpec& spec);

struct Classification {
  int vhost = -1;  // index into TableSpec::vhosts; -1: the default
  enum By { Sni, Host, Address, Default } by = Default;
  // The name or address that decided; on Default, the name no vhost claims
  // (empty if there was none).
  std::string detail;
  // needs_more_bytes(bytes, n, peek_bytes): peeking again could change the
  // answer. Like the TS it does not depend on use_names; the loop only asks
  // when names are in use.
  bool incomplete = false;
};

// "sni", "host", "address" or "default": how policy and the tables name it.
inline const char* classified_by_name(Classification::By by) {
  switch (by) {
    case Classification::Sni: return "sni";
    case Classification::Host: return "host";
    case Classification::Address: return "address";
    default: return "default";
  }
}

class VhostTable {
 public:
  explicit VhostTable(const TableSpec& spec);

  // createClassifier's rule (Apache's): the local address makes the
  // candidates (the vhosts listing its most specific match: the longest
  // prefix, an address being a full one, and at equal prefixes ip:port
  // before ip; else those listing no address); among them SNI / h2
  // :authority / Host picks; else the first candidate without host names;
  // else the default.
  // use_names=false: no name is looked for. local may be null / of another family.
  Classification classify(const sockaddr* local, socklen_t len, const uint8_t* bytes, size_t n, bool use_names) const;

  // Some vhost is chosen by name, i.e. first bytes are worth peeking at.
  bool has_names() const { return has_names_; }

  // The rule for exactly local ip:port, else the port-only rule, else the default.
  ListenerMode mode_for(const sockaddr* local, socklen_t len) const;

  size_t peek_bytes() const { return peek_bytes_; }
  size_t vhost_count() const { return vhost_count_; }

 private:
  struct AddrKey {
    Ip16 ip;
    int port;  // 0 in ip-only tables
    int value;
  };
  // The config addresses of one family and prefix length, with or without
  // ports: networks (ip masked to `bits` of Ip16) sorted for binary search.
  struct Level {
    bool v4;                    // IPv4 (held mapped) matches IPv4 only, IPv6 IPv6 only
    int bits;                   // prefix length within Ip16: IPv4's plus 96
    bool ports;                 // keys carry ports
    std::vector<AddrKey> keys;  // value: index into classes_
  };
  // The vhosts a local address makes candidates.
  struct Candidates {
    std::vector<int> members;  // sorted vhost indices
    int hostless = -1;         // the first member without host names
    bool named = false;        // some member has host names
    bool has(int v) const { return std::binary_search(members.begin(), members.end(), v); }
  };
  int lookup_name(const std::string& name, const Candidates& c) const;
  static int find(const std::vector<AddrKey>& keys, const Ip16& ip, int port);

  NameMap exact_, wildcard_;   // wildcard_ keys are "x.y" for "*.x.y"
  std::vector<Level> levels_;  // most specific first
  std::vector<Candidates> classes_;
  Candidates anywhere_;                                    // the vhosts listing no address
  std::vector<AddrKey> listener_ip_port_, listener_port_;  // value: ListenerMode
  ListenerMode default_mode_;
  size_t peek_bytes_;
  size_t vhost_count_;
  bool has_names_ = false;
};

}  // namespace vhqos
