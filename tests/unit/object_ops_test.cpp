#include "ops/object_ops.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <deque>
#include <thread>

#include "located_objects.hpp"
#include "ops/identity.hpp"
#include "ops/namespace_ops.hpp"
#include "recording_syscalls.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::RecordingSyscalls;
using nfsguard::test::TempDir;

namespace {

class ObjectOpsTest : public ::testing::Test {
  protected:
    void TearDown() override { EXPECT_TRUE(sys.only_single_components()); }
    Located locate(const std::string& name) { return located_.locate(sys, dir.fd(), name); }
    struct stat lstat(const std::string& path) {
        struct stat st {};
        EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
        return st;
    }

    TempDir dir;
    TempDir outside;
    RecordingSyscalls sys;
    nfsguard::test::LocatedObjects located_;
};

}  // namespace

TEST_F(ObjectOpsTest, ChmodOfASymlinkIsRefusedAndTheTargetKeepsItsMode) {
    outside.write("passwd", "x", 0644);
    ASSERT_EQ(::symlink((outside / "passwd").c_str(), (dir / "evil").c_str()), 0);
    EXPECT_EQ(change_mode(sys, locate("evil"), 0666).error(), EOPNOTSUPP);
    EXPECT_EQ(lstat(outside / "passwd").st_mode & 07777, 0644U);
}

TEST_F(ObjectOpsTest, ChmodChangesTheObject) {
    dir.write("f", "x", 0600);
    ASSERT_TRUE(change_mode(sys, locate("f"), 0640));
    EXPECT_EQ(lstat(dir / "f").st_mode & 07777, 0640U);
}

TEST_F(ObjectOpsTest, ChownOfASymlinkChangesTheLinkNotTheTarget) {
    if (geteuid() != 0) GTEST_SKIP() << "chown needs root";
    outside.write("shadow", "x", 0600);
    ASSERT_EQ(::symlink((outside / "shadow").c_str(), (dir / "evil").c_str()), 0);
    ASSERT_TRUE(change_owner(sys, locate("evil"), 4242, 4242));
    EXPECT_EQ(lstat(dir / "evil").st_uid, 4242U);
    EXPECT_EQ(lstat(outside / "shadow").st_uid, 0U);
}

TEST_F(ObjectOpsTest, SetTimesOnASymlinkSetsTheLinksTimes) {
    outside.write("t", "x");
    ASSERT_EQ(::symlink((outside / "t").c_str(), (dir / "s").c_str()), 0);
    struct timespec times[2] = {{1000000, 0}, {2000000, 0}};
    ASSERT_TRUE(set_times(sys, locate("s"), times));
    EXPECT_EQ(lstat(dir / "s").st_mtim.tv_sec, 2000000);
    EXPECT_NE(lstat(outside / "t").st_mtim.tv_sec, 2000000);
}

TEST_F(ObjectOpsTest, SetTimesHonoursOmit) {
    dir.write("f", "x");
    struct timespec times[2] = {{123, 0}, {0, UTIME_OMIT}};
    const auto mtime = lstat(dir / "f").st_mtim.tv_sec;
    ASSERT_TRUE(set_times(sys, locate("f"), times));
    EXPECT_EQ(lstat(dir / "f").st_atim.tv_sec, 123);
    EXPECT_EQ(lstat(dir / "f").st_mtim.tv_sec, mtime);
}

TEST_F(ObjectOpsTest, TruncateWorksOnFilesOnly) {
    dir.write("f", "0123456789");
    ASSERT_TRUE(truncate_object(sys, locate("f"), 4));
    EXPECT_EQ(dir.read("f"), "0123");
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0755), 0);
    EXPECT_EQ(truncate_object(sys, locate("d"), 0).error(), EISDIR);
}

TEST_F(ObjectOpsTest, ReopenGivesARealDescriptorAndRefusesSymlinks) {
    dir.write("f", "content");
    auto fd = reopen(sys, locate("f"), O_RDONLY);
    ASSERT_TRUE(fd) << fd.error();
    char buf[16] = {};
    EXPECT_EQ(::read(fd->get(), buf, sizeof buf), 7);
    ASSERT_EQ(::symlink("f", (dir / "s").c_str()), 0);
    EXPECT_EQ(reopen(sys, locate("s"), O_RDONLY).error(), ELOOP);
}

TEST_F(ObjectOpsTest, ReopenWithTheCallersONofollowStillOpensTheFile) {
    dir.write("f", "content");
    auto fd = reopen(sys, locate("f"), O_WRONLY | O_TRUNC | O_NOFOLLOW);
    ASSERT_TRUE(fd) << fd.error();
    EXPECT_EQ(dir.read("f"), "");
}

TEST_F(ObjectOpsTest, ReadLinkReadsTheLink) {
    ASSERT_EQ(::symlink("../../etc/passwd", (dir / "s").c_str()), 0);
    auto target = read_link(sys, locate("s"));
    ASSERT_TRUE(target);
    EXPECT_EQ(*target, "../../etc/passwd");
    dir.write("f", "");
    EXPECT_EQ(read_link(sys, locate("f")).error(), EINVAL);
}

