#include "fs/ownership/unit_pattern.hpp"

#include <gtest/gtest.h>

namespace nfsguard::fs {
namespace {

TEST(UnitPattern, EachEntryOfTheRootIsAUnitAndWhatIsBelowLiesInIt) {
    auto p = UnitPattern::parse("*");
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->place_of(""));  // the root: in no unit
    auto unit = p->place_of("alice");
    ASSERT_TRUE(unit);
    EXPECT_EQ(unit->unit, "alice");
    EXPECT_TRUE(unit->is_unit);
    auto below = p->place_of("alice/Maildir/new/1.x");
    ASSERT_TRUE(below);
    EXPECT_EQ(below->unit, "alice");
    EXPECT_FALSE(below->is_unit);
}

TEST(UnitPattern, DeeperPatternsLeaveWhatIsAboveAndWhatDoesNotMatchFree) {
    auto p = UnitPattern::parse("home/*");
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->place_of("home"));
    EXPECT_FALSE(p->place_of("spool/alice"));
    EXPECT_EQ(p->place_of("home/bob/mdbox")->unit, "home/bob");
    auto domains = UnitPattern::parse("*/*");
    ASSERT_TRUE(domains);
    EXPECT_EQ(domains->place_of("example.org/alice/x")->unit, "example.org/alice");
    EXPECT_FALSE(domains->place_of("example.org"));
}

TEST(UnitPattern, NfsguardsOwnDirectoryIsNoUnit) {
    auto p = UnitPattern::parse("*");
    EXPECT_FALSE(p->place_of(".nfsguard"));
    EXPECT_FALSE(p->place_of(".nfsguard/owners/alice"));
}

TEST(UnitPattern, EmptyDotAndDotDotComponentsAreNoPattern) {
    EXPECT_FALSE(UnitPattern::parse(""));
    EXPECT_FALSE(UnitPattern::parse("home//*"));
    EXPECT_FALSE(UnitPattern::parse("home/"));
    EXPECT_FALSE(UnitPattern::parse("../*"));
    EXPECT_FALSE(UnitPattern::parse("./*"));
}

}  // namespace
}  // namespace nfsguard::fs
