#include "ops/silly_rename.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "ops/false_errors.hpp"
#include "ops/namespace_ops.hpp"
#include "temp_dir.hpp"

using namespace nfsguard::ops;
using nfsguard::test::TempDir;

namespace {
const char* kSilly = ".nfs000000000001e24000000017";  // .nfs + 16 + 8 hex digits
}

TEST(SillyRename, RecognisesTheNfsClientsPlaceholderNames) {
    EXPECT_TRUE(is_silly_rename(kSilly));
    EXPECT_FALSE(is_silly_rename(".nfs"));
    EXPECT_FALSE(is_silly_rename(".nfs00000000000000000000000g"));
    EXPECT_FALSE(is_silly_rename(".nfsguard-dotlock.host.1.2"));
    EXPECT_FALSE(is_silly_rename("1700000000.M1.host"));
}

TEST(SillyRename, RmdirWaitsForPlaceholdersTheClientRemovesAtLastClose) {
    TempDir dir;
    ASSERT_EQ(::mkdir((dir / "cur").c_str(), 0755), 0);
    dir.write(std::string("cur/") + kSilly, "");
    std::thread client([&] {  // the NFS client, at the file's last close
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ::unlink((dir / "cur/" + std::string(kSilly)).c_str());
    });
    Syscalls sys;
    FalseErrors false_errors;
    auto r = remove_directory(sys, false_errors, dir.fd(), "cur");
    client.join();
    EXPECT_TRUE(r) << r.error();
    EXPECT_FALSE(dir.exists("cur"));
}

TEST(SillyRename, RmdirOfADirectoryWithRealEntriesIsENotEmptyAtOnce) {
    TempDir dir;
    ASSERT_EQ(::mkdir((dir / "cur").c_str(), 0755), 0);
    dir.write(std::string("cur/") + kSilly, "");
    dir.write("cur/message", "");
    Syscalls sys;
    FalseErrors false_errors;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(remove_directory(sys, false_errors, dir.fd(), "cur").error(), ENOTEMPTY);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}
