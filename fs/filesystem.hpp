// Filesystem: the state one mounted nfsguard shares between its request
// threads. The handlers in fs/handlers/ reach it through their request.
#pragma once

#include <fnmatch.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cache/cache_policy.hpp"
#include "fs/caller_identity.hpp"
#include "fs/client_times.hpp"
#include "fs/inode_table.hpp"
#include "fs/kept_nameless.hpp"
#include "fs/lock_owners.hpp"
#include "fs/lock_waits.hpp"
#include "fs/once_a_while.hpp"
#include "fs/open_file.hpp"
#include "fs/ownership/ownership.hpp"
#include "fs/stats/request_stats.hpp"
#include "ops/dotlock.hpp"
#include "ops/false_errors.hpp"
#include "ops/syscalls.hpp"

struct fuse_session;

namespace nfsguard::fs {

struct Filesystem {
    // What a mount is made of, besides the backing root (the daemon fills it
    // from the command line: fs/daemon/session.cpp).
    struct Config {
        std::string backing_path;  // absolute; "" for "/" (cut from log lines)
        size_t max_dir_fds = 256;
        cache::CachePolicy cache;
        bool switch_identity = true;  // false when not run as root
        std::string dotlock_glob;     // empty: no dot-lock protocol
        std::string journal_dir;      // empty: no dot-lock journal
        std::string host;
        ClientTimes::Mode times = ClientTimes::Mode::client;
        uint32_t epoch = 1;  // of node ids and handles (fs/id_table.hpp)
        int guard_errno = ESTALE;
        bool show_silly_renames = false;
    };

    Filesystem(ops::Syscalls& s, ops::UniqueFd root_fd, const struct stat& root_st, Config config)
        : sys(s),
          inodes(s, std::move(root_fd), root_st, config.max_dir_fds, config.epoch),
          files(config.epoch),
          dirs(config.epoch),
          cache(config.cache),
          switch_identity(config.switch_identity),
          show_silly_renames(config.show_silly_renames),
          times(s, config.times),
          false_errors(config.backing_path),
          dotlock_pattern(config.dotlock_glob),
          journal(config.journal_dir),
          dotlocks(config.host, journal),
          guard_errno(config.guard_errno),
          root_stat(root_st) {
        // Logged by the names nfsguard knows: the kernel's path of a
        // directory another host removed reads "/x (deleted)/...".
        false_errors.name_directories_by([this](int dirfd) -> std::optional<std::string> {
            auto st = sys.fstat(dirfd);
            if (!st) return std::nullopt;
            return inodes.path_of(st->st_dev, st->st_ino);
        });
    }

    // The steady clock in ns, as the times below are kept (atomics of it).
    static int64_t steady_ns() {
        return std::chrono::steady_clock::now().time_since_epoch().count();
    }

    // --- The backing tree, and what the kernel holds of it.
    ops::Syscalls& sys;
    InodeTable inodes;
    Handles<OpenFile> files;  // behind the kernel's file handles
    Handles<OpenDir> dirs;
    // Where node ids and file handles are mirrored for the process after a
    // crash (fs/table_mirror.hpp); null: nowhere. Set by mirror_to.
    TableMirror* mirror = nullptr;
    void mirror_to(TableMirror* to) {
        inodes.mirror_to(to);
        files.mirror_to(to, TableMirror::Kind::file);
        dirs.mirror_to(to, TableMirror::Kind::dir);
        mirror = to;
    }
    KeptNameless nameless;  // open files whose name went away
    // Drops what the store keeps for those whose last open file is closed
    // (by a release, or by a request that held it past its release).
    void nameless_closed() {
        nameless.drop_closed([this](uint64_t id) {
            const Inode* inode = inodes.find(id);
            return inode != nullptr && inodes.has_open_files(*inode);
        });
    }
    const cache::CachePolicy cache;
    // Set once the FUSE session exists: the kernel caches are dropped through
    // it (fs/kernel_cache.hpp).
    std::atomic<fuse_session*> session{nullptr};
    CallerIdentity callers;
    const bool switch_identity;
    const bool show_silly_renames;  // list the NFS client's .nfsXXXX placeholders

    // --- Hardening (ops/): times, false errors, dot-locks, ESTALE.
    ClientTimes times;
    ops::FalseErrors false_errors;
    const std::string dotlock_pattern;
    ops::DotlockJournal journal;
    ops::DotlockCreator dotlocks;
    bool is_dotlock(const char* name) const {
        return !dotlock_pattern.empty() && fnmatch(dotlock_pattern.c_str(), name, 0) == 0;
    }
    std::atomic<uint64_t> estale_retries{0};
    // ESTALE comes with every request on an object another host replaced:
    // logged once a while, with a count.
    OnceAWhile estale_persists_log;
    OnceAWhile estale_gone_log;
    // When the backing last answered ESTALE (steady clock, ns). For a while
    // after, lookups of known directories fetch fresh attributes: only a
    // fetch finds a directory handle stale (ops::lookup_known_directory).
    std::atomic<int64_t> last_estale_ns{0};
    static constexpr int64_t kFreshLookupsAfterEstaleNs = 60'000'000'000;  // NFS's acdirmax
    bool estale_lately() const {
        const int64_t last = last_estale_ns.load(std::memory_order_relaxed);
        return last != 0 && steady_ns() - last < kFreshLookupsAfterEstaleNs;
    }

    // --- Locks that reach the server (op_lock.cpp).
    LockOwners locks;
    LockWaits waits;

    // --- The backing guard (fs/daemon/backing_monitor.hpp). Detached: every
    // write is refused with guard_errno, and the tree shows empty.
    std::atomic<bool> attached{true};
    // Writes stay refused until then (steady clock, ns) after an attach: a
    // delivery that looked for ~/.forward while detached (Postfix takes any
    // error there for "none") must not write into the mbox spool the moment
    // the backing is back (seen in the end-to-end tests).
    std::atomic<int64_t> writes_refused_until_ns{0};
    std::atomic<bool> detach_reason_logged{false};
    const int guard_errno;
    std::atomic<uint64_t> refused_writes{0};
    struct stat root_stat {};  // what the root looks like while detached

    // --- One host per unit (fs/ownership/): null when ownership is off.
    std::unique_ptr<Ownership> ownership;
    OnceAWhile ownership_refused_log;

    // --- Requests served, per operation (fs/stats/).
    RequestStats requests;

    // --- Restarts without unmount (fs/daemon/connection.hpp, handover.hpp),
    // counted since the mount was made.
    struct Restarts {
        uint64_t planned = 0;
        uint64_t crashes = 0;             // starts that took up the connection of a crashed run
        uint64_t locks_kept = 0;          // lock owners taken up at the last restart
        uint64_t lost = 0;                // entries of a handover that could not be taken up
        std::atomic<uint64_t> resent{0};  // requests the kernel sent again after a crash
    } restarts;
};

}  // namespace nfsguard::fs
