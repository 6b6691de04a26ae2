// The rules of `nfsguard doctor`: what the Dovecot and Postfix NFS documents
// and the NFS client's behaviour make worth checking (README, "nfsguard
// doctor"). Each takes what was gathered (fs/doctor/doctor.cpp) and adds
// its findings; none touches the system, so each is tested from fixtures.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fs/doctor/findings.hpp"
#include "fs/doctor/mount_table.hpp"

namespace nfsguard::fs::doctor {

// The NFS mount mail lands on (null: none found under the path): hard,
// the version and where locks are kept, and what costs speed for nothing
// (noac, sync, nordirplus).
void check_nfs_mount(const MountEntry* nfs, const std::string& path, Report& report);

// The server's clock against this host's, in seconds (server ahead
// positive); nullopt when it could not be measured.
void check_clock_skew(std::optional<double> server_ahead, Report& report);

// An fcntl lock taken on a file in the path: 0, or the errno it failed with.
void check_lock(int error, Report& report);

// The mount point with nothing mounted on it (seen in a mount namespace of
// its own): what mail would meet if NFS were missing and nfsguard too.
struct BareMountPoint {
    mode_t mode = 0;
    uid_t uid = 0;
    size_t entries = 0;  // names in it, hidden while mounted
};
void check_bare_mount_point(const std::string& path, const std::optional<BareMountPoint>& bare,
                            Report& report);

// nfsguard on the path.
struct Guard {
    bool mounted = false;
    std::optional<bool> attached;  // from its stats file; nullopt: none read
    std::string cache_mode;        // "shared", "pinned"; empty: not known
    // Its systemd unit, when there is a systemd: whether enabled, and what
    // it is ordered before and after.
    std::optional<std::string> unit;
    std::optional<bool> unit_enabled;
    std::vector<std::string> unit_before;
    std::vector<std::string> unit_after;
    // The mount unit of the NFS mount below nfsguard, when there is one.
    std::optional<std::string> nfs_mount_unit;
    bool postfix_installed = false;
    // Debian's Postfix runs in postfix@-.service, which starts before
    // postfix.service (a oneshot that only groups the instances).
    bool postfix_instance_unit = false;
    bool dovecot_installed = false;
};
void check_nfsguard(const Guard& guard, Report& report);

// Settings as `postconf NAME...` and `doveconf NAME...` print them:
// "name = value" lines.
using Settings = std::map<std::string, std::string>;
Settings parse_settings(const std::string& text);

// Postfix: `queue_on` is the filesystem type the queue directory is on.
void check_postfix(const Settings& postconf, const std::string& queue_on, Report& report);
void check_dovecot(const Settings& doveconf, Report& report);

}  // namespace nfsguard::fs::doctor