TEST_F(ObjectOpsTest, ExtendedAttributesRoundTrip) {
    dir.write("f", "x");
    Located f = locate("f");
    auto set = set_xattr(sys, f, "user.nfsguard", "v1", 2, 0);
    if (!set && set.error() == EOPNOTSUPP) GTEST_SKIP() << "no user xattrs on /tmp";
    ASSERT_TRUE(set) << set.error();
    char buf[8] = {};
    auto n = get_xattr(sys, f, "user.nfsguard", buf, sizeof buf);
    ASSERT_TRUE(n);
    EXPECT_EQ(std::string(buf, *n), "v1");
    auto size = list_xattr(sys, f, nullptr, 0);
    ASSERT_TRUE(size);
    EXPECT_GE(*size, sizeof("user.nfsguard"));
    ASSERT_TRUE(remove_xattr(sys, f, "user.nfsguard"));
    EXPECT_EQ(get_xattr(sys, f, "user.nfsguard", buf, sizeof buf).error(), ENODATA);
}

TEST_F(ObjectOpsTest, AccessIsCheckedForTheActingIdentity) {
    if (geteuid() != 0) GTEST_SKIP() << "identity switching needs root";
    dir.write("mbox", "x", 0600);
    Located mbox = locate("mbox");
    EXPECT_TRUE(check_access(sys, mbox, R_OK));
    std::thread t([&] {
        ASSERT_TRUE(act_as(Identity{4242, 4242, {}}));
        EXPECT_EQ(check_access(sys, mbox, R_OK).error(), EACCES);
    });
    t.join();
}

// The kernel's chmod that clears set-ID bits before a non-owner's write.

TEST_F(ObjectOpsTest, DroppingOnlySetIdBitsOfAWritableFileIsTheKernelsKill) {
    dir.write("prog", "x");
    ASSERT_EQ(::chmod((dir / "prog").c_str(), 06775), 0);
    Located prog = locate("prog");
    EXPECT_TRUE(is_set_id_kill_by_writer(sys, prog, 0775));
    EXPECT_TRUE(is_set_id_kill_by_writer(sys, prog, 02775));
    EXPECT_TRUE(is_set_id_kill_by_writer(sys, prog, 04775));
}

TEST_F(ObjectOpsTest, AChmodThatChangesMoreThanSetIdBitsIsNoKill) {
    dir.write("prog", "x");
    ASSERT_EQ(::chmod((dir / "prog").c_str(), 04755), 0);
    Located prog = locate("prog");
    EXPECT_FALSE(is_set_id_kill_by_writer(sys, prog, 0700));
    EXPECT_FALSE(is_set_id_kill_by_writer(sys, prog, 04755)) << "nothing dropped";
    EXPECT_FALSE(is_set_id_kill_by_writer(sys, prog, 0755 | S_ISGID)) << "a bit added";
}

TEST_F(ObjectOpsTest, NoKillForAUserWhoMayNotWrite) {
    struct NoWrite : RecordingSyscalls {
        Result<void> faccessat(int, const char*, int mode, int) override {
            return (mode & W_OK) ? Result<void>(Errno{EACCES}) : Result<void>();
        }
    } cannot_write;
    dir.write("prog", "x");
    ASSERT_EQ(::chmod((dir / "prog").c_str(), 04755), 0);
    Located prog = locate("prog");
    EXPECT_FALSE(is_set_id_kill_by_writer(cannot_write, prog, 0755));
}

TEST_F(ObjectOpsTest, NoKillForADirectory) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 02775), 0);
    Located d = locate("d");
    EXPECT_FALSE(is_set_id_kill_by_writer(sys, d, 0775));
}

// A non-owner's chmod fails with EPERM, as the backing answers a writer whose
// write the kernel asks to clear set-ID bits first; `denials` of them.
class NotTheOwner : public RecordingSyscalls {
  public:
    int denials = 0;
    int chmods = 0;
    Result<void> chmod(const char* path, mode_t mode) override {
        ++chmods;
        if (denials > 0) {
            --denials;
            return Errno{EPERM};
        }
        return RecordingSyscalls::chmod(path, mode);
    }
};

TEST_F(ObjectOpsTest, ASetIdKillThatTheCallerMayNotChmodIsDoneAsRoot) {
    if (geteuid() != 0) GTEST_SKIP() << "the retry is made as root";
    dir.write("mbox", "x", 0644);
    ASSERT_EQ(::chmod((dir / "mbox").c_str(), 04755), 0);
    NotTheOwner writer;
    writer.denials = 1;
    bool left_to_write = true;
    ASSERT_TRUE(change_mode_for_caller(writer, located_.locate(writer, dir.fd(), "mbox"), 0755,
                                       left_to_write));
    EXPECT_EQ(writer.chmods, 2);
    EXPECT_FALSE(left_to_write);
    EXPECT_EQ(lstat(dir / "mbox").st_mode & 07777, 0755U);
}

TEST_F(ObjectOpsTest, ASetIdKillRefusedToRootTooIsLeftToTheWrite) {
    dir.write("mbox", "x", 0644);
    ASSERT_EQ(::chmod((dir / "mbox").c_str(), 04755), 0);
    NotTheOwner writer;
    writer.denials = 2;  // root_squash: root is refused as well
    bool left_to_write = false;
    ASSERT_TRUE(change_mode_for_caller(writer, located_.locate(writer, dir.fd(), "mbox"), 0755,
                                       left_to_write));
    EXPECT_TRUE(left_to_write);
}

TEST_F(ObjectOpsTest, AChmodThatIsNoSetIdKillKeepsItsEperm) {
    dir.write("mbox", "x", 0644);
    NotTheOwner stranger;
    stranger.denials = 1;
    bool left_to_write = false;
    EXPECT_EQ(change_mode_for_caller(stranger, located_.locate(stranger, dir.fd(), "mbox"), 0600,
                                     left_to_write)
                  .error(),
              EPERM);
    EXPECT_EQ(stranger.chmods, 1);
}
