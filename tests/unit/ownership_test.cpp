#include "fs/ownership/ownership.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ops/lease_file.hpp"
#include "temp_dir.hpp"

namespace nfsguard::fs {
namespace {

using namespace std::chrono_literals;

// Fails every write once `failing` is set, after the write happened: the
// heartbeat of a host whose NFS client lost its locks.
class HeartbeatSyscalls : public ops::Syscalls {
  public:
    std::atomic<bool> failing{false};
    ops::Result<size_t> pwrite(int fd, const void* buf, size_t size, off_t offset) override {
        auto r = Syscalls::pwrite(fd, buf, size, offset);
        if (failing) return ops::Errno{EIO};
        return r;
    }
};

// Blocks every write while `hanging` is set: a heartbeat on a hard NFS mount
// whose network to the server is cut.
class HangingSyscalls : public ops::Syscalls {
  public:
    std::atomic<bool> hanging{false};
    ops::Result<size_t> pwrite(int fd, const void* buf, size_t size, off_t offset) override {
        while (hanging) std::this_thread::sleep_for(10ms);
        return Syscalls::pwrite(fd, buf, size, offset);
    }
};

// One host's ownership over the backing `dir`, started.
struct Host {
    Host(ops::Syscalls& sys, const test::TempDir& dir, const std::string& name,
         std::chrono::milliseconds wait = 100ms, std::chrono::milliseconds idle = 60s,
         std::chrono::milliseconds lease = 1200ms)
        : root(ops::share(ops::UniqueFd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY)))),
          own(sys, Ownership::Config{*UnitPattern::parse("*"), name, wait, idle, lease, false},
              Ownership::Hooks{[this] { return root; },
                               [] { return true; },
                               [this](const std::string& unit) { changed.push_back(unit); },
                               {},
                               {}}) {
        own.start();
    }
    ops::SharedFd root;
    std::vector<std::string> changed;  // units let go (the keeper's thread; read after stop)
    Ownership own;
};

TEST(Ownership, FirstHostOwnsAUnitAndTheSecondIsRefusedAfterWaiting) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A"), b(sys, dir, "B");
    auto mine = a.own.claim("alice");
    ASSERT_TRUE(mine.tenure);
    EXPECT_TRUE(mine.taken_now);
    EXPECT_TRUE(mine.tenure->valid());
    const auto start = std::chrono::steady_clock::now();
    auto theirs = b.own.claim("alice");
    EXPECT_FALSE(theirs.tenure);
    EXPECT_EQ(theirs.refusal, Ownership::Refusal::held);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
    EXPECT_EQ(b.own.counts.waits.load(), 1u);
    EXPECT_EQ(b.own.counts.refused[0].load(), 1u);
    // Another unit is B's to take.
    EXPECT_TRUE(b.own.claim("bob").tenure);
}

TEST(Ownership, ClaimsOfAnOwnedUnitShareItsTenure) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A");
    auto first = a.own.claim("alice");
    auto again = a.own.claim("alice");
    ASSERT_TRUE(first.tenure && again.tenure);
    EXPECT_EQ(first.tenure, again.tenure);
    EXPECT_FALSE(again.taken_now);
    EXPECT_EQ(a.own.owned(), 1u);
}

TEST(Ownership, IdleUnitIsLetGoAndTakenOverByTheOtherHost) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A", 100ms, 300ms), b(sys, dir, "B", 3000ms);
    std::weak_ptr<Tenure> held;
    {
        auto mine = a.own.claim("alice");
        ASSERT_TRUE(mine.tenure);
        held = mine.tenure;
    }                                    // the request is done; nothing else holds it
    auto theirs = b.own.claim("alice");  // waits until A lets it go
    ASSERT_TRUE(theirs.tenure);
    EXPECT_TRUE(theirs.tenure->taken_over);
    EXPECT_EQ(b.own.counts.takeovers.load(), 1u);
    EXPECT_EQ(a.own.counts.released.load(), 1u);
    EXPECT_TRUE(held.expired());
    a.own.stop();
    EXPECT_EQ(a.changed, std::vector<std::string>{"alice"});
}

