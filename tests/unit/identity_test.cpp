#include "ops/identity.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "temp_dir.hpp"

using nfsguard::ops::act_as;
using nfsguard::ops::current_identity;
using nfsguard::ops::Identity;
using nfsguard::ops::ScopedIdentity;
using nfsguard::test::TempDir;

namespace {

constexpr uid_t kUser = 4242;
constexpr gid_t kGroup = 4343;
constexpr gid_t kMailGroup = 4444;

class IdentityTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "identity switching needs root";
    }
    // Runs `fn` on a fresh thread: what it does to its credentials stays there.
    template <typename Fn>
    static void on_thread(Fn fn) {
        std::thread t(fn);
        t.join();
    }
    TempDir dir;
};

int open_errno(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
    if (fd == -1) return errno;
    ::close(fd);
    return 0;
}

}  // namespace

TEST_F(IdentityTest, AUserCannotReadAnotherUsersPrivateMailbox) {
    dir.write("mbox", "secret", 0600);  // owned by root
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {}}));
        EXPECT_EQ(open_errno(dir / "mbox", O_RDONLY), EACCES);
    });
    EXPECT_EQ(open_errno(dir / "mbox", O_RDONLY), 0);
}

TEST_F(IdentityTest, FilesAreCreatedOwnedByTheCaller) {
    ::chmod(dir.path().c_str(), 0777);
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {}}));
        EXPECT_EQ(open_errno(dir / "new", O_CREAT | O_WRONLY), 0);
    });
    struct stat st {};
    ASSERT_EQ(::stat((dir / "new").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kUser);
    EXPECT_EQ(st.st_gid, kGroup);
}

TEST_F(IdentityTest, SupplementaryGroupsGrantGroupAccess) {
    dir.write("spool", "x", 0060);
    ::chown((dir / "spool").c_str(), 0, kMailGroup);
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {}}));
        EXPECT_EQ(open_errno(dir / "spool", O_RDWR), EACCES);
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {kMailGroup}}));
        EXPECT_EQ(open_errno(dir / "spool", O_RDWR), 0);
    });
}

TEST_F(IdentityTest, TheSwitchStaysOnItsThread) {
    Identity before = current_identity();
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {kMailGroup}}));
        Identity now = current_identity();
        EXPECT_EQ(now.uid, kUser);
        EXPECT_EQ(now.gid, kGroup);
        EXPECT_EQ(now.groups, std::vector<gid_t>{kMailGroup});
    });
    EXPECT_EQ(current_identity(), before);
}

TEST_F(IdentityTest, AThreadStartedByASwitchedThreadIsSwitchedBackCorrectly) {
    // A libfuse worker may be created by a thread that acts for some user; the
    // new thread inherits those credentials and must not assume it is root.
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {}}));
        std::thread child([&] {
            ASSERT_TRUE(act_as(Identity::root()));
            EXPECT_EQ(current_identity().uid, 0U);
            dir.write("rootfile", "x", 0600);
            EXPECT_EQ(open_errno(dir / "rootfile", O_RDONLY), 0);
        });
        child.join();
    });
}

TEST_F(IdentityTest, ScopedIdentityReturnsToThePreviousIdentity) {
    on_thread([&] {
        ASSERT_TRUE(act_as(Identity{kUser, kGroup, {}}));
        {
            ScopedIdentity root(Identity::root());
            ASSERT_TRUE(root.result());
            EXPECT_EQ(current_identity().uid, 0U);
        }
        EXPECT_EQ(current_identity().uid, kUser);
    });
}

TEST(ReadGroups, AsksAgainWithRoomEnoughWhenTheListIsLong) {
    std::vector<gid_t> all(100);
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<gid_t>(1000 + i);
    int calls = 0;
    auto groups = nfsguard::ops::read_groups([&](int size, gid_t* list) {
        ++calls;
        for (int i = 0; i < size && i < static_cast<int>(all.size()); ++i) list[i] = all[i];
        return static_cast<int>(all.size());
    });
    EXPECT_EQ(groups, all);
    EXPECT_EQ(calls, 2);
}

TEST(ReadGroups, AFailureGivesNoGroups) {
    EXPECT_TRUE(nfsguard::ops::read_groups([](int, gid_t*) { return -1; }).empty());
}
