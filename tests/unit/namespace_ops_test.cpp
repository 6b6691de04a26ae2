#include "ops/namespace_ops.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include "located_objects.hpp"
#include "recording_syscalls.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::RecordingSyscalls;
using nfsguard::test::TempDir;

namespace {

class NamespaceOpsTest : public ::testing::Test {
  protected:
    void TearDown() override {
        EXPECT_TRUE(sys.only_single_components()) << "a backing call named more than one component";
        EXPECT_EQ(false_errors.total(), 0U) << "no fault was injected: nothing may be hidden";
    }
    Located locate(const std::string& name) { return located_.locate(sys, dir.fd(), name); }

    TempDir dir;
    TempDir outside;  // stands for everything beyond the backing root
    RecordingSyscalls sys;
    FalseErrors false_errors;
    nfsguard::test::LocatedObjects located_;
};

}  // namespace

TEST_F(NamespaceOpsTest, LookupDoesNotFollowSymlinks) {
    ASSERT_EQ(::symlink(outside.path().c_str(), (dir / "evil").c_str()), 0);
    auto st = lookup_entry(sys, dir.fd(), "evil");
    ASSERT_TRUE(st);
    EXPECT_TRUE(S_ISLNK(st->st_mode));
}

TEST_F(NamespaceOpsTest, AKnownDirectoryIsLookedUpWithItsCachedAttributes) {
    ASSERT_EQ(::mkdirat(dir.fd(), "new", 0700), 0);
    auto fresh = lookup_entry(sys, dir.fd(), "new");
    auto walked = lookup_known_directory(sys, dir.fd(), "new");
    ASSERT_TRUE(fresh);
    ASSERT_TRUE(walked);
    // statx (AT_STATX_DONT_SYNC) in struct stat: the same as lstat here,
    // where nothing is cached apart from the backing.
    EXPECT_EQ(walked->st_dev, fresh->st_dev);
    EXPECT_EQ(walked->st_ino, fresh->st_ino);
    EXPECT_EQ(walked->st_mode, fresh->st_mode);
    EXPECT_EQ(walked->st_nlink, fresh->st_nlink);
    EXPECT_EQ(walked->st_uid, fresh->st_uid);
    EXPECT_EQ(walked->st_size, fresh->st_size);
    EXPECT_EQ(walked->st_mtim.tv_sec, fresh->st_mtim.tv_sec);
    EXPECT_EQ(walked->st_mtim.tv_nsec, fresh->st_mtim.tv_nsec);
    EXPECT_EQ(walked->st_ctim.tv_nsec, fresh->st_ctim.tv_nsec);
}

TEST_F(NamespaceOpsTest, AKnownDirectoryNowAFileOrGoneIsLookedAtAfresh) {
    dir.write("new", "a file now");
    auto st = lookup_known_directory(sys, dir.fd(), "new");
    ASSERT_TRUE(st);
    EXPECT_TRUE(S_ISREG(st->st_mode));
    EXPECT_EQ(st->st_size, 10);
    EXPECT_EQ(lookup_known_directory(sys, dir.fd(), "gone").error(), ENOENT);
}

TEST_F(NamespaceOpsTest, OpenEntryRefusesANameThatNowMeansAnotherObject) {
    dir.write("a", "1");
    dir.write("b", "2");
    auto a = lookup_entry(sys, dir.fd(), "a");
    ASSERT_TRUE(a);
    ASSERT_EQ(::rename((dir / "b").c_str(), (dir / "a").c_str()), 0);
    EXPECT_EQ(open_entry(sys, dir.fd(), "a", a->st_dev, a->st_ino).error(), ESTALE);
}

TEST_F(NamespaceOpsTest, CreateRefusesAPlantedSymlinkAndTouchesNothingOutside) {
    ASSERT_EQ(::symlink((outside / "victim").c_str(), (dir / "inbox").c_str()), 0);
    auto created = create_file(sys, dir.fd(), "inbox", O_WRONLY, 0600);
    EXPECT_EQ(created.error(), ELOOP);
    EXPECT_FALSE(outside.exists("victim"));
}

TEST_F(NamespaceOpsTest, ExclusiveCreateOfAnExistingNameIsEexist) {
    dir.write("inbox.lock", "");
    EXPECT_EQ(create_file(sys, dir.fd(), "inbox.lock", O_WRONLY | O_EXCL, 0600).error(), EEXIST);
}

