#include "ops/timestamps.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "ops/object_ops.hpp"

namespace nfsguard::ops {
namespace {

double seconds_of(const struct timespec& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace

struct timespec client_now() {
    struct timespec t;
    ::clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

struct timespec stamp_now() {
    struct timespec t;
    ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return t;
}

Result<struct timespec> stamp_new(Syscalls& sys, int dirfd, const char* name) {
    const struct timespec now = stamp_now();
    const struct timespec times[2] = {now, now};
    if (auto r = sys.utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW); !r)
        return Errno{r.error()};
    return now;
}

Result<struct timespec> stamp_modified(Syscalls& sys, const Located& obj) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, stamp_now()};
    if (auto r = set_times(sys, obj, times); !r) return Errno{r.error()};
    return times[1];
}

Result<void> set_asked_times(Syscalls& sys, const Located& obj, const struct timespec times[2],
                             bool client_clock) {
    const bool now_asked = times[0].tv_nsec == UTIME_NOW || times[1].tv_nsec == UTIME_NOW;
    if (now_asked && client_clock) {
        const struct timespec now = stamp_now();
        struct timespec ours[2] = {times[0], times[1]};
        for (auto& t : ours)
            if (t.tv_nsec == UTIME_NOW) t = now;
        if (auto r = set_times(sys, obj, ours); r || r.error() != EPERM) return r;
    }
    return set_times(sys, obj, times);
}

Result<struct timespec> stamp_made(Syscalls& sys, const Located& obj, const struct timespec& made,
                                   bool written) {
    const struct timespec times[2] = {made, written ? stamp_now() : made};
    if (auto r = set_times(sys, obj, times); !r) return Errno{r.error()};
    return times[1];
}

void ClockSkew::observe(const struct timespec& server_ctime, const struct timespec& before,
                        const struct timespec& after) {
    // The server stamped ctime somewhere in [before, after] of our clock: the
    // middle is the best guess, and the round trip bounds the error. Server
    // timestamps may be coarse (a jiffy), which the error allows for too.
    const double mid = (seconds_of(before) + seconds_of(after)) / 2;
    const double skew = seconds_of(server_ctime) - mid;
    const double error = (seconds_of(after) - seconds_of(before)) / 2 + 0.01;
    skew_.store(skew, std::memory_order_relaxed);
    measured_.store(true, std::memory_order_relaxed);
    const auto correction = static_cast<double>(correction_.load(std::memory_order_relaxed));
    if (std::fabs(skew - correction) >= 1.0)
        correction_.store(std::fabs(skew) >= 1.0 ? std::llround(skew) : 0,
                          std::memory_order_relaxed);
    const bool over = std::fabs(skew) > kWarnSeconds + error;
    if (over && !warned_.exchange(true)) {
        spdlog::warn(
            "the NFS server's clock is {:.1f} s {} this host's (+-{:.3f} s); nfsguard "
            "stamps times from this host's clock",
            std::fabs(skew), skew > 0 ? "ahead of" : "behind", error);
    } else if (!over && std::fabs(skew) < kWarnSeconds / 2 && warned_.exchange(false)) {
        spdlog::info("the NFS server's clock is back within {:.1f} s of this host's", kWarnSeconds);
    }
}

}  // namespace nfsguard::ops
