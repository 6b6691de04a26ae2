#include "fs/daemon/options.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>
#include <vector>

#include "fs/ownership/unit_pattern.hpp"
#include "ops/backing_check.hpp"

namespace nfsguard::fs {
namespace {

// Mount flags the kernel takes for a FUSE mount.
constexpr std::array<std::string_view, 13> kMountFlags = {
    "ro",     "rw",    "suid", "nosuid",  "dev",   "nodev",  "exec",
    "noexec", "async", "sync", "dirsync", "atime", "noatime"};

// Options fstab and mount(8) use that mean nothing to nfsguard itself.
bool is_ignored(std::string_view opt) {
    static constexpr std::array<std::string_view, 9> kIgnored = {
        "defaults", "auto", "noauto", "user", "users", "nouser", "owner", "_netdev", "nofail"};
    if (std::find(kIgnored.begin(), kIgnored.end(), opt) != kIgnored.end()) return true;
    return opt.starts_with("x-") || opt.starts_with("comment=") || opt == "relatime" ||
           opt == "strictatime" || opt == "lazytime" || opt == "nolazytime";
}

// `value` of option `key` as a number of at least `min`; an error line if not.
template <typename T>
std::string number(std::string_view key, std::string_view value, T& out, T min, const char* what) {
    T parsed{};
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc() || end != value.data() + value.size() || parsed < min)
        return "bad " + std::string(key) + " '" + std::string(value) + "' (" + what + ")";
    out = parsed;
    return "";
}

// `value` of option `key` as one of `choices` (name, meaning); an error line
// naming them if not.
template <typename T, size_t N>
std::string choice(std::string_view key, std::string_view value,
                   const std::array<std::pair<std::string_view, T>, N>& choices, T& out) {
    for (const auto& [name, meaning] : choices) {
        if (name == value) {
            out = meaning;
            return "";
        }
    }
    std::string names;
    for (const auto& c : choices) names += (names.empty() ? "" : ", ") + std::string(c.first);
    return "bad " + std::string(key) + " '" + std::string(value) + "' (" + names + ")";
}

std::string apply_option(std::string_view opt, Options& out) {
    auto eq = opt.find('=');
    std::string_view key = opt.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : opt.substr(eq + 1);
    const bool has_value = eq != std::string_view::npos;
    if (opt.empty() || is_ignored(opt)) return "";
    if (std::find(kMountFlags.begin(), kMountFlags.end(), opt) != kMountFlags.end()) {
        out.mount_flags.emplace_back(opt);
        return "";
    }
    if (opt == "allow_other" || opt == "noallow_other") {
        out.allow_other = opt == "allow_other";
    } else if (opt == "default_permissions") {
        out.mount_flags.emplace_back(opt);
    } else if (key == "log_level" && has_value) {
        static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kLevels = {
            {{"trace", "trace"},
             {"debug", "debug"},
             {"info", "info"},
             {"warn", "warn"},
             {"error", "error"},
             {"critical", "critical"},
             {"off", "off"}}};
        std::string_view level;
        if (auto err = choice(key, value, kLevels, level); !err.empty()) return err;
        out.log_level = level;
    } else if (key == "cache" && has_value) {
        out.cache_mode = value;
    } else if (key == "dir_fds") {
        return number<size_t>(key, value, out.dir_fds, 1, "a number, at least 1");
    } else if (key == "threads") {
        return number<unsigned>(key, value, out.threads, 1, "a number, at least 1");
    } else if (key == "fsname" && !value.empty()) {
        out.fsname = value;
    } else if (key == "dotlock" && has_value) {
        out.dotlock = value;
    } else if (key == "state_dir" && has_value) {
        out.state_dir = value;
    } else if (key == "backing_fs" && !value.empty()) {
        std::vector<long> types;
        if (!ops::BackingPolicy::parse_types(std::string(value), types))
            return "bad backing_fs '" + std::string(value) +
                   "' (nfs, fuse, ext4, xfs, btrfs, tmpfs, overlay, 0xMAGIC, joined by +; or any)";
        out.backing_fs = value;
    } else if (key == "sentinel" && has_value) {
        out.sentinel = value;
    } else if (key == "guard_errno") {
        static constexpr std::array<std::pair<std::string_view, int>, 5> kErrnos = {
            {{"ESTALE", ESTALE},
             {"EAGAIN", EAGAIN},
             {"EIO", EIO},
             {"ENOTCONN", ENOTCONN},
             {"EROFS", EROFS}}};
        return choice(key, value, kErrnos, out.guard_errno);
    } else if (key == "guard_interval") {
        return number<unsigned>(key, value, out.guard_interval_ms, 100,
                                "milliseconds, at least 100");
    } else if (key == "run_dir" && !value.empty()) {
        out.run_dir = value;
    } else if (key == "prometheus" && !value.empty()) {
        out.prometheus = value;
    } else if (key == "stats_interval") {
        return number<unsigned>(key, value, out.stats_interval_ms, 100,
                                "milliseconds, at least 100");
    } else if (key == "timestamps" && has_value) {
        static constexpr std::array<std::pair<std::string_view, int>, 3> kTimestamps = {
            {{"client", 0}, {"server", 1}, {"adaptive", 2}}};
        int mode = 0;
        if (auto err = choice(key, value, kTimestamps, mode); !err.empty()) return err;
        out.client_timestamps = mode != 1;
        out.adaptive_timestamps = mode == 2;
    } else if (key == "ownership" && has_value) {
        if (!value.empty() && !UnitPattern::parse(value))
            return "bad ownership '" + std::string(value) +
                   "' (path components of globs below the mount: *, home/*, */*)";
        out.ownership = value;
    } else if (key == "ownership_host" && !value.empty()) {
        out.ownership_host = value;
    } else if (key == "ownership_wait") {
        return number<unsigned>(key, value, out.ownership_wait_ms, 0, "milliseconds");
    } else if (key == "ownership_idle") {
        return number<unsigned>(key, value, out.ownership_idle_s, 1, "seconds, at least 1");
    } else if (key == "ownership_lease") {
        return number<unsigned>(key, value, out.ownership_lease_s, 1, "seconds, at least 1");
    } else if (key == "silly_renames" && has_value) {
        static constexpr std::array<std::pair<std::string_view, bool>, 2> kShown = {
            {{"show", true}, {"hide", false}}};
        return choice(key, value, kShown, out.show_silly_renames);
    } else {
        return "unknown option '" + std::string(opt) + "'";
    }
    return "";
}

std::string apply_option_list(std::string_view list, Options& out) {
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string err = apply_option(list.substr(0, comma), out);
        if (!err.empty()) return err;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return "";
}

}  // namespace

