// LockWaits: blocking lock requests wait on threads of their own.
//
// A request thread blocked in F_SETLKW would be a libfuse worker taken out
// of service until the lock holder lets go: a few mailboxes waiting for their
// locks would stall every other request on the mount. A waiting request is
// handed to a thread of its own instead, which replies when the lock is
// granted, or with EINTR when the waiting process is signalled (FUSE
// INTERRUPT; Dovecot waits under alarm()). Each wait is timed, from the
// moment the lock was found taken to the reply, whatever the outcome.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "fs/stats/latency_histogram.hpp"
#include "ops/result.hpp"

namespace nfsguard::fs {

class LockWaits {
  public:
    static constexpr size_t kMaxWaiting = 512;

    // Replies to `req`, from a new thread, with the outcome of `wait`, which
    // blocks until the lock is granted and returns EINTR when its thread is
    // signalled. More than kMaxWaiting waits at once are refused (ENOLCK).
    // A refusal is counted to the request this thread serves
    // (fs/stats/request_stats.hpp); a wait that ends in an error (EINTR included)
    // is counted here: the request's stats may be gone by then, at exit.
    void start(fuse_req_t req, std::function<ops::Result<void>()> wait);
    size_t waiting() const { return shared_->waiting.load(); }
    // Ends every wait with EINTR (a restart on a kernel that cannot send
    // the requests again: the callers retry, as after a signal).
    void interrupt_all();
    // The waits that have ended: how many, how long.
    LatencyHistogram::Snapshot waited() const { return shared_->waited.snapshot(); }
    uint64_t failed() const { return shared_->failed.load(std::memory_order_relaxed); }

    struct Waiter;  // a waiting thread (lock_waits.cpp)

  private:
    // Shared with the waiting threads, which may outlive this object at exit.
    struct Shared {
        std::atomic<size_t> waiting{0};
        std::mutex mutex;
        std::set<Waiter*> waiters;
        LatencyHistogram waited;
        std::atomic<uint64_t> failed{0};
    };
    std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace nfsguard::fs
