// The notification loop: one native thread per listener. Repetitive cases
// are answered here (the fast path); everything that needs policy becomes an
// ordered event for TypeScript, which answers by notification id.
#pragma once
#include <linux/seccomp.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "acceptor.h"
#include "pending_ids.h"
#include "inspect.h"

namespace vhqos {

// Where a connection is classified: at its first read (policy in
// TypeScript answers each one), or at accept (classified, placed and handed
// over here, reported to policy in batches).
enum class ClassifyAt { Read, Accept };

// The numbers below are fallbacks for direct users of the addon (its tests):
// vhqos always passes the config's values, whose defaults live in one place,
// src/config/schema.json.
struct LoopOptions {
  ClassifyAt classify_at = ClassifyAt::Read;
  int verdict_timeout_ms = 2000;     // no answer from policy in time: CONTINUE
  int first_byte_timeout_ms = 3000;  // blocking first read: wait this long for bytes
  int peek_bytes = 4096;
  bool peek = true;      // false: address-only config, no need to look
  AcceptOptions accept;  // classify_at == Accept
  int sync_wakeup = -1;  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: 1 on, 0 off, -1 as it is
  int pending_fd = -1;   // the keeper's table of held notifications (start_keeper), or -1
  // options.classifyEach: request: every later request on a classified
  // connection is classified again (set_request_classifier gives the table
  // and the mover; unmatched requests go to accept.default_group).
  bool each_request = false;
};

// What policy answers to a notification it was asked about.
struct Verdict {
  enum class Kind { Continue, ContinueQuiet, PeekAgain, Fail } kind = Kind::Continue;
  int retry_ms = 0;  // PeekAgain: peek again after this long (the target keeps waiting)
  int group = -1;    // ContinueQuiet: the group the connection was classified to (its read flag)
  int error = 0;     // Fail: the syscall returns -error
};

// Requests: processes moved for a later request of their connection (classifyEach: request).
enum class EventKind {
  Read,
  Fork,
  Accept,
  Dup,
  Close,
  Exec,
  Process,
  Exit,
  Timeout,
  Hup,
  Stopped,
  Error,
  HandOvers,
  Requests
};

struct LoopEvent {
  explicit LoopEvent(EventKind k) : kind(k) {}
  EventKind kind;
  bool needs_verdict = false;
  uint64_t id = 0;
  pid_t tid = 0, pid = 0, ppid = 0;  // pid: the thread group (the kernel's tgid)
  std::string syscall;
  int fd = -1, new_fd = -1;
  uint64_t flags = 0;
  uint32_t accepts = 0;  // accept calls by this process so far
  SocketFacts facts;
  std::vector<uint8_t> bytes;
  int peek_result = 0;  // bytes peeked, 0 = EOF, or -errno
  int waited_ms = 0;
  bool peer_closed = false;         // Read: the client has shut its side (no more bytes will come)
  bool after_accept = false;        // Fork: the process accepted since its last fork
  std::vector<int> fds;             // close_range: tracked fds that closed
  int error = 0;                    // Error: -errno
  std::vector<HandOver> handovers;  // HandOvers: a batch, in order; Requests: the moves
};

// The read-mode fd tables (the patent's read flags, 501, and fd copies, 429):
// kept here, their one owner, and read by policy for status.
struct ReadFlag {
  pid_t pid;
  int fd, group;
  uint64_t inode;
};
struct FdCopy {
  pid_t pid;
  int fd, new_fd;  // new_fd -1: dup / F_DUPFD (the number is the syscall's result)
  const char* syscall;
};
struct FdTables {
  std::vector<ReadFlag> read_flags;
  std::vector<FdCopy> copies;
};

// An event about notification n of process tgid (syscall `name`, fd).
inline LoopEvent* notif_event(EventKind k, const struct seccomp_notif& n, pid_t tgid, const std::string& name,
                              int fd = -1) {
  auto* ev = new LoopEvent(k);
  ev->id = n.id;
  ev->tid = static_cast<pid_t>(n.pid);
  ev->pid = tgid;
  ev->syscall = name;
  ev->fd = fd;
  return ev;
}

// classifyEach: request.
struct PerRequestStats {
  uint64_t inspected = 0;     // reads of a watched connection looked at
  uint64_t requests = 0;      // of them, the start of a new HTTP/1.x request
  uint64_t reclassified = 0;  // requests of another group than their process's: a move
  uint64_t moves = 0, move_errors = 0;
  uint64_t incomplete = 0;            // a request head cut short before its Host: left where it was
  uint64_t unwatched = 0;             // connections no longer followed (TLS, address-only listener, fd reused)
  std::vector<uint64_t> group_moves;  // by group index
};

struct LoopStats {
  uint64_t notifications = 0, fast = 0, quiet_inspections = 0, events = 0, verdicts = 0, timeouts = 0, parked = 0,
           send_errors = 0, tenant_reads = 0;
  AcceptStats accept;
  PerRequestStats per_request;
};

class NotifyLoop : public AcceptorHost {
 public:
  using Sink = std::function<void(LoopEvent*)>;  // takes ownership; must not block
  // accept mode: `acceptor` classifies and places (built by the caller from the config).
  NotifyLoop(int listener, LoopOptions opts, Sink sink, std::unique_ptr<VhostTable> table = nullptr,
             std::unique_ptr<CgroupMover> mover = nullptr);
  ~NotifyLoop();
  // 0 or -errno; on failure *failed names the call that failed.
  int start(const char** failed);
  // Stops the thread; pending notifications are answered CONTINUE first.
  void stop();
  // Registers a process (thread-group leader) the loop supervises, in cgroup
  // group `group` (-1: unknown). 0 or -errno.
  // tenant: a process of a tenant's (never classified; vhqos attach marks those it finds).
  int add_process(pid_t tgid, int group = -1, bool tenant = false);
  // Answers a pending notification. Returns false if it was already answered
  // (timed out) or unknown.
  bool respond(uint64_t id, const Verdict& v);
  LoopStats stats();
  FdTables fd_tables();
  bool running() const { return running_.load(); }
  // A reload (native/reconfigure.cc): applied on the loop thread between two
  // notifications, so each connection is classified by the old table or the
  // new one. Returns once applied: 0, or -ETIMEDOUT.
  int reconfigure(Reconfig r);
  // classifyEach: request: the classifier and mover for later requests (the
  // acceptor owns its own). Before start().
  void set_request_classifier(std::unique_ptr<VhostTable> table, std::unique_ptr<CgroupMover> mover);

