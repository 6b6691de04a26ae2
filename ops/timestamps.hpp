// Timestamps from the client's clock, and the server's skew.
//
// NFS stamps files with the server's clock, and utimes(NULL) asks for the
// server's time too. A server running ahead makes Postfix's queue manager
// pass over files whose mtime is in the future, and Dovecot complains past
// one second of skew. nfsguard sets atime and mtime itself, from this host's
// clock: on every new object (a created file at its first look or its
// close), and after writes.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#include "ops/located.hpp"
#include "ops/result.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::ops {

// This host's clock, precise: for measuring the server's.
struct timespec client_now();
// This host's clock as file times are stamped from it: the coarse clock the
// kernel itself stamps with and time() reads. A precise time could be ahead
// of a time() read just after it by a second at a second's turn, and Postfix
// warns "file system clock is 1 seconds ahead of local clock" for a queue
// file whose mtime is ahead of time() (seen in the end-to-end tests).
struct timespec stamp_now();

// atime and mtime of the new object `name` in `dirfd` set to now. Errors are
// for the caller to ignore: the object was made; its times are a courtesy.
// Returns the time set.
Result<struct timespec> stamp_new(Syscalls& sys, int dirfd, const char* name);

// mtime of `obj` (an open file, or one located by name) set to now, atime
// left alone. Returns the time set.
Result<struct timespec> stamp_modified(Syscalls& sys, const Located& obj);
// A file made at `made` (this host's clock) whose stamp was put off to its
// first look or its close, so that a file made and written costs one call,
// not one at the create and one after the writes: atime `made`, and mtime
// `made` too, or now if it was `written` since (atime before mtime is how
// mail readers tell an mbox with new mail). Returns the mtime set.
Result<struct timespec> stamp_made(Syscalls& sys, const Located& obj, const struct timespec& made,
                                   bool written);

// Times the caller asked for (utimensat(2): UTIME_NOW and UTIME_OMIT
// allowed), set on `obj` as the caller. With `client_clock`, UTIME_NOW is
// read on this host's clock, since the server's NOW is its own; explicit
// times need the owner, so for a writer who is not (EPERM) NOW stays the
// server's.
Result<void> set_asked_times(Syscalls& sys, const Located& obj, const struct timespec times[2],
                             bool client_clock);

// The server's clock measured against ours, from the ctime the server gave
// an object made just now: the server read its clock between `before` and
// `after` on ours. Warns once when the skew passes kWarnSeconds, and once
// when it is back within it.
class ClockSkew {
  public:
    static constexpr double kWarnSeconds = 1.0;

    void observe(const struct timespec& server_ctime, const struct timespec& before,
                 const struct timespec& after);
    // Seconds the server is ahead (negative: behind); 0 before any measure.
    double seconds() const { return skew_.load(std::memory_order_relaxed); }
    // Whole seconds to take off the server's ctimes so that they read on
    // this host's clock: ctime cannot be set, and Dovecot warns of every
    // dot-lock whose ctime is off from its clock. 0 while the skew is within
    // a second. Moves only when the measure strays a second from it, so that
    // a file's ctime does not jitter with the measure's error (Dovecot takes a
    // changed ctime for a changed file).
    int64_t ctime_correction() const { return correction_.load(std::memory_order_relaxed); }
    bool measured() const { return measured_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> skew_{0};
    std::atomic<bool> measured_{false};
    std::atomic<bool> warned_{false};
    std::atomic<int64_t> correction_{0};
};

}  // namespace nfsguard::ops
