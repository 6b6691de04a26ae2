#include "ops/entry_name.hpp"

#include <gtest/gtest.h>

#include <string>

using nfsguard::ops::check_entry_name;

TEST(EntryName, AcceptsOrdinaryMailNames) {
    EXPECT_TRUE(check_entry_name("1700000000.M1P2.host,S=42"));
    EXPECT_TRUE(check_entry_name("inbox.lock"));
    EXPECT_TRUE(check_entry_name(".hidden"));
    EXPECT_TRUE(check_entry_name("..."));
}

TEST(EntryName, RefusesDotAndDotDotSoNothingLeavesTheDirectory) {
    EXPECT_EQ(check_entry_name(".").error(), EINVAL);
    EXPECT_EQ(check_entry_name("..").error(), EINVAL);
}

TEST(EntryName, RefusesSlashesAndEmptyNames) {
    EXPECT_EQ(check_entry_name("a/b").error(), EINVAL);
    EXPECT_EQ(check_entry_name("/etc").error(), EINVAL);
    EXPECT_EQ(check_entry_name("").error(), EINVAL);
    EXPECT_EQ(check_entry_name(nullptr).error(), EINVAL);
}

TEST(EntryName, RefusesNamesLongerThanNameMax) {
    EXPECT_TRUE(check_entry_name(std::string(255, 'x').c_str()));
    EXPECT_EQ(check_entry_name(std::string(256, 'x').c_str()).error(), ENAMETOOLONG);
}
