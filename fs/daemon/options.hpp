// Options: the command line, in the mount.fuse3 convention so that an fstab
// line works unchanged:
//
//   nfsguard [-f] [-d] [-o opt[,opt...]] BACKING MOUNTPOINT
//   BACKING  MOUNTPOINT  fuse.nfsguard  opt,opt,...  0 0
#pragma once

#include <cerrno>
#include <string>
#include <vector>

namespace nfsguard::fs {

struct Options {
    std::string backing;
    std::string mountpoint;
    bool foreground = false;
    bool debug = false;  // libfuse's request trace; implies foreground
    bool help = false;
    bool version = false;

    std::string log_level = "info";
    std::string cache_mode = "shared";
    size_t dir_fds = 256;     // bound on cached directory descriptors
    unsigned threads = 16;    // bound on request threads
    bool allow_other = true;  // every local user reaches the mount (when run as root)
    std::string fsname;       // shown in /proc/mounts; BACKING by default
    // Exclusive creates of names matching this glob use the NFS-safe link
    // protocol (ops/dotlock.hpp); empty: none do.
    std::string dotlock = "*.lock";
    // Where nfsguard keeps state that must survive it (the dot-lock journal).
    std::string state_dir = "/var/lib/nfsguard";
    bool show_silly_renames = false;  // list the NFS client's .nfsXXXX placeholders
    bool client_timestamps = true;
    bool adaptive_timestamps = false;  // ... only while the skew is measured (Filesystem::stamping)
                                       // // stamp times from this host's clock (ops/timestamps.hpp)
    // The backing guard (fs/daemon/backing_monitor.hpp).
    std::string backing_fs = "nfs";  // filesystem types to vouch for ("any": all)
    std::string sentinel;            // a file only the real export holds
    int guard_errno = ESTALE;        // what refused writes answer
    unsigned guard_interval_ms = 5000;
    // Stats (fs/stats/stats.hpp): JSON for `nfsguard stats`, and Prometheus text.
    std::string run_dir = "/run/nfsguard";
    std::string prometheus;  // path of the Prometheus text file; default in run_dir
    unsigned stats_interval_ms = 10000;
    // One host per unit (fs/ownership/): off while `ownership` is empty.
    std::string ownership;       // the unit pattern
    std::string ownership_host;  // default: the host name
    unsigned ownership_wait_ms = 2000;
    unsigned ownership_idle_s = 60;
    unsigned ownership_lease_s = 90;
    // Mount flags handed to the kernel (ro, nosuid, nodev, noexec, ...).
    std::vector<std::string> mount_flags;
};

// Parses argv into `out`. Returns an empty string, or one line saying what is
// wrong with the command line.
std::string parse_options(int argc, const char* const* argv, Options& out);

// The arguments for fuse_session_new: argv[0], -o with the mount options.
std::vector<std::string> fuse_arguments(const Options& opts, bool allow_other);

std::string usage();

}  // namespace nfsguard::fs
