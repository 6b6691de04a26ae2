#include "tests/faultfs/fault_plan.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using nfsguard::faultfs::FaultPlan;
using nfsguard::faultfs::kNameOps;
using nfsguard::faultfs::lost_reply_errno;
using nfsguard::faultfs::NameOp;
using nfsguard::faultfs::op_name;
using nfsguard::faultfs::parse_op;

namespace {

constexpr std::int64_t kForever = FaultPlan::kForever;

TEST(FaultPlanTest, NothingArmedInjectsNothing) {
    FaultPlan plan;
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "x"), 0);
    EXPECT_EQ(plan.take_estale("x"), 0);
    EXPECT_EQ(plan.take_close_error("x"), 0);
    EXPECT_EQ(plan.take_vanished(), 0);
    EXPECT_EQ(plan.latency().count(), 0);
    EXPECT_EQ(plan.clock_offset().count(), 0);
}

TEST(FaultPlanTest, LostReplyErrnoIsWhatARetransmissionGets) {
    EXPECT_EQ(lost_reply_errno(NameOp::rename), ENOENT);
    EXPECT_EQ(lost_reply_errno(NameOp::unlink), ENOENT);
    EXPECT_EQ(lost_reply_errno(NameOp::rmdir), ENOENT);
    EXPECT_EQ(lost_reply_errno(NameOp::link), EEXIST);
    EXPECT_EQ(lost_reply_errno(NameOp::mkdir), EEXIST);
    EXPECT_EQ(lost_reply_errno(NameOp::symlink), EEXIST);
    EXPECT_EQ(lost_reply_errno(NameOp::create_excl), EEXIST);
    EXPECT_EQ(lost_reply_errno(NameOp::rename_closed), ENOENT);
}

TEST(FaultPlanTest, OpNamesRoundTrip) {
    for (NameOp op : kNameOps) EXPECT_EQ(parse_op(op_name(op)), op);
    EXPECT_FALSE(parse_op("any"));
    EXPECT_FALSE(parse_op("Rename"));
}

TEST(FaultPlanTest, LostReplyFiresOnlyForMatchingNames) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::rename, "*.lock", kForever));
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "mbox"), 0);
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "mbox.lock"), ENOENT);
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "mbox.lock.tmp"), 0);
}

TEST(FaultPlanTest, LostReplyFiresOnlyForItsOp) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::link, "*", kForever));
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "a"), 0);
    EXPECT_EQ(plan.take_lost_reply(NameOp::link, "a"), EEXIST);
}

TEST(FaultPlanTest, StarMatchesDotNames) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::unlink, "*", kForever));
    EXPECT_EQ(plan.take_lost_reply(NameOp::unlink, ".nfs000123"), ENOENT);
}

TEST(FaultPlanTest, CountIsSpentThenCallsPass) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::mkdir, "d*", 2));
    EXPECT_EQ(plan.take_lost_reply(NameOp::mkdir, "d1"), EEXIST);
    EXPECT_EQ(plan.take_lost_reply(NameOp::mkdir, "other"), 0);  // not matching: not spent
    EXPECT_EQ(plan.take_lost_reply(NameOp::mkdir, "d2"), EEXIST);
    EXPECT_EQ(plan.take_lost_reply(NameOp::mkdir, "d3"), 0);
    EXPECT_EQ(plan.stats().lost_reply[static_cast<size_t>(NameOp::mkdir)], 2u);
}

TEST(FaultPlanTest, MinusOneFiresUntilCleared) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_estale("victim", kForever));
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(plan.take_estale("victim"), ESTALE);
    plan.clear();
    EXPECT_EQ(plan.take_estale("victim"), 0);
    EXPECT_EQ(plan.stats().estale, 1000u);
}

TEST(FaultPlanTest, AnyOpMatchesEveryOpWithItsOwnErrnoAndSharesOneCount) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(std::nullopt, "*", 2));
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "a"), ENOENT);
    EXPECT_EQ(plan.take_lost_reply(NameOp::symlink, "b"), EEXIST);
    EXPECT_EQ(plan.take_lost_reply(NameOp::unlink, "c"), 0);
    auto stats = plan.stats();
    EXPECT_EQ(stats.lost_reply[static_cast<size_t>(NameOp::rename)], 1u);
    EXPECT_EQ(stats.lost_reply[static_cast<size_t>(NameOp::symlink)], 1u);
}

TEST(FaultPlanTest, ArmingTheSameTargetAgainReplacesItsCount) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_close_error(EIO, "f", 5));
    ASSERT_TRUE(plan.arm_close_error(EDQUOT, "f", 1));
    EXPECT_EQ(plan.take_close_error("f"), EDQUOT);
    EXPECT_EQ(plan.take_close_error("f"), 0);
}

TEST(FaultPlanTest, CountZeroDisarmsOneRule) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_estale("a", kForever));
    ASSERT_TRUE(plan.arm_estale("b", kForever));
    ASSERT_TRUE(plan.arm_estale("a", 0));
    EXPECT_EQ(plan.take_estale("a"), 0);
    EXPECT_EQ(plan.take_estale("b"), ESTALE);
}

