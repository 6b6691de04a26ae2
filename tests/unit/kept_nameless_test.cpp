// Open files whose name went away keep one descriptor in the store while
// open (fs/kept_nameless.hpp): kept once, dropped with the last close.
#include "fs/kept_nameless.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

using nfsguard::fs::KeptNameless;

TEST(KeptNamelessTest, KeptOnceDroppedOnceAfterTheLastCloseAndNamedBackAndForth) {
    std::vector<std::string> kept, dropped;
    KeptNameless nameless;
    nameless.name_gone(5, 3);  // nowhere to keep it yet
    EXPECT_TRUE(kept.empty());
    nameless.keep_in(
        [&](const std::string& name, int) {
            kept.push_back(name);
            return true;
        },
        [&](const std::string& name) { dropped.push_back(name); });
    nameless.name_gone(0x100000005, 3);
    nameless.name_gone(0x100000005, 4);  // another open file of it
    EXPECT_EQ(kept, std::vector<std::string>{"nameless-100000005"});
    nameless.name_gone(0x100000007, 5);
    std::vector<uint64_t> open{0x100000005, 0x100000007};
    auto is_open = [&](uint64_t id) {
        return std::find(open.begin(), open.end(), id) != open.end();
    };
    nameless.drop_closed(is_open);
    EXPECT_TRUE(dropped.empty());
    open = {0x100000007};  // the last close of 5, by a release or a request after it
    nameless.drop_closed(is_open);
    EXPECT_EQ(dropped, std::vector<std::string>{"nameless-100000005"});
    nameless.drop_closed(is_open);  // dropped once
    EXPECT_EQ(dropped.size(), 1U);
    open.clear();
    nameless.drop_closed(is_open);
    EXPECT_EQ(dropped, kept);
    uint64_t id = 0;
    EXPECT_TRUE(KeptNameless::parse("nameless-100000005", id));
    EXPECT_EQ(id, 0x100000005U);
    EXPECT_FALSE(KeptNameless::parse("nameless-", id));
    EXPECT_FALSE(KeptNameless::parse("lock-1-2-3", id));
}
