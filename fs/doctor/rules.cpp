#include "fs/doctor/rules.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

namespace nfsguard::fs::doctor {
namespace {

bool contains_word(const std::string& list, const std::string& word) {
    std::string normal = list;
    std::replace(normal.begin(), normal.end(), ',', ' ');
    std::istringstream words(normal);
    for (std::string w; words >> w;)
        if (w == word) return true;
    return false;
}

// A lock setting of Postfix's (mailbox_delivery_lock, virtual_mailbox_lock).
void check_postfix_lock(const Settings& postconf, const std::string& name, Report& report) {
    auto it = postconf.find(name);
    if (it == postconf.end()) return;
    const std::string& v = it->second;
    const std::string check = "postfix." + name;
    if (contains_word(v, "flock"))
        report.warn(check,
                    fmt::format("{} = {}: flock locks do not reach an NFS server as "
                                "other hosts' fcntl locks",
                                name, v),
                    fmt::format("postconf -e '{} = fcntl, dotlock'", name));
    else if (!contains_word(v, "fcntl") || !contains_word(v, "dotlock"))
        report.warn(check,
                    fmt::format("{} = {}: mail readers on NFS (mutt, procmail, Dovecot) lock "
                                "mboxes with fcntl and dot-locks; Postfix must take both",
                                name, v),
                    fmt::format("postconf -e '{} = fcntl, dotlock'", name));
    else
        report.ok(check, fmt::format("{} = {}", name, v));
}

}  // namespace

void check_nfs_mount(const MountEntry* nfs, const std::string& path, Report& report) {
    if (nfs == nullptr) {
        report.warn("nfs.mount", fmt::format("no NFS mount under {}", path),
                    "mount the export there (fstab) before nfsguard starts, or run doctor on "
                    "the mail path");
        return;
    }
    report.ok("nfs.mount",
              fmt::format("{} on {} ({})", nfs->source, nfs->mount_point, nfs->fstype));
    if (nfs->has("soft") || nfs->has("softerr"))
        report.fail("nfs.hard",
                    fmt::format("{} is mounted soft: a slow server turns into I/O errors, and "
                                "mail is bounced or lost half written",
                                nfs->mount_point),
                    "mount it hard (the default): drop soft from its fstab options");
    else
        report.ok("nfs.hard", "mounted hard: a slow server makes mail wait, not fail");

    const std::string vers = nfs->value("vers");
    const bool v3 = vers == "3" || (nfs->fstype == "nfs" && vers.empty());
    if (vers == "2")
        report.fail("nfs.version", "NFSv2: no files over 2 GiB, no exclusive create",
                    "mount with vers=4.2 (or vers=3)");
    else
        report.ok("nfs.version", v3 ? "NFSv3: locks go through lockd and rpc.statd on both hosts"
                                    : fmt::format("NFSv{}: locks are part of the protocol", vers));

    const std::string local = nfs->value("local_lock");
    if (nfs->has("nolock") || (!local.empty() && local != "none"))
        report.fail("nfs.locks",
                    fmt::format("{}: fcntl or flock locks stay on this host, and another host's "
                                "delivery writes into a mailbox this host has locked",
                                nfs->has("nolock") ? "nolock" : "local_lock=" + local),
                    "mount with local_lock=none (and without nolock)");
    else
        report.ok("nfs.locks", "locks are taken on the server (local_lock=none)");

    if (nfs->has("noac") || nfs->value("actimeo") == "0")
        report.warn("nfs.attribute_cache",
                    fmt::format("{}: every attribute is fetched from the server; mail gets no "
                                "safer, every stat costs a round trip",
                                nfs->has("noac") ? "noac" : "actimeo=0"),
                    "drop noac/actimeo=0; nfsguard and the mail software's own locks keep "
                    "mailboxes consistent");
    else
        report.ok("nfs.attribute_cache",
                  "attributes cached (a change by another host shows within acregmin, "
                  "acdirmin for names)");

    if (nfs->has("sync"))
        report.warn("nfs.sync",
                    "sync: every write waits for the server; Postfix and Dovecot fsync what "
                    "must be on disk",
                    "drop sync from the mount options");
    else
        report.ok("nfs.sync", "writes are sent as the NFS client sees fit, fsync waits");

    if (nfs->has("nordirplus"))
        report.warn("nfs.readdirplus",
                    "nordirplus: a listing brings no attributes, and a Maildir scan stats each "
                    "message in a round trip of its own",
                    "drop nordirplus from the mount options");
    else
        report.ok("nfs.readdirplus", "listings bring the entries' attributes (READDIRPLUS)");

    const std::string lookupcache = nfs->value("lookupcache");
    report.ok("nfs.lookupcache",
              lookupcache == "none" || lookupcache == "positive"
                  ? fmt::format("lookupcache={}: names other hosts make show at once", lookupcache)
                  : "lookupcache=all (default): a name another host made may show only "
                    "after acdirmin");
}

void check_clock_skew(std::optional<double> server_ahead, Report& report) {
    if (!server_ahead) {
        report.warn("clock.skew", "the server's clock could not be measured",
                    "run doctor as root on the mail path, with the NFS mount up");
        return;
    }
    const double s = *server_ahead;
    const std::string how = fmt::format("the server's clock is {:.3f} s {} this host's",
                                        std::fabs(s), s >= 0 ? "ahead of" : "behind");
    if (std::fabs(s) < 1)
        report.ok("clock.skew", how);
    else
        report.add(std::fabs(s) < 30 ? Level::warn : Level::fail, "clock.skew",
                   how +
                       ": Postfix resets queue file times, Dovecot warns and misjudges "
                       "dot-locks' age",
                   "run an NTP client (chrony, systemd-timesyncd) on both hosts");
}

void check_lock(int error, Report& report) {
    if (error == 0)
        report.ok("nfs.lock_taken", "an fcntl lock was taken on a file in the path");
    else if (error == ENOLCK)
        report.fail("nfs.lock_taken",
                    "ENOLCK: no lock manager answers (NFSv3: lockd and rpc.statd); mail "
                    "software that locks fails or goes on unlocked",
                    "start rpc-statd.service on this host and nfs-server's lockd on the server, "
                    "or mount with vers=4.2");
    else
        report.warn("nfs.lock_taken",
                    fmt::format("an fcntl lock could not be taken: {}", std::strerror(error)),
                    "check that root may write in the path");
}

void check_bare_mount_point(const std::string& path, const std::optional<BareMountPoint>& bare,
                            Report& report) {
    if (!bare) {
        report.warn("mountpoint.bare", "the mount point under the mounts could not be looked at",
                    "run doctor as root");
        return;
    }
    if ((bare->mode & (S_IWGRP | S_IWOTH)) != 0 || bare->uid != 0)
        report.warn("mountpoint.bare",
                    fmt::format("{} with nothing mounted is writable by others than root "
                                "(owner uid {}, mode {:04o}): should NFS and nfsguard both be "
                                "missing, mail lands on the local disk",
                                path, bare->uid, bare->mode & 07777),
                    fmt::format("unmount it, then chown root:root {0} && chmod 0755 {0}", path));
    else
        report.ok("mountpoint.bare", fmt::format("{} with nothing mounted is root's, mode {:04o}",
                                                 path, bare->mode & 07777));
    if (bare->entries > 0)
        report.warn("mountpoint.hidden",
                    fmt::format("{} names lie under the mount point, hidden by the mount: mail "
                                "delivered while it was not mounted?",
                                bare->entries),
                    "unmount, move them onto the NFS export, mount again");
}

void check_nfsguard(const Guard& guard, Report& report) {
    if (!guard.mounted) {
        report.fail("nfsguard.mounted",
                    "nfsguard is not mounted on the path: mail software meets NFS's false "
                    "errors, stale handles and a missing mount itself",
                    "systemctl enable --now nfsguard@<escaped path> (man nfsguard)");
    } else {
        report.ok("nfsguard.mounted", "nfsguard is mounted on the path");
        if (!guard.attached)
            report.warn("nfsguard.attached", "its stats file could not be read",
                        "check run_dir= and nfsguard's log");
        else if (*guard.attached)
            report.ok("nfsguard.attached", "the backing is attached: writes are served");
        else
            report.fail("nfsguard.attached", "the backing is NOT attached: every write is refused",
                        "journalctl -u nfsguard@... says why (NFS mount missing or stale)");
        if (guard.cache_mode == "pinned")
            report.warn("nfsguard.cache",
                        "cache=pinned: the kernel keeps names and data for 60 s; right only "
                        "when no other host changes this mail store",
                        "cache=shared where several hosts deliver or serve the same mailboxes");
        else if (!guard.cache_mode.empty())
            report.ok("nfsguard.cache", "cache=" + guard.cache_mode);
    }
    if (!guard.unit) return;
    if (guard.unit_enabled.value_or(false))
        report.ok("nfsguard.unit", *guard.unit + " is enabled");
    else
        report.warn("nfsguard.unit", *guard.unit + " is not enabled: no nfsguard after a reboot",
                    "systemctl enable " + *guard.unit);
    auto in = [](const std::vector<std::string>& units, const std::string& unit) {
        return std::find(units.begin(), units.end(), unit) != units.end();
    };
    auto before = [&](const std::string& service) { return in(guard.unit_before, service); };
    if (guard.nfs_mount_unit) {
        if (in(guard.unit_after, *guard.nfs_mount_unit))
            report.ok("nfsguard.after_nfs",
                      fmt::format("{} starts after {}", *guard.unit, *guard.nfs_mount_unit));
        else
            report.warn(
                "nfsguard.after_nfs",
                fmt::format("{} is not ordered after {}: at boot it may start on the bare "
                            "directory and refuse mail until NFS is mounted (an fstab "
                            "line with nofail is not ordered before remote-fs.target)",
                            *guard.unit, *guard.nfs_mount_unit),
                fmt::format("add x-systemd.before={} to the NFS line in /etc/fstab", *guard.unit));
    }
    for (const auto& [installed, service] :
         {std::pair{guard.postfix_installed, std::string("postfix.service")},
          std::pair{guard.postfix_installed && guard.postfix_instance_unit,
                    std::string("postfix@-.service")},
          std::pair{guard.dovecot_installed, std::string("dovecot.service")}}) {
        if (!installed) continue;
        if (before(service))
            report.ok("nfsguard.order", fmt::format("{} starts before {}", *guard.unit, service));
        else
            report.warn("nfsguard.order",
                        fmt::format("{} is not ordered before {}: at boot, mail may be "
                                    "delivered before nfsguard guards the path",
                                    *guard.unit, service),
                        fmt::format("a drop-in for {} with Before={}", *guard.unit, service));
    }
}

Settings parse_settings(const std::string& text) {
    Settings settings;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const size_t eq = line.find(" = ");
        if (eq == std::string::npos) continue;
        std::string name = line.substr(0, eq);
        name.erase(0, name.find_first_not_of(" \t"));
        settings[name] = line.substr(eq + 3);
    }
    return settings;
}

