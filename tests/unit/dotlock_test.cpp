#include "ops/dotlock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

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

// Looks at names (lstat) or open files (fstat) answer ESTALE while armed,
// as an NFS server does whose file handle went stale: every look fails.
class StaleLooks : public LostReplySyscalls {
  public:
    int stale_name_looks = 0;  // lstat calls still to fail
    int stale_file_looks = 0;  // fstat calls still to fail
    Result<struct stat> fstatat(int dirfd, const char* path, int flags) override {
        if (stale_name_looks > 0) {
            --stale_name_looks;
            return Errno{ESTALE};
        }
        return LostReplySyscalls::fstatat(dirfd, path, flags);
    }
    int file_looks_fail_from = 0;  // fstat calls from this one on fail (1: the first)
    Result<struct stat> fstat(int fd) override {
        ++file_looks_;
        if (stale_file_looks > 0) {
            --stale_file_looks;
            return Errno{ESTALE};
        }
        if (file_looks_fail_from > 0 && file_looks_ >= file_looks_fail_from) return Errno{ESTALE};
        return LostReplySyscalls::fstat(fd);
    }

  private:
    int file_looks_ = 0;
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

// Sent again by the kernel after a crash of nfsguard: the lock the dead
// process took for this very request is given, known by the file it told
// (before its link) it was making, and no other lock is.
TEST_F(DotlockTest, ALockTheCrashedProcessTookForTheSameRequestIsGiven) {
    std::optional<ObjectId> told;
    size_t calls_when_told = 0;
    ExclusiveCreate first{[&](const ObjectId& o) {
                              told = o;
                              calls_when_told = sys.calls.size();
                          },
                          std::nullopt, std::nullopt};
    auto taken =
        creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644, &first);
    ASSERT_TRUE(taken) << taken.error();
    ASSERT_TRUE(told);
    EXPECT_EQ(told->ino, taken->st.st_ino);
    const std::vector<std::string> before_told(sys.calls.begin(),
                                               sys.calls.begin() + calls_when_told);
    EXPECT_EQ(std::count(before_told.begin(), before_told.end(), "linkat"), 0)
        << "told before the lock name is linked to it";
    taken->fd.reset();  // the dead process's descriptor went with it

    const ExclusiveCreate again{{}, CallWindow::now(), told};
    sys.calls.clear();
    auto given =
        creator.create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644, &again);
    ASSERT_TRUE(given) << given.error();
    EXPECT_EQ(given->st.st_ino, told->ino);
    EXPECT_EQ(std::count(sys.calls.begin(), sys.calls.end(), "linkat"), 0);
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}

TEST_F(DotlockTest, AfterACrashALockTheDeadProcessDidNotTakeIsStillEexist) {
    // Just made by another process of the same user: what an exclusive
    // create's guess would take for its own.
    dir.write("user.lock", "");
    // The dead process had not got as far as its link: nothing told.
    const ExclusiveCreate not_linked{{}, CallWindow::now(), std::nullopt};
    EXPECT_EQ(
        creator
            .create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644, &not_linked)
            .error(),
        EEXIST);
    // It had, with a file of its own that the lock name is not.
    dir.write("elsewhere", "");
    auto other = sys.fstatat(dir.fd(), "elsewhere", AT_SYMLINK_NOFOLLOW);
    ASSERT_TRUE(other);
    const ExclusiveCreate linked_other{{}, CallWindow::now(), ObjectId::of(*other)};
    EXPECT_EQ(creator
                  .create(sys, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644,
                          &linked_other)
                  .error(),
              EEXIST);
    EXPECT_EQ(names(), (std::vector<std::string>{"elsewhere", "user.lock"}));
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

// Found by reading: recovery tested errno after a call through the seam,
// which answers in its Result and sets no errno.
TEST_F(DotlockTest, TheJournalCountsALeftoverWhoseUnlinkReplyWasLost) {
    const std::string temp = std::string(kTempPrefix) + "testhost.1.0";
    ASSERT_TRUE(journal.begin(dir.fd(), temp));
    dir.write(temp, "");
    sys.lose_reply(Op::unlink, ENOENT);
    errno = 0;
    EXPECT_EQ(DotlockJournal(state / "journal").recover(sys, dir.fd(), dir.path()), 1U);
    EXPECT_EQ(sys.faults, 1);
    EXPECT_TRUE(names().empty());
    EXPECT_TRUE(std::filesystem::is_empty(state / "journal"));
}

