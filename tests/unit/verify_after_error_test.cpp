// Every row of the lost-reply table: the false error is hidden and counted,
// and a true error -- including ones that look alike -- passes on unchanged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "located_objects.hpp"
#include "lost_reply_syscalls.hpp"
#include "ops/false_errors.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/verify_after_error.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::LostReplySyscalls;
using nfsguard::test::TempDir;
using Op = LostReplySyscalls::Op;

namespace {

class VerifyAfterErrorTest : public ::testing::Test {
  protected:
    Located locate(const std::string& name) { return located_.locate(sys, dir.fd(), name); }
    ino_t ino(const std::string& name) {
        struct stat st {};
        EXPECT_EQ(::lstat((dir / name).c_str(), &st), 0) << name;
        return st.st_ino;
    }
    // The object at `name` as fs/ would know it from the kernel's lookup.
    ObjectId known(const std::string& name) {
        struct stat st {};
        EXPECT_EQ(::lstat((dir / name).c_str(), &st), 0) << name;
        return ObjectId::of(st);
    }
    using Calls = std::vector<std::string>;

    TempDir dir;
    LostReplySyscalls sys;
    FalseErrors false_errors;
    nfsguard::test::LocatedObjects located_;
};

}  // namespace

// --- rename ---------------------------------------------------------------

TEST_F(VerifyAfterErrorTest, RenameLostReplyIsHidden) {
    dir.write("tmp-msg", "body");
    const ino_t before = ino("tmp-msg");
    sys.lose_reply(Op::rename, ENOENT);
    auto r = rename_entry(sys, false_errors, dir.fd(), "tmp-msg", dir.fd(), "new-msg", 0);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(sys.faults, 1);
    EXPECT_EQ(ino("new-msg"), before);
    EXPECT_EQ(false_errors.count(FalseErrorOp::rename), 1U);
}

