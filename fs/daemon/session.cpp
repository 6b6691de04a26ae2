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

// Everything a mount needs, checked and resolved before anything is mounted.
struct Setup {
    ops::UniqueFd root_fd;  // opened before mounting: the mount may hide it
    struct stat root_st {};
    std::string backing_path;     // absolute: /proc/mounts shows it
    std::string mountpoint_path;  // absolute: names the stats files
    bool same_path = false;       // mounted over the backing itself
    bool allow_other = false;
    Options mount_opts;  // what the kernel is told (fsname, default_permissions)
    Filesystem::Config config;
};

void start_logging(const Options& opts) {
    if (std::getenv("JOURNAL_STREAM") != nullptr)  // run by systemd: stderr is the journal
        spdlog::set_default_logger(
            std::make_shared<spdlog::logger>("nfsguard", std::make_shared<JournalSink>()));
    else
        spdlog::set_default_logger(spdlog::stderr_color_mt("nfsguard"));
    spdlog::set_level(spdlog::level::from_str(opts.log_level));
}

// Checks the command line against the system and fills `out`. Returns an
// empty string, or the one line that says why nfsguard cannot start.
std::string set_up(const Options& opts, Setup& out) {
    Filesystem::Config& config = out.config;
    if (!cache::CachePolicy::for_mode(opts.cache_mode, config.cache))
        return "unknown cache mode '" + opts.cache_mode +
               "' (this build knows: " + std::string(cache::CachePolicy::kModes) + ")";
    // Directory descriptors may take a quarter of what the process may hold;
    // the rest is for the callers' open files.
    const rlim_t fd_limit = raise_fd_limit();
    config.max_dir_fds = std::min<size_t>(opts.dir_fds, std::max<rlim_t>(fd_limit / 4, 8));

    out.root_fd.reset(open(opts.backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!out.root_fd.valid())
        return "cannot open backing directory " + opts.backing + ": " + errno_text(errno);
    if (fstat(out.root_fd.get(), &out.root_st) != 0)
        return "cannot stat backing directory " + opts.backing + ": " + errno_text(errno);
    struct stat mp_st {};
    if (stat(opts.mountpoint.c_str(), &mp_st) != 0)
        return "cannot use mount point " + opts.mountpoint + ": " + errno_text(errno);
    if (!S_ISDIR(mp_st.st_mode)) return "mount point " + opts.mountpoint + " is not a directory";
    if (access("/dev/fuse", R_OK | W_OK) != 0)
        return "cannot use /dev/fuse: " + errno_text(errno) +
               " (is the fuse module loaded, and is this run as root?)";
    out.same_path = mp_st.st_dev == out.root_st.st_dev && mp_st.st_ino == out.root_st.st_ino;

    config.switch_identity = ops::can_switch_identity();
    out.allow_other = opts.allow_other && config.switch_identity;
    if (opts.allow_other && !config.switch_identity)
        spdlog::warn("not running as root: no allow_other, every call is made as uid {}", getuid());

    // /proc/mounts and `findmnt` show the backing's absolute path; log lines
    // show paths below it. Both are resolved now, before mounting
    // (fs/daemon/paths.hpp).
    out.backing_path = absolute_path(opts.backing);
    out.mountpoint_path = absolute_path(opts.mountpoint);
    out.mount_opts = opts;
    if (out.mount_opts.fsname.empty()) out.mount_opts.fsname = out.backing_path;
    // Cached dentries skip nfsguard's lookup as the caller (cache_policy.hpp).
    if (config.cache.kernel_permissions)
        out.mount_opts.mount_flags.emplace_back("default_permissions");

    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    config.backing_path = out.backing_path == "/" ? "" : out.backing_path;
    config.dotlock_glob = opts.dotlock;
    config.journal_dir = journal_dir(opts.state_dir, out.mountpoint_path);
    config.host = host;
    config.times = !opts.client_timestamps    ? ClientTimes::Mode::server
                   : opts.adaptive_timestamps ? ClientTimes::Mode::adaptive
                                              : ClientTimes::Mode::client;
    config.guard_errno = opts.guard_errno;
    config.show_silly_renames = opts.show_silly_renames;
    return {};
}

// A new FUSE session for `fs`, mounted on the mount point, then daemonized
// unless in the foreground. Returns an empty string, or why it failed.
// (Restart without unmount will resume a live session beside this.)
std::string mount(const Setup& setup, Filesystem& fs, SessionGuard& guard) {
    std::vector<std::string> arg_strings = fuse_arguments(setup.mount_opts, setup.allow_other);
    std::vector<char*> argv;
    for (auto& a : arg_strings) argv.push_back(a.data());
    struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    guard.se = fuse_session_new(&args, &op_table(), sizeof(struct fuse_lowlevel_ops), &fs);
    fuse_opt_free_args(&args);
    if (guard.se == nullptr) return "cannot start a FUSE session (see the line above)";
    fs.session.store(guard.se, std::memory_order_release);
    if (fuse_set_signal_handlers(guard.se) != 0) return "cannot set signal handlers";
    guard.handlers = true;
    const std::string& mountpoint = setup.mount_opts.mountpoint;
    if (fuse_session_mount(guard.se, mountpoint.c_str()) != 0)
        return "cannot mount on " + mountpoint + " (see the line above)";
    guard.mounted = true;
    if (fuse_daemonize(setup.mount_opts.foreground ? 1 : 0) != 0) return "cannot daemonize";
    return {};
}

// Serves requests until unmounted or signalled; returns libfuse's loop result.
int serve(struct fuse_session* se, unsigned threads) {
    if (threads <= 1) return fuse_session_loop(se);
    struct fuse_loop_config* cfg = fuse_loop_cfg_create();
    // No clone_fd: with it each new worker opens /dev/fuse, and libfuse
    // starts workers from a worker, which may be acting as a mail user
    // (ops::act_as) at that moment: the open fails with EACCES.
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, threads);
    // No idle-thread limit: with one, libfuse stops and starts workers
    // all the time (libfuse PR #1034), and under load in 3.14 that churn
    // ended in heap corruption at a worker's exit. Workers now stay.
    const int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return rc;
}

