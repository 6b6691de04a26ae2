#include "ops/lease_file.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace nfsguard::ops {
namespace {

// A write that reached the file, then the error came: what a heartbeat sees
// once the NFS client lost its lock (the server expired its lease).
class LostLockSyscalls : public Syscalls {
  public:
    Result<size_t> pwrite(int fd, const void* buf, size_t size, off_t offset) override {
        auto r = Syscalls::pwrite(fd, buf, size, offset);
        if (!r) return r;
        return Errno{EIO};
    }
};

LeaseRecord record(const std::string& host) {
    return LeaseRecord{host, 42, 1700000000, {}};
}

TEST(LeaseFile, NamesEscapeSlashesAndPercentAndComeBack) {
    EXPECT_EQ(lease_file_name("example.org/alice"), "example.org%2Falice");
    EXPECT_EQ(lease_file_name("50%"), "50%25");
    EXPECT_EQ(unit_of_lease_file("example.org%2Falice"), "example.org/alice");
    EXPECT_EQ(unit_of_lease_file("50%25"), "50%");
    EXPECT_EQ(unit_of_lease_file("bad%zz"), std::nullopt);
}

TEST(LeaseFile, RecordLineParsesBackWithItsExtraWords) {
    LeaseRecord r{"mx1", 7, 12, "beat=99"};
    auto back = LeaseRecord::parse(r.line());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->host, "mx1");
    EXPECT_EQ(back->pid, 7);
    EXPECT_EQ(back->since, 12);
    EXPECT_EQ(back->rest, "beat=99");
    EXPECT_FALSE(LeaseRecord::parse("pid=1 since=2"));
}

TEST(LeaseFile, SecondTakerIsRefusedWhileTheFirstHoldsIt) {
    test::TempDir dir;
    Syscalls sys;
    auto first = take_lease(sys, dir.fd(), "alice", record("A"));
    ASSERT_TRUE(first) << first.error();
    auto second = take_lease(sys, dir.fd(), "alice", record("B"));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), EAGAIN);
    EXPECT_EQ(dir.read("alice"), record("A").line() + "\n");
}

TEST(LeaseFile, HolderIsReadWhileHeldAndNoneAfterRelease) {
    test::TempDir dir;
    Syscalls sys;
    {
        auto held = take_lease(sys, dir.fd(), "alice", record("A"));
        ASSERT_TRUE(held);
        auto holder = lease_holder(sys, dir.fd(), "alice");
        ASSERT_TRUE(holder && *holder);
        EXPECT_EQ((*holder)->holder.host, "A");
    }
    auto holder = lease_holder(sys, dir.fd(), "alice");
    ASSERT_TRUE(holder);
    EXPECT_FALSE(*holder);  // the file keeps A's line; nobody holds it
}

TEST(LeaseFile, NextTakerLearnsWhoHeldItBefore) {
    test::TempDir dir;
    Syscalls sys;
    { ASSERT_TRUE(take_lease(sys, dir.fd(), "alice", record("A"))); }
    std::optional<LeaseRecord> previous;
    auto taken = take_lease(sys, dir.fd(), "alice", record("B"), &previous);
    ASSERT_TRUE(taken);
    ASSERT_TRUE(previous);
    EXPECT_EQ(previous->host, "A");
}

TEST(LeaseFile, HeartbeatAfterTheLockWasLostFails) {
    test::TempDir dir;
    Syscalls sys;
    auto held = take_lease(sys, dir.fd(), "A", record("A"));
    ASSERT_TRUE(held);
    LostLockSyscalls lost;
    auto beat = rewrite_lease(lost, held->get(), "host=A pid=1 since=1 beat=2\n");
    ASSERT_FALSE(beat);
    EXPECT_EQ(beat.error(), EIO);
}

TEST(LeaseFile, PrivateDirectoriesAreMadeOnceAndOpenedAfter) {
    test::TempDir dir;
    Syscalls sys;
    ASSERT_TRUE(open_private_dir(sys, dir.fd(), ".nfsguard/owners"));
    ASSERT_TRUE(open_private_dir(sys, dir.fd(), ".nfsguard/owners"));  // EEXIST is fine
    EXPECT_TRUE(dir.exists(".nfsguard/owners"));
}

}  // namespace
}  // namespace nfsguard::ops