std::string parse_options(int argc, const char* const* argv, Options& out) {
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            out.help = true;
        } else if (arg == "-V" || arg == "--version") {
            out.version = true;
        } else if (arg == "-f") {
            out.foreground = true;
        } else if (arg == "-d") {
            out.debug = true;
            out.foreground = true;
        } else if (arg == "-o") {
            if (i + 1 >= argc) return "-o needs a list of options";
            if (auto err = apply_option_list(argv[++i], out); !err.empty()) return err;
        } else if (arg.starts_with("-o")) {
            if (auto err = apply_option_list(arg.substr(2), out); !err.empty()) return err;
        } else if (arg.starts_with("-") && arg.size() > 1) {
            return "unknown argument '" + std::string(arg) + "'";
        } else {
            positional.emplace_back(arg);
        }
    }
    if (out.help || out.version) return "";
    if (positional.size() != 2) return "expected BACKING and MOUNTPOINT (see --help)";
    out.backing = positional[0];
    out.mountpoint = positional[1];
    return "";
}

std::vector<std::string> fuse_arguments(const Options& opts, bool allow_other) {
    std::string o = "subtype=nfsguard,fsname=" + (opts.fsname.empty() ? opts.backing : opts.fsname);
    if (allow_other) o += ",allow_other";
    for (const auto& flag : opts.mount_flags) o += "," + flag;
    std::vector<std::string> args{"nfsguard", "-o", o};
    if (opts.debug) args.emplace_back("-d");
    return args;
}