TEST_F(NamespaceOpsTest, CreateReturnsAnOpenFileAndItsAttributes) {
    auto created = create_file(sys, dir.fd(), "msg", O_RDWR, 0640);
    ASSERT_TRUE(created) << created.error();
    EXPECT_TRUE(S_ISREG(created->st.st_mode));
    EXPECT_EQ(created->st.st_mode & 07777, 0640U);
    EXPECT_EQ(::write(created->fd.get(), "hi", 2), 2);
    EXPECT_EQ(dir.read("msg"), "hi");
}

TEST_F(NamespaceOpsTest, MakeDirectoryNodeAndSymlinkReportWhatTheyMade) {
    auto d = make_directory(sys, false_errors, dir.fd(), "cur", 0700);
    ASSERT_TRUE(d);
    EXPECT_TRUE(S_ISDIR(d->st_mode));
    auto fifo = make_node(sys, dir.fd(), "fifo", S_IFIFO | 0600, 0);
    ASSERT_TRUE(fifo);
    EXPECT_TRUE(S_ISFIFO(fifo->st_mode));
    auto link = make_symlink(sys, false_errors, "cur", dir.fd(), "link");
    ASSERT_TRUE(link);
    EXPECT_TRUE(S_ISLNK(link->st_mode));
    EXPECT_EQ(make_directory(sys, false_errors, dir.fd(), "cur", 0700).error(), EEXIST);
}

TEST_F(NamespaceOpsTest, RemoveReportsTheBackingErrors) {
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0755), 0);
    dir.write("d/f", "x");
    EXPECT_EQ(remove_directory(sys, false_errors, dir.fd(), "d").error(), ENOTEMPTY);
    EXPECT_EQ(remove_file(sys, false_errors, dir.fd(), "d").error(), EISDIR);
    EXPECT_EQ(remove_file(sys, false_errors, dir.fd(), "missing").error(), ENOENT);
}

TEST_F(NamespaceOpsTest, RemovingASymlinkRemovesTheLinkNotItsTarget) {
    outside.write("precious", "x");
    ASSERT_EQ(::symlink((outside / "precious").c_str(), (dir / "evil").c_str()), 0);
    ASSERT_TRUE(remove_file(sys, false_errors, dir.fd(), "evil"));
    EXPECT_TRUE(outside.exists("precious"));
}

TEST_F(NamespaceOpsTest, RenameReportsTheObjectItMoved) {
    dir.write("tmp-msg", "body");
    struct stat before {};
    ::lstat((dir / "tmp-msg").c_str(), &before);
    auto r = rename_entry(sys, false_errors, dir.fd(), "tmp-msg", dir.fd(), "new-msg", 0);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->moved.ino, before.st_ino);
    EXPECT_FALSE(r->exchanged);
    EXPECT_EQ(dir.read("new-msg"), "body");
}

TEST_F(NamespaceOpsTest, RenameExchangeReportsBothObjects) {
    dir.write("a", "A");
    dir.write("b", "B");
    auto r = rename_entry(sys, false_errors, dir.fd(), "a", dir.fd(), "b", RENAME_EXCHANGE);
    ASSERT_TRUE(r) << r.error();
    ASSERT_TRUE(r->exchanged);
    EXPECT_EQ(dir.read("a"), "B");
    EXPECT_EQ(dir.read("b"), "A");
}

TEST_F(NamespaceOpsTest, RenameNoReplaceRefusesAnExistingTarget) {
    dir.write("a", "A");
    dir.write("b", "B");
    EXPECT_EQ(
        rename_entry(sys, false_errors, dir.fd(), "a", dir.fd(), "b", RENAME_NOREPLACE).error(),
        EEXIST);
}

TEST_F(NamespaceOpsTest, LinkLinksTheVerifiedObjectEvenIfItsNameChanged) {
    dir.write("tmp", "message");
    Located obj = locate("tmp");
    ASSERT_EQ(::rename((dir / "tmp").c_str(), (dir / "elsewhere").c_str()), 0);
    dir.write("tmp", "impostor");
    auto st = link_entry(sys, false_errors, obj, dir.fd(), "new");
    ASSERT_TRUE(st) << st.error();
    EXPECT_EQ(dir.read("new"), "message");
    EXPECT_EQ(st->st_nlink, 2U);
}

TEST_F(NamespaceOpsTest, LinkingASymlinkLinksTheSymlinkItself) {
    ASSERT_EQ(::symlink("target", (dir / "s").c_str()), 0);
    Located obj = locate("s");
    auto st = link_entry(sys, false_errors, obj, dir.fd(), "s2");
    ASSERT_TRUE(st) << st.error();
    EXPECT_TRUE(S_ISLNK(st->st_mode));
}
