// ClientTimes: what a file made or written through the mount is owed, and
// that it is paid once, with one call.
#include "fs/client_times.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "located_objects.hpp"
#include "ops/timestamps.hpp"
#include "temp_dir.hpp"

using nfsguard::fs::ClientTimes;
using namespace nfsguard::ops;
using nfsguard::test::TempDir;

namespace {

// Counts the times set on the backing.
class CountingSyscalls : public Syscalls {
  public:
    int utimensat_calls = 0;
    Result<void> utimensat(int dirfd, const char* path, const struct timespec times[2],
                           int flags) override {
        ++utimensat_calls;
        return Syscalls::utimensat(dirfd, path, times, flags);
    }
};

class ClientTimesTest : public ::testing::Test {
  protected:
    void SetUp() override { dir.write("f", ""); }
    struct stat stat_f() {
        struct stat st {};
        EXPECT_EQ(::fstatat(dir.fd(), "f", &st, AT_SYMLINK_NOFOLLOW), 0);
        return st;
    }
    Located f() { return located.locate(sys, dir.fd(), "f"); }

    TempDir dir;
    CountingSyscalls sys;
    nfsguard::test::LocatedObjects located;
    ClientTimes::Owed owed;
    const struct timespec made { 1'700'000'000, 250'000'000 };
};

}  // namespace

TEST_F(ClientTimesTest, AFileMadeAndWrittenIsStampedOnceWithOneCall) {
    ClientTimes times(sys, ClientTimes::Mode::client);
    owed.made_at(made);
    owed.data_changed();
    struct stat answered {};
    EXPECT_TRUE(times.pay(owed, f(), &answered));
    EXPECT_EQ(sys.utimensat_calls, 1);
    EXPECT_EQ(stat_f().st_atim.tv_sec, made.tv_sec);
    EXPECT_EQ(answered.st_atim.tv_sec, made.tv_sec);
    EXPECT_FALSE(times.pay(owed, f()));
    EXPECT_EQ(sys.utimensat_calls, 1) << "nothing more is owed";
}

TEST_F(ClientTimesTest, TheCallersOwnMtimeCoversTheWritesBeforeIt) {
    ClientTimes times(sys, ClientTimes::Mode::client);
    owed.data_changed();
    owed.caller_set_mtime();
    EXPECT_FALSE(times.owes(owed));
    EXPECT_FALSE(times.pay(owed, f()));
    owed.data_changed();  // a write after it is owed again
    EXPECT_TRUE(times.pay(owed, f()));
    EXPECT_EQ(sys.utimensat_calls, 1);
}

TEST_F(ClientTimesTest, TheCallersOwnTimesCancelTheMakingsAtime) {
    ClientTimes times(sys, ClientTimes::Mode::client);
    const struct timespec set[2] = {{1'000'000, 0}, {1'000'000, 0}};
    ASSERT_EQ(::utimensat(dir.fd(), "f", set, 0), 0);
    owed.made_at(made);
    owed.caller_set_times();
    EXPECT_TRUE(times.pay(owed, f()));
    EXPECT_EQ(stat_f().st_atim.tv_sec, 1'000'000) << "the caller's atime stays";
}

TEST_F(ClientTimesTest, WithTheServersTimesNothingIsOwed) {
    ClientTimes times(sys, ClientTimes::Mode::server);
    owed.data_changed();
    EXPECT_FALSE(times.stamping());
    EXPECT_FALSE(times.pay(owed, f()));
    EXPECT_EQ(sys.utimensat_calls, 0);
}

TEST_F(ClientTimesTest, AdaptiveStampsOnlyWhileTheServersClockIsOff) {
    ClientTimes times(sys, ClientTimes::Mode::adaptive);
    EXPECT_TRUE(times.stamping()) << "not measured yet";
    struct stat st = stat_f();
    st.st_ctim = client_now();
    EXPECT_FALSE(times.measure(st, client_now()));
    st.st_ctim.tv_sec += 300;
    EXPECT_TRUE(times.measure(st, client_now()));
}
