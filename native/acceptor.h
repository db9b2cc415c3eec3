// Classification at accept (issue "classify at accept"): the server's trapped
// accept waits here ("parked") while vhqos accepts on its own pidfd_getfd copy
// of the listener, classifies the new connection (local address, or the
// Host / SNI of its first bytes, which it may wait for without occupying a
// server process), moves the parked process into the vhost's cgroup if it is
// not there yet, and hands the connection over as that accept's result
// (SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND).
//
// Threads: everything here runs on the loop thread, except moves, which a
// worker thread does (a cgroup v1 move can wait milliseconds for an RCU grace
// period); the worker also sends that hand-over and returns a connection the
// loop must place again when its process went away meanwhile.
#pragma once
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cgroup_mover.h"
#include "connection_slots.h"
#include "latency_histogram.h"
#include "pending_ids.h"
#include "pids_allowance.h"
#include "vhost_table.h"

namespace vhqos {

// The numbers below are fallbacks for direct users of the addon (its tests):
// vhqos always passes the config's values, whose defaults live in one place,
// src/config/schema.json.
struct AcceptOptions {
  int first_byte_timeout_ms = 3000;  // how long a connection is held for its first bytes
  int max_held = 512;                // beyond this, connections are handed over unclassified by name
  int peek_bytes = 4096;
  int server_group = -1;                              // group index of _server
  int default_group = -1;                             // group index of _default (vhost -1)
  std::vector<SlotLimits> slots;                      // by group: connection max / reserve
  std::vector<PidsLimit> pids;                        // by group: pids.max plus the idle server processes in it
  size_t open_groups = OpenFiles::kDefaultMaxGroups;  // groups whose pids.max stays open
};

// A reload: the new vhost table, which group each of its vhosts is (groups
// are only appended, so indices held anywhere stay valid), the groups new
// to this reload, limits by group, and the groups no vhost maps to any more
// (their processes count as _default's, which policy moves them to).
struct Reconfig {
  std::unique_ptr<VhostTable> table;
  std::vector<int> group_of_vhost;
  std::vector<std::vector<std::string>> new_groups;  // cgroup.procs files of each appended group
  std::vector<SlotLimits> slots;                     // by group, all of them
  std::vector<PidsLimit> pids;                       // by group, all of them
  std::vector<int> removed;
  std::unique_ptr<VhostTable> request_table;  // a copy for classifyEach: request
};

// One connection vhqos handed to the server, reported to policy in batches.
struct HandOver {
  pid_t pid = 0;
  int group = -1, vhost = -1;
  Classification::By by = Classification::Default;
  std::string detail;
  sockaddr_storage local{}, peer{};
  uint64_t inode = 0;
  bool moved = false;
  uint32_t held_ms = 0;
};

struct AcceptStats {
  uint64_t accepts = 0;  // accept notifications seen
  uint64_t handovers = 0, moves = 0, move_errors = 0, noop_moves_skipped = 0;
  uint64_t held = 0, held_now = 0, held_timeouts = 0, dropped = 0;  // dropped: client left while held
  uint64_t interrupted = 0;     // ADDFD found the accept gone (signal, exit): next process
  uint64_t wakeups = 0;         // connections vhqos made to its own listener to wake a polling server
  uint64_t eagain = 0;          // non-blocking accept with nothing queued
  uint64_t not_listener = 0;    // accept on something vhqos does not classify: CONTINUE
  uint64_t tenant_accepts = 0;  // accepts by tenant processes: never classified
  uint64_t listeners = 0, parked_now = 0, waiting_now = 0;
  uint64_t reported = 0, unreported = 0;                 // hand-overs sent to policy / left out of a full batch
  std::vector<uint64_t> group_connections, group_moves;  // by group index
  // Connection slots, by group: held by server processes now, waiting for a
  // slot now, waited for one (total), refused after queueTimeoutMs (total);
  // server processes idle (parked in accept) in the group now.
  std::vector<uint64_t> group_serving, group_queued_now, group_queued, group_refused, group_idle;
  uint64_t slot_checks = 0;  // sock_diag queries: is a handed-over connection still open?
  uint64_t parked_peak = 0;  // most processes parked on one listener at once
  uint64_t pids_writes = 0;  // pids.max rewritten for idle server processes
  LatencySummary handover_us, handover_moved_us;
};

// What the acceptor needs from the loop that owns it.
class AcceptorHost {
 public:
  virtual ~AcceptorHost() = default;
  virtual int pidfd_of(pid_t tgid) = 0;  // -1: not supervised
  virtual int group_of(pid_t tgid) = 0;  // -1: unknown
  virtual void set_group(pid_t tgid, int group) = 0;
  virtual void reply(uint64_t id, int error) = 0;  // error 0: CONTINUE; else fail with -error
  virtual void wake() = 0;                         // the worker has results for the loop thread
  virtual void report(std::vector<HandOver>&& batch) = 0;
  // The connection h is now fd `fd` of process h.pid (options.classifyEach:
  // request follows its later requests). Called on the loop or a worker thread.
  virtual void watch_requests(const HandOver& /*h*/, int /*fd*/) {}
  // The connection is the server's own (Apache's dummy connection, checked
  // with the kernel): charged to _server. Asked at every classification with
  // bytes; costs a few compares unless the bytes are exactly that request.
  virtual bool own_connection(const sockaddr_storage& local, const sockaddr_storage& peer, int sock,
                              const uint8_t* bytes, size_t n) {
    return false;
  }
};

class Acceptor {
 public:
  Acceptor(int notify_fd, int epfd, uint64_t held_tag, uint64_t listener_tag, AcceptOptions opts,
           std::unique_ptr<VhostTable> table, std::unique_ptr<CgroupMover> mover, AcceptorHost* host,
           PendingIds* pending);
  ~Acceptor();
  // A trapped accept/accept4 of a supervised, non-tenant process. Always answers it (now or later).
  void on_accept(const struct seccomp_notif& n, pid_t tgid);
  // An accept of a tenant process: answered at once (-EAGAIN on the server's own listeners).
  void on_tenant_accept(const struct seccomp_notif& n, pid_t tgid);
  void on_listener_ready(uint64_t key);
  void on_held_event(uint64_t key, uint32_t events);
  void on_process_exit(pid_t tgid);
  void on_wake();                              // worker results
  void sweep(int64_t now_ms);                  // held deadlines, batch flush
  int next_deadline_ms(int64_t now_ms) const;  // -1: none
  void shutdown();                             // parked accepts CONTINUE, connections handed out or closed
  void reconfigure(Reconfig& r);               // loop thread; connections are classified by the old table or the new
  AcceptStats stats();

