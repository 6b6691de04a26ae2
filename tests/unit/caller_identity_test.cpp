#include "fs/caller_identity.hpp"

#include <gtest/gtest.h>

using nfsguard::fs::CallerIdentity;

TEST(CallerIdentity, GroupsAreReadOnceForTheSameProcessAndIds) {
    CallerIdentity callers;
    int reads = 0;
    auto groups = [&] {
        ++reads;
        return std::vector<gid_t>{10, 20};
    };
    auto a = callers.identify(100, 1000, 1000, groups);
    auto b = callers.identify(100, 1000, 1000, groups);
    EXPECT_EQ(reads, 1);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.uid, 1000U);
    EXPECT_EQ(a.groups, (std::vector<gid_t>{10, 20}));
}

TEST(CallerIdentity, AProcessThatChangedUidIsReadAgain) {
    CallerIdentity callers;
    int reads = 0;
    auto groups = [&] {
        ++reads;
        return std::vector<gid_t>{static_cast<gid_t>(reads)};
    };
    (void)callers.identify(100, 0, 0, groups);
    auto after_setuid = callers.identify(100, 1000, 1000, groups);
    EXPECT_EQ(reads, 2);
    EXPECT_EQ(after_setuid.uid, 1000U);
    EXPECT_EQ(after_setuid.groups, (std::vector<gid_t>{2}));
}

TEST(CallerIdentity, DifferentProcessesAreKeptApart) {
    CallerIdentity callers;
    auto a = callers.identify(1, 5, 5, [] { return std::vector<gid_t>{1}; });
    auto b = callers.identify(2, 5, 5, [] { return std::vector<gid_t>{2}; });
    EXPECT_NE(a.groups, b.groups);
}
