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