// The summary at the end, and the exit status for the loop's result `rc`.
int finish(const Filesystem& fs, const std::string& mountpoint, int rc) {
    log_false_errors(fs.false_errors);
    spdlog::info("ESTALE retries: {}", fs.estale_retries.load());
    spdlog::info("writes refused while the backing was not attached: {}", fs.refused_writes.load());
    if (fs.times.skew().measured())
        spdlog::info("server clock skew: {:+.3f} s", fs.times.skew().seconds());
    // libfuse's loop returns the number of the signal that ended it.
    const bool clean = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP;
    if (clean)
        spdlog::info("unmounting {}{}", mountpoint,
                     rc == 0 ? "" : std::string(" on ") + strsignal(rc));
    else
        spdlog::error("unmounting {} after an error in the request loop ({})", mountpoint, rc);
    return clean ? 0 : 1;
}

}  // namespace

int run_session(const Options& opts) {
    start_logging(opts);
    Setup setup;
    if (auto failed = set_up(opts, setup); !failed.empty()) return fail(failed);
    // New objects get exactly the mode the caller asked for: the kernel has
    // applied the caller's umask already.
    umask(0);

    // Static: lock waits on threads of their own may still be blocked in a
    // backing call when the session ends.
    static ops::Syscalls sys;
    Filesystem fs(sys, std::move(setup.root_fd), setup.root_st, setup.config);
    // BACKING apart from MOUNTPOINT can be opened anew when an NFS mount
    // appears on it; on one path it would lead to nfsguard itself.
    ops::BackingPolicy backing_policy;
    ops::BackingPolicy::parse_types(opts.backing_fs, backing_policy.fs_types);
    backing_policy.sentinel = opts.sentinel;
    BackingMonitor monitor(fs, setup.backing_path, !setup.same_path, backing_policy,
                           std::chrono::milliseconds(opts.guard_interval_ms),
                           std::chrono::milliseconds(std::max(2000U, opts.guard_interval_ms)));
    monitor.check_now();  // before mounting: no write is served unguarded
    if (size_t n = fs.journal.recover(sys, fs.inodes.root_fd()->get(), setup.backing_path))
        spdlog::warn("removed {} dot-lock file(s) a previous run left unfinished", n);

    SessionGuard guard;
    if (auto failed = mount(setup, fs, guard); !failed.empty()) return fail(failed);
    if (!opts.foreground) log_to_syslog(spdlog::get_level());
    monitor.start();
    ::mkdir(opts.run_dir.c_str(), 0755);
    StatsWriter stats(
        fs, setup.mountpoint_path, stats_path(opts.run_dir, setup.mountpoint_path, ".json"),
        opts.prometheus.empty() ? stats_path(opts.run_dir, setup.mountpoint_path, ".prom")
                                : opts.prometheus,
        std::chrono::milliseconds(opts.stats_interval_ms));
    stats.start();
    Watchdog watchdog(setup.mountpoint_path);
    watchdog.start();
    notify_service(fmt::format("READY=1\nSTATUS=serving {} on {}, backing {}", setup.backing_path,
                               setup.mountpoint_path,
                               fs.attached.load() ? "attached" : "NOT attached: writes refused"));
    spdlog::info("mounted {} on {} (cache={}, dir_fds={}, threads={}, identity switching {})",
                 opts.backing, opts.mountpoint, fs.cache.mode, setup.config.max_dir_fds,
                 opts.threads, fs.switch_identity ? "on" : "off");

    const int rc = serve(guard.se, opts.threads);
    monitor.stop();
    fs.session.store(nullptr, std::memory_order_release);
    notify_service("STOPPING=1");
    return finish(fs, opts.mountpoint, rc);
}

}  // namespace nfsguard::fs