std::string usage() {
    return R"(usage: nfsguard [-f] [-d] [-o opt[,opt...]] BACKING MOUNTPOINT
       nfsguard stats [--json] [--run-dir DIR] MOUNTPOINT
       nfsguard doctor [--json] [--run-dir DIR] [PATH]
       nfsguard owners [--json] MOUNTPOINT

Mounts a FUSE filesystem on MOUNTPOINT that passes every call through to the
directory BACKING (usually an NFS mount), hardened against NFS's failure modes.
BACKING may be the same path as MOUNTPOINT: nfsguard opens it before mounting.

  -f                  stay in the foreground (log to stderr)
  -d                  foreground, with libfuse's request trace
  -h, --help          this text
  -V, --version       the version

options (-o):
  log_level=LEVEL     trace, debug, info (default), warn, error, critical, off
  cache=MODE          what the kernel may cache. shared (default): nothing;
                      other hosts may change the same files. pinned: names,
                      attributes and pages for 60 s, dropped by nfsguard when
                      it changes them; this host must be the only writer
  dir_fds=N           directory descriptors kept open at most (default 256)
  threads=N           request threads at most (default 16)
  fsname=NAME         source shown in /proc/mounts (default BACKING)
  dotlock=GLOB        exclusive creates of matching names use the NFS-safe link
                      protocol (default *.lock; empty: none)
  backing_fs=TYPES    filesystem types BACKING may be on for writes to be
                      served: nfs (default), fuse, ext4, ..., 0xMAGIC, joined
                      by +; or any. On another (a failed NFS mount leaves a
                      local directory) every write is refused until it is.
  sentinel=NAME       also require BACKING/NAME to exist (a file only the
                      real export holds)
  guard_errno=E       what refused writes answer: ESTALE (default; Postfix
                      and Dovecot defer and retry), EAGAIN, EIO, ENOTCONN, EROFS
  guard_interval=MS   how often the backing is checked (default 5000)
  run_dir=DIR         where the stats files go (default /run/nfsguard):
                      DIR/mount<path>.json for `nfsguard stats MOUNTPOINT`
  prometheus=PATH     the Prometheus text file (default DIR/mount<path>.prom),
                      for node_exporter's textfile collector
  stats_interval=MS   how often they are written (default 10000)
  timestamps=server   leave times to the NFS server's clock (default: client,
                      set them from this host's clock; adaptive: set them only
                      while the server's clock is measured 0.25 s or more off)
  silly_renames=show  list the NFS client's .nfsXXXX placeholders of open but
                      deleted files (default: hide them)
  state_dir=DIR       nfsguard's own state, the dot-lock journal
                      (default /var/lib/nfsguard; empty: none)
  ownership=PATTERN   one host at a time serves each unit below the mount that
                      PATTERN names (*: each entry of the root; home/*;
                      */*), while it holds the unit's lease on the export
                      (BACKING/.nfsguard); a request into a unit another host
                      holds waits, then is refused with guard_errno
  ownership_host=NAME what other hosts call this one (default: the host name)
  ownership_wait=MS   how long a request waits for another host's unit
                      (default 2000)
  ownership_idle=S    a unit unused this long is let go (default 60)
  ownership_lease=S   the NFS server's lease time (default 90): units are
                      fenced once this host could not confirm its leases
                      for half of it
  noallow_other       only the mounting user may use the mount
  ro, nosuid, nodev, noexec, sync, dirsync, noatime, ...  mount flags
  _netdev, nofail, noauto, defaults, x-*   fstab options, ignored

fstab:  /var/mail  /var/mail  fuse.nfsguard  _netdev,nofail  0 0
)";
}

}  // namespace nfsguard::fs
