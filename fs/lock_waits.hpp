// LockWaits: blocking lock requests wait on threads of their own.
//
// A request thread blocked in F_SETLKW would be a libfuse worker taken out
// of service until the lock holder lets go: a few mailboxes waiting for their
// locks would stall every other request on the mount. A waiting request is
// handed to a thread of its own instead, which replies when the lock is
// granted, or with EINTR when the waiting process is signalled (FUSE
// INTERRUPT; Dovecot waits under alarm()).
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <memory>

#include "ops/result.hpp"

namespace nfsguard::fs {

class LockWaits {
  public:
    static constexpr size_t kMaxWaiting = 512;

    // Replies to `req`, from a new thread, with the outcome of `wait`, which
    // blocks until the lock is granted and returns EINTR when its thread is
    // signalled. More than kMaxWaiting waits at once are refused (ENOLCK).
    void start(fuse_req_t req, std::function<ops::Result<void>()> wait);
    size_t waiting() const { return waiting_->load(); }

  private:
    // Shared with the waiting threads, which may outlive this object at exit.
    std::shared_ptr<std::atomic<size_t>> waiting_ = std::make_shared<std::atomic<size_t>>(0);
};

}  // namespace nfsguard::fs
