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
}

TEST(CachePolicy, UnknownModeIsRefused) {
    CachePolicy p;
    EXPECT_FALSE(CachePolicy::for_mode("fast", p));
    EXPECT_FALSE(CachePolicy::for_mode("", p));
}
