// ClockSkew: the server's clock measured from the ctimes of new objects, and
// the whole-second correction applied to the ctimes callers see.
#include <gtest/gtest.h>

#include "ops/timestamps.hpp"

namespace nfsguard::ops {
namespace {

struct timespec at(double seconds) {
    struct timespec t;
    t.tv_sec = static_cast<time_t>(seconds);
    t.tv_nsec = static_cast<long>((seconds - static_cast<double>(t.tv_sec)) * 1e9);
    return t;
}

// The server stamped `server` while our clock read `ours` (+-1 ms).
void observe(ClockSkew& skew, double server, double ours) {
    skew.observe(at(server), at(ours - 0.001), at(ours + 0.001));
}

TEST(ClockSkewTest, MeasuresTheServerAheadOrBehind) {
    ClockSkew skew;
    EXPECT_FALSE(skew.measured());
    observe(skew, 1'000'300.25, 1'000'000.0);
    EXPECT_TRUE(skew.measured());
    EXPECT_NEAR(skew.seconds(), 300.25, 0.01);
    observe(skew, 1'000'000.0, 1'000'300.0);
    EXPECT_NEAR(skew.seconds(), -300.0, 0.01);
}

TEST(ClockSkewTest, NoCtimeCorrectionWithinASecond) {
    ClockSkew skew;
    observe(skew, 1'000'000.6, 1'000'000.0);
    EXPECT_EQ(skew.ctime_correction(), 0);
    observe(skew, 1'000'000.0, 1'000'000.9);
    EXPECT_EQ(skew.ctime_correction(), 0);
}

TEST(ClockSkewTest, TheCtimeCorrectionIsWholeSecondsAndHoldsAgainstJitter) {
    ClockSkew skew;
    observe(skew, 1'000'300.4, 1'000'000.0);
    EXPECT_EQ(skew.ctime_correction(), 300);
    // The measure wanders by its error (and by a server's coarse stamps):
    // the correction, and so every ctime a caller has seen, stays.
    for (double wander : {-0.45, 0.49, 0.9, -0.9, 0.6})
        observe(skew, 1'000'300.0 + wander, 1'000'000.0);
    EXPECT_EQ(skew.ctime_correction(), 300);
    // A real change (the server's clock was set): it follows.
    observe(skew, 1'000'060.2, 1'000'000.0);
    EXPECT_EQ(skew.ctime_correction(), 60);
    observe(skew, 1'000'000.0, 1'000'120.0);
    EXPECT_EQ(skew.ctime_correction(), -120);
    observe(skew, 1'000'000.1, 1'000'000.0);
    EXPECT_EQ(skew.ctime_correction(), 0);
}

}  // namespace
}  // namespace nfsguard::ops
