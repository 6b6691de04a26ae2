#include "cache/cache_policy.hpp"

#include <gtest/gtest.h>

using nfsguard::cache::CachePolicy;

TEST(CachePolicy, SharedModeLetsTheKernelCacheNothing) {
    CachePolicy p;
    ASSERT_TRUE(CachePolicy::for_mode("shared", p));
    EXPECT_EQ(p.mode, "shared");
    EXPECT_EQ(p.entry_timeout, 0);
    EXPECT_EQ(p.attr_timeout, 0);
    EXPECT_EQ(p.negative_timeout, 0);
    EXPECT_FALSE(p.keep_page_cache);
    EXPECT_FALSE(p.keep_listings);
}

TEST(CachePolicy, UnknownModeIsRefused) {
    CachePolicy p;
    EXPECT_FALSE(CachePolicy::for_mode("fast", p));
    EXPECT_FALSE(CachePolicy::for_mode("", p));
}

TEST(CachePolicy, PinnedModeKeepsNamesAttributesAndDataForAMinute) {
    CachePolicy p;
    ASSERT_TRUE(CachePolicy::for_mode("pinned", p));
    EXPECT_EQ(p.mode, "pinned");
    EXPECT_EQ(p.entry_timeout, 60);
    EXPECT_EQ(p.attr_timeout, 60);
    EXPECT_TRUE(p.keep_page_cache);
    EXPECT_TRUE(p.keep_listings);
}

TEST(CachePolicy, PinnedModeRemembersNoMissingNames) {
    // A name that shows when the backing re-attaches must be seen at once,
    // and mail software asks for fresh unique names all the time.
    CachePolicy p;
    ASSERT_TRUE(CachePolicy::for_mode("pinned", p));
    EXPECT_EQ(p.negative_timeout, 0);
}

TEST(CachePolicy, PinnedModeLetsTheKernelCheckPermissions) {
    // Cached dentries skip nfsguard's lookup as the caller.
    CachePolicy p;
    ASSERT_TRUE(CachePolicy::for_mode("pinned", p));
    EXPECT_TRUE(p.kernel_permissions);
    EXPECT_TRUE(p.invalidates);
}

TEST(CachePolicy, SharedModeNeedsNoKernelChecksNorInvalidation) {
    CachePolicy p;
    ASSERT_TRUE(CachePolicy::for_mode("shared", p));
    EXPECT_FALSE(p.kernel_permissions);
    EXPECT_FALSE(p.invalidates);
}

TEST(CachePolicy, ModeListNamesEveryKnownMode) {
    CachePolicy p;
    EXPECT_NE(CachePolicy::kModes.find("shared"), std::string_view::npos);
    EXPECT_NE(CachePolicy::kModes.find("pinned"), std::string_view::npos);
}
