#include "fs/client_times.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>

namespace nfsguard::fs {

void ClientTimes::Owed::made_at(const struct timespec& when) {
    made_changes_.store(changes_.load(std::memory_order_acquire) + 1, std::memory_order_relaxed);
    made_ns_.store(int64_t{when.tv_sec} * 1'000'000'000 + when.tv_nsec, std::memory_order_release);
    data_changed();
}

void ClientTimes::Owed::covered(uint64_t changes) {
    uint64_t seen = stamped_.load(std::memory_order_acquire);
    while (seen < changes && !stamped_.compare_exchange_weak(seen, changes)) {
    }
}

bool ClientTimes::stamping() const {
    if (mode_ == Mode::server) return false;
    if (mode_ == Mode::client || !skew_.measured()) return true;
    return std::fabs(skew_.seconds()) >= kAdaptiveSkewSeconds;
}

bool ClientTimes::measure(const struct stat& made, const struct timespec& before) {
    skew_.observe(made.st_ctim, before, ops::client_now());
    return stamping();
}

void ClientTimes::stamp_new(struct stat& st, const struct timespec& before, int dirfd,
                            const char* name) {
    if (!measure(st, before)) return;
    if (auto t = ops::stamp_new(sys_, dirfd, name)) {
        st.st_atim = *t;
        st.st_mtim = *t;
    } else {
        spdlog::debug("cannot stamp {}: {}", name, std::strerror(t.error()));
    }
}

bool ClientTimes::pay(Owed& owed, const ops::Located& obj, struct stat* st) {
    if (!owes(owed)) return false;
    std::lock_guard lock(
        stripes_[reinterpret_cast<uintptr_t>(&owed) / sizeof owed % stripes_.size()]);
    const uint64_t changes = owed.changes_.load(std::memory_order_acquire);
    if (owed.stamped_.load(std::memory_order_acquire) >= changes) return false;
    const int64_t made = owed.made_ns_.load(std::memory_order_acquire);
    const struct timespec made_at = {made / 1'000'000'000, made % 1'000'000'000};
    auto set = made != 0
                   ? ops::stamp_made(sys_, obj, made_at,
                                     changes > owed.made_changes_.load(std::memory_order_relaxed))
                   : ops::stamp_modified(sys_, obj);
    if (!set) {
        spdlog::debug("cannot stamp an mtime: {}", std::strerror(set.error()));
        return false;
    }
    owed.covered(changes);
    if (made != 0) {
        owed.made_ns_.store(0, std::memory_order_release);
        if (st != nullptr) st->st_atim = made_at;
    }
    if (st != nullptr) st->st_mtim = *set;
    return true;
}

void ClientTimes::on_our_clock(struct stat& st) const {
    if (mode_ != Mode::server) st.st_ctim.tv_sec -= skew_.ctime_correction();
}

}  // namespace nfsguard::fs
