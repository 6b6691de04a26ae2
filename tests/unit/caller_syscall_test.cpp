// Which access a caller's system call wants of the FIFO or socket it names.
#include "fs/handlers/caller_syscall.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

using nfsguard::fs::access_asked;

namespace {

std::optional<uint64_t> no_memory(uint64_t) {
    return std::nullopt;
}

// A /proc/TID/syscall line for call `nr` with arguments a0..a2.
std::string line(long nr, uint64_t a0, uint64_t a1, uint64_t a2) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%ld 0x%llx 0x%llx 0x%llx 0x0 0x0 0x0 0x7ffc0000 0x7f000000", nr,
                  static_cast<unsigned long long>(a0), static_cast<unsigned long long>(a1),
                  static_cast<unsigned long long>(a2));
    return buf;
}

}  // namespace

TEST(CallerSyscallTest, AnOpenatAsksForItsAccessMode) {
    EXPECT_EQ(access_asked(line(SYS_openat, AT_FDCWD, 0x1000, O_RDONLY | O_NONBLOCK), no_memory),
              R_OK);
    EXPECT_EQ(access_asked(line(SYS_openat, AT_FDCWD, 0x1000, O_WRONLY), no_memory), W_OK);
    EXPECT_EQ(access_asked(line(SYS_openat, AT_FDCWD, 0x1000, O_RDWR | O_CLOEXEC), no_memory),
              R_OK | W_OK);
}

TEST(CallerSyscallTest, AnOPathOpenAsksForNothing) {
    EXPECT_EQ(access_asked(line(SYS_openat, AT_FDCWD, 0x1000, O_PATH | O_RDWR), no_memory), 0);
}

TEST(CallerSyscallTest, AnOpenat2IsReadInTheCallersMemory) {
    auto how = [](uint64_t address) -> std::optional<uint64_t> {
        EXPECT_EQ(address, 0x5000U);
        return O_WRONLY;
    };
    EXPECT_EQ(access_asked(line(SYS_openat2, AT_FDCWD, 0x1000, 0x5000), how), W_OK);
    EXPECT_EQ(access_asked(line(SYS_openat2, AT_FDCWD, 0x1000, 0x5000), no_memory), R_OK | W_OK)
        << "unreadable: the most that could be asked";
}

TEST(CallerSyscallTest, AConnectOrSendAsksToWrite) {
    EXPECT_EQ(access_asked(line(SYS_connect, 3, 0x1000, 110), no_memory), W_OK);
    EXPECT_EQ(access_asked(line(SYS_sendto, 3, 0x1000, 10), no_memory), W_OK);
}

TEST(CallerSyscallTest, OtherCallsAndOtherLinesAskForNothing) {
    EXPECT_EQ(access_asked(line(SYS_newfstatat, AT_FDCWD, 0x1000, 0), no_memory), 0);
    EXPECT_EQ(access_asked("running", no_memory), 0);
    EXPECT_EQ(access_asked("-1 0x7ffc0000 0x7f000000", no_memory), 0);
    EXPECT_EQ(access_asked("", no_memory), 0);
}
