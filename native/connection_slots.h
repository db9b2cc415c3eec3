// Connection slots per group (issue "per-vhost connection slots"): how many
// of a vhost's connections server processes hold at once, against its
// `max`, and how many free server processes a connection must leave for the
// other vhosts' `reserve`. A slot is taken when the dispatcher gives a
// connection to a process and given back when no process has the
// connection open any more (sock_diag), which covers a prefork child that
// came back to accept and a fork-after-accept child that exited alike.
// Loop thread only.
#pragma once
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sock_diag.h"

namespace vhqos {

struct SlotLimits {
  int max = 0;                  // 0: unlimited
  int reserve = 0;              // free server processes kept for this group
  int queue_timeout_ms = 5000;  // over max: how long a connection may wait for a slot
};

class ConnectionSlots {
 public:
  explicit ConnectionSlots(std::vector<SlotLimits> limits);
  // A reload: new limits by group (more groups, maybe); slots in use stay.
  void set_limits(std::vector<SlotLimits> limits);
  const SlotLimits& limits(int g) const { return limits_[index(g)]; }
  bool full(int g) const;  // at max: a new connection of g waits
  void take(int g) { serving_[index(g)]++; }
  void give_back(int g);  // a connection that will not reach a process after all
  int serving(int g) const { return serving_[index(g)]; }
  // How many free processes a connection of g must leave to other groups
  // whose reserve is not in use yet.
  size_t held_back_for(int g) const;
  bool reserves() const { return any_reserve_; }

  struct Connection {
    int group = -1;
    uint64_t netns = 0;
    sockaddr_storage local{}, peer{};
    uint64_t cookie = kNoCookie;
    int64_t since_ms = 0;
  };
  // `ns_sock`: any socket of that namespace (the listener), for its first query there.
  void served(pid_t pid, Connection c, int ns_sock);
  // Gives back the slots of the connections handed to pid that no process
  // has open any more; appends their groups to `freed`.
  void check(pid_t pid, std::vector<int>* freed);
  // The same for every connection handed over at least `min_age_ms` ago.
  void check_all(int64_t now_ms, int min_age_ms, std::vector<int>* freed);
  size_t tracked() const { return tracked_; }
  uint64_t queries() const { return queries_; }

 private:
  size_t index(int g) const { return g >= 0 && static_cast<size_t>(g) < limits_.size() ? g : limits_.size() - 1; }
  bool still_open(pid_t pid, const Connection& c);
  std::vector<SlotLimits> limits_;  // by group; one spare entry for out-of-range groups
  std::vector<int> serving_;
  bool any_reserve_ = false;
  std::unordered_map<pid_t, std::vector<Connection>> by_process_;
  size_t tracked_ = 0;
  uint64_t queries_ = 0;
  SockDiag diag_;
};

}  // namespace vhqos
