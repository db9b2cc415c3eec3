#include "connection_slots.h"

#include <algorithm>

namespace vhqos {

ConnectionSlots::ConnectionSlots(std::vector<SlotLimits> limits) : limits_(std::move(limits)) {
  limits_.push_back(SlotLimits{});
  serving_.assign(limits_.size(), 0);
  for (auto& l : limits_) any_reserve_ = any_reserve_ || l.reserve > 0;
}

void ConnectionSlots::set_limits(std::vector<SlotLimits> limits) {
  std::vector<int> serving = serving_;
  serving.pop_back();  // the spare entry
  limits_ = std::move(limits);
  limits_.push_back(SlotLimits{});
  serving.resize(limits_.size(), 0);
  serving_ = std::move(serving);
  any_reserve_ = false;
  for (auto& l : limits_) any_reserve_ = any_reserve_ || l.reserve > 0;
}

bool ConnectionSlots::full(int g) const {
  size_t i = index(g);
  return limits_[i].max > 0 && serving_[i] >= limits_[i].max;
}

void ConnectionSlots::give_back(int g) {
  size_t i = index(g);
  if (serving_[i] > 0) serving_[i]--;
}

size_t ConnectionSlots::held_back_for(int g) const {
  if (!any_reserve_) return 0;
  size_t own = index(g), out = 0;
  for (size_t i = 0; i < limits_.size(); i++)
    if (i != own && limits_[i].reserve > serving_[i]) out += limits_[i].reserve - serving_[i];
  return out;
}

void ConnectionSlots::served(pid_t pid, Connection c, int ns_sock) {
  diag_.prepare(c.netns, ns_sock);
  by_process_[pid].push_back(c);
  tracked_++;
}

// Fail open: when the kernel cannot be asked, the slot is given back (a
// vhost must never stay blocked because vhqos cannot see its connections).
bool ConnectionSlots::still_open(pid_t pid, const Connection& c) {
  queries_++;
  return diag_.held(c.netns, -1, pid, c.local, c.peer, c.cookie) == 1;
}

void ConnectionSlots::check(pid_t pid, std::vector<int>* freed) {
  auto it = by_process_.find(pid);
  if (it == by_process_.end()) return;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const Connection& c) {
                           if (still_open(pid, c)) return false;
                           give_back(c.group);
                           freed->push_back(c.group);
                           tracked_--;
                           return true;
                         }),
          v.end());
  if (v.empty()) by_process_.erase(it);
}

void ConnectionSlots::check_all(int64_t now_ms, int min_age_ms, std::vector<int>* freed) {
  std::vector<pid_t> pids;
  for (auto& [pid, v] : by_process_)
    for (auto& c : v)
      if (now_ms - c.since_ms >= min_age_ms) {
        pids.push_back(pid);
        break;
      }
  for (pid_t pid : pids) check(pid, freed);
}

}  // namespace vhqos
