// FaultPlan: the NFS failures armed through the control socket, and a count
// of those that fired.
//
// The filesystem's request threads ask the plan, once per call, whether this
// call is to fail and how; the control thread arms and disarms. Every question
// is answered under one lock, so a fault armed for COUNT calls fires exactly
// COUNT times however many threads race for it.
//
// Faults that name a file are rules: (kind, op, glob) with a remaining count.
// Arming the same (kind, op, glob) again replaces its count (and errno), so
// the table holds at most one rule per target and at most kMaxRules in all.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/result.hpp"

namespace nfsguard::faultfs {

// The non-idempotent calls whose reply NFS may lose.
// rename_closed: a rename of a file that no one holds open through faultfs.
// libfuse's path table goes on naming a file whose rename "failed" by its
// old path, and a later GETATTR of it (an fstat of the open file) then meets
// ENOENT, where an NFS client asks by file handle and gets the file: a limit
// of the imitation that lost replies on rename_closed stay clear of.
enum class NameOp { rename, link, mkdir, symlink, unlink, rmdir, create_excl, rename_closed };
inline constexpr size_t kNameOpCount = 8;
inline constexpr std::array<NameOp, kNameOpCount> kNameOps = {
    NameOp::rename, NameOp::link,  NameOp::mkdir,       NameOp::symlink,
    NameOp::unlink, NameOp::rmdir, NameOp::create_excl, NameOp::rename_closed};

std::string_view op_name(NameOp op);
std::optional<NameOp> parse_op(std::string_view name);

// What a retransmitted request gets from a server that has forgotten the
// first one: the object is already gone (ENOENT) or already there (EEXIST).
int lost_reply_errno(NameOp op);

struct FaultStats {
    std::array<std::uint64_t, kNameOpCount> lost_reply{};
    std::uint64_t estale = 0;
    std::uint64_t close_error = 0;
    std::uint64_t vanished_calls = 0;

    // One line of JSON, e.g. {"lost_reply":{"rename":2,...},"estale":1,...}
    std::string to_json() const;
};

class FaultPlan {
  public:
    static constexpr size_t kMaxRules = 64;
    static constexpr std::int64_t kForever = -1;
    static constexpr std::chrono::microseconds kMaxLatency{10'000'000};

    // Arming: `count` is how many matching calls fail (kForever: until
    // cleared; 0: disarm this rule). EINVAL for a bad count, glob or errno,
    // ENOSPC when kMaxRules rules are armed already.
    // `op` empty means every NameOp.
    ops::Result<void> arm_lost_reply(std::optional<NameOp> op, std::string glob,
                                     std::int64_t count);
    ops::Result<void> arm_estale(std::string glob, std::int64_t count);
    ops::Result<void> arm_close_error(int err, std::string glob, std::int64_t count);

    void set_clock_offset(std::chrono::seconds offset) { clock_offset_ = offset.count(); }
    void vanish(int err) { vanished_errno_ = err; }
    void restore() { vanished_errno_ = 0; }
    // EINVAL beyond kMaxLatency: a request thread must not sleep for ever.
    ops::Result<void> set_latency(std::chrono::microseconds latency);
    // Disarms everything; the counts of faults already injected stay.
    void clear();

    // Questions from the request threads. `name` is the entry name the call
    // is about. Each returns the errno to report (0: none) and, when it is
    // not 0, counts one injected fault.
    int take_lost_reply(NameOp op, std::string_view name);
    int take_estale(std::string_view name);
    int take_close_error(std::string_view name);
    int take_vanished();

    std::chrono::microseconds latency() const {
        return std::chrono::microseconds(latency_us_.load(std::memory_order_relaxed));
    }
    std::chrono::seconds clock_offset() const {
        return std::chrono::seconds(clock_offset_.load(std::memory_order_relaxed));
    }
    FaultStats stats() const;

  private:
    enum class Kind { lost_reply, estale, close_error };
    struct Rule {
        Kind kind;
        std::optional<NameOp> op;  // lost_reply only; empty: any
        std::string glob;
        int err;
        std::int64_t remaining;  // kForever or > 0
    };

    ops::Result<void> arm(Rule rule);
    // The first armed rule of `kind` (and `op`) whose glob matches `name`;
    // spends one of its calls. Returns its errno, or 0.
    int take(Kind kind, std::optional<NameOp> op, std::string_view name);

    mutable std::mutex mutex_;
    std::vector<Rule> rules_;  // guarded by mutex_, at most kMaxRules
    FaultStats stats_;         // guarded by mutex_
    // Read by every call: kept out of the lock so that an idle plan costs a
    // few loads, not a contended mutex.
    std::atomic<size_t> rule_count_{0};
    std::atomic<std::int64_t> latency_us_{0};
    std::atomic<std::int64_t> clock_offset_{0};
    std::atomic<int> vanished_errno_{0};
};

}  // namespace nfsguard::faultfs
