#include "fs/stats/request_stats.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

using nfsguard::fs::RequestOp;
using nfsguard::fs::RequestStats;
using nfsguard::fs::RequestTimer;

TEST(RequestStats, ATimedRequestIsCountedWhenItEnds) {
    RequestStats stats;
    {
        RequestTimer timer(stats.of(RequestOp::rename));
        EXPECT_EQ(stats.of(RequestOp::rename).latency.snapshot().count, 0U);
    }
    EXPECT_EQ(stats.of(RequestOp::rename).latency.snapshot().count, 1U);
    EXPECT_EQ(stats.of(RequestOp::rename).errors.load(), 0U);
    EXPECT_EQ(stats.of(RequestOp::lookup).latency.snapshot().count, 0U);
}

TEST(RequestStats, AnErrorReplyIsCountedToTheRequestThisThreadServes) {
    RequestStats stats;
    {
        RequestTimer timer(stats.of(RequestOp::lookup));
        RequestTimer::note_reply(ENOENT);
    }
    {
        RequestTimer timer(stats.of(RequestOp::getattr));
        RequestTimer::note_reply(0);
    }
    RequestTimer::note_reply(EIO);  // no request: nothing to count it to
    EXPECT_EQ(stats.of(RequestOp::lookup).errors.load(), 1U);
    EXPECT_EQ(stats.of(RequestOp::getattr).errors.load(), 0U);
}

TEST(RequestStats, EveryOperationHasItsName) {
    EXPECT_STREQ(request_op_name(RequestOp::lookup), "lookup");
    EXPECT_STREQ(request_op_name(RequestOp::write), "write");
    EXPECT_STREQ(request_op_name(RequestOp::copy_file_range), "copy_file_range");
    EXPECT_STREQ(request_op_name(RequestOp::flock), "flock");
    std::set<std::string> names;
    for (size_t i = 0; i < nfsguard::fs::kRequestOps; ++i)
        names.insert(request_op_name(static_cast<RequestOp>(i)));
    EXPECT_EQ(names.size(), nfsguard::fs::kRequestOps);
}
