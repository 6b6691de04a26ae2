#include "ops/backing_check.hpp"

#include <gtest/gtest.h>
#include <sys/vfs.h>

#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::TempDir;

namespace {

// The backing as a filesystem of a chosen type: statfs answers that type.
class TypedSyscalls : public Syscalls {
  public:
    explicit TypedSyscalls(long type) : type_(type) {}
    Result<struct statfs> fstatfs(int fd) override {
        auto sf = Syscalls::fstatfs(fd);
        if (sf) sf->f_type = type_;
        return sf;
    }

  private:
    long type_;
};

constexpr long kNfs = 0x6969;
constexpr long kExt4 = 0xEF53;

}  // namespace

TEST(BackingCheck, TypeNamesAndNumbersParse) {
    std::vector<long> types;
    ASSERT_TRUE(BackingPolicy::parse_types("nfs", types));
    EXPECT_EQ(types, std::vector<long>{kNfs});
    ASSERT_TRUE(BackingPolicy::parse_types("nfs+fuse+0x1234", types));
    EXPECT_EQ(types.size(), 3U);
    EXPECT_EQ(types[2], 0x1234);
    ASSERT_TRUE(BackingPolicy::parse_types("any", types));
    EXPECT_TRUE(types.empty());
    EXPECT_FALSE(BackingPolicy::parse_types("nsf", types));
    EXPECT_FALSE(BackingPolicy::parse_types("", types));
}

TEST(BackingCheck, AnNfsBackingIsVouchedFor) {
    TempDir dir;
    TypedSyscalls sys(kNfs);
    EXPECT_EQ(check_backing(sys, dir.fd(), BackingPolicy{{kNfs}, ""}), "");
}

TEST(BackingCheck, TheLocalDirectoryUnderAFailedMountIsNot) {
    TempDir dir;
    TypedSyscalls sys(kExt4);
    EXPECT_EQ(check_backing(sys, dir.fd(), BackingPolicy{{kNfs}, ""}),
              "the backing directory is on ext4, not on nfs");
}

TEST(BackingCheck, ASentinelMustBeThere) {
    TempDir dir;
    TypedSyscalls sys(kNfs);
    BackingPolicy policy{{kNfs}, ".export-ok"};
    EXPECT_NE(check_backing(sys, dir.fd(), policy).find("sentinel .export-ok"), std::string::npos);
    dir.write(".export-ok", "");
    EXPECT_EQ(check_backing(sys, dir.fd(), policy), "");
}

TEST(BackingCheck, AnyTypeIsAcceptedWhenAskedFor) {
    TempDir dir;
    TypedSyscalls sys(kExt4);
    EXPECT_EQ(check_backing(sys, dir.fd(), BackingPolicy{}), "");
}
