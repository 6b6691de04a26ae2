// nfsguard doctor's rules from fixtures (fs/doctor/rules.hpp): mount lines
// as /proc/self/mountinfo has them, and settings as postconf and doveconf
// print them. Each rule's finding, level and fix.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "fs/doctor/findings.hpp"
#include "fs/doctor/mount_table.hpp"
#include "fs/doctor/rules.hpp"

using namespace nfsguard::fs::doctor;

namespace {

// nfsguard on top of the NFS mount point /var/mail, and a bad NFSv3 mount
// whose mount point has a space in its name.
const char* kMountinfo =
    "24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
    "40 24 0:50 / /var/mail rw,relatime shared:30 - nfs4 srv:/export/mail "
    "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,"
    "sec=sys,clientaddr=10.0.0.2,local_lock=none,addr=10.0.0.1\n"
    "41 40 0:51 / /var/mail rw,nosuid,nodev,relatime shared:31 - fuse.nfsguard /var/mail "
    "rw,user_id=0,group_id=0,default_permissions,allow_other\n"
    "42 24 0:52 / /srv/mail\\040box rw,relatime - nfs srv:/old rw,vers=3,soft,nolock,sync,"
    "noac,nordirplus\n";

Level level_of(const Report& r, const std::string& check) {
    const Finding* f = r.find(check);
    EXPECT_NE(f, nullptr) << check << " missing:\n" << r.text();
    return f ? f->level : Level::ok;
}

}  // namespace

TEST(DoctorTest, MountinfoGivesTheTopMountOfAPathAndTheOneBelowIt) {
    const auto mounts = parse_mountinfo(kMountinfo);
    ASSERT_EQ(mounts.size(), 4U);
    const MountEntry* top = mount_of(mounts, "/var/mail/alice");
    ASSERT_NE(top, nullptr);
    EXPECT_TRUE(top->is_nfsguard());
    EXPECT_EQ(top->source, "/var/mail");
    const MountEntry* nfs = parent_of(mounts, *top);
    ASSERT_NE(nfs, nullptr);
    EXPECT_TRUE(nfs->is_nfs());
    EXPECT_EQ(nfs->value("vers"), "4.2");
    EXPECT_TRUE(nfs->has("hard"));
    EXPECT_EQ(mount_of(mounts, "/var/mailbox")->mount_point, "/") << "not /var/mail";
    EXPECT_EQ(mount_of(mounts, "/srv/mail box/x")->fstype, "nfs") << "\\040 is a space";
}

TEST(DoctorTest, AGoodNfsMountPassesEveryCheck) {
    const auto mounts = parse_mountinfo(kMountinfo);
    Report r;
    check_nfs_mount(parent_of(mounts, *mount_of(mounts, "/var/mail")), "/var/mail", r);
    EXPECT_EQ(r.exit_status(), 0) << r.text();
    EXPECT_EQ(level_of(r, "nfs.hard"), Level::ok);
    EXPECT_EQ(level_of(r, "nfs.locks"), Level::ok);
}

TEST(DoctorTest, SoftNolockSyncNoacAreFoundWithTheirFixes) {
    const auto mounts = parse_mountinfo(kMountinfo);
    Report r;
    check_nfs_mount(mount_of(mounts, "/srv/mail box"), "/srv/mail box", r);
    EXPECT_EQ(level_of(r, "nfs.hard"), Level::fail);
    EXPECT_NE(r.find("nfs.hard")->fix.find("hard"), std::string::npos);
    EXPECT_EQ(level_of(r, "nfs.locks"), Level::fail);
    EXPECT_EQ(level_of(r, "nfs.sync"), Level::warn);
    EXPECT_EQ(level_of(r, "nfs.attribute_cache"), Level::warn);
    EXPECT_EQ(level_of(r, "nfs.readdirplus"), Level::warn);
    EXPECT_NE(r.find("nfs.version")->reason.find("rpc.statd"), std::string::npos);
    EXPECT_EQ(r.exit_status(), 2);
}

TEST(DoctorTest, LocksKeptOnThisHostFail) {
    auto mounts = parse_mountinfo(
        "40 24 0:50 / /var/mail rw - nfs4 srv:/m rw,vers=4.1,hard,local_lock=flock\n");
    Report r;
    check_nfs_mount(&mounts[0], "/var/mail", r);
    EXPECT_EQ(level_of(r, "nfs.locks"), Level::fail);
}