void check_postfix(const Settings& postconf, const std::string& queue_on, Report& report) {
    if (auto q = postconf.find("queue_directory"); q != postconf.end()) {
        if (queue_on == "nfs" || queue_on == "nfs4" || queue_on == "fuse.nfsguard")
            report.warn("postfix.queue_directory",
                        fmt::format("the queue {} is on NFS ({}): Postfix's NFS_README advises "
                                    "a local queue",
                                    q->second, queue_on),
                        "keep /var/spool/postfix on local disk; only mailboxes on NFS");
        else
            report.ok("postfix.queue_directory",
                      fmt::format("the queue {} is on local disk ({})", q->second, queue_on));
    }
    check_postfix_lock(postconf, "mailbox_delivery_lock", report);
    check_postfix_lock(postconf, "virtual_mailbox_lock", report);
}

void check_dovecot(const Settings& doveconf, Report& report) {
    auto value = [&](const char* name) -> std::optional<std::string> {
        auto it = doveconf.find(name);
        return it == doveconf.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    if (auto v = value("mmap_disable")) {
        if (*v == "yes")
            report.ok("dovecot.mmap_disable", "mmap_disable = yes");
        else
            report.fail("dovecot.mmap_disable",
                        "mmap_disable = " + *v +
                            ": index files mapped over NFS are read stale, and indexes break",
                        "mmap_disable = yes in dovecot.conf");
    }
    if (auto v = value("mail_fsync")) {
        if (*v == "always")
            report.ok("dovecot.mail_fsync", "mail_fsync = always");
        else
            report.warn("dovecot.mail_fsync",
                        "mail_fsync = " + *v +
                            ": on NFS Dovecot advises always, so that another host reads what "
                            "this one wrote",
                        "mail_fsync = always in dovecot.conf");
    }
    for (const char* name : {"mail_nfs_storage", "mail_nfs_index"}) {
        auto v = value(name);
        if (!v) continue;
        if (*v == "yes")
            report.ok(std::string("dovecot.") + name, std::string(name) + " = yes");
        else
            report.warn(
                std::string("dovecot.") + name,
                fmt::format("{} = {}: needed when more than one host serves a mailbox "
                            "at once",
                            name, *v),
                fmt::format("{} = yes, unless one host at a time serves each mailbox", name));
    }
    if (auto v = value("lock_method")) {
        if (*v == "flock")
            report.warn("dovecot.lock_method",
                        "lock_method = flock: not the fcntl locks other hosts' mail software "
                        "takes",
                        "lock_method = fcntl (or dotlock) in dovecot.conf");
        else
            report.ok("dovecot.lock_method", "lock_method = " + *v);
    }
}

}  // namespace nfsguard::fs::doctor