TEST_F(VerifyAfterErrorTest, RenameOfAMissingNameIsARealEnoent) {
    auto r = rename_entry(sys, false_errors, dir.fd(), "missing", dir.fd(), "new", 0);
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, RenameEnoentWithAnotherObjectAtTheNewNameStands) {
    // Someone else moved the old name away and put a different file at the
    // new one: the tree does not prove that our rename happened. (Our file
    // lives on elsewhere: a freed inode number handed to "theirs" at once is
    // what the check no longer tells apart, verify_after_error.hpp.)
    dir.write("old", "ours");
    sys.instead(Op::rename, ENOENT, [&] {
        ::rename((dir / "old").c_str(), (dir / "elsewhere").c_str());
        dir.write("new", "theirs");
    });
    auto r = rename_entry(sys, false_errors, dir.fd(), "old", dir.fd(), "new", 0);
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

// What fs/ passes: the object at the old name as the kernel's lookup found
// it. The success path is then the rename alone; the checks run only after
// an error, and answer as with a look of their own.

TEST_F(VerifyAfterErrorTest, RenameOfAKnownObjectMakesNoCallButTheRename) {
    dir.write("tmp-msg", "body");
    const ObjectId before = known("tmp-msg");
    auto r = rename_entry(sys, false_errors, dir.fd(), "tmp-msg", dir.fd(), "new-msg", 0, before);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(sys.calls, (Calls{"renameat2"}));
    EXPECT_EQ(r->moved.ino, before.ino);
    EXPECT_EQ(ino("new-msg"), before.ino);
}

TEST_F(VerifyAfterErrorTest, RenameOfAnUnknownObjectLooksBeforeTheCall) {
    dir.write("tmp-msg", "body");
    ASSERT_TRUE(rename_entry(sys, false_errors, dir.fd(), "tmp-msg", dir.fd(), "new-msg", 0));
    EXPECT_EQ(sys.calls, (Calls{"fstatat", "renameat2"}));
}

TEST_F(VerifyAfterErrorTest, RenameLostReplyOfAKnownObjectIsHidden) {
    dir.write("tmp-msg", "body");
    const ObjectId before = known("tmp-msg");
    sys.lose_reply(Op::rename, ENOENT);
    auto r = rename_entry(sys, false_errors, dir.fd(), "tmp-msg", dir.fd(), "new-msg", 0, before);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(ino("new-msg"), before.ino);
    EXPECT_EQ(false_errors.count(FalseErrorOp::rename), 1U);
    EXPECT_EQ(sys.calls[0], "renameat2") << "nothing is looked at before the call";
}

TEST_F(VerifyAfterErrorTest, RenameEnoentOfAKnownObjectWithAnotherAtTheNewNameStands) {
    dir.write("old", "ours");
    const ObjectId before = known("old");
    sys.instead(Op::rename, ENOENT, [&] {
        ::rename((dir / "old").c_str(), (dir / "elsewhere").c_str());
        dir.write("new", "theirs");
    });
    auto r = rename_entry(sys, false_errors, dir.fd(), "old", dir.fd(), "new", 0, before);
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, RenameEnoentOfAKnownObjectStillAtTheOldNameStands) {
    dir.write("old", "x");
    const ObjectId before = known("old");
    sys.instead(Op::rename, ENOENT, [&] { ::link((dir / "old").c_str(), (dir / "new").c_str()); });
    auto r = rename_entry(sys, false_errors, dir.fd(), "old", dir.fd(), "new", 0, before);
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, RenameExchangeOfKnownObjectsMakesNoCallButTheRename) {
    dir.write("a", "A");
    dir.write("b", "B");
    const ObjectId a = known("a"), b = known("b");
    auto r = rename_entry(sys, false_errors, dir.fd(), "a", dir.fd(), "b", RENAME_EXCHANGE, a, b);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(sys.calls, (Calls{"renameat2"}));
    ASSERT_TRUE(r->exchanged);
    EXPECT_EQ(r->exchanged->ino, b.ino);
}

TEST_F(VerifyAfterErrorTest, RenameEnoentWithTheOldNameStillThereStands) {
    // new and old are hard links of one object and old is still there: the
    // rename was not done (rename of a link onto itself is no proof).
    dir.write("old", "x");
    sys.instead(Op::rename, ENOENT, [&] { ::link((dir / "old").c_str(), (dir / "new").c_str()); });
    auto r = rename_entry(sys, false_errors, dir.fd(), "old", dir.fd(), "new", 0);
    EXPECT_EQ(r.error(), ENOENT);
}

TEST_F(VerifyAfterErrorTest, RenameNoReplaceLostReplyIsHidden) {
    // GNU mv tries renameat2(RENAME_NOREPLACE) first.
    dir.write("a", "A");
    sys.lose_reply(Op::rename, ENOENT);
    auto r = rename_entry(sys, false_errors, dir.fd(), "a", dir.fd(), "b", RENAME_NOREPLACE);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(false_errors.count(FalseErrorOp::rename), 1U);
}

TEST_F(VerifyAfterErrorTest, RenameExchangeIsNeverGuessed) {
    dir.write("a", "A");
    dir.write("b", "B");
    sys.lose_reply(Op::rename, ENOENT);
    auto r = rename_entry(sys, false_errors, dir.fd(), "a", dir.fd(), "b", RENAME_EXCHANGE);
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

// --- link -----------------------------------------------------------------

TEST_F(VerifyAfterErrorTest, LinkLostReplyIsHidden) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    sys.lose_reply(Op::link, EEXIST);
    auto st = link_entry(sys, false_errors, tmp, dir.fd(), "new");
    ASSERT_TRUE(st) << st.error();
    EXPECT_EQ(st->st_ino, ino("tmp"));
    EXPECT_EQ(false_errors.count(FalseErrorOp::link), 1U);
}

TEST_F(VerifyAfterErrorTest, LinkOntoAnotherFileIsARealEexist) {
    dir.write("tmp", "message");
    dir.write("new", "someone else's");
    auto r = link_entry(sys, false_errors, locate("tmp"), dir.fd(), "new");
    EXPECT_EQ(r.error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, LinkingTheSameNameTwiceIsARealEexist) {
    // The second link(tmp, new) finds new already the same object: that was
    // there before the call, so the EEXIST is true.
    dir.write("tmp", "message");
    ASSERT_EQ(::link((dir / "tmp").c_str(), (dir / "new").c_str()), 0);
    auto r = link_entry(sys, false_errors, locate("tmp"), dir.fd(), "new");
    EXPECT_EQ(r.error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, LinkEexistWithAnotherObjectPlacedMeanwhileStands) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    sys.instead(Op::link, EEXIST, [&] { dir.write("new", "raced in"); });
    EXPECT_EQ(link_entry(sys, false_errors, tmp, dir.fd(), "new").error(), EEXIST);
}

// What fs/ passes: the object's identity from its inode, and that the new
// name was free (the kernel asks for a link only then).

TEST_F(VerifyAfterErrorTest, LinkOfAKnownObjectToAFreeNameMakesNoCheckingCall) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    const ObjectId object = known("tmp");
    sys.calls.clear();
    auto st = link_entry(sys, false_errors, tmp, dir.fd(), "new", object, NameWas::free);
    ASSERT_TRUE(st) << st.error();
    // The link, and the lstat whose attributes answer the kernel's request.
    EXPECT_EQ(sys.calls, (Calls{"linkat", "fstatat"}));
    EXPECT_EQ(st->st_ino, object.ino);
}

TEST_F(VerifyAfterErrorTest, LinkOfAnUnknownObjectLooksBeforeTheCall) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    sys.calls.clear();
    ASSERT_TRUE(link_entry(sys, false_errors, tmp, dir.fd(), "new"));
    EXPECT_EQ(sys.calls, (Calls{"fstat", "fstatat", "linkat", "fstatat"}));
}