TEST(DoctorTest, NoNfsMountIsAWarning) {
    Report r;
    check_nfs_mount(nullptr, "/var/mail", r);
    EXPECT_EQ(level_of(r, "nfs.mount"), Level::warn);
    EXPECT_EQ(r.exit_status(), 1);
}

TEST(DoctorTest, ClockSkewOkWithinASecondThenWarnThenFail) {
    Report r1, r2, r3, r4;
    check_clock_skew(0.2, r1);
    check_clock_skew(-5, r2);
    check_clock_skew(120, r3);
    check_clock_skew(std::nullopt, r4);
    EXPECT_EQ(level_of(r1, "clock.skew"), Level::ok);
    EXPECT_EQ(level_of(r2, "clock.skew"), Level::warn);
    EXPECT_NE(r2.find("clock.skew")->reason.find("behind"), std::string::npos);
    EXPECT_EQ(level_of(r3, "clock.skew"), Level::fail);
    EXPECT_EQ(level_of(r4, "clock.skew"), Level::warn);
}

TEST(DoctorTest, ALockThatCannotBeTakenNamesTheLockManager) {
    Report ok, nolck;
    check_lock(0, ok);
    check_lock(ENOLCK, nolck);
    EXPECT_EQ(level_of(ok, "nfs.lock_taken"), Level::ok);
    EXPECT_EQ(level_of(nolck, "nfs.lock_taken"), Level::fail);
    EXPECT_NE(nolck.find("nfs.lock_taken")->fix.find("rpc-statd"), std::string::npos);
}

TEST(DoctorTest, AWritableOrNonEmptyBareMountPointWarns) {
    Report good, writable, hidden, unknown;
    check_bare_mount_point("/var/mail", BareMountPoint{S_IFDIR | 0755, 0, 0}, good);
    check_bare_mount_point("/var/mail", BareMountPoint{S_IFDIR | 01777, 0, 0}, writable);
    check_bare_mount_point("/var/mail", BareMountPoint{S_IFDIR | 0755, 8, 3}, hidden);
    check_bare_mount_point("/var/mail", std::nullopt, unknown);
    EXPECT_EQ(good.exit_status(), 0) << good.text();
    EXPECT_EQ(level_of(writable, "mountpoint.bare"), Level::warn);
    EXPECT_NE(writable.find("mountpoint.bare")->fix.find("chmod 0755 /var/mail"),
              std::string::npos);
    EXPECT_EQ(level_of(hidden, "mountpoint.bare"), Level::warn) << "owned by uid 8";
    EXPECT_EQ(level_of(hidden, "mountpoint.hidden"), Level::warn);
    EXPECT_EQ(level_of(unknown, "mountpoint.bare"), Level::warn);
}

TEST(DoctorTest, NfsguardMissingDetachedPinnedOrUnorderedIsFound) {
    Report missing;
    check_nfsguard(Guard{}, missing);
    EXPECT_EQ(level_of(missing, "nfsguard.mounted"), Level::fail);

    Guard g;
    g.mounted = true;
    g.attached = false;
    g.cache_mode = "pinned";
    g.unit = "nfsguard@var-mail.service";
    g.unit_enabled = false;
    g.unit_before = {"postfix.service"};
    // Found by the systemd lane: an fstab NFS line with nofail is not
    // ordered before remote-fs.target, and Debian's Postfix starts in
    // postfix@-.service, before postfix.service.
    g.unit_after = {"remote-fs.target"};
    g.nfs_mount_unit = "srv-nfs-mail.mount";
    g.postfix_installed = g.postfix_instance_unit = g.dovecot_installed = true;
    Report r;
    check_nfsguard(g, r);
    EXPECT_EQ(level_of(r, "nfsguard.attached"), Level::fail);
    EXPECT_EQ(level_of(r, "nfsguard.cache"), Level::warn);
    EXPECT_EQ(level_of(r, "nfsguard.unit"), Level::warn);
    EXPECT_EQ(level_of(r, "nfsguard.after_nfs"), Level::warn);
    std::vector<std::string> unordered;
    for (const auto& f : r.findings())
        if (f.check == "nfsguard.order" && f.level == Level::warn) unordered.push_back(f.reason);
    ASSERT_EQ(unordered.size(), 2U);
    EXPECT_NE(unordered[0].find("postfix@-.service"), std::string::npos);
    EXPECT_NE(unordered[1].find("dovecot.service"), std::string::npos);

    g.attached = true;
    g.cache_mode = "shared";
    g.unit_enabled = true;
    g.unit_before = {"postfix.service", "postfix@-.service", "dovecot.service"};
    g.unit_after = {"remote-fs.target", "srv-nfs-mail.mount"};
    Report good;
    check_nfsguard(g, good);
    EXPECT_EQ(good.exit_status(), 0) << good.text();
    EXPECT_EQ(level_of(good, "nfsguard.after_nfs"), Level::ok);
}

