#include "fs/inode_table.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "ops/namespace_ops.hpp"
#include "recording_syscalls.hpp"
#include "temp_dir.hpp"

using nfsguard::fs::Inode;
using nfsguard::fs::InodeTable;
using nfsguard::fs::Origin;
using nfsguard::ops::UniqueFd;
using nfsguard::test::RecordingSyscalls;
using nfsguard::test::TempDir;

namespace {

class InodeTableTest : public ::testing::Test {
  protected:
    InodeTable& table(size_t max_dir_fds = 256) {
        if (!table_) {
            UniqueFd root(::open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
            struct stat st {};
            ::fstat(root.get(), &st);
            table_ = std::make_unique<InodeTable>(sys, std::move(root), st, max_dir_fds);
        }
        return *table_;
    }
    struct stat lstat(const std::string& name) {
        struct stat st {};
        EXPECT_EQ(::lstat((dir / name).c_str(), &st), 0) << name;
        return st;
    }
    // Looks `name` up in `parent` as the kernel would, one lookup counted.
    Inode& lookup(Inode& parent, const std::string& path, const std::string& name) {
        return table().remember(parent, name, lstat(path));
    }
    // A Maildir's tmp/ and new/, and the message tmp/`name`, all looked up.
    struct Delivery {
        Inode& tmp;
        Inode& nw;
        Inode& message;
    };
    Delivery delivery(const std::string& name) {
        ::mkdir((dir / "tmp").c_str(), 0755);
        ::mkdir((dir / "new").c_str(), 0755);
        dir.write("tmp/" + name, "message");
        Inode& tmp = lookup(table().root(), "tmp", "tmp");
        Inode& nw = lookup(table().root(), "new", "new");
        return Delivery{tmp, nw, lookup(tmp, "tmp/" + name, name)};
    }

    TempDir dir;
    RecordingSyscalls sys;
    std::unique_ptr<InodeTable> table_;
};

}  // namespace

TEST_F(InodeTableTest, TheRootIsNodeIdOne) {
    EXPECT_EQ(table().id_of(table().root()), InodeTable::kRootId);
    EXPECT_EQ(&table().from_id(InodeTable::kRootId), &table().root());
}

TEST_F(InodeTableTest, NodeIdsRoundTrip) {
    dir.write("a", "x");
    Inode& a = lookup(table().root(), "a", "a");
    EXPECT_EQ(&table().from_id(table().id_of(a)), &a);
}

TEST_F(InodeTableTest, LookingUpTheSameObjectTwiceGivesOneInodeWithTwoLookups) {
    dir.write("a", "x");
    Inode& first = lookup(table().root(), "a", "a");
    Inode& second = lookup(table().root(), "a", "a");
    EXPECT_EQ(&first, &second);
    EXPECT_EQ(table().size(), 2U);  // root and a
    table().forget(first, 1);
    EXPECT_EQ(table().size(), 2U);
    table().forget(first, 1);
    EXPECT_EQ(table().size(), 1U);
}

TEST_F(InodeTableTest, AParentStaysWhileAChildIsKnown) {
    ::mkdir((dir / "d").c_str(), 0755);
    dir.write("d/f", "x");
    Inode& d = lookup(table().root(), "d", "d");
    Inode& f = lookup(d, "d/f", "f");
    table().forget(d, 1);
    EXPECT_EQ(table().size(), 3U) << "d must stay: resolving f walks through it";
    auto target = table().locate(f);
    ASSERT_TRUE(target) << target.error();
    table().forget(f, 1);
    EXPECT_EQ(table().size(), 1U) << "f and then d are released";
}

TEST_F(InodeTableTest, LocateOpensTheObjectUnderItsNameWithoutKeepingIt) {
    dir.write("msg", "hello");
    Inode& msg = lookup(table().root(), "msg", "msg");
    {
        auto target = table().locate(msg);
        ASSERT_TRUE(target) << target.error();
        struct stat st {};
        ASSERT_EQ(::fstat(target->object->get(), &st), 0);
        EXPECT_EQ(st.st_ino, msg.ino);
        EXPECT_EQ(target->name, "msg");
    }
    EXPECT_EQ(table().cached_dir_fds(), 0U) << "files are never kept open";
}

TEST_F(InodeTableTest, ANameThatNowMeansAnotherObjectIsStale) {
    dir.write("uidlist", "old");
    Inode& old = lookup(table().root(), "uidlist", "uidlist");
    dir.write("uidlist.tmp", "new");
    ASSERT_EQ(::rename((dir / "uidlist.tmp").c_str(), (dir / "uidlist").c_str()), 0);
    bool moved_on = false;
    EXPECT_EQ(table().locate(old, &moved_on).error(), ESTALE);
    EXPECT_TRUE(moved_on) << "resolving again cannot find it: not for nfsguard to retry";
}

TEST_F(InodeTableTest, AnObjectWhoseNameWasRemovedIsGone) {
    dir.write("msg", "x");
    Inode& msg = lookup(table().root(), "msg", "msg");
    ASSERT_EQ(::unlink((dir / "msg").c_str()), 0);
    bool moved_on = false;
    EXPECT_EQ(table().locate(msg, &moved_on).error(), ENOENT);
    EXPECT_TRUE(moved_on);
}

TEST_F(InodeTableTest, DirectoryDescriptorsStayWithinTheBound) {
    std::vector<Inode*> dirs;
    for (int i = 0; i < 6; ++i) {
        std::string name = "d" + std::to_string(i);
        ::mkdir((dir / name).c_str(), 0755);
        dirs.push_back(&lookup(table(2).root(), name, name));
    }
    for (Inode* d : dirs) {
        auto fd = table().directory_fd(*d);
        ASSERT_TRUE(fd) << fd.error();
        EXPECT_LE(table().cached_dir_fds(), 2U);
    }
    EXPECT_EQ(table().cached_dir_fds(), 2U);
}

TEST_F(InodeTableTest, ACachedDirectoryIsNotOpenedAgain) {
    ::mkdir((dir / "Maildir").c_str(), 0755);
    Inode& md = lookup(table().root(), "Maildir", "Maildir");
    ASSERT_TRUE(table().directory_fd(md));
    int opens = sys.openat_calls;
    ASSERT_TRUE(table().directory_fd(md));
    EXPECT_EQ(sys.openat_calls, opens);
}

TEST_F(InodeTableTest, AnEvictedDirectoryIsReopenedThroughItsAncestors) {
    ::mkdir((dir / "a").c_str(), 0755);
    ::mkdir((dir / "a/b").c_str(), 0755);
    ::mkdir((dir / "a/b/c").c_str(), 0755);
    InodeTable& t = table(1);
    Inode& a = lookup(t.root(), "a", "a");
    Inode& b = lookup(a, "a/b", "b");
    Inode& c = lookup(b, "a/b/c", "c");
    auto fd = t.directory_fd(c);
    ASSERT_TRUE(fd) << fd.error();
    struct stat st {};
    ::fstat((*fd)->get(), &st);
    EXPECT_EQ(st.st_ino, c.ino);
    EXPECT_TRUE(sys.only_single_components());
}

TEST_F(InodeTableTest, ARenameKeepsTheInodeReachable) {
    auto [tmp, nw, m] = delivery("m");
    ASSERT_EQ(::rename((dir / "tmp/m").c_str(), (dir / "new/m2").c_str()), 0);
    table().moved(nfsguard::ops::ObjectId::of(lstat("new/m2")), tmp, "m", nw, "m2");
    auto target = table().locate(m);
    ASSERT_TRUE(target) << target.error();
    EXPECT_EQ(target->name, "m2");
}

TEST_F(InodeTableTest, AnInodeNumberReusedForAnotherTypeGetsANewInode) {
    dir.write("x", "file");
    Inode& file = lookup(table().root(), "x", "x");
    struct stat st = lstat("x");
    st.st_mode = S_IFDIR | 0755;  // as if the number now belonged to a directory
    Inode& d = table().remember(table().root(), "x", st);
    EXPECT_NE(&file, &d);
    EXPECT_EQ(table().size(), 3U);
    table().forget(file, 1);
    EXPECT_EQ(table().size(), 2U);
}

TEST_F(InodeTableTest, AnOpenFileIsReachedAfterItsNameIsGone) {
    dir.write("msg", "x");
    Inode& msg = lookup(table().root(), "msg", "msg");
    auto fd = nfsguard::ops::share(UniqueFd(::open((dir / "msg").c_str(), O_RDONLY | O_CLOEXEC)));
    table().opened(msg, fd);
    ASSERT_EQ(::unlink((dir / "msg").c_str()), 0);
    {
        auto target = table().locate(msg);
        ASSERT_TRUE(target) << target.error();
        EXPECT_EQ(target->object->get(), fd->get());
    }
    fd.reset();  // the caller closed it: back to resolving by name, which fails now
    EXPECT_EQ(table().locate(msg).error(), ENOENT);
}

TEST_F(InodeTableTest, AHardLinkedFileIsReachedByItsOtherNameAfterOneIsUnlinked) {
    // Maildir delivery: tmp/X linked to new/X, then tmp/X unlinked; the
    // kernel may keep using the nodeid it learned for new/X.
    auto [tmp, nw, x] = delivery("X");
    ASSERT_EQ(::link((dir / "tmp/X").c_str(), (dir / "new/X").c_str()), 0);
    EXPECT_EQ(&lookup(nw, "new/X", "X"), &x);
    (void)lookup(tmp, "tmp/X", "X");  // tmp/X is now the most recent name
    ASSERT_EQ(::unlink((dir / "tmp/X").c_str()), 0);
    auto target = table().locate(x);
    ASSERT_TRUE(target) << target.error();
    EXPECT_EQ(target->name, "X");
    struct stat st {};
    ::fstat(target->parent->get(), &st);
    EXPECT_EQ(st.st_ino, nw.ino) << "found under new/, not tmp/";
    EXPECT_EQ(x.aliases.size(), 1U) << "the unlinked name is forgotten";
}

TEST_F(InodeTableTest, AnObjectKeepsABoundedNumberOfNames) {
    dir.write("f", "x");
    Inode& f = lookup(table().root(), "f", "f");
    for (int i = 0; i < 10; ++i) {
        std::string name = "link" + std::to_string(i);
        ASSERT_EQ(::link((dir / "f").c_str(), (dir / name).c_str()), 0);
        (void)lookup(table().root(), name, name);
    }
    EXPECT_EQ(f.aliases.size(), Inode::kMaxAliases);
    EXPECT_EQ(f.aliases.front().name, "link9");
}

TEST_F(InodeTableTest, NamesBeyondTheBoundAreReportedAsEvicted) {
    // cache=pinned drops these from the kernel, which would otherwise send
    // requests for the object by a name the table no longer has.
    dir.write("f", "x");
    Inode& root = table().root();
    (void)lookup(root, "f", "f");
    InodeTable::Names evicted;
    for (size_t i = 0; i < Inode::kMaxAliases; ++i) {
        std::string name = "link" + std::to_string(i);
        ASSERT_EQ(::link((dir / "f").c_str(), (dir / name).c_str()), 0);
        (void)table().remember(root, name, lstat(name), Origin::looked_up, &evicted);
    }
    ASSERT_EQ(evicted.size(), 1U);
    EXPECT_EQ(evicted[0].first, table().id_of(root));
    EXPECT_EQ(evicted[0].second, "f");
}

TEST_F(InodeTableTest, KnownNamesAndIdsCoverEveryInode) {
    ::mkdir((dir / "d").c_str(), 0755);
    dir.write("d/f", "x");
    Inode& d = lookup(table().root(), "d", "d");
    Inode& f = lookup(d, "d/f", "f");
    auto names = table().known_names();
    EXPECT_EQ(names.size(), 2U);
    EXPECT_NE(std::find(names.begin(), names.end(), std::pair{table().id_of(d), std::string("f")}),
              names.end());
    auto ids = table().known_ids();
    EXPECT_EQ(ids.front(), InodeTable::kRootId);
    EXPECT_NE(std::find(ids.begin(), ids.end(), table().id_of(f)), ids.end());
    EXPECT_EQ(ids.size(), 3U);
}

TEST_F(InodeTableTest, ADirectoryHasOneNameAndMovesWithItsLatestLookup) {
    ::mkdir((dir / "a").c_str(), 0755);
    ::mkdir((dir / "b").c_str(), 0755);
    Inode& a = lookup(table().root(), "a", "a");
    Inode& b = lookup(table().root(), "b", "b");
    ::mkdir((dir / "a/sub").c_str(), 0755);
    Inode& sub = lookup(a, "a/sub", "sub");
    ASSERT_EQ(::rename((dir / "a/sub").c_str(), (dir / "b/sub").c_str()), 0);
    (void)lookup(b, "b/sub", "sub");
    ASSERT_EQ(sub.aliases.size(), 1U);
    EXPECT_EQ(sub.aliases.front().parent, &b);
    EXPECT_TRUE(table().directory_fd(sub));
    table().forget(a, 1);
    EXPECT_EQ(table().size(), 3U) << "a no longer holds sub: released";
}

// known_at: what verify-after-error is told of a name instead of an lstat.

TEST_F(InodeTableTest, ANameIsKnownAsTheObjectItsLookupFound) {
    dir.write("m", "x");
    Inode& m = lookup(table().root(), "m", "m");
    auto known = table().known_at(table().root(), "m");
    ASSERT_TRUE(known);
    EXPECT_EQ(known->ino, m.ino);
    EXPECT_EQ(known->dev, m.dev);
    EXPECT_EQ(known->type, S_IFREG);
    EXPECT_FALSE(table().known_at(table().root(), "other"));
}

TEST_F(InodeTableTest, ARenamedObjectIsKnownAtItsNewNameOnly) {
    auto [tmp, nw, m] = delivery("m");
    ASSERT_EQ(::rename((dir / "tmp/m").c_str(), (dir / "new/m").c_str()), 0);
    table().moved(nfsguard::ops::ObjectId::of(lstat("new/m")), tmp, "m", nw, "m");
    EXPECT_FALSE(table().known_at(tmp, "m"));
    auto known = table().known_at(nw, "m");
    ASSERT_TRUE(known);
    EXPECT_EQ(known->ino, m.ino);
}

TEST_F(InodeTableTest, ANameTakenByAnotherObjectIsKnownAsTheNewer) {
    dir.write("a", "first");
    Inode& first = lookup(table().root(), "a", "a");
    dir.write("b", "second");
    ASSERT_EQ(::rename((dir / "b").c_str(), (dir / "a").c_str()), 0);  // another host
    Inode& second = lookup(table().root(), "a", "a");
    ASSERT_NE(&first, &second);
    auto known = table().known_at(table().root(), "a");
    ASSERT_TRUE(known);
    EXPECT_EQ(known->ino, second.ino);
    // The older inode giving the name up leaves the newer's in place.
    ASSERT_FALSE(table().locate(first));  // finds its name stale and drops it
    ASSERT_TRUE(table().known_at(table().root(), "a"));
    EXPECT_EQ(table().known_at(table().root(), "a")->ino, second.ino);
}

TEST_F(InodeTableTest, AForgottenObjectIsNoLongerKnownAtItsName) {
    dir.write("m", "x");
    Inode& m = lookup(table().root(), "m", "m");
    table().forget(m, 1);
    EXPECT_FALSE(table().known_at(table().root(), "m"));
}

TEST_F(InodeTableTest, AnUnlinkWaitsForTheReleaseOfAFileClosedAMomentAgo) {
    dir.write("m", "x");
    Inode& m = lookup(table().root(), "m", "m");
    auto open_file = nfsguard::ops::share(UniqueFd(::open((dir / "m").c_str(), O_RDONLY)));
    table().opened(m, open_file);
    EXPECT_FALSE(table().wait_for_release(table().root(), "m", std::chrono::milliseconds(2)));
    std::thread release([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        open_file.reset();
    });
    EXPECT_TRUE(table().wait_for_release(table().root(), "m", std::chrono::seconds(5)));
    release.join();
    EXPECT_TRUE(table().wait_for_release(table().root(), "unknown", std::chrono::seconds(5)));
}

TEST_F(InodeTableTest, ADirectoryReplacedOnTheWayFromTheRootHasMovedOn) {
    ::mkdir((dir / "cur").c_str(), 0755);
    Inode& cur = lookup(table().root(), "cur", "cur");
    ::rename((dir / "cur").c_str(), (dir / "cur.old").c_str());
    ::mkdir((dir / "cur").c_str(), 0755);  // another host replaced it
    bool moved_on = false;
    EXPECT_EQ(table().directory_fd(cur, &moved_on).error(), ESTALE);
    EXPECT_TRUE(moved_on) << "resolved from the root by name: no retry can mend it";
}

TEST_F(InodeTableTest, ADirectoryReachedFromACachedDescriptorHasNotMovedOnForSure) {
    ::mkdir((dir / "a").c_str(), 0755);
    ::mkdir((dir / "a/cur").c_str(), 0755);
    Inode& a = lookup(table().root(), "a", "a");
    Inode& cur = lookup(a, "a/cur", "cur");
    ASSERT_TRUE(table().directory_fd(a));  // a's descriptor cached: it may be stale
    ::rename((dir / "a/cur").c_str(), (dir / "a/cur.old").c_str());
    ::mkdir((dir / "a/cur").c_str(), 0755);
    bool moved_on = false;
    EXPECT_EQ(table().directory_fd(cur, &moved_on).error(), ESTALE);
    EXPECT_FALSE(moved_on);
    table().forget_directory_fds_above({&cur});
    EXPECT_EQ(table().directory_fd(cur, &moved_on).error(), ESTALE);
    EXPECT_TRUE(moved_on);
}

TEST_F(InodeTableTest, AnEstaleDropsTheDescriptorsAboveItsObjectOnly) {
    Delivery d = delivery("1.host");
    ASSERT_TRUE(table().directory_fd(d.tmp));
    ASSERT_TRUE(table().directory_fd(d.nw));
    ASSERT_EQ(table().cached_dir_fds(), 2U);
    table().forget_directory_fds_above({&d.message});
    EXPECT_EQ(table().cached_dir_fds(), 1U) << "tmp/ is above the message, new/ is not";
    const int opens = sys.openat_calls;
    ASSERT_TRUE(table().directory_fd(d.nw));
    EXPECT_EQ(sys.openat_calls, opens) << "new/ kept its descriptor";
}

TEST_F(InodeTableTest, AKnownObjectIsNamedByItsPathBelowTheRoot) {
    Delivery d = delivery("1.host");
    const struct stat st = lstat("tmp/1.host");
    EXPECT_EQ(table().path_of(st.st_dev, st.st_ino), "/tmp/1.host");
    const struct stat root = lstat(".");
    EXPECT_EQ(table().path_of(root.st_dev, root.st_ino), "");
    EXPECT_EQ(table().path_of(st.st_dev, st.st_ino + 1000000), std::nullopt);
    (void)d;
}