TEST_F(VerifyAfterErrorTest, LinkLostReplyOfAKnownObjectIsHidden) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    const ObjectId object = known("tmp");
    sys.calls.clear();
    sys.lose_reply(Op::link, EEXIST);
    auto st = link_entry(sys, false_errors, tmp, dir.fd(), "new", object, NameWas::free);
    ASSERT_TRUE(st) << st.error();
    EXPECT_EQ(st->st_ino, object.ino);
    EXPECT_EQ(false_errors.count(FalseErrorOp::link), 1U);
    EXPECT_EQ(sys.calls[0], "linkat") << "nothing is looked at before the call";
}

TEST_F(VerifyAfterErrorTest, LinkEexistOfAKnownObjectWithAnotherObjectPlacedMeanwhileStands) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    sys.instead(Op::link, EEXIST, [&] { dir.write("new", "raced in"); });
    EXPECT_EQ(
        link_entry(sys, false_errors, tmp, dir.fd(), "new", known("tmp"), NameWas::free).error(),
        EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
    EXPECT_EQ(dir.read("new"), "raced in");
}

TEST_F(VerifyAfterErrorTest, LinkErrorsOtherThanEexistOfAKnownObjectPassOn) {
    dir.write("tmp", "message");
    Located tmp = locate("tmp");
    sys.instead(Op::link, EMLINK, [] {});
    EXPECT_EQ(
        link_entry(sys, false_errors, tmp, dir.fd(), "new", known("tmp"), NameWas::free).error(),
        EMLINK);
    EXPECT_EQ(false_errors.total(), 0U);
}

// --- mkdir ----------------------------------------------------------------

TEST_F(VerifyAfterErrorTest, MkdirLostReplyIsHidden) {
    sys.lose_reply(Op::mkdir, EEXIST);
    auto st = make_directory(sys, false_errors, dir.fd(), "cur", 0700);
    ASSERT_TRUE(st) << st.error();
    EXPECT_TRUE(S_ISDIR(st->st_mode));
    EXPECT_EQ(false_errors.count(FalseErrorOp::mkdir), 1U);
}

