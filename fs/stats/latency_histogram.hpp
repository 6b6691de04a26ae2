// LatencyHistogram: how long something took, counted into fixed buckets.
//
// Recorded on every request by every request thread, so a record is two
// relaxed atomic adds: no lock, no allocation. Each bucket counts only its
// own durations; the cumulative counts Prometheus wants (and the total
// count, their sum) are made when a snapshot is read, so a reader never sees
// a count that disagrees with its buckets.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace nfsguard::fs {

class LatencyHistogram {
  public:
    // Upper bounds (inclusive, Prometheus' `le`) of all buckets but the last,
    // which takes everything longer. From a fast local call to a lock held
    // while a mailbox is rewritten.
    static constexpr std::array<std::chrono::nanoseconds, 11> kBounds{
        std::chrono::microseconds(100), std::chrono::microseconds(500),
        std::chrono::milliseconds(1),   std::chrono::milliseconds(5),
        std::chrono::milliseconds(10),  std::chrono::milliseconds(50),
        std::chrono::milliseconds(100), std::chrono::milliseconds(500),
        std::chrono::seconds(1),        std::chrono::seconds(5),
        std::chrono::seconds(30)};
    static constexpr size_t kBuckets = kBounds.size() + 1;

    void record(std::chrono::nanoseconds took) {
        size_t i = 0;
        while (i < kBounds.size() && took > kBounds[i]) ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns_.fetch_add(static_cast<uint64_t>(took.count()), std::memory_order_relaxed);
    }

    struct Snapshot {
        std::array<uint64_t, kBuckets> cumulative{};  // [i]: how many took <= kBounds[i]
        uint64_t count = 0;                           // all of them (the last bucket)
        std::chrono::nanoseconds sum{0};
    };

    Snapshot snapshot() const {
        Snapshot s;
        uint64_t running = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            running += buckets_[i].load(std::memory_order_relaxed);
            s.cumulative[i] = running;
        }
        s.count = running;
        s.sum = std::chrono::nanoseconds(sum_ns_.load(std::memory_order_relaxed));
        return s;
    }

  private:
    std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
    std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace nfsguard::fs
