#include "fs/daemon/session.hpp"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cache/cache_policy.hpp"
#include "fs/daemon/backing_monitor.hpp"
#include "fs/daemon/journal_sink.hpp"
#include "fs/daemon/paths.hpp"
#include "fs/daemon/service_notify.hpp"
#include "fs/daemon/watchdog.hpp"
#include "fs/filesystem.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/stats/stats.hpp"
#include "ops/identity.hpp"

namespace nfsguard::fs {
namespace {

int fail(const std::string& what) {
    // Under systemd the journal reads "<3>" as an error's priority.
    std::fprintf(stderr, "%snfsguard: %s\n", std::getenv("JOURNAL_STREAM") ? "<3>" : "",
                 what.c_str());
    return 1;
}

std::string errno_text(int err) {
    return std::strerror(err);
}

// The soft descriptor limit raised to the hard one; returns the limit now.
rlim_t raise_fd_limit() {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

// RAII for the libfuse session so every early return unmounts and cleans up.
struct SessionGuard {
    struct fuse_session* se = nullptr;
    bool handlers = false;
    bool mounted = false;
    ~SessionGuard() {
        if (!se) return;
        if (mounted) fuse_session_unmount(se);
        if (handlers) fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
    }
};

void log_to_syslog(spdlog::level::level_enum level) {
    auto logger = std::make_shared<spdlog::logger>(
        "nfsguard",
        std::make_shared<spdlog::sinks::syslog_sink_mt>("nfsguard", LOG_PID, LOG_DAEMON, true));
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

// The dot-lock journal of a mount point (an absolute path):
// STATE_DIR/journal<path with / as ->.
std::string journal_dir(const std::string& state_dir, const std::string& mountpoint) {
    if (state_dir.empty()) return {};
    ::mkdir(state_dir.c_str(), 0700);
    return state_dir + "/journal" + path_as_name(mountpoint);
}

void log_false_errors(const ops::FalseErrors& false_errors) {
    std::string counts;
    for (size_t i = 0; i < ops::kFalseErrorOps; ++i) {
        auto op = static_cast<ops::FalseErrorOp>(i);
        if (false_errors.count(op) == 0) continue;
        counts += fmt::format(" {}={}", ops::op_name(op), false_errors.count(op));
    }
    spdlog::info("false errors hidden: {}{}", false_errors.total(), counts);
}

}  // namespace

int run_session(const Options& opts) {
    auto level = spdlog::level::from_str(opts.log_level);
    if (std::getenv("JOURNAL_STREAM") != nullptr)  // run by systemd: stderr is the journal
        spdlog::set_default_logger(
            std::make_shared<spdlog::logger>("nfsguard", std::make_shared<JournalSink>()));
    else
        spdlog::set_default_logger(spdlog::stderr_color_mt("nfsguard"));
    spdlog::set_level(level);

    cache::CachePolicy policy;
    if (!cache::CachePolicy::for_mode(opts.cache_mode, policy))
        return fail("unknown cache mode '" + opts.cache_mode +
                    "' (this build knows: " + std::string(cache::CachePolicy::kModes) + ")");

    // New objects get exactly the mode the caller asked for: the kernel has
    // applied the caller's umask already.
    umask(0);

    // Directory descriptors may take a quarter of what the process may hold;
    // the rest is for the callers' open files.
    const rlim_t fd_limit = raise_fd_limit();
    const size_t dir_fds = std::min<size_t>(opts.dir_fds, std::max<rlim_t>(fd_limit / 4, 8));

    // The backing root is opened before mounting: the mount may hide it.
    int root = open(opts.backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root == -1)
        return fail("cannot open backing directory " + opts.backing + ": " + errno_text(errno));
    ops::UniqueFd root_fd(root);
    struct stat root_st {};
    if (fstat(root, &root_st) != 0)
        return fail("cannot stat backing directory " + opts.backing + ": " + errno_text(errno));

    struct stat mp_st {};
    if (stat(opts.mountpoint.c_str(), &mp_st) != 0)
        return fail("cannot use mount point " + opts.mountpoint + ": " + errno_text(errno));
    if (!S_ISDIR(mp_st.st_mode))
        return fail("mount point " + opts.mountpoint + " is not a directory");
    if (access("/dev/fuse", R_OK | W_OK) != 0)
        return fail("cannot use /dev/fuse: " + errno_text(errno) +
                    " (is the fuse module loaded, and is this run as root?)");

    const bool switch_identity = ops::can_switch_identity();
    const bool allow_other = opts.allow_other && switch_identity;
    if (opts.allow_other && !switch_identity)
        spdlog::warn("not running as root: no allow_other, every call is made as uid {}", getuid());

    // /proc/mounts and `findmnt` show the backing's absolute path; log lines
    // show paths below it. Both paths are resolved now, before mounting
    // (fs/daemon/paths.hpp).
    Options mount_opts = opts;
    const std::string backing_path = absolute_path(opts.backing);
    const std::string mountpoint_path = absolute_path(opts.mountpoint);
    if (mount_opts.fsname.empty()) mount_opts.fsname = backing_path;
    // Cached dentries skip nfsguard's lookup as the caller (cache_policy.hpp).
    if (policy.kernel_permissions) mount_opts.mount_flags.emplace_back("default_permissions");

    // Static: lock waits on threads of their own may still be blocked in a
    // backing call when the session ends.
    static ops::Syscalls sys;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    Filesystem::Config config;
    config.backing_path = backing_path == "/" ? "" : backing_path;
    config.max_dir_fds = dir_fds;
    config.cache = policy;
    config.switch_identity = switch_identity;
    config.dotlock_glob = opts.dotlock;
    config.journal_dir = journal_dir(opts.state_dir, mountpoint_path);
    config.host = host;
    config.times = !opts.client_timestamps    ? ClientTimes::Mode::server
                   : opts.adaptive_timestamps ? ClientTimes::Mode::adaptive
                                              : ClientTimes::Mode::client;
    config.guard_errno = opts.guard_errno;
    config.show_silly_renames = opts.show_silly_renames;
    Filesystem fs(sys, std::move(root_fd), root_st, std::move(config));
    ops::BackingPolicy backing_policy;
    ops::BackingPolicy::parse_types(opts.backing_fs, backing_policy.fs_types);
    backing_policy.sentinel = opts.sentinel;
    // BACKING apart from MOUNTPOINT can be opened anew when an NFS mount
    // appears on it; on one path it would lead to nfsguard itself.
    const bool same_path = mp_st.st_dev == root_st.st_dev && mp_st.st_ino == root_st.st_ino;
    BackingMonitor monitor(fs, backing_path, !same_path, backing_policy,
                           std::chrono::milliseconds(opts.guard_interval_ms),
                           std::chrono::milliseconds(std::max(2000U, opts.guard_interval_ms)));
    monitor.check_now();
    if (size_t n = fs.journal.recover(sys, fs.inodes.root().dir_fd->get(), backing_path))
        spdlog::warn("removed {} dot-lock file(s) a previous run left unfinished", n);

    std::vector<std::string> arg_strings = fuse_arguments(mount_opts, allow_other);
    std::vector<char*> argv;
    for (auto& a : arg_strings) argv.push_back(a.data());
    struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

    // Named from the paths resolved above, before mounting (fs/daemon/paths.hpp).
    const std::string stats_json = stats_path(opts.run_dir, mountpoint_path, ".json");
    const std::string stats_prom = opts.prometheus.empty()
                                       ? stats_path(opts.run_dir, mountpoint_path, ".prom")
                                       : opts.prometheus;

    SessionGuard guard;
    guard.se = fuse_session_new(&args, &op_table(), sizeof(struct fuse_lowlevel_ops), &fs);
    fuse_opt_free_args(&args);
    if (guard.se == nullptr) return fail("cannot start a FUSE session (see the line above)");
    fs.session.store(guard.se, std::memory_order_release);
    if (fuse_set_signal_handlers(guard.se) != 0) return fail("cannot set signal handlers");
    guard.handlers = true;
    if (fuse_session_mount(guard.se, opts.mountpoint.c_str()) != 0)
        return fail("cannot mount on " + opts.mountpoint + " (see the line above)");
    guard.mounted = true;

    if (fuse_daemonize(opts.foreground ? 1 : 0) != 0) return fail("cannot daemonize");
    if (!opts.foreground) log_to_syslog(level);
    monitor.start();
    ::mkdir(opts.run_dir.c_str(), 0755);
    StatsWriter stats(fs, mountpoint_path, stats_json, stats_prom,
                      std::chrono::milliseconds(opts.stats_interval_ms));
    stats.start();
    Watchdog watchdog(mountpoint_path);
    watchdog.start();
    notify_service(fmt::format("READY=1\nSTATUS=serving {} on {}, backing {}", backing_path,
                               mountpoint_path,
                               fs.attached.load() ? "attached" : "NOT attached: writes refused"));
    spdlog::info("mounted {} on {} (cache={}, dir_fds={}, threads={}, identity switching {})",
                 opts.backing, opts.mountpoint, policy.mode, dir_fds, opts.threads,
                 switch_identity ? "on" : "off");

    int rc;
    if (opts.threads <= 1) {
        rc = fuse_session_loop(guard.se);
    } else {
        struct fuse_loop_config* cfg = fuse_loop_cfg_create();
        // No clone_fd: with it each new worker opens /dev/fuse, and libfuse
        // starts workers from a worker, which may be acting as a mail user
        // (ops::act_as) at that moment: the open fails with EACCES.
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, opts.threads);
        // No idle-thread limit: with one, libfuse stops and starts workers
        // all the time (libfuse PR #1034), and under load in 3.14 that churn
        // ended in heap corruption at a worker's exit. Workers now stay.
        rc = fuse_session_loop_mt(guard.se, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    monitor.stop();
    fs.session.store(nullptr, std::memory_order_release);
    notify_service("STOPPING=1");
    log_false_errors(fs.false_errors);
    spdlog::info("ESTALE retries: {}", fs.estale_retries.load());
    spdlog::info("writes refused while the backing was not attached: {}", fs.refused_writes.load());
    if (fs.times.skew().measured())
        spdlog::info("server clock skew: {:+.3f} s", fs.times.skew().seconds());
    // libfuse's loop returns the number of the signal that ended it.
    const bool clean = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP;
    if (clean)
        spdlog::info("unmounting {}{}", opts.mountpoint,
                     rc == 0 ? "" : std::string(" on ") + strsignal(rc));
    else
        spdlog::error("unmounting {} after an error in the request loop ({})", opts.mountpoint, rc);
    return clean ? 0 : 1;
}

}  // namespace nfsguard::fs
