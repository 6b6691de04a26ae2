#include "cache/invalidations.hpp"

#include <gtest/gtest.h>

using nfsguard::cache::Invalidations;

TEST(Invalidations, StartEmpty) {
    Invalidations stale;
    EXPECT_TRUE(stale.empty());
}

TEST(Invalidations, ChangedNameAlsoStalesItsDirectorysAttributes) {
    Invalidations stale;
    stale.name_changed(7, "msg");
    ASSERT_EQ(stale.entries.size(), 1U);
    EXPECT_EQ(stale.entries[0].parent, 7U);
    EXPECT_EQ(stale.entries[0].name, "msg");
    EXPECT_EQ(stale.inodes, std::vector<uint64_t>{7});
    EXPECT_FALSE(stale.everything);
}

TEST(Invalidations, RenameWithinOneDirectoryNamesTheDirectoryOnce) {
    Invalidations stale;
    stale.name_changed(7, "tmp-name");
    stale.name_changed(7, "new-name");
    EXPECT_EQ(stale.entries.size(), 2U);
    EXPECT_EQ(stale.inodes, std::vector<uint64_t>{7});
}

TEST(Invalidations, SameNameTwiceIsDroppedOnce) {
    Invalidations stale;
    stale.name_changed(7, "a");
    stale.name_changed(7, "a");
    stale.attributes_changed(9);
    stale.attributes_changed(9);
    EXPECT_EQ(stale.entries.size(), 1U);
    EXPECT_EQ(stale.inodes, (std::vector<uint64_t>{7, 9}));
}

TEST(Invalidations, EverythingIsNotEmpty) {
    Invalidations stale;
    stale.all_changed();
    EXPECT_FALSE(stale.empty());
    stale.clear();
    EXPECT_TRUE(stale.empty());
}

TEST(Invalidations, ForgottenNameLeavesTheDirectorysAttributes) {
    Invalidations stale;
    stale.name_dropped(7, "l1");
    stale.name_dropped(7, "l1");
    EXPECT_EQ(stale.entries, (std::vector<Invalidations::Entry>{{7, "l1"}}));
    EXPECT_TRUE(stale.inodes.empty());
}

TEST(Invalidations, ChangedNameStalesItsDirectorysListingOnce) {
    // Pinned mode keeps listings (FOPEN_CACHE_DIR): a name nfsguard changed
    // behind the kernel's back must show in the next listing.
    Invalidations stale;
    stale.name_changed(7, "tmp-name");
    stale.name_changed(7, "new-name");
    stale.name_changed(8, "x");
    EXPECT_EQ(stale.listings, (std::vector<uint64_t>{7, 8}));
    EXPECT_FALSE(stale.empty());
}

TEST(Invalidations, ADroppedNameOrStampedTimesLeaveListingsAlone) {
    Invalidations stale;
    stale.name_dropped(7, "old-alias");
    stale.attributes_changed(9);
    EXPECT_TRUE(stale.listings.empty());
}
