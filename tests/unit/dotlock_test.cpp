#include "ops/dotlock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lost_reply_syscalls.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::LostReplySyscalls;
using nfsguard::test::TempDir;
using Op = LostReplySyscalls::Op;

namespace {

class DotlockTest : public ::testing::Test {
  protected:
    std::vector<std::string> names() {
        std::vector<std::string> out;
        for (auto& e : std::filesystem::directory_iterator(dir.path()))
            out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }

    TempDir dir;
    TempDir state;
    LostReplySyscalls sys;
    FalseErrors false_errors;
    DotlockJournal journal{state / "journal"};
    DotlockCreator creator{"testhost", journal};
};

}  // namespace

TEST_F(DotlockTest, AFreeLockIsTakenAndLeavesOnlyTheLockFile) {
    auto lock = creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    ASSERT_TRUE(lock) << lock.error();
    EXPECT_EQ(::write(lock->fd.get(), "4242\n", 5), 5);
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
    EXPECT_EQ(dir.read("user.lock"), "4242\n");
    EXPECT_EQ(lock->st.st_nlink, 1U) << "the unique name is gone";
    EXPECT_TRUE(std::filesystem::is_empty(state / "journal"));
}

TEST_F(DotlockTest, AHeldLockIsEexistAndTheHoldersFileIsUntouched) {
    dir.write("user.lock", "1111\n");
    auto lock = creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    EXPECT_EQ(lock.error(), EEXIST);
    EXPECT_EQ(dir.read("user.lock"), "1111\n");
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(DotlockTest, ALostReplyOnTheLinkStillGivesTheLockToItsTaker) {
    // link() was done, then answered EEXIST: the lock name is our file.
    sys.lose_reply(Op::link, EEXIST);
    auto lock = creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    ASSERT_TRUE(lock) << lock.error();
    EXPECT_EQ(sys.faults, 1);
    EXPECT_EQ(false_errors.count(FalseErrorOp::link), 1U);
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}

TEST_F(DotlockTest, ALinkThatFailsForRealWithTheLockTakenMeanwhileIsEexist) {
    sys.instead(Op::link, EEXIST, [&] { dir.write("user.lock", "other\n"); });
    auto lock = creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    EXPECT_EQ(lock.error(), EEXIST);
    EXPECT_EQ(dir.read("user.lock"), "other\n");
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"}) << "no unique name left behind";
}

TEST_F(DotlockTest, ALostReplyOnTheUniqueNamesUnlinkLeavesNothing) {
    sys.lose_reply(Op::unlink, ENOENT);
    ASSERT_TRUE(creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644));
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}

TEST_F(DotlockTest, TheJournalRemovesWhatACrashLeftBehind) {
    // As if a run had noted and made its unique name, then died.
    const std::string temp = std::string(kTempPrefix) + "testhost.1.0";
    ASSERT_TRUE(journal.begin(dir.fd(), temp));
    dir.write(temp, "");
    DotlockJournal next_run{state / "journal"};
    EXPECT_EQ(next_run.recover(sys, dir.fd(), dir.path()), 1U);
    EXPECT_TRUE(names().empty());
    EXPECT_TRUE(std::filesystem::is_empty(state / "journal"));
}

TEST_F(DotlockTest, UniqueNamesAreRecognised) {
    EXPECT_TRUE(is_dotlock_temp(".nfsguard-dotlock.host.1.2"));
    EXPECT_FALSE(is_dotlock_temp("user.lock"));
    EXPECT_FALSE(is_dotlock_temp(".nfsguard"));
}
