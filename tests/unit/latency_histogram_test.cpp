#include "fs/stats/latency_histogram.hpp"

#include <gtest/gtest.h>

using nfsguard::fs::LatencyHistogram;
using namespace std::chrono_literals;

TEST(LatencyHistogram, ADurationOnABoundGoesInThatBucket) {
    LatencyHistogram h;
    h.record(100us);  // le="0.0001" includes its bound
    h.record(101us);
    auto s = h.snapshot();
    EXPECT_EQ(s.cumulative[0], 1U);
    EXPECT_EQ(s.cumulative[1], 2U);
}

TEST(LatencyHistogram, BucketsAreCumulativeAndTheLastHoldsEverything) {
    LatencyHistogram h;
    h.record(0ns);
    h.record(3ms);
    h.record(2min);  // past the last bound: only +Inf holds it
    auto s = h.snapshot();
    EXPECT_EQ(s.count, 3U);
    EXPECT_EQ(s.cumulative.back(), 3U);
    EXPECT_EQ(s.cumulative[LatencyHistogram::kBounds.size() - 1], 2U);
    for (size_t i = 1; i < s.cumulative.size(); ++i)
        EXPECT_LE(s.cumulative[i - 1], s.cumulative[i]);
    EXPECT_EQ(s.sum, 0ns + 3ms + 2min);
}

TEST(LatencyHistogram, BoundsAscend) {
    for (size_t i = 1; i < LatencyHistogram::kBounds.size(); ++i)
        EXPECT_LT(LatencyHistogram::kBounds[i - 1], LatencyHistogram::kBounds[i]);
}