 private:
  struct FdState {
    uint8_t flags = 0;  // kQuiet | kTracked | kPerRequest
    int group = -1;     // read flag: the group its connection was classified to
    uint64_t inode = 0;
  };
  struct Proc {
    int pidfd = -1;
    std::unordered_map<int, FdState> fds;
    std::vector<FdCopy> copies;  // of tracked fds, bounded (kMaxCopies)
    bool accept_pending = false;
    uint32_t accepts = 0;
    int group = -1;          // accept mode: the cgroup group it is in (-1: unknown)
    int group_at_fork = -1;  // where it was at its last fork: where its next child is born
    bool tenant = false;     // created by code serving a tenant: never classified
    uint64_t max_fd = 0;     // RLIMIT_NOFILE: fd numbers at or above it are never recorded
  };
  struct Parked {
    struct seccomp_notif notif;
    pid_t tgid;
    int fd, local_fd;
    SocketFacts facts;
    int64_t started, deadline;
    std::string syscall;
    bool timer_only = false;   // re-peek at the deadline, not on readability
    bool by_rcvtimeo = false;  // the deadline is the socket's SO_RCVTIMEO
  };
  struct Pending {
    int64_t deadline;
    pid_t tgid;
    int fd;
    bool is_read = false;  // `read` below is valid: it may be peeked again
    Parked read{};
  };
  // kPerRequest: a classified connection whose later requests are classified too.
  static constexpr uint8_t kQuiet = 1, kTracked = 2, kPerRequest = 4;
  static constexpr size_t kMaxCopies = 256;
  void record_copy(Proc& p, int fd, int new_fd, const char* syscall);

