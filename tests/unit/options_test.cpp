#include "fs/daemon/options.hpp"

#include <gtest/gtest.h>

#include <vector>

using nfsguard::fs::fuse_arguments;
using nfsguard::fs::Options;
using nfsguard::fs::parse_options;

namespace {

std::string parse(std::vector<const char*> args, Options& out) {
    args.insert(args.begin(), "nfsguard");
    return parse_options(static_cast<int>(args.size()), args.data(), out);
}

}  // namespace

TEST(Options, BackingAndMountpointAreTheTwoPositionalArguments) {
    Options o;
    ASSERT_EQ(parse({"/srv/nfs/mail", "/var/mail"}, o), "");
    EXPECT_EQ(o.backing, "/srv/nfs/mail");
    EXPECT_EQ(o.mountpoint, "/var/mail");
    EXPECT_FALSE(o.foreground);
    EXPECT_TRUE(o.allow_other);
}

TEST(Options, TheMountHelperFormWithOptionsAfterThePaths) {
    // mount.fuse3 runs: nfsguard SOURCE MOUNTPOINT -o OPTIONS
    Options o;
    ASSERT_EQ(
        parse({"/var/mail", "/var/mail", "-o", "rw,nosuid,nodev,log_level=debug,dir_fds=64"}, o),
        "");
    EXPECT_EQ(o.backing, "/var/mail");
    EXPECT_EQ(o.log_level, "debug");
    EXPECT_EQ(o.dir_fds, 64U);
    EXPECT_EQ(o.mount_flags, (std::vector<std::string>{"rw", "nosuid", "nodev"}));
}

TEST(Options, FstabOnlyOptionsAreIgnored) {
    Options o;
    ASSERT_EQ(
        parse({"-o", "defaults,_netdev,nofail,noauto,x-systemd.requires=network.target", "a", "b"},
              o),
        "");
    EXPECT_TRUE(o.mount_flags.empty());
}

TEST(Options, JoinedDashOAndRepeatedDashOAccumulate) {
    Options o;
    ASSERT_EQ(parse({"-oro", "-o", "threads=4", "a", "b"}, o), "");
    EXPECT_EQ(o.mount_flags, std::vector<std::string>{"ro"});
    EXPECT_EQ(o.threads, 4U);
}

TEST(Options, UnknownOptionsAndBadValuesAreOneClearLine) {
    Options o;
    EXPECT_EQ(parse({"-o", "bogus", "a", "b"}, o), "unknown option 'bogus'");
    EXPECT_NE(parse({"-o", "dir_fds=0", "a", "b"}, o).find("bad dir_fds"), std::string::npos);
    EXPECT_NE(parse({"-o", "dir_fds=12x", "a", "b"}, o).find("bad dir_fds"), std::string::npos);
    EXPECT_NE(parse({"-o", "log_level=loud", "a", "b"}, o).find("bad log_level"),
              std::string::npos);
    EXPECT_EQ(parse({"-x", "a", "b"}, o), "unknown argument '-x'");
    EXPECT_EQ(parse({"-o"}, o), "-o needs a list of options");
}

TEST(Options, ExactlyTwoPathsAreNeeded) {
    Options o;
    EXPECT_NE(parse({"a"}, o), "");
    EXPECT_NE(parse({"a", "b", "c"}, o), "");
}

TEST(Options, HelpAndVersionNeedNoPaths) {
    Options o;
    EXPECT_EQ(parse({"--help"}, o), "");
    EXPECT_TRUE(o.help);
    Options v;
    EXPECT_EQ(parse({"-V"}, v), "");
    EXPECT_TRUE(v.version);
}

TEST(Options, DotlockPatternAndStateDirectory) {
    Options o;
    ASSERT_EQ(parse({"a", "b"}, o), "");
    EXPECT_EQ(o.dotlock, "*.lock");
    EXPECT_EQ(o.state_dir, "/var/lib/nfsguard");
    ASSERT_EQ(parse({"-o", "dotlock=*.lck,state_dir=/run/ng", "a", "b"}, o), "");
    EXPECT_EQ(o.dotlock, "*.lck");
    EXPECT_EQ(o.state_dir, "/run/ng");
    ASSERT_EQ(parse({"-o", "dotlock=", "a", "b"}, o), "");
    EXPECT_EQ(o.dotlock, "") << "empty turns the protocol off";
}

TEST(Options, TheGuardDefaultsToNfsAndEstale) {
    Options o;
    ASSERT_EQ(parse({"a", "b"}, o), "");
    EXPECT_EQ(o.backing_fs, "nfs");
    EXPECT_EQ(o.guard_errno, ESTALE);
    ASSERT_EQ(parse({"-o", "backing_fs=nfs+fuse,sentinel=.ok,guard_errno=EAGAIN,guard_interval=500",
                     "a", "b"},
                    o),
              "");
    EXPECT_EQ(o.backing_fs, "nfs+fuse");
    EXPECT_EQ(o.sentinel, ".ok");
    EXPECT_EQ(o.guard_errno, EAGAIN);
    EXPECT_EQ(o.guard_interval_ms, 500U);
    EXPECT_NE(parse({"-o", "backing_fs=nsf", "a", "b"}, o).find("bad backing_fs"),
              std::string::npos);
    EXPECT_NE(parse({"-o", "guard_errno=ENOENT", "a", "b"}, o).find("bad guard_errno"),
              std::string::npos);
}

TEST(Options, DebugImpliesForeground) {
    Options o;
    ASSERT_EQ(parse({"-d", "a", "b"}, o), "");
    EXPECT_TRUE(o.foreground);
}

TEST(Options, FuseArgumentsNameTheBackingAndAllowOthers) {
    Options o;
    ASSERT_EQ(parse({"-o", "nosuid", "/srv/mail", "/var/mail"}, o), "");
    auto args = fuse_arguments(o, true);
    ASSERT_EQ(args.size(), 3U);
    EXPECT_EQ(args[1], "-o");
    EXPECT_EQ(args[2], "subtype=nfsguard,fsname=/srv/mail,allow_other,nosuid");
    EXPECT_EQ(fuse_arguments(o, false)[2], "subtype=nfsguard,fsname=/srv/mail,nosuid");
}

TEST(Options, TimestampsClientServerOrAdaptive) {
    Options o;
    ASSERT_EQ(parse({"a", "b"}, o), "");
    EXPECT_TRUE(o.client_timestamps);
    EXPECT_FALSE(o.adaptive_timestamps);
    ASSERT_EQ(parse({"-o", "timestamps=adaptive", "a", "b"}, o), "");
    EXPECT_TRUE(o.client_timestamps);
    EXPECT_TRUE(o.adaptive_timestamps);
    Options s;
    ASSERT_EQ(parse({"-o", "timestamps=server", "a", "b"}, s), "");
    EXPECT_FALSE(s.client_timestamps);
    EXPECT_FALSE(s.adaptive_timestamps);
    EXPECT_NE(parse({"-o", "timestamps=sometimes", "a", "b"}, s), "");
}
