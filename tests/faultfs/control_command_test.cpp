#include "tests/faultfs/control_command.hpp"

#include <gtest/gtest.h>

using nfsguard::faultfs::errno_name;
using nfsguard::faultfs::execute_command;
using nfsguard::faultfs::FaultPlan;
using nfsguard::faultfs::NameOp;
using nfsguard::faultfs::parse_errno;

namespace {

bool is_error(const std::string& answer) {
    return answer.rfind("error ", 0) == 0;
}

TEST(ControlCommandTest, LostReplyArmsTheNamedOp) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "lost_reply rename *.tmp 1"), "ok lost_reply rename *.tmp 1");
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "a.tmp"), ENOENT);
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "b.tmp"), 0);
}

TEST(ControlCommandTest, LostReplyAnyArmsEveryOp) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "lost_reply any * -1"), "ok lost_reply any * -1");
    EXPECT_EQ(plan.take_lost_reply(NameOp::create_excl, "x"), EEXIST);
    EXPECT_EQ(plan.take_lost_reply(NameOp::rmdir, "x"), ENOENT);
}

TEST(ControlCommandTest, EstaleAndCloseErrorArm) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "estale victim 2"), "ok estale victim 2");
    EXPECT_EQ(execute_command(plan, "close_error EDQUOT msg* 1"), "ok close_error EDQUOT msg* 1");
    EXPECT_EQ(plan.take_estale("victim"), ESTALE);
    EXPECT_EQ(plan.take_close_error("msg1"), EDQUOT);
}

TEST(ControlCommandTest, ClockOffsetLatencyVanishReturn) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "clock_offset -3600"), "ok clock_offset -3600");
    EXPECT_EQ(plan.clock_offset().count(), -3600);
    EXPECT_EQ(execute_command(plan, "latency 20000"), "ok latency 20000");
    EXPECT_EQ(plan.latency().count(), 20000);
    EXPECT_EQ(execute_command(plan, "vanish ENOTCONN"), "ok vanish ENOTCONN");
    EXPECT_EQ(plan.take_vanished(), ENOTCONN);
    EXPECT_EQ(execute_command(plan, "return"), "ok return");
    EXPECT_EQ(plan.take_vanished(), 0);
}

TEST(ControlCommandTest, ClearDisarms) {
    FaultPlan plan;
    execute_command(plan, "estale * -1");
    EXPECT_EQ(execute_command(plan, "clear"), "ok clear");
    EXPECT_EQ(plan.take_estale("x"), 0);
}

TEST(ControlCommandTest, StatsAnswersJson) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "stats"), "ok " + plan.stats().to_json());
}

TEST(ControlCommandTest, ToleratesExtraBlanksAndCarriageReturn) {
    FaultPlan plan;
    EXPECT_EQ(execute_command(plan, "  estale\t a  1 \r"), "ok estale a 1");
}

TEST(ControlCommandTest, MalformedCommandsAreErrorsAndArmNothing) {
    FaultPlan plan;
    for (const char* bad : {"",
                            "   ",
                            "explode",
                            "lost_reply",
                            "lost_reply rename x",
                            "lost_reply chmod x 1",
                            "lost_reply rename x -2",
                            "lost_reply rename x one",
                            "estale x",
                            "close_error EBOGUS x 1",
                            "close_error 0 x 1",
                            "vanish",
                            "vanish 0",
                            "vanish EIO EIO",
                            "latency -5",
                            "latency 99999999",
                            "clock_offset soon",
                            "clear now",
                            "stats please",
                            "return now"}) {
        EXPECT_TRUE(is_error(execute_command(plan, bad))) << "'" << bad << "'";
    }
    EXPECT_EQ(plan.take_lost_reply(NameOp::rename, "x"), 0);
    EXPECT_EQ(plan.take_vanished(), 0);
}

TEST(ControlCommandTest, ErrnoByNameOrNumber) {
    EXPECT_EQ(parse_errno("EIO"), EIO);
    EXPECT_EQ(parse_errno("EDQUOT"), EDQUOT);
    EXPECT_EQ(parse_errno("ENOTCONN"), ENOTCONN);
    EXPECT_EQ(parse_errno("5"), 5);
    EXPECT_FALSE(parse_errno("eio"));
    EXPECT_FALSE(parse_errno("0"));
    EXPECT_FALSE(parse_errno("-5"));
    EXPECT_EQ(errno_name(ENOSPC), "ENOSPC");
}

}  // namespace