TEST(DoctorTest, PostfixLocksAndQueueFromPostconf) {
    const Settings s = parse_settings(
        "queue_directory = /var/spool/postfix\n"
        "mailbox_delivery_lock = fcntl, dotlock\n"
        "virtual_mailbox_lock = fcntl\n");
    EXPECT_EQ(s.at("mailbox_delivery_lock"), "fcntl, dotlock");
    Report local;
    check_postfix(s, "ext4", local);
    EXPECT_EQ(level_of(local, "postfix.queue_directory"), Level::ok);
    EXPECT_EQ(level_of(local, "postfix.mailbox_delivery_lock"), Level::ok);
    EXPECT_EQ(level_of(local, "postfix.virtual_mailbox_lock"), Level::warn);

    Report on_nfs;
    check_postfix(parse_settings("queue_directory = /var/mail/spool\n"
                                 "mailbox_delivery_lock = flock, dotlock\n"),
                  "nfs4", on_nfs);
    EXPECT_EQ(level_of(on_nfs, "postfix.queue_directory"), Level::warn);
    EXPECT_EQ(level_of(on_nfs, "postfix.mailbox_delivery_lock"), Level::warn);
    EXPECT_EQ(on_nfs.find("postfix.virtual_mailbox_lock"), nullptr) << "not asked: not judged";
}

TEST(DoctorTest, DovecotSettingsFromDoveconf) {
    Report r;
    check_dovecot(parse_settings("mmap_disable = no\n"
                                 "mail_fsync = optimized\n"
                                 "mail_nfs_storage = no\n"
                                 "lock_method = fcntl\n"),
                  r);
    EXPECT_EQ(level_of(r, "dovecot.mmap_disable"), Level::fail);
    EXPECT_EQ(level_of(r, "dovecot.mail_fsync"), Level::warn);
    EXPECT_EQ(level_of(r, "dovecot.mail_nfs_storage"), Level::warn);
    EXPECT_EQ(level_of(r, "dovecot.lock_method"), Level::ok);
    EXPECT_EQ(r.find("dovecot.mail_nfs_index"), nullptr);
    EXPECT_EQ(r.exit_status(), 2);

    Report good;
    check_dovecot(parse_settings("mmap_disable = yes\nmail_fsync = always\n"), good);
    EXPECT_EQ(good.exit_status(), 0);
}

TEST(DoctorTest, TheReportReadsAsLinesAndAsJson) {
    Report r;
    r.ok("nfs.hard", "mounted hard");
    r.fail("nfs.locks", "local_lock=all: \"locks\" stay here", "local_lock=none");
    const std::string text = r.text();
    EXPECT_NE(text.find("ok    nfs.hard"), std::string::npos) << text;
    EXPECT_NE(text.find("fail  nfs.locks"), std::string::npos) << text;
    EXPECT_NE(text.find(" -- fix: local_lock=none\n"), std::string::npos) << text;
    EXPECT_EQ(r.json("/var/mail"),
              "{\"path\":\"/var/mail\",\"findings\":["
              "{\"level\":\"ok\",\"check\":\"nfs.hard\",\"reason\":\"mounted hard\",\"fix\":\"\"},"
              "{\"level\":\"fail\",\"check\":\"nfs.locks\",\"reason\":\"local_lock=all: "
              "\\\"locks\\\" stay here\",\"fix\":\"local_lock=none\"}],\"status\":2}\n");
}
