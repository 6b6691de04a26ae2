#include "fs/daemon/session.hpp"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "cache/cache_policy.hpp"
#include "fs/daemon/backing_monitor.hpp"
#include "fs/daemon/connection.hpp"
#include "fs/daemon/handover.hpp"
#include "fs/daemon/journal_sink.hpp"
#include "fs/daemon/paths.hpp"
#include "fs/daemon/service_notify.hpp"
#include "fs/daemon/watchdog.hpp"
#include "fs/filesystem.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/kernel_cache.hpp"
#include "fs/stats/stats.hpp"
#include "fs/table_mirror.hpp"
#include "ops/identity.hpp"
#include "ops/locks.hpp"

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

// Lazily unmounts whatever is mounted on `path` (a dead FUSE mount, or one
// this process took up and libfuse did not mount). True if it is gone.
bool unmount_path(const std::string& path) {
    if (::umount2(path.c_str(), MNT_DETACH) == 0) return true;
    if (errno != EPERM) return false;
    const pid_t pid = fork();  // not root: fusermount3 may
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", "-q", path.c_str(), nullptr);
        _exit(127);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

// What the service manager's store keeps for this mount (README, design:
// "Restart without unmount").
constexpr const char* kStoredConnection = "fuse";
constexpr const char* kStoredRecord = "fuse-record";
constexpr const char* kStoredRoot = "backing-root";
constexpr const char* kStoredTables = "tables";  // fs/table_mirror.hpp
// The environment variable that passes a planned restart's handover.
constexpr const char* kHandoverVariable = "NFSGUARD_HANDOVER";

void unstore_connection() {
    for (const char* name : {kStoredConnection, kStoredRecord, kStoredRoot, kStoredTables})
        unstore_descriptor(name);
}

// Lock owners' descriptors go to the store while they hold locks: a crash
// then keeps the locks on the server (fs/lock_owners.hpp); so do open files
// whose name went away (fs/kept_nameless.hpp).
void keep_in_store(Filesystem& fs) {
    if (!service_manager_present()) return;
    fs.nameless.keep_in([](const std::string& name, int fd) { return store_descriptor(name, fd); },
                        [](const std::string& name) { unstore_descriptor(name); });
    ops::Syscalls& sys = fs.sys;
    fs.locks.keep_in(LockOwners::Keeper{
        [](const std::string& name, int fd) {
            if (store_descriptor(name, fd)) return true;
            spdlog::warn(
                "the service manager's store would not keep {}: after a crash its lock is gone, "
                "and the files it locked through answer EIO",
                name);
            return false;
        },
        [&sys](const std::string& name, int fd) {
            struct flock all {};
            all.l_type = F_UNLCK;
            all.l_whence = SEEK_SET;
            // The store's copy would hold the locks until it is closed.
            if (auto unlocked = ops::set_range_lock(sys, fd, all, false); !unlocked)
                spdlog::warn("cannot unlock {} before it leaves the store: {}", name,
                             errno_text(unlocked.error()));
            unstore_descriptor(name);
        },
        [&fs](uint64_t handle) {
            if (fs.mirror) fs.mirror->lock_not_kept(handle);
        }});
}

// One host per unit (ownership=; fs/ownership/): the kernel's caches of a
// unit go when it is let go, or taken over, in pinned mode.
std::unique_ptr<Ownership> own_units(Filesystem& fs, const Options& opts, const std::string& host) {
    Ownership::Config config{*UnitPattern::parse(opts.ownership),
                             opts.ownership_host.empty() ? host : opts.ownership_host,
                             std::chrono::milliseconds(opts.ownership_wait_ms),
                             std::chrono::seconds(opts.ownership_idle_s),
                             std::chrono::seconds(opts.ownership_lease_s),
                             fs.switch_identity};
    spdlog::info(
        "ownership: units {} below the mount, as host {} (wait {} ms, idle {} s, lease {} s)",
        opts.ownership, config.host, opts.ownership_wait_ms, opts.ownership_idle_s,
        opts.ownership_lease_s);
    return std::make_unique<Ownership>(
        fs.sys, std::move(config),
        Ownership::Hooks{[&fs] { return fs.inodes.root_fd(); },
                         [&fs] { return fs.attached.load(std::memory_order_relaxed); },
                         [&fs](const std::string& unit) {
                             if (!fs.cache.invalidates) return;
                             auto known = fs.inodes.known_under(unit);
                             cache::Invalidations stale;
                             stale.subtree_changed(std::move(known.names), std::move(known.ids));
                             drop_from_kernel(fs, stale);
                         },
                         // Kept in the store, a lease outlives a crash: the next process
                         // serves the unit on (README, design: "Restart without unmount").
                         [](const std::string& unit, int fd) {
                             if (!service_manager_present()) return;
                             const std::string name = kept_lease_name(unit);
                             if (!store_descriptor(name, fd))
                                 spdlog::warn(
                                     "the service manager's store would not keep {}: after a crash "
                                     "the unit is taken anew",
                                     name);
                         },
                         [](const std::string& unit) {
                             if (service_manager_present())
                                 unstore_descriptor(kept_lease_name(unit));
                         }});
}

// RAII for the libfuse session so every early return unmounts and cleans up.
struct SessionGuard {
    struct fuse_session* se = nullptr;
    bool handlers = false;
    bool mounted = false;        // by fuse_session_mount
    std::string taken_up_mount;  // a live mount taken up: unmounted by path
    ~SessionGuard() {
        if (!se) return;
        if (mounted) fuse_session_unmount(se);
        if (!taken_up_mount.empty()) unmount_path(taken_up_mount);
        if (mounted || !taken_up_mount.empty()) unstore_connection();
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

// What a start takes up from the process before it on this mount: nothing
// (a new mount), the connection a crashed process left in the service
// manager's store, or a planned restart's handover (everything).
struct Inherited {
    std::optional<Handover> handover;
    ops::UniqueFd fuse_fd;
    ops::UniqueFd record_fd;
    ops::UniqueFd root_fd;
    ops::UniqueFd mirror_fd;
    std::optional<ConnectionRecord> record;
    // Descriptors a crashed process kept: lock owners' (LockOwners::Keeper),
    // open files with no name left (fs/kept_nameless.hpp).
    std::map<std::string, ops::UniqueFd> kept;
    bool live() const { return fuse_fd.valid() && root_fd.valid() && record.has_value(); }
};

Inherited take_inherited() {
    Inherited in;
    auto passed = take_passed_descriptors();
    if (const char* var = std::getenv(kHandoverVariable)) {
        ops::UniqueFd fd(std::atoi(var));
        ::unsetenv(kHandoverVariable);
        if (auto h = read_handover(fd.get())) {
            for (int d : descriptors(*h)) ::fcntl(d, F_SETFD, FD_CLOEXEC);
            in.fuse_fd.reset(h->fuse_fd);
            in.record_fd.reset(h->record_fd);
            in.root_fd.reset(h->root_fd);
            in.mirror_fd.reset(h->mirror_fd);
            in.record = h->connection;
            in.handover = std::move(h);
            return in;
        }
        spdlog::error("the handover of the process before cannot be read: starting afresh");
    }
    auto take = [&](const char* name) {
        auto it = passed.find(name);
        return it == passed.end() ? ops::UniqueFd() : std::move(it->second);
    };
    in.fuse_fd = take(kStoredConnection);
    in.record_fd = take(kStoredRecord);
    in.root_fd = take(kStoredRoot);
    in.mirror_fd = take(kStoredTables);
    if (in.record_fd.valid()) in.record = read_record(in.record_fd.get());
    for (auto& [name, fd] : passed)
        if (fd.valid() && (name.starts_with("lock-") || name.starts_with("nameless-") ||
                           name.starts_with(kKeptLeasePrefix)))
            in.kept.emplace(name, std::move(fd));
    return in;
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
std::string set_up(const Options& opts, const Inherited& inherited, Setup& out) {
    Filesystem::Config& config = out.config;
    if (!cache::CachePolicy::for_mode(opts.cache_mode, config.cache))
        return "unknown cache mode '" + opts.cache_mode +
               "' (this build knows: " + std::string(cache::CachePolicy::kModes) + ")";
    // Directory descriptors may take a quarter of what the process may hold;
    // the rest is for the callers' open files.
    const rlim_t fd_limit = raise_fd_limit();
    config.max_dir_fds = std::min<size_t>(opts.dir_fds, std::max<rlim_t>(fd_limit / 4, 8));

    // A mount taken up hides the backing if it was mounted over it: its
    // root comes with the connection.
    const bool taking_up = inherited.live();
    out.root_fd.reset(taking_up ? ::fcntl(inherited.root_fd.get(), F_DUPFD_CLOEXEC, 0)
                                : open(opts.backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!out.root_fd.valid())
        return "cannot open backing directory " + opts.backing + ": " + errno_text(errno);
    if (fstat(out.root_fd.get(), &out.root_st) != 0)
        return "cannot stat backing directory " + opts.backing + ": " + errno_text(errno);
    if (taking_up) {
        // Not looked at: its requests would wait for this very process.
        out.backing_path = inherited.record->backing;
        out.mountpoint_path = inherited.record->mountpoint;
        out.same_path = out.mountpoint_path == out.backing_path;
    } else {
        struct stat mp_st {};
        int rc = stat(opts.mountpoint.c_str(), &mp_st);
        if (rc != 0 && errno == ENOTCONN && unmount_path(opts.mountpoint)) {
            spdlog::warn("cleared the dead mount a crashed nfsguard left on {}", opts.mountpoint);
            rc = stat(opts.mountpoint.c_str(), &mp_st);
        }
        if (rc != 0) return "cannot use mount point " + opts.mountpoint + ": " + errno_text(errno);
        if (!S_ISDIR(mp_st.st_mode))
            return "mount point " + opts.mountpoint + " is not a directory";
        out.same_path = mp_st.st_dev == out.root_st.st_dev && mp_st.st_ino == out.root_st.st_ino;
        out.backing_path = absolute_path(opts.backing);
        out.mountpoint_path = absolute_path(opts.mountpoint);
    }
    if (access("/dev/fuse", R_OK | W_OK) != 0)
        return "cannot use /dev/fuse: " + errno_text(errno) +
               " (is the fuse module loaded, and is this run as root?)";

    config.switch_identity = ops::can_switch_identity();
    out.allow_other = opts.allow_other && config.switch_identity;
    if (opts.allow_other && !config.switch_identity)
        spdlog::warn("not running as root: no allow_other, every call is made as uid {}", getuid());

    // /proc/mounts and `findmnt` show the backing's absolute path; log lines
    // show paths below it. Both are resolved above, before mounting
    // (fs/daemon/paths.hpp).
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

// The connection record of this mount, and the memfd the store keeps it in.
struct RecordKeeper {
    std::mutex mutex;
    ConnectionRecord record;
    ops::UniqueFd fd;
    bool save() {
        if (!fd.valid()) return false;
        if (write_record(fd.get(), record)) return true;
        spdlog::warn("cannot update the connection record: {}", errno_text(errno));
        return false;
    }
};

// A new FUSE session for `fs`, with the signal handlers that end it.
std::string new_session(const Setup& setup, Filesystem& fs, SessionGuard& guard) {
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
    return {};
}

// Mounts the session on the mount point, serves it through `connection`,
// and keeps the connection in the service manager's store; then daemonizes
// unless in the foreground. Returns an empty string, or why it failed.
std::string mount(const Setup& setup, Filesystem& fs, SessionGuard& guard, Connection& connection) {
    const std::string& mountpoint = setup.mount_opts.mountpoint;
    if (fuse_session_mount(guard.se, mountpoint.c_str()) != 0)
        return "cannot mount on " + mountpoint + " (see the line above)";
    guard.mounted = true;
    if (!connection.attach(guard.se, fuse_session_fd(guard.se)))
        return "cannot serve the FUSE connection: " + errno_text(errno);
    // The root is held O_PATH, which systemd's store refuses (it polls what
    // it keeps, and epoll answers EBADF for O_PATH): a readable descriptor
    // of the same directory is kept instead (found by the systemd lane).
    ops::UniqueFd root_to_keep(
        ::openat(fs.inodes.root_fd()->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const bool stored = store_descriptor(kStoredConnection, connection.fd()) &&
                        root_to_keep.valid() && store_descriptor(kStoredRoot, root_to_keep.get()) &&
                        (fs.mirror == nullptr || store_descriptor(kStoredTables, fs.mirror->fd()));
    if (service_manager_present() && !stored)
        spdlog::warn(
            "cannot keep the FUSE connection in the service manager's store: a crash "
            "will take the mount away");
    if (fuse_daemonize(setup.mount_opts.foreground ? 1 : 0) != 0) return "cannot daemonize";
    return {};
}

// Serves the live connection `inherited` holds, as the process before did:
// no mount, no INIT (Connection::replay_init).
std::string take_up(const Setup& setup, SessionGuard& guard, Connection& connection,
                    Inherited& inherited) {
    guard.taken_up_mount = setup.mountpoint_path;
    if (!connection.attach(guard.se, inherited.fuse_fd.release()))
        return "cannot serve the FUSE connection: " + errno_text(errno);
    return connection.replay_init(inherited.record->init_request);
}

// The path of this program's file now: after a package upgrade, the new one.
std::string own_executable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "/proc/self/exe";
    std::string path(buf, static_cast<size_t>(n));
    constexpr std::string_view deleted = " (deleted)";
    if (path.ends_with(deleted)) path.resize(path.size() - deleted.size());
    return ::access(path.c_str(), X_OK) == 0 ? path : "/proc/self/exe";
}

// Before the next process takes over: a lock wait is the one request a
// drain leaves unanswered. Without a kernel to send them again, they end
// with EINTR, and the callers wait again, as after a signal.
void end_lock_waits_unless_resent(Filesystem& fs, const ConnectionRecord& record) {
    if (Connection::kernel_resends(record.init_request)) return;
    fs.waits.interrupt_all();
    for (int i = 0; i < 200 && fs.waits.waiting() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// A planned restart, once the request loop has drained: the tables are
// handed over and this process becomes a new image of nfsguard (the file
// installed now), which takes the mount up. Returns only if that failed.
void restart_in_place(Filesystem& fs, Connection& connection, RecordKeeper& keeper, char** argv) {
    std::lock_guard lock(keeper.mutex);
    if (!keeper.fd.valid() || keeper.record.init_request.empty())
        return spdlog::error("cannot restart in place: the connection was never set up");
    end_lock_waits_unless_resent(fs, keeper.record);
    Handover h = capture(fs);
    h.fuse_fd = connection.fd();
    h.record_fd = keeper.fd.get();
    h.root_fd = fs.inodes.root_fd()->get();
    h.mirror_fd = fs.mirror ? fs.mirror->fd() : -1;
    ++keeper.record.planned_restarts;
    keeper.save();
    h.connection = keeper.record;
    ops::UniqueFd state = write_handover(h);
    std::vector<int> fds = descriptors(h);
    fds.push_back(state.get());
    for (int fd : fds) ::fcntl(fd, F_SETFD, 0);
    ::setenv(kHandoverVariable, std::to_string(state.get()).c_str(), 1);
    const std::string exe = own_executable();
    spdlog::info(
        "restarting in place ({}): {} inodes, {} open files, {} directories, {} lock "
        "owners handed over",
        exe, h.inodes.size(), h.files.size(), h.dirs.size(), h.locks.size());
    spdlog::default_logger()->flush();
    ::execv(exe.c_str(), argv);
    const int err = errno;
    ::unsetenv(kHandoverVariable);
    for (int fd : fds) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    --keeper.record.planned_restarts;
    keeper.save();
    spdlog::error("cannot restart in place: exec {}: {}; serving on", exe, errno_text(err));
}

// The stop of a service manager's restart (SIGTERM while a restart job is
// queued), once drained: the store keeps the connection, its record, the
// mirror and the lock owners' descriptors, and the next process takes them
// up as after a crash, with nothing in flight (README, design: "Restart
// without unmount"). Returns only if this is no restart, or it cannot be.
void leave_for_restart(Filesystem& fs, RecordKeeper& keeper) {
    if (fs.mirror == nullptr || !restart_queued()) return;
    std::lock_guard lock(keeper.mutex);
    if (keeper.record.init_request.empty()) return;
    end_lock_waits_unless_resent(fs, keeper.record);
    keeper.record.left_drained = true;
    if (!keeper.save()) return;
    spdlog::info(
        "the service manager restarts nfsguard: leaving the mount on {} to the next process "
        "({} inodes, {} lock owners in the store)",
        keeper.record.mountpoint, fs.inodes.size() - 1, fs.locks.size() + fs.locks.kept_size());
    spdlog::default_logger()->flush();
    // No unmount, and nothing taken out of the store: what a crash leaves.
    ::_exit(0);
}

// SIGUSR1: restart in place (a planned restart; systemctl reload). SIGTERM,
// where the store could keep the mount for a restart: drain first, then
// leave it to the next process or unmount.
std::atomic<Connection*> restart_target{nullptr};
std::atomic<int> stop_signal{0};
void on_restart_signal(int) {
    if (Connection* c = restart_target.load()) c->drain();
}
void on_stop_signal(int sig) {
    stop_signal.store(sig);
    if (Connection* c = restart_target.load()) c->drain();
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

int run_session(const Options& opts, char** argv) {
    start_logging(opts);
    Inherited inherited = take_inherited();
    if (inherited.fuse_fd.valid() && !inherited.handover &&
        !(inherited.live() && (inherited.record->left_drained ||
                               Connection::kernel_resends(inherited.record->init_request)))) {
        // The requests the crashed process had read would wait for ever:
        // the connection is given up (its callers get ENOTCONN) and the
        // mount made anew, as before there was a store.
        spdlog::warn(
            "the FUSE connection a crashed nfsguard left cannot be taken up ({}): "
            "mounting anew",
            inherited.live() ? "this kernel cannot send its requests again"
                             : "it was never set up");
        unmount_path(opts.mountpoint);
        unstore_connection();
        // The locks it kept go too: its callers are gone with the connection,
        // and kept in the store they would stay held for good (found by the
        // systemd lane, where a mailbox stayed locked after the new mount).
        for (const auto& [name, fd] : inherited.kept) unstore_descriptor(name);
        inherited = Inherited{};
    }
    const bool taking_up = inherited.live();
    Setup setup;
    if (auto failed = set_up(opts, inherited, setup); !failed.empty()) return fail(failed);
    // New objects get exactly the mode the caller asked for: the kernel has
    // applied the caller's umask already.
    umask(0);

    // The node ids and file handles the kernel holds, mirrored for the
    // process after a crash: only a service manager's store keeps them.
    std::unique_ptr<TableMirror> mirror;
    if (taking_up && inherited.mirror_fd.valid())
        mirror = TableMirror::open(std::move(inherited.mirror_fd));
    else if (!taking_up && service_manager_present())
        mirror = TableMirror::create();
    // Without a handover, the tables are the mirror's: after a crash, or
    // after a process that left the mount drained (leave_for_restart).
    const bool from_mirror = taking_up && !inherited.handover;
    const bool crashed = from_mirror && !inherited.record->left_drained;
    const bool mirrored = from_mirror && mirror && !mirror->overflowed();
    RecordKeeper keeper;
    if (taking_up) {
        keeper.record = *inherited.record;
        keeper.fd = std::move(inherited.record_fd);
        // The ids the kernel holds are the process before's: taken up from
        // the mirror, or else none may be taken for this one's
        // (fs/id_table.hpp).
        if (from_mirror && !mirrored)
            keeper.record.epoch = std::max<uint32_t>(keeper.record.epoch + 1, 1);
        if (crashed) ++keeper.record.crashes;
        if (keeper.record.left_drained) ++keeper.record.planned_restarts;
        keeper.record.left_drained = false;
        keeper.save();
    } else {
        keeper.record.mountpoint = setup.mountpoint_path;
        keeper.record.backing = setup.backing_path;
    }
    setup.config.epoch = keeper.record.epoch;

    // Static: lock waits on threads of their own may still be blocked in a
    // backing call when the session ends.
    static ops::Syscalls sys;
    Filesystem fs(sys, std::move(setup.root_fd), setup.root_st, setup.config);
    fs.restarts.planned = keeper.record.planned_restarts;
    fs.restarts.crashes = keeper.record.crashes;
    if (!opts.ownership.empty()) fs.ownership = own_units(fs, opts, setup.config.host);
    if (inherited.handover) {
        fs.restarts.lost = restore(fs, *inherited.handover);
    } else if (mirrored) {
        fs.restarts.lost = take_up_mirror(fs, mirror->read(keeper.record.epoch), inherited.kept);
    }
    for (auto& [name, fd] : inherited.kept) {
        if (!fd.valid() || (from_mirror && fs.locks.adopt_kept(name, std::move(fd)))) continue;
        unstore_descriptor(name);  // of a connection given up: its locks go
        fd.reset();
    }
    fs.restarts.locks_kept = fs.locks.size() + fs.locks.kept_size();
    if (mirror) fs.mirror_to(mirror.get());
    keep_in_store(fs);
    // BACKING apart from MOUNTPOINT can be opened anew when an NFS mount
    // appears on it; on one path it would lead to nfsguard itself.
    ops::BackingPolicy backing_policy;
    ops::BackingPolicy::parse_types(opts.backing_fs, backing_policy.fs_types);
    backing_policy.sentinel = opts.sentinel;
    BackingMonitor monitor(fs, setup.backing_path, !setup.same_path, backing_policy,
                           std::chrono::milliseconds(opts.guard_interval_ms),
                           std::chrono::milliseconds(std::max(2000U, opts.guard_interval_ms)));
    monitor.check_now();  // before mounting: no write is served unguarded
    // Its first heartbeat before the first request: the leases taken up
    // stand at once.
    if (fs.ownership) fs.ownership->start();
    if (size_t n = fs.journal.recover(sys, fs.inodes.root_fd()->get(), setup.backing_path))
        spdlog::warn("removed {} dot-lock file(s) a previous run left unfinished", n);

    // The first start keeps the INIT the kernel sends: every later process
    // on this mount takes it up from the store or the handover.
    Connection connection(fs.restarts.resent, [&keeper](const std::vector<char>& init) {
        std::lock_guard lock(keeper.mutex);
        keeper.record.init_request = init;
        keeper.fd = new_record_file(keeper.record);
        if (service_manager_present() &&
            !(keeper.fd.valid() && store_descriptor(kStoredRecord, keeper.fd.get())))
            spdlog::warn("cannot keep the connection record in the service manager's store");
    });
    SessionGuard guard;
    if (auto failed = new_session(setup, fs, guard); !failed.empty()) return fail(failed);
    if (auto failed = taking_up ? take_up(setup, guard, connection, inherited)
                                : mount(setup, fs, guard, connection);
        !failed.empty())
        return fail(failed);
    connection.record_replies_in(mirror.get());
    if (taking_up && Connection::kernel_resends(keeper.record.init_request) &&
        !connection.ask_resend())
        spdlog::warn("the kernel would not send the requests in flight again: {}",
                     errno_text(errno));
    restart_target.store(&connection);
    struct sigaction restart_action {};
    restart_action.sa_handler = on_restart_signal;
    restart_action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &restart_action, nullptr);
    if (mirror && service_manager_present()) {
        struct sigaction stop_action = restart_action;
        stop_action.sa_handler = on_stop_signal;
        sigaction(SIGTERM, &stop_action, nullptr);
    }

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
    if (inherited.handover)
        spdlog::info(
            "restarted in place on {} (planned restart {}): {} inodes, {} open files, {} "
            "lock owners taken up, {} lost",
            setup.mountpoint_path, fs.restarts.planned, fs.inodes.size() - 1,
            inherited.handover->files.size(), fs.restarts.locks_kept, fs.restarts.lost);
    else if (crashed)
        spdlog::warn(
            "took up the mount on {} after a crash of the process before (crash {}): "
            "{} inodes, {} lock owners taken up, {} lost{}",
            setup.mountpoint_path, fs.restarts.crashes, fs.inodes.size() - 1,
            fs.restarts.locks_kept, fs.restarts.lost,
            mirrored ? "" : "; no mirror: what it had open is answered ESTALE");
    else if (taking_up)
        spdlog::info(
            "took up the mount on {} the process before left (planned restart {}): {} "
            "inodes, {} lock owners taken up, {} lost",
            setup.mountpoint_path, fs.restarts.planned, fs.inodes.size() - 1,
            fs.restarts.locks_kept, fs.restarts.lost);
    spdlog::info("mounted {} on {} (cache={}, dir_fds={}, threads={}, identity switching {})",
                 opts.backing, opts.mountpoint, fs.cache.mode, setup.config.max_dir_fds,
                 opts.threads, fs.switch_identity ? "on" : "off");

    int rc = 0;
    for (;;) {
        rc = serve(guard.se, opts.threads);
        if (!connection.draining()) break;
        if (const int sig = stop_signal.load(); sig != 0) {
            leave_for_restart(fs, keeper);  // returns if the unit stops
            rc = sig;
            break;
        }
        notify_service("RELOADING=1\nSTATUS=restarting in place");
        restart_in_place(fs, connection, keeper, argv);  // returns only if it failed
        connection.undrain();
        fuse_session_reset(guard.se);
        notify_service("READY=1");
    }
    restart_target.store(nullptr);
    monitor.stop();
    if (fs.ownership) fs.ownership->stop();
    fs.session.store(nullptr, std::memory_order_release);
    notify_service("STOPPING=1");
    return finish(fs, opts.mountpoint, rc);
}

}  // namespace nfsguard::fs