 private:
  struct Call {  // a parked accept
    uint64_t id;
    pid_t tid, tgid;
    uint64_t addr, addrlen;
    int flags;
    int slot = -1;  // in the keeper's table while parked
  };
  struct Conn {
    int fd = -1;
    uint64_t listener = 0;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = 0, peer_len = 0;
    int64_t accepted_us = 0, held_since_ms = 0;
    Classification cls;
    int group = -1;
    bool was_held = false;
    // Non-blocking listener: the accept that took this connection waits for
    // it while it is held; if the client leaves, that accept gets EAGAIN.
    uint64_t designated = 0;
    bool nonblocking = false;  // O_NONBLOCK of the accepted file (vhqos accepts blocking)
    bool slot = false;         // holds one of its group's connection slots
    int64_t queued_ms = 0;     // waiting for a slot since
    size_t classified_n = 0;   // bytes seen at the last classification (held: see worth_reclassifying)
  };
  struct Listener {
    uint64_t inode = 0;
    int fd = -1;  // our copy: shares the file (and its status flags) with the server
    bool nonblocking = false;
    bool armed = false;
    std::vector<Call> parked;
    std::deque<Conn> waiting;  // classified, no process free yet
    // A server that polls its listener before accepting (xinetd, Apache with
    // several listeners) does not come back to accept after an interrupted
    // one while vhqos holds the connection: vhqos then connects to the
    // listener itself, so it polls readable again ("wakers", never handed out).
    int64_t wake_at = 0;
    std::vector<std::pair<int, uint16_t>> wakers;  // (our client fd, its port)
    uint64_t netns = 0;
  };
  struct Served {  // a hand-over, for the slot table (made on a worker, used on the loop thread)
    pid_t pid;
    uint64_t listener;
    ConnectionSlots::Connection conn;
  };
  struct Job {  // for the hand-over workers
    Call call;
    Conn conn;
    bool move = false;  // into conn.group first
  };
  struct ProcListeners {  // per process: its fd numbers known to name a listener (checked with kcmp)
    std::vector<std::pair<int, uint64_t>> fds;  // fd -> listener inode (0: not one we classify)
    std::vector<int> copies;                    // our copy of each, for kcmp
  };

