// Which lock owners go when an open file is released: an OFD lock's owner
// is the open file, and its release is the only end it gets.
#include "fs/lock_owners.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

using namespace nfsguard;
using fs::Inode;
using fs::LockOwners;

namespace {

ops::Result<ops::UniqueFd> open_null() {
    return ops::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

ops::UniqueFd null_fd() {
    return ops::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

class LockOwnersTest : public ::testing::Test {
  protected:
    Inode mbox{1, 10, S_IFREG};
    Inode other{1, 11, S_IFREG};
    LockOwners owners;
};

}  // namespace

TEST_F(LockOwnersTest, AnOwnerGoesWithTheHandleItLockedThrough) {
    ASSERT_TRUE(owners.descriptor(mbox, /*owner=*/100, 1, /*handle=*/7, open_null));
    owners.handle_released(mbox, 7);
    EXPECT_EQ(owners.find(mbox, 100), nullptr);
    EXPECT_EQ(owners.size(), 0U);
}

TEST_F(LockOwnersTest, AnOwnerThatLockedThroughAnotherHandleStays) {
    // A process closed one file and locked through another (its flush had
    // dropped the first owner entry); the first file's release comes late.
    ASSERT_TRUE(owners.descriptor(mbox, 100, 1, 8, open_null));
    owners.handle_released(mbox, 7);
    EXPECT_NE(owners.find(mbox, 100), nullptr);
}

TEST_F(LockOwnersTest, TheReleaseOfAHandleTouchesNoOtherFile) {
    ASSERT_TRUE(owners.descriptor(other, 100, 1, 7, open_null));
    ASSERT_TRUE(owners.descriptor(mbox, 200, 1, 9, open_null));
    owners.handle_released(mbox, 7);
    EXPECT_NE(owners.find(other, 100), nullptr);
    EXPECT_NE(owners.find(mbox, 200), nullptr);
}

TEST_F(LockOwnersTest, AnOwnerThatUsedTheReleasedHandleAmongOthersGoes) {
    ASSERT_TRUE(owners.descriptor(mbox, 100, 1, 7, open_null));
    ASSERT_TRUE(owners.descriptor(mbox, 100, 1, 8, open_null));
    owners.handle_released(mbox, 8);
    EXPECT_EQ(owners.find(mbox, 100), nullptr);
}

// --- Kept beyond the process (a crash keeps the locks: LockOwners::Keeper).

namespace {

struct RecordingKeeper {
    bool refuse = false;  // a store that takes no more
    std::vector<std::string> kept, dropped;
    std::vector<uint64_t> not_kept;
    LockOwners::Keeper keeper() {
        return {[this](const std::string& name, int) {
                    if (refuse) return false;
                    kept.push_back(name);
                    return true;
                },
                [this](const std::string& name, int) { dropped.push_back(name); },
                [this](uint64_t handle) { not_kept.push_back(handle); }};
    }
};

}  // namespace

TEST_F(LockOwnersTest, AnOwnersDescriptorIsKeptOnceAndDroppedWhenItGoes) {
    RecordingKeeper keeper;
    owners.keep_in(keeper.keeper());
    mbox.id = 0x100000005;
    ASSERT_TRUE(owners.descriptor(mbox, 0xabc, 1, 7, open_null));
    ASSERT_TRUE(owners.descriptor(mbox, 0xabc, 1, 8, open_null));  // the same owner again
    ASSERT_EQ(keeper.kept, std::vector<std::string>{"lock-100000005-abc-7"});
    EXPECT_TRUE(keeper.dropped.empty());
    owners.release(mbox, 0xabc);
    EXPECT_EQ(keeper.dropped, keeper.kept);
}

// Refused by the store: every open file the owner locks through is told,
// so that after a crash it answers EIO (fs/table_mirror.hpp, lock_not_kept).
TEST_F(LockOwnersTest, AnOwnerTheStoreRefusesNamesEveryFileItLocksThrough) {
    RecordingKeeper keeper;
    keeper.refuse = true;
    owners.keep_in(keeper.keeper());
    ASSERT_TRUE(owners.descriptor(mbox, 0xabc, 1, 7, open_null));
    ASSERT_TRUE(owners.descriptor(mbox, 0xabc, 1, 8, open_null));
    EXPECT_EQ(keeper.not_kept, (std::vector<uint64_t>{7, 8}));
    EXPECT_TRUE(keeper.kept.empty());
    keeper.refuse = false;  // kept: nothing to tell
    ASSERT_TRUE(owners.descriptor(other, 0xdef, 1, 9, open_null));
    ASSERT_TRUE(owners.descriptor(other, 0xdef, 1, 10, open_null));
    EXPECT_EQ(keeper.not_kept, (std::vector<uint64_t>{7, 8}));
}

TEST_F(LockOwnersTest, AKeptNameReadsBackAndOthersDoNot) {
    uint64_t node = 0, owner = 0, handle = 0;
    ASSERT_TRUE(LockOwners::parse_kept_name(LockOwners::kept_name(0x200000003, ~0ULL, 9), node,
                                            owner, handle));
    EXPECT_EQ(node, 0x200000003U);
    EXPECT_EQ(owner, ~0ULL);
    EXPECT_EQ(handle, 9U);
    for (const char* name : {"fuse", "lock-1-2", "lock-1-2-3x", "lock-x-2-3", "backing-root"})
        EXPECT_FALSE(LockOwners::parse_kept_name(name, node, owner, handle)) << name;
}

TEST_F(LockOwnersTest, AKeptDescriptorServesItsOwnerUntilItClosesTheFile) {
    RecordingKeeper keeper;
    owners.keep_in(keeper.keeper());
    ASSERT_TRUE(owners.adopt_kept("lock-5-abc-7", null_fd()));
    EXPECT_FALSE(owners.adopt_kept("fuse-record", null_fd()));
    EXPECT_NE(owners.find_kept(5, 0xabc), nullptr);
    EXPECT_EQ(owners.find_kept(5, 0xabd), nullptr);  // another owner
    EXPECT_EQ(owners.find_kept(6, 0xabc), nullptr);  // another node
    owners.release_kept(5, 0xabc);
    EXPECT_EQ(owners.find_kept(5, 0xabc), nullptr);
    EXPECT_EQ(keeper.dropped, std::vector<std::string>{"lock-5-abc-7"});
}

TEST_F(LockOwnersTest, AKeptOfdLockGoesWithTheReleaseOfItsHandle) {
    RecordingKeeper keeper;
    owners.keep_in(keeper.keeper());
    ASSERT_TRUE(owners.adopt_kept("lock-5-abc-7", null_fd()));
    owners.kept_handle_released(5, 8);  // another open file of the node
    EXPECT_EQ(owners.kept_size(), 1U);
    owners.kept_handle_released(5, 7);
    EXPECT_EQ(owners.kept_size(), 0U);
    EXPECT_EQ(keeper.dropped.size(), 1U);
}

TEST_F(LockOwnersTest, HeldOwnersAreHandedOverWithTheirKeptNames) {
    RecordingKeeper keeper;
    owners.keep_in(keeper.keeper());
    mbox.id = 0x100000002;
    ASSERT_TRUE(owners.descriptor(mbox, 0xabc, 42, 7, open_null));
    auto held = owners.held();
    ASSERT_EQ(held.size(), 1U);
    EXPECT_EQ(held[0].node_id, 0x100000002U);
    EXPECT_EQ(held[0].owner, 0xabcU);
    EXPECT_EQ(held[0].state.pid, 42);
    EXPECT_EQ(held[0].state.kept_as, "lock-100000002-abc-7");

    LockOwners next;
    next.adopt(mbox, 0xabc, held[0].state);
    EXPECT_NE(next.find(mbox, 0xabc), nullptr);
}