TEST_F(DotlockTest, TheJournalWalksToTheLeftoverThroughTheSeam) {
    std::filesystem::create_directories(dir / "spool/mail");
    const std::string temp = std::string(kTempPrefix) + "testhost.1.0";
    auto sub = sys.openat(dir.fd(), "spool/mail", O_PATH | O_DIRECTORY, 0);
    ASSERT_TRUE(sub);
    ASSERT_TRUE(journal.begin(sub->get(), temp));
    dir.write("spool/mail/" + temp, "");
    sys.calls.clear();
    EXPECT_EQ(DotlockJournal(state / "journal").recover(sys, dir.fd(), dir.path()), 1U);
    EXPECT_EQ(sys.calls, (std::vector<std::string>{"openat", "openat", "openat", "unlinkat"}));
    EXPECT_FALSE(std::filesystem::exists(dir / ("spool/mail/" + temp)));
}

// The backing answers ESTALE on every open: the note is kept, and the next
// start, with the backing back, removes the leftover.
class StaleOpens : public LostReplySyscalls {
  public:
    Result<UniqueFd> openat(int, const char*, int, mode_t) override { return Errno{ESTALE}; }
};

TEST_F(DotlockTest, TheJournalKeepsItsNoteWhenTheBackingCannotSay) {
    const std::string temp = std::string(kTempPrefix) + "testhost.1.0";
    ASSERT_TRUE(journal.begin(dir.fd(), temp));
    dir.write(temp, "");
    StaleOpens stale;
    EXPECT_EQ(DotlockJournal(state / "journal").recover(stale, dir.fd(), dir.path()), 0U);
    EXPECT_FALSE(std::filesystem::is_empty(state / "journal"));
    EXPECT_EQ(DotlockJournal(state / "journal").recover(sys, dir.fd(), dir.path()), 1U);
    EXPECT_TRUE(names().empty());
    EXPECT_TRUE(std::filesystem::is_empty(state / "journal"));
}

TEST_F(DotlockTest, UniqueNamesAreRecognised) {
    EXPECT_TRUE(is_dotlock_temp(".nfsguard-dotlock.host.1.2"));
    EXPECT_FALSE(is_dotlock_temp("user.lock"));
    EXPECT_FALSE(is_dotlock_temp(".nfsguard"));
}

// Found by the end-to-end tests: an ESTALE on the look after the link made
// the taker answer EEXIST for a lock it had taken, and the lock stayed for
// good (Postfix deferred that mailbox's mail until its stale-lock timeout).
TEST_F(DotlockTest, ALockNameThatCannotBeLookedAtIsJudgedByTheLinkCount) {
    StaleLooks stale;
    stale.stale_name_looks = 100;  // the lock name cannot be looked at at all
    auto lock = creator.create(stale, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    ASSERT_TRUE(lock) << lock.error();
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}

TEST_F(DotlockTest, AHeldLockThatCannotBeLookedAtIsStillEexist) {
    dir.write("user.lock", "1111\n");
    StaleLooks stale;
    stale.stale_name_looks = 100;
    auto lock = creator.create(stale, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    EXPECT_EQ(lock.error(), EEXIST);
    EXPECT_EQ(dir.read("user.lock"), "1111\n");
}

TEST_F(DotlockTest, ATakenLockIsAnsweredEvenWhenItsLastLookIsStale) {
    StaleLooks stale;
    stale.file_looks_fail_from = 2;  // the look before the link works, the last one not
    auto lock = creator.create(stale, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    ASSERT_TRUE(lock) << lock.error();
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}

TEST_F(DotlockTest, AFewStaleLooksAreLookedAgain) {
    StaleLooks stale;
    stale.stale_name_looks = 2;
    stale.stale_file_looks = 2;
    auto lock = creator.create(stale, false_errors, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0644);
    ASSERT_TRUE(lock) << lock.error();
    EXPECT_EQ(lock->st.st_nlink, 1U);
    EXPECT_EQ(names(), std::vector<std::string>{"user.lock"});
}
