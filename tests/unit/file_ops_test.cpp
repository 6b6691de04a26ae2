#include "ops/file_ops.hpp"

#include <errno.h>
#include <gtest/gtest.h>

using namespace nfsguard::ops;

namespace {

// A server on which every handle has gone stale.
class StaleHandles : public Syscalls {
  public:
    Result<void> fsync(int, bool) override { return Errno{ESTALE}; }
};

}  // namespace

TEST(FileOpsTest, AStaleDirectoryHasNothingLeftToSync) {
    StaleHandles stale;
    EXPECT_TRUE(sync_directory(stale, 3, false));
    EXPECT_TRUE(sync_directory(stale, 3, true));
}

TEST(FileOpsTest, AStaleFilesSyncIsAnError) {
    // Its data may not have reached the server: the writer must know.
    StaleHandles stale;
    EXPECT_EQ(sync_file(stale, 3, false).error(), ESTALE);
}
