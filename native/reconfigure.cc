// A reload of the vhost table and limits, handed from the JS thread to the
// loop thread (which alone touches the acceptor and the tables it reads).
#include <unistd.h>

#include <chrono>

#include "notify_loop.h"

namespace vhqos {

int NotifyLoop::reconfigure(Reconfig r) {
  std::unique_lock<std::mutex> g(reconfig_mu_);
  uint64_t seq = ++reconfig_seq_;
  reconfig_ = std::make_unique<Reconfig>(std::move(r));
  if (!running_.load()) {
    g.unlock();
    apply_reconfig();  // not started (or stopped): no loop thread to race with
    return 0;
  }
  uint64_t one = 1;
  if (write(evfd_, &one, sizeof one) < 0) {
  }
  bool done = reconfig_cv_.wait_for(g, std::chrono::seconds(2), [&] { return reconfig_done_ >= seq; });
  return done ? 0 : -ETIMEDOUT;
}

void NotifyLoop::apply_reconfig() {
  std::unique_ptr<Reconfig> r;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> g(reconfig_mu_);
    if (!reconfig_) return;
    r = std::move(reconfig_);
    seq = reconfig_seq_;
  }
  {
    // A removed vhost's processes are _default's now (policy moves them there).
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [tgid, p] : procs_)
      for (int removed : r->removed)
        if (p.group == removed) p.group = opts_.accept.default_group;
  }
  if (req_table_ && r->request_table) {
    // classifyEach: request classifies later requests with the same table and groups.
    req_table_ = std::move(r->request_table);
    req_group_of_vhost_ = r->group_of_vhost;
    if (req_mover_) {
      req_mover_->add_groups(r->new_groups);
      for (int g : r->removed) req_mover_->remove_group(g);
    }
  }
  if (acceptor_) {
    acceptor_->reconfigure(*r);
  } else if (opts_.classify_at == ClassifyAt::Accept) {
    // not started yet: the acceptor will be built from these
    table_ = std::move(r->table);
  } else {
    table_ = std::move(r->table);  // read mode: the listener rules
  }
  {
    std::lock_guard<std::mutex> g(reconfig_mu_);
    reconfig_done_ = seq;
  }
  reconfig_cv_.notify_all();
}

}  // namespace vhqos