  uint64_t listener_of(pid_t tgid, int fd);  // inode of a TCP listener, 0 if not one
  void take(Listener& l, Conn&& c);          // a fresh connection: classify or hold
  void classify(Conn& c, const uint8_t* bytes, size_t n);
  void hold(Conn&& c);
  void dispatch(Conn&& c);
  size_t pick_call(const Listener& l, int group);  // SIZE_MAX: none may take it now (reserves)
  void queue_for_slot(Conn&& c);                   // its vhost is at max: wait inside vhqos
  void refuse(Conn& c);                            // waited queueTimeoutMs: 503 (HTTP) or close
  void drop(Conn& c);                              // close a connection that never reached a process
  void release_designated(Conn& c);                // its non-blocking accept gets EAGAIN now
  void absorb_served();                            // hand-overs the workers recorded
  void check_slots(pid_t tgid);                    // tgid came back to accept or exited
  void slots_freed(const std::vector<int>& groups);
  void drain_waiting(Listener& l);
  void count_idle(int64_t now);
  int inject(const Call& call, Conn& c);                                        // fd number in the target, or -errno
  void handed(const Call& call, Conn& c, bool moved, int64_t done_us, int fd);  // fd: its number in the target
  void refused(const Call& call, int r);
  void forget(Conn& c);  // the client left: close it, release its designated accept
  void wake(Listener& l);
  void release_listener(uint64_t inode);
  bool is_waker(Listener& l, const Conn& c);
  void publish_gauges();
  // Per-group bookkeeping touches only the groups concerned: with 10,000
  // vhosts a pass over every group on each loop wake-up cost ~200 us per
  // connection.
  void touch(int g);  // its gauges (serving, queued, idle) are published again
  void update_arming(Listener& l);
  void drop_calls_of(pid_t tid, bool whole_process);
  void worker();
  void flush_batch();

  int notify_fd_, epfd_;
  uint64_t held_tag_, listener_tag_;
  AcceptOptions opts_;
  std::unique_ptr<VhostTable> table_;
  std::vector<int> group_of_vhost_;  // empty: vhost i is group i
  std::unique_ptr<CgroupMover> mover_;
  AcceptorHost* host_;
  PendingIds* pending_;  // every parked accept is listed there until it is answered
  void settle(const Call& c) {
    pending_->remove(c.slot);
    idle_dirty_ = true;
  }
  std::unordered_map<uint64_t, Listener> listeners_;  // by inode
  std::unordered_map<pid_t, ProcListeners> proc_listeners_;
  std::unordered_map<uint64_t, Conn> held_;  // by sequence number
  uint64_t next_held_ = 1;
  bool closing_ = false;  // shutdown: no more moves
  pid_t self_ = 0;
  std::vector<uint8_t> peek_buf_;
  mutable std::mutex batch_mu_;  // guards batch_, batch_since_ms_
  std::vector<HandOver> batch_;
  std::vector<Served> served_in_;  // guarded by batch_mu_
  int64_t batch_since_ms_ = 0;
  std::mutex stats_mu_;
  AcceptStats stats_;
  LatencyHistogram lat_, lat_moved_;
  ConnectionSlots slots_;
  PidsAllowance pids_;
  std::vector<std::deque<Conn>> over_max_;  // by group: waiting for a slot, in arrival order
  std::vector<uint64_t> idle_;              // by group, counted every kIdleMs
  std::vector<int> idle_groups_;            // the groups whose idle_ is not 0
  bool pids_all_ = true;                    // next count: every group's pids.max (start, reload)
  std::vector<int> queued_groups_;          // groups whose over_max_ may be non-empty
  std::vector<char> is_queued_group_;       // by group: listed in queued_groups_
  std::vector<int> touched_;                // groups whose gauges changed since publish_gauges
  std::vector<char> is_touched_;            // by group: listed in touched_
  int64_t next_slot_check_ms_ = 0, next_idle_ms_ = 0;
  std::atomic<bool> idle_dirty_{true};  // parked processes changed since they were last counted

  // Move worker.
  std::vector<std::thread> workers_;
  std::mutex wmu_;
  std::condition_variable wcv_;
  std::deque<Job> jobs_;
  std::deque<Conn> returned_;  // process gone before its hand-over: place again
  bool wstop_ = false;
  int in_flight_ = 0;
};

}  // namespace vhqos