// The emptiness of the new directory is read through the seam, and a read
// that fails leaves the check undecided: the original error stands.
class UnreadableDirectories : public LostReplySyscalls {
  public:
    Result<void> read_directory(int, const std::function<bool(const char*)>&) override {
        calls.emplace_back("read_directory");
        return Errno{EIO};
    }
};

TEST_F(VerifyAfterErrorTest, MkdirLostReplyReadsTheNewDirectoryThroughTheSeam) {
    sys.lose_reply(Op::mkdir, EEXIST);
    ASSERT_TRUE(make_directory(sys, false_errors, dir.fd(), "cur", 0700));
    EXPECT_NE(std::find(sys.calls.begin(), sys.calls.end(), "read_directory"), sys.calls.end())
        << ::testing::PrintToString(sys.calls);
}

TEST_F(VerifyAfterErrorTest, MkdirLostReplyOverADirectoryThatCannotBeReadStands) {
    UnreadableDirectories unreadable;
    unreadable.lose_reply(Op::mkdir, EEXIST);
    EXPECT_EQ(make_directory(unreadable, false_errors, dir.fd(), "cur", 0700).error(), EEXIST);
    EXPECT_NE(std::find(unreadable.calls.begin(), unreadable.calls.end(), "read_directory"),
              unreadable.calls.end());
    EXPECT_EQ(false_errors.total(), 0U);
}

// A server whose clock runs 300 s ahead stamps ctimes so.
class ServerAhead : public LostReplySyscalls {
  public:
    Result<struct stat> fstatat(int dirfd, const char* path, int flags) override {
        auto st = LostReplySyscalls::fstatat(dirfd, path, flags);
        if (st) st->st_ctim.tv_sec += 300;
        return st;
    }
};

// Found by the end-to-end tests (Dovecot creating ~/mail and Archive with a
// server clock 300 s ahead): the new directory's ctime fell outside the
// call's window, and the false EEXIST reached Dovecot.
TEST_F(VerifyAfterErrorTest, MkdirLostReplyIsHiddenWhenTheServerClockRunsAhead) {
    ServerAhead ahead;
    ahead.lose_reply(Op::mkdir, EEXIST);
    EXPECT_EQ(make_directory(ahead, false_errors, dir.fd(), "a", 0700).error(), EEXIST)
        << "without the measured skew the ctime looks wrong";
    ahead.lose_reply(Op::mkdir, EEXIST);
    auto st = make_directory(ahead, false_errors, dir.fd(), "b", 0700, 300.2);
    ASSERT_TRUE(st) << st.error();
    EXPECT_EQ(false_errors.count(FalseErrorOp::mkdir), 1U);
}

