// stamp_made: the one call that pays the times owed on a file created
// through the mount, at its first look or at its close.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "located_objects.hpp"
#include "ops/timestamps.hpp"
#include "recording_syscalls.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::RecordingSyscalls;
using nfsguard::test::TempDir;

namespace {

class StampMadeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir.write("f", "");
        // What the server stamped: far from this host's clock.
        const struct timespec server[2] = {{1'000'000, 0}, {1'000'000, 0}};
        ASSERT_EQ(::utimensat(dir.fd(), "f", server, 0), 0);
    }
    struct stat stat_f() {
        struct stat st {};
        EXPECT_EQ(::fstatat(dir.fd(), "f", &st, AT_SYMLINK_NOFOLLOW), 0);
        return st;
    }

    TempDir dir;
    RecordingSyscalls sys;
    nfsguard::test::LocatedObjects located;
    const struct timespec made { 1'700'000'000, 250'000'000 };
};

}  // namespace

TEST_F(StampMadeTest, AFileNotWrittenSinceGetsTheTimeItWasMadeForBoth) {
    auto set = stamp_made(sys, located.locate(sys, dir.fd(), "f"), made, false);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->tv_sec, made.tv_sec);
    const struct stat st = stat_f();
    EXPECT_EQ(st.st_atim.tv_sec, made.tv_sec);
    EXPECT_EQ(st.st_atim.tv_nsec, made.tv_nsec);
    EXPECT_EQ(st.st_mtim.tv_sec, made.tv_sec);
    EXPECT_EQ(st.st_mtim.tv_nsec, made.tv_nsec);
}

TEST_F(StampMadeTest, AWrittenFileKeepsAtimeAtItsMakingAndGetsMtimeNow) {
    // atime before mtime: how mutt and biff tell an mbox with new mail.
    const struct timespec now = stamp_now();
    auto set = stamp_made(sys, located.locate(sys, dir.fd(), "f"), made, true);
    ASSERT_TRUE(set);
    const struct stat st = stat_f();
    EXPECT_EQ(st.st_atim.tv_sec, made.tv_sec);
    EXPECT_EQ(st.st_atim.tv_nsec, made.tv_nsec);
    EXPECT_GE(st.st_mtim.tv_sec, now.tv_sec);
    EXPECT_LE(st.st_mtim.tv_sec, now.tv_sec + 5);
    EXPECT_EQ(st.st_mtim.tv_sec, set->tv_sec);
}

// A caller who may not set the times (not the file's owner): the owed
// stamp is left for one who may.
struct RefusingSyscalls : RecordingSyscalls {
    Result<void> utimensat(int, const char*, const struct timespec[2], int) override {
        return Errno{EPERM};
    }
};

TEST_F(StampMadeTest, ARefusalIsPassedOnAndNothingChanges) {
    RefusingSyscalls refusing;
    auto set = stamp_made(refusing, located.locate(sys, dir.fd(), "f"), made, true);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error(), EPERM);
    EXPECT_EQ(stat_f().st_mtim.tv_sec, 1'000'000);
}

// set_asked_times: a utimensat with UTIME_NOW would take the server's clock.
class EpermForExplicitTimes : public RecordingSyscalls {
  public:
    std::vector<bool> asked_now;  // per call: whether it asked for UTIME_NOW
    Result<void> utimensat(int dirfd, const char* path, const struct timespec times[2],
                           int flags) override {
        const bool now = times[0].tv_nsec == UTIME_NOW || times[1].tv_nsec == UTIME_NOW;
        asked_now.push_back(now);
        if (!now) return Errno{EPERM};  // a writer who does not own the file
        return RecordingSyscalls::utimensat(dirfd, path, times, flags);
    }
};

TEST_F(StampMadeTest, NowIsThisHostsClock) {
    const struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    const struct timespec before = stamp_now();
    ASSERT_TRUE(set_asked_times(sys, located.locate(sys, dir.fd(), "f"), times, true));
    EXPECT_GE(stat_f().st_mtim.tv_sec, before.tv_sec);
    EXPECT_LT(stat_f().st_mtim.tv_sec, before.tv_sec + 5);
}

TEST_F(StampMadeTest, AWriterWhoMayOnlyAskForNowGetsTheServersNow) {
    EpermForExplicitTimes writer;
    const struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    ASSERT_TRUE(set_asked_times(writer, located.locate(writer, dir.fd(), "f"), times, true));
    EXPECT_EQ(writer.asked_now, (std::vector<bool>{false, true}));
}

TEST_F(StampMadeTest, NowIsLeftToTheServerWithoutTheClientClock) {
    EpermForExplicitTimes writer;
    const struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    ASSERT_TRUE(set_asked_times(writer, located.locate(writer, dir.fd(), "f"), times, false));
    EXPECT_EQ(writer.asked_now, (std::vector<bool>{true}));
}
