// The keeper's way back (issue "run it in production", attach): once the
// supervisor is gone and the keeper answers CONTINUE, a new supervisor may
// connect to the keeper's socket (root only), receive the seccomp listener
// and the table of held ids, and take over; the keeper then waits on that
// connection and answers again if it closes (the new supervisor died).
#pragma once
#include <sys/types.h>

namespace vhqos {

// The keeper side: runs the answering loop in the keeper process (never
// returns). `sock` is its listening unix socket (-1: no attach), `path` is
// unlinked when the keeper exits; `pending`/`slots` its shared table.
[[noreturn]] void keeper_serve(int listener, int supervisor_pipe, int memfd, int sock, const char* path, pid_t root,
                               void* pending, void* req_buf, unsigned req_size, void* resp_buf, unsigned resp_size);

// The supervisor side: connects to a keeper's socket and receives the
// listener, the memfd of held ids and the server's root pid. Returns the
// connection (keep it open: closing it hands back to the keeper) or -errno.
int keeper_attach(const char* path, int* listener, int* memfd, pid_t* root);

}  // namespace vhqos