TEST(FaultPlanTest, CloseErrorReportsTheArmedErrno) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_close_error(EDQUOT, "msg.*", 1));
    EXPECT_EQ(plan.take_close_error("other"), 0);
    EXPECT_EQ(plan.take_close_error("msg.1"), EDQUOT);
    EXPECT_EQ(plan.stats().close_error, 1u);
}

TEST(FaultPlanTest, InvalidArmingIsRejected) {
    FaultPlan plan;
    EXPECT_EQ(plan.arm_estale("x", -2).error(), EINVAL);
    EXPECT_EQ(plan.arm_estale("", 1).error(), EINVAL);
    EXPECT_EQ(plan.arm_close_error(0, "x", 1).error(), EINVAL);
    EXPECT_EQ(plan.set_latency(std::chrono::microseconds(-1)).error(), EINVAL);
    EXPECT_EQ(plan.set_latency(FaultPlan::kMaxLatency + std::chrono::microseconds(1)).error(),
              EINVAL);
    EXPECT_EQ(plan.take_estale("x"), 0);
}

TEST(FaultPlanTest, RuleTableIsBounded) {
    FaultPlan plan;
    for (size_t i = 0; i < FaultPlan::kMaxRules; ++i)
        ASSERT_TRUE(plan.arm_estale("n" + std::to_string(i), 1));
    EXPECT_EQ(plan.arm_estale("one-too-many", 1).error(), ENOSPC);
    // Re-arming an existing target and disarming still work when full.
    EXPECT_TRUE(plan.arm_estale("n0", 3));
    EXPECT_TRUE(plan.arm_estale("n1", 0));
    EXPECT_TRUE(plan.arm_estale("now-it-fits", 1));
}

TEST(FaultPlanTest, SpentRulesFreeTheirPlace) {
    FaultPlan plan;
    for (size_t i = 0; i < FaultPlan::kMaxRules; ++i)
        ASSERT_TRUE(plan.arm_estale("n" + std::to_string(i), 1));
    EXPECT_EQ(plan.take_estale("n7"), ESTALE);
    EXPECT_TRUE(plan.arm_estale("fits", 1));
}

TEST(FaultPlanTest, VanishFailsEveryCallUntilRestoredAndCountsThem) {
    FaultPlan plan;
    plan.vanish(EIO);
    EXPECT_EQ(plan.take_vanished(), EIO);
    EXPECT_EQ(plan.take_vanished(), EIO);
    plan.restore();
    EXPECT_EQ(plan.take_vanished(), 0);
    EXPECT_EQ(plan.stats().vanished_calls, 2u);
}

TEST(FaultPlanTest, ClearDisarmsEverythingButKeepsTheCounts) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::rename, "*", kForever));
    ASSERT_TRUE(plan.arm_estale("*", kForever));
    ASSERT_TRUE(plan.arm_close_error(ENOSPC, "*", kForever));
    ASSERT_TRUE(plan.set_latency(std::chrono::microseconds(5)));
    plan.set_clock_offset(std::chrono::seconds(3600));
    plan.vanish(ENOTCONN);
    EXPECT_EQ(plan.take_vanished(), ENOTCONN);
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "x"), ENOENT);

    plan.clear();
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "x"), 0);
    EXPECT_EQ(plan.take_estale("x"), 0);
    EXPECT_EQ(plan.take_close_error("x"), 0);
    EXPECT_EQ(plan.take_vanished(), 0);
    EXPECT_EQ(plan.latency().count(), 0);
    EXPECT_EQ(plan.clock_offset().count(), 0);
    auto stats = plan.stats();
    EXPECT_EQ(stats.lost_reply[static_cast<size_t>(NameOp::rename)], 1u);
    EXPECT_EQ(stats.vanished_calls, 1u);
}

TEST(FaultPlanTest, StatsAreOneLineOfJson) {
    FaultPlan plan;
    ASSERT_TRUE(plan.arm_lost_reply(NameOp::rename, "*", 2));
    plan.take_lost_reply(NameOp::rename, "a");
    plan.take_lost_reply(NameOp::rename, "b");
    EXPECT_EQ(plan.stats().to_json(),
              "{\"lost_reply\":{\"rename\":2,\"link\":0,\"mkdir\":0,\"symlink\":0,\"unlink\":0,"
              "\"rmdir\":0,\"create_excl\":0,\"rename_closed\":0},\"estale\":0,\"close_error\":0,"
              "\"vanished_calls\":0}");
}

TEST(FaultPlanTest, RacingCallsSpendACountExactlyOnce) {
    FaultPlan plan;
    constexpr int kCount = 100;
    ASSERT_TRUE(plan.arm_estale("*", kCount));
    std::atomic<int> fired{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i)
                if (plan.take_estale("x") != 0) ++fired;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(fired.load(), kCount);
    EXPECT_EQ(plan.stats().estale, static_cast<std::uint64_t>(kCount));
}

}  // namespace