  void run();
  void handle(struct seccomp_notif& n);
  bool resolve_task(pid_t tid, pid_t* tgid);
  int add_process_locked(pid_t tgid);
  void remove_process(pid_t tgid);
  void inspect_read(struct seccomp_notif& n, pid_t tgid, int fd, const char* name);
  void finish_parked(uint64_t seq, bool timed_out);
  void deliver(LoopEvent* ev, pid_t tgid, int fd);
  void post(LoopEvent* ev);
  int send_continue(uint64_t id);
  int send_error(uint64_t id, int error);
  // AcceptorHost
  int pidfd_of(pid_t tgid) override;
  int group_of(pid_t tgid) override;
  bool own_connection(const sockaddr_storage& local, const sockaddr_storage& peer, int sock, const uint8_t* bytes,
                      size_t n) override;  // own_connection.cc
  void set_group(pid_t tgid, int group) override;
  void reply(uint64_t id, int error) override;
  void wake() override;
  void report(std::vector<HandOver>&& batch) override;
  void watch_requests(const HandOver& h, int fd) override;
  // classifyEach: request (request_watch.cc)
  struct RequestMove {
    uint64_t id;  // the read waiting for the move
    HandOver h;   // pid, group, vhost, by, detail, local, inode
  };
  void watch_fd(pid_t tgid, int fd, uint64_t inode, int group);
  void request_read(struct seccomp_notif& n, pid_t tgid, int fd);
  bool handle_fd_bookkeeping(struct seccomp_notif& n, int kind, pid_t tgid);
  void request_worker();
  void report_request_move(HandOver&& h);
  void flush_request_moves(bool force);
  void stop_request_worker();
  std::unique_ptr<VhostTable> req_table_;
  std::vector<int> req_group_of_vhost_;  // after a reload: vhost i of req_table_ is this group (empty: i)
  std::unique_ptr<CgroupMover> req_mover_;
  std::thread req_thread_;
  std::mutex req_mu_;  // guards req_jobs_, req_stop_
  std::condition_variable req_cv_;
  std::deque<RequestMove> req_jobs_;
  bool req_stop_ = false;
  std::vector<uint8_t> req_buf_;                   // loop thread only
  std::unordered_map<pid_t, HandOver> req_batch_;  // guarded by mu_: accept mode, latest move per process
  int64_t req_batch_since_ = 0;                    // guarded by mu_
  void handle_accept_mode(struct seccomp_notif& n, int kind, pid_t tgid);
  void handle_read_mode(struct seccomp_notif& n, int kind, pid_t tgid, const char* name);
  void sweep_timeouts();
  int next_timeout_ms();

  int listener_;
  LoopOptions opts_;
  Sink sink_;
  int epfd_ = -1, evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false}, stopping_{false};
  std::mutex mu_;  // guards procs_, threads_, pending_, stats_
  std::unordered_map<pid_t, Proc> procs_;
  std::unordered_map<pid_t, pid_t> threads_;  // non-leader tid -> tgid
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<uint64_t, Parked> parked_;  // loop thread only
  // Verdicts from JavaScript are sent by the loop thread: with SYNC_WAKE_UP
  // the woken target takes the sender's CPU, which must not be the JS thread's.
  std::vector<std::pair<uint64_t, int>> to_send_;  // guarded by mu_: (id, error)
  std::vector<std::pair<Parked, int>> to_retry_;   // guarded by mu_: (read, delay ms)
  void drain_sends();
  void deliver_read(LoopEvent* ev, const Parked& pk);
  uint64_t next_parked_ = 1;
  LoopStats stats_;
  PendingIds pending_ids_;                        // shared with the keeper
  std::mutex slots_mu_;                           // guards held_slots_
  std::unordered_map<uint64_t, int> held_slots_;  // read mode: notification id -> slot in pending_ids_
  void hold_id(uint64_t id);
  void release_id(uint64_t id);
  void apply_reconfig();    // loop thread: the pending reload, if any
  std::mutex reconfig_mu_;  // guards reconfig_, reconfig_done_
  std::condition_variable reconfig_cv_;
  std::unique_ptr<Reconfig> reconfig_;
  uint64_t reconfig_done_ = 0, reconfig_seq_ = 0;
  std::unique_ptr<Acceptor> acceptor_;  // accept mode; loop thread only
  std::unique_ptr<VhostTable> table_;
  std::unique_ptr<CgroupMover> mover_;
};

}  // namespace vhqos
