// RequestStats: how many requests of each FUSE operation nfsguard served,
// how many it answered with an error, and how long they took.
//
// A RequestTimer around each handler (fs/handlers/op_table.cpp) does the counting;
// the handler's error reply is noted through RequestTimer::note_reply
// (Request::reply_error does it), so no handler has to know about stats.
// The time is the handler's: from the request reaching nfsguard to its
// reply. A lock request that has to wait replies later, from a thread of
// its own (fs/lock_waits.hpp), which times and counts the wait apart.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "fs/stats/latency_histogram.hpp"

namespace nfsguard::fs {

// Every operation in the op table, named as FUSE names them.
enum class RequestOp : uint8_t {
    lookup,
    forget,
    batch_forget,
    getattr,
    setattr,
    readlink,
    access,
    statfs,
    mknod,
    mkdir,
    symlink,
    link,
    unlink,
    rmdir,
    rename,
    open,
    create,
    read,
    write,
    flush,
    release,
    fsync,
    fallocate,
    lseek,
    copy_file_range,
    opendir,
    readdir,
    readdirplus,
    releasedir,
    fsyncdir,
    getxattr,
    listxattr,
    setxattr,
    removexattr,
    getlk,
    setlk,
    flock,
};
constexpr size_t kRequestOps = static_cast<size_t>(RequestOp::flock) + 1;

const char* request_op_name(RequestOp op);

// The operation this thread serves now (set by the op table), for log lines
// that would otherwise not say which call they are about.
void set_serving(RequestOp op);
RequestOp serving();

// Apart per operation, each on cache lines of its own: request threads
// serving different operations do not contend for them.
struct alignas(64) OpStats {
    LatencyHistogram latency;  // its count is the number of requests
    std::atomic<uint64_t> errors{0};
};

class RequestStats {
  public:
    OpStats& of(RequestOp op) { return ops_[static_cast<size_t>(op)]; }
    const OpStats& of(RequestOp op) const { return ops_[static_cast<size_t>(op)]; }

  private:
    std::array<OpStats, kRequestOps> ops_{};
};

// Times the request the constructing thread serves until destroyed, and
// counts it, in `op`.
class RequestTimer {
  public:
    explicit RequestTimer(OpStats& op)
        : op_(op), started_(std::chrono::steady_clock::now()), outer_(current_) {
        current_ = this;
    }
    ~RequestTimer() {
        op_.latency.record(std::chrono::steady_clock::now() - started_);
        current_ = outer_;
    }
    RequestTimer(const RequestTimer&) = delete;
    RequestTimer& operator=(const RequestTimer&) = delete;

    // The thread's request is being answered with `err` (0: success).
    static void note_reply(int err) {
        if (err != 0 && current_) current_->op_.errors.fetch_add(1, std::memory_order_relaxed);
    }

  private:
    OpStats& op_;
    const std::chrono::steady_clock::time_point started_;
    RequestTimer* const outer_;
    static thread_local RequestTimer* current_;
};

}  // namespace nfsguard::fs