TEST_F(VerifyAfterErrorTest, MkdirOverAnotherUsersDirectoryIsARealEexist) {
    if (geteuid() != 0) GTEST_SKIP() << "making another user's directory needs root";
    // mkdir as a lock: another user's lock directory must stay theirs.
    sys.instead(Op::mkdir, EEXIST, [&] {
        ::mkdir((dir / "lock").c_str(), 0700);
        ::chown((dir / "lock").c_str(), 4242, 4242);
    });
    EXPECT_EQ(make_directory(sys, false_errors, dir.fd(), "lock", 0700).error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, MkdirOverANonEmptyDirectoryIsARealEexist) {
    sys.instead(Op::mkdir, EEXIST, [&] {
        ::mkdir((dir / "d").c_str(), 0700);
        dir.write("d/inside", "");
    });
    EXPECT_EQ(make_directory(sys, false_errors, dir.fd(), "d", 0700).error(), EEXIST);
}

TEST_F(VerifyAfterErrorTest, MkdirOverAFileIsARealEexist) {
    sys.instead(Op::mkdir, EEXIST, [&] { dir.write("d", ""); });
    EXPECT_EQ(make_directory(sys, false_errors, dir.fd(), "d", 0700).error(), EEXIST);
}

TEST_F(VerifyAfterErrorTest, MkdirOfADirectoryTheSameUserMadeAMomentAgoIsARealEexist) {
    // mkdir as a lock, taken twice by processes of one user: the second must
    // fail although the directory is the caller's, empty and brand new.
    ASSERT_EQ(::mkdir((dir / "lock").c_str(), 0700), 0);
    EXPECT_EQ(make_directory(sys, false_errors, dir.fd(), "lock", 0700).error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, ADirectoryMadeBeforeTheCallIsNotTakenForOurs) {
    ASSERT_EQ(::mkdir((dir / "old").c_str(), 0700), 0);
    CallWindow later = CallWindow::now();
    later.start.tv_sec += 60;  // as if the call started a minute after the mkdir
    EXPECT_FALSE(mkdir_was_done(sys, dir.fd(), "old", geteuid(), later));
    EXPECT_TRUE(mkdir_was_done(sys, dir.fd(), "old", geteuid(), CallWindow::now()));
}

// --- symlink --------------------------------------------------------------

TEST_F(VerifyAfterErrorTest, SymlinkLostReplyIsHidden) {
    sys.lose_reply(Op::symlink, EEXIST);
    auto st = make_symlink(sys, false_errors, "target", dir.fd(), "s");
    ASSERT_TRUE(st) << st.error();
    EXPECT_TRUE(S_ISLNK(st->st_mode));
    EXPECT_EQ(false_errors.count(FalseErrorOp::symlink), 1U);
}

TEST_F(VerifyAfterErrorTest, MkdirAndSymlinkOfANameKnownFreeMakeNoCheckingCall) {
    sys.calls.clear();
    ASSERT_TRUE(make_directory(sys, false_errors, dir.fd(), "cur", 0700, 0, NameWas::free));
    // The call, and the lstat whose attributes answer the kernel's request.
    EXPECT_EQ(sys.calls, (Calls{"mkdirat", "fstatat"}));
    sys.calls.clear();
    ASSERT_TRUE(make_symlink(sys, false_errors, "target", dir.fd(), "s", NameWas::free));
    EXPECT_EQ(sys.calls, (Calls{"symlinkat", "fstatat"}));
}

TEST_F(VerifyAfterErrorTest, MkdirAndSymlinkLostRepliesOfANameKnownFreeAreHidden) {
    sys.lose_reply(Op::mkdir, EEXIST);
    ASSERT_TRUE(make_directory(sys, false_errors, dir.fd(), "cur", 0700, 0, NameWas::free));
    EXPECT_EQ(false_errors.count(FalseErrorOp::mkdir), 1U);
    sys.lose_reply(Op::symlink, EEXIST);
    ASSERT_TRUE(make_symlink(sys, false_errors, "target", dir.fd(), "s", NameWas::free));
    EXPECT_EQ(false_errors.count(FalseErrorOp::symlink), 1U);
}

TEST_F(VerifyAfterErrorTest, SymlinkToAnotherTargetIsARealEexist) {
    ASSERT_EQ(::symlink("elsewhere", (dir / "s").c_str()), 0);
    EXPECT_EQ(make_symlink(sys, false_errors, "target", dir.fd(), "s").error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, SymlinkToTheSameTargetMadeBeforeTheCallIsARealEexist) {
    // `ln -s $$ lock` as a lock: a second taker with the same target must fail.
    ASSERT_EQ(::symlink("target", (dir / "s").c_str()), 0);
    EXPECT_EQ(make_symlink(sys, false_errors, "target", dir.fd(), "s").error(), EEXIST);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, SymlinkOfAnotherOwnerIsARealEexist) {
    if (geteuid() != 0) GTEST_SKIP() << "making another user's symlink needs root";
    sys.instead(Op::symlink, EEXIST, [&] {
        ::symlink("target", (dir / "s").c_str());
        ::lchown((dir / "s").c_str(), 4242, 4242);
    });
    EXPECT_EQ(make_symlink(sys, false_errors, "target", dir.fd(), "s").error(), EEXIST);
}

// --- unlink and rmdir -----------------------------------------------------

TEST_F(VerifyAfterErrorTest, UnlinkLostReplyIsHidden) {
    dir.write("tmp", "");
    sys.lose_reply(Op::unlink, ENOENT);
    ASSERT_TRUE(remove_file(sys, false_errors, dir.fd(), "tmp"));
    EXPECT_FALSE(dir.exists("tmp"));
    EXPECT_EQ(false_errors.count(FalseErrorOp::unlink), 1U);
}

TEST_F(VerifyAfterErrorTest, UnlinkOfAMissingNameIsARealEnoent) {
    EXPECT_EQ(remove_file(sys, false_errors, dir.fd(), "missing").error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, RmdirLostReplyIsHidden) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
    sys.lose_reply(Op::rmdir, ENOENT);
    ASSERT_TRUE(remove_directory(sys, false_errors, dir.fd(), "d"));
    EXPECT_EQ(false_errors.count(FalseErrorOp::rmdir), 1U);
}

TEST_F(VerifyAfterErrorTest, RmdirOfAMissingNameIsARealEnoent) {
    EXPECT_EQ(remove_directory(sys, false_errors, dir.fd(), "d").error(), ENOENT);
}

// What fs/ passes: the object the kernel's lookup found at the name.

TEST_F(VerifyAfterErrorTest, UnlinkOfAKnownObjectMakesNoCallButTheUnlink) {
    dir.write("tmp", "");
    ASSERT_TRUE(remove_file(sys, false_errors, dir.fd(), "tmp", known("tmp")));
    EXPECT_EQ(sys.calls, (Calls{"unlinkat"}));
    EXPECT_FALSE(dir.exists("tmp"));
}

TEST_F(VerifyAfterErrorTest, UnlinkOfAnUnknownObjectLooksBeforeTheCall) {
    dir.write("tmp", "");
    ASSERT_TRUE(remove_file(sys, false_errors, dir.fd(), "tmp"));
    EXPECT_EQ(sys.calls, (Calls{"fstatat", "unlinkat"}));
}

TEST_F(VerifyAfterErrorTest, UnlinkLostReplyOfAKnownObjectIsHidden) {
    dir.write("tmp", "");
    const ObjectId before = known("tmp");
    sys.lose_reply(Op::unlink, ENOENT);
    ASSERT_TRUE(remove_file(sys, false_errors, dir.fd(), "tmp", before));
    EXPECT_EQ(sys.calls, (Calls{"unlinkat"}));
    EXPECT_FALSE(dir.exists("tmp"));
    EXPECT_EQ(false_errors.count(FalseErrorOp::unlink), 1U);
}

TEST_F(VerifyAfterErrorTest, UnlinkEnoentOfANameKnownAsADirectoryStands) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
    const ObjectId before = known("d");
    sys.instead(Op::unlink, ENOENT, [] {});
    EXPECT_EQ(remove_file(sys, false_errors, dir.fd(), "d", before).error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, UnlinkErrorsOtherThanEnoentOfAKnownObjectPassOn) {
    dir.write("tmp", "");
    const ObjectId before = known("tmp");
    sys.instead(Op::unlink, EBUSY, [] {});
    EXPECT_EQ(remove_file(sys, false_errors, dir.fd(), "tmp", before).error(), EBUSY);
    EXPECT_TRUE(dir.exists("tmp"));
    EXPECT_EQ(false_errors.total(), 0U);
}

TEST_F(VerifyAfterErrorTest, RmdirOfAKnownDirectoryMakesNoCallButTheRmdir) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
    ASSERT_TRUE(remove_directory(sys, false_errors, dir.fd(), "d", known("d")));
    EXPECT_EQ(sys.calls, (Calls{"unlinkat"}));
}

TEST_F(VerifyAfterErrorTest, RmdirLostReplyOfAKnownDirectoryIsHidden) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
    const ObjectId before = known("d");
    sys.lose_reply(Op::rmdir, ENOENT);
    ASSERT_TRUE(remove_directory(sys, false_errors, dir.fd(), "d", before));
    EXPECT_EQ(false_errors.count(FalseErrorOp::rmdir), 1U);
}

TEST_F(VerifyAfterErrorTest, RmdirEnoentOfANameKnownAsAFileStands) {
    dir.write("f", "");
    const ObjectId before = known("f");
    sys.instead(Op::rmdir, ENOENT, [] {});
    EXPECT_EQ(remove_directory(sys, false_errors, dir.fd(), "f", before).error(), ENOENT);
    EXPECT_EQ(false_errors.total(), 0U);
}

// --- exclusive create ----------------------------------------------------

TEST_F(VerifyAfterErrorTest, AnExclusiveCreateEexistIsNeverGuessedAt) {
    // Even a lost reply: an empty file of the caller's made a moment ago is
    // exactly what another process's lock looks like (see
    // verify_after_error.hpp). The NFS client's exclusive-create verifier is
    // what covers this call; dot-locks get the link protocol.
    sys.lose_reply(Op::create_excl, EEXIST);
    EXPECT_EQ(create_file(sys, dir.fd(), "user.lock", O_WRONLY | O_EXCL, 0600).error(), EEXIST);
    EXPECT_EQ(sys.faults, 1);
    EXPECT_EQ(false_errors.total(), 0U);
}

// Sent again after a crash: the dead process had started this create (the
// mirror's record) and had done it; the kernel never got the reply.
TEST_F(VerifyAfterErrorTest, AnExclusiveCreateTheCrashedProcessHadDoneGivesItsFile) {
    const ExclusiveCreate started{{}, CallWindow::now(), std::nullopt};
    dir.write("1796641449.P32454.vm", "");
    auto f = create_file(sys, dir.fd(), "1796641449.P32454.vm", O_WRONLY | O_EXCL, 0600, &started);
    ASSERT_TRUE(f) << f.error();
    EXPECT_TRUE(S_ISREG(f->st.st_mode));
    // The EEXIST came first, then the check, then the file was opened.
    ASSERT_GE(sys.calls.size(), 3U);
    EXPECT_EQ(sys.calls.front(), "openat");
    EXPECT_EQ(std::count(sys.calls.begin(), sys.calls.end(), "openat"), 2);
    ASSERT_EQ(::write(f->fd.get(), "mail", 4), 4);
    EXPECT_EQ(dir.read("1796641449.P32454.vm"), "mail");
}

TEST_F(VerifyAfterErrorTest, AfterACrashAnExclusiveCreateStillMeetsARealEexist) {
    const ExclusiveCreate started{{}, CallWindow::now(), std::nullopt};
    // Someone's data: not the empty file a create leaves.
    dir.write("full", "someone's mail");
    EXPECT_EQ(create_file(sys, dir.fd(), "full", O_WRONLY | O_EXCL, 0600, &started).error(),
              EEXIST);
    // Made before the dead process started the create: another's lock.
    dir.write("old.lock", "");
    ExclusiveCreate later = started;
    later.started_before->start.tv_sec += 60;
    EXPECT_EQ(create_file(sys, dir.fd(), "old.lock", O_WRONLY | O_EXCL, 0600, &later).error(),
              EEXIST);
    // A second link: not a file just made.
    dir.write("linked", "");
    ASSERT_EQ(::link((dir / "linked").c_str(), (dir / "other").c_str()), 0);
    EXPECT_EQ(create_file(sys, dir.fd(), "linked", O_WRONLY | O_EXCL, 0600, &started).error(),
              EEXIST);
    // Not sent again after a crash: never guessed at.
    dir.write("fresh", "");
    EXPECT_EQ(create_file(sys, dir.fd(), "fresh", O_WRONLY | O_EXCL, 0600).error(), EEXIST);
}

// What the dead process had told it was making decides, when it had told.
TEST_F(VerifyAfterErrorTest, AnExclusiveCreateTellsWhatItMadeAndThatDecidesAfterACrash) {
    std::optional<ObjectId> told;
    const ExclusiveCreate first{[&](const ObjectId& o) { told = o; }, std::nullopt, std::nullopt};
    auto made = create_file(sys, dir.fd(), "msg", O_WRONLY | O_EXCL, 0600, &first);
    ASSERT_TRUE(made);
    ASSERT_TRUE(told);
    EXPECT_EQ(told->ino, made->st.st_ino);
    EXPECT_TRUE(S_ISREG(told->type));
    made->fd.reset();
    const ExclusiveCreate resent{{}, CallWindow::now(), told};
    EXPECT_TRUE(create_file(sys, dir.fd(), "msg", O_WRONLY | O_EXCL, 0600, &resent));
    // Empty, the caller's, just made: what the guess takes for its own; but
    // not the file the dead process made.
    dir.write("other", "");
    EXPECT_EQ(create_file(sys, dir.fd(), "other", O_WRONLY | O_EXCL, 0600, &resent).error(),
              EEXIST);
}

TEST_F(VerifyAfterErrorTest, ExclusiveCreateOverAFileWithContentIsARealEexist) {
    dir.write("tmp.1", "someone's mail");
    EXPECT_EQ(create_file(sys, dir.fd(), "tmp.1", O_WRONLY | O_EXCL, 0600).error(), EEXIST);
    EXPECT_EQ(dir.read("tmp.1"), "someone's mail");
}

TEST_F(VerifyAfterErrorTest, ANonExclusiveCreateOpensAnExistingFile) {
    dir.write("f", "kept");
    auto f = create_file(sys, dir.fd(), "f", O_RDONLY, 0600);
    ASSERT_TRUE(f);
    EXPECT_EQ(false_errors.total(), 0U);
}

// --- reporting ------------------------------------------------------------

TEST(FalseErrors, CountsPerOperationAndInTotal) {
    TempDir dir;
    FalseErrors fe(dir.path());
    fe.hidden(FalseErrorOp::rename, dir.fd(), "x", ENOENT);
    fe.hidden(FalseErrorOp::rename, dir.fd(), "y", ENOENT);
    fe.hidden(FalseErrorOp::link, dir.fd(), "z", EEXIST);
    EXPECT_EQ(fe.count(FalseErrorOp::rename), 2U);
    EXPECT_EQ(fe.count(FalseErrorOp::link), 1U);
    EXPECT_EQ(fe.count(FalseErrorOp::mkdir), 0U);
    EXPECT_EQ(fe.total(), 3U);
}

TEST(VerifyAfterErrorRefresh, TheDirectoriesAreAskedAfreshBeforeTheTreeIsRead) {
    // Found on real NFSv4.2: after a failed RENAME the client kept "no such
    // name" for the new name; a fresh GETATTR of the directories drops it.
    struct Refreshing : nfsguard::ops::Syscalls {
        std::vector<int> refreshed;
        nfsguard::ops::Result<void> refresh_attributes(int fd) override {
            refreshed.push_back(fd);
            return Syscalls::refresh_attributes(fd);
        }
    } sys;
    TempDir a, b;
    b.write("new", "x");
    struct stat moved {};
    ::lstat((b / "new").c_str(), &moved);
    EXPECT_TRUE(rename_was_done(sys, a.fd(), "old", b.fd(), "new", ObjectId::of(moved)));
    EXPECT_EQ(sys.refreshed, (std::vector<int>{b.fd(), a.fd()}));
}
