#include "fs/stats/stats_text.hpp"

#include <gtest/gtest.h>

using nfsguard::fs::stats_as_text;

TEST(StatsText, CountersAreLinesNamedByTheirPath) {
    std::string text =
        stats_as_text(R"({"mountpoint":"/var/mail","false_errors_hidden":{"rename":2,"link":0},)"
                      R"("lock_waits":{"failed":0,"count":3,"seconds":1.5,"buckets":[0,3]}})");
    EXPECT_NE(text.find("mountpoint                       /var/mail\n"), std::string::npos);
    EXPECT_NE(text.find("false_errors_hidden.rename       2\n"), std::string::npos);
    EXPECT_NE(text.find("lock_waits.count                 3\n"), std::string::npos);
    EXPECT_EQ(text.find("buckets"), std::string::npos);
}

TEST(StatsText, OperationsServedMakeATableWithMeanAndTheBucketOf99Percent) {
    std::string text =
        stats_as_text(R"({"latency_buckets_seconds":[0.001,0.01],"requests":{)"
                      R"("lookup":{"errors":1,"count":100,"seconds":0.2,"buckets":[50,99,100]},)"
                      R"("rename":{"errors":0,"count":0,"seconds":0,"buckets":[0,0,0]},)"
                      R"("fsync":{"errors":0,"count":2,"seconds":4,"buckets":[0,0,2]}}})");
    EXPECT_NE(text.find("lookup                    100          1       2 ms     <= 10 ms\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("fsync                       2          0        2 s      > 10 ms\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("rename"), std::string::npos) << "no row for an operation not served";
}

TEST(StatsText, WhatIsNotJsonGivesNothing) {
    EXPECT_EQ(stats_as_text(""), "");
    EXPECT_EQ(stats_as_text(R"({"a":1)"), "");
    EXPECT_EQ(stats_as_text(R"({"a":1} x)"), "");
}