TEST(Ownership, UnitWithAnOpenFileIsNotLetGo) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A", 100ms, 200ms), b(sys, dir, "B", 100ms);
    auto open_file = a.own.claim("alice").tenure;  // an open file holds it
    ASSERT_TRUE(open_file);
    std::this_thread::sleep_for(600ms);
    EXPECT_TRUE(open_file->valid());
    EXPECT_FALSE(b.own.claim("alice").tenure);
    EXPECT_EQ(a.own.counts.released.load(), 0u);
}

TEST(Ownership, SameHostRetakingAfterIdleIsNoTakeover) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A", 100ms, 200ms);
    { ASSERT_TRUE(a.own.claim("alice").tenure); }
    std::this_thread::sleep_for(700ms);
    EXPECT_EQ(a.own.counts.released.load(), 1u);
    auto again = a.own.claim("alice");
    ASSERT_TRUE(again.tenure);
    EXPECT_TRUE(again.taken_now);
    EXPECT_FALSE(again.tenure->taken_over);
}

TEST(Ownership, HostWhoseHeartbeatFailsIsFencedAndRefused) {
    test::TempDir dir;
    HeartbeatSyscalls sys;
    Host a(sys, dir, "A", 100ms, 60s, 600ms);  // confirmed for 300 ms after each beat
    auto open_file = a.own.claim("alice").tenure;
    ASSERT_TRUE(open_file);
    sys.failing = true;
    std::this_thread::sleep_for(900ms);
    EXPECT_FALSE(open_file->valid());  // what it opened answers EIO
    EXPECT_FALSE(a.own.confirmed());
    EXPECT_EQ(a.own.counts.fenced.load(), 1u);
    auto again = a.own.claim("alice");
    EXPECT_FALSE(again.tenure);
    EXPECT_EQ(again.refusal, Ownership::Refusal::unconfirmed);
    // The server has the lease back: another host takes the unit.
    ops::Syscalls plain;
    Host b(plain, dir, "B", 1000ms);
    EXPECT_TRUE(b.own.claim("alice").tenure);
}

TEST(Ownership, PartitionedHostIsFencedWhileLettingGoOfItsLeasesWaits) {
    // Cut off from the server, the heartbeat hangs, and so does letting go of
    // a lease (its close waits for the unlock): the fencing is counted (and
    // logged) before (the real-NFS lane saw it only once the network was back).
    test::TempDir dir;
    HangingSyscalls sys;
    std::atomic<bool> server_back{false};
    auto root = ops::share(ops::UniqueFd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY)));
    Ownership a(sys, Ownership::Config{*UnitPattern::parse("*"), "A", 100ms, 60s, 600ms, false},
                Ownership::Hooks{[&] { return root; },
                                 [] { return true; },
                                 [&](const std::string&) {
                                     while (!server_back) std::this_thread::sleep_for(10ms);
                                 },
                                 {},
                                 {}});
    a.start();
    auto open_file = a.claim("alice").tenure;
    ASSERT_TRUE(open_file);
    sys.hanging = true;
    std::this_thread::sleep_for(900ms);
    EXPECT_FALSE(open_file->valid());
    EXPECT_EQ(a.counts.fenced.load(), 1u);
    sys.hanging = false;
    server_back = true;
    a.stop();
}

TEST(Ownership, FencedHostServesAgainOnceItsHeartbeatIsBack) {
    test::TempDir dir;
    HeartbeatSyscalls sys;
    Host a(sys, dir, "A", 1000ms, 60s, 600ms);
    auto before = a.own.claim("alice").tenure;
    ASSERT_TRUE(before);
    sys.failing = true;
    std::this_thread::sleep_for(900ms);
    sys.failing = false;
    auto after = a.own.claim("alice");
    ASSERT_TRUE(after.tenure);
    EXPECT_NE(after.tenure, before);
    EXPECT_FALSE(before->valid());  // the old files stay ended
}

TEST(Ownership, SecondNfsguardWithTheSameHostNameServesNothing) {
    test::TempDir dir;
    ops::Syscalls sys;
    Host a(sys, dir, "A");
    ASSERT_TRUE(a.own.claim("alice").tenure);
    Host twin(sys, dir, "A");
    auto refused = twin.own.claim("bob");
    EXPECT_FALSE(refused.tenure);
    EXPECT_EQ(refused.refusal, Ownership::Refusal::unconfirmed);
}

}  // namespace
}  // namespace nfsguard::fs
