// Open files whose name went away keep one descriptor in the store while
// open (fs/kept_nameless.hpp): kept once, dropped with the last close.
#include "fs/kept_nameless.hpp"

#include <gtest/gtest.h>

#include <vector>

using nfsguard::fs::KeptNameless;

TEST(KeptNamelessTest, KeptOnceDroppedAtTheLastCloseAndNamedBackAndForth) {
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
    nameless.all_closed(0x100000006);  // never kept
    EXPECT_TRUE(dropped.empty());
    nameless.all_closed(0x100000005);
    EXPECT_EQ(dropped, kept);
    uint64_t id = 0;
    EXPECT_TRUE(KeptNameless::parse("nameless-100000005", id));
    EXPECT_EQ(id, 0x100000005U);
    EXPECT_FALSE(KeptNameless::parse("nameless-", id));
    EXPECT_FALSE(KeptNameless::parse("lock-1-2-3", id));
}
