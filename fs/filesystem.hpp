// Filesystem: the state one mounted nfsguard shares between its request
// threads. The op handlers in fs/op_*.cpp reach it through their request.
#pragma once

#include <fnmatch.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <mutex>
#include <string>

#include "cache/cache_policy.hpp"
#include "fs/caller_identity.hpp"
#include "fs/inode_table.hpp"
#include "fs/lock_owners.hpp"
#include "fs/lock_waits.hpp"
#include "fs/once_a_while.hpp"
#include "fs/stats/request_stats.hpp"
#include "ops/dotlock.hpp"
#include "ops/false_errors.hpp"
#include "ops/syscalls.hpp"
#include "ops/timestamps.hpp"

struct fuse_session;

namespace nfsguard::fs {

struct Filesystem {
    Filesystem(ops::Syscalls& s, ops::UniqueFd root_fd, const struct stat& root_st,
               std::string backing_path, size_t max_dir_fds, cache::CachePolicy policy,
               bool may_switch_identity, std::string dotlock_glob, std::string journal_dir,
               std::string host)
        : sys(s),
          false_errors(std::move(backing_path)),
          dotlock_pattern(std::move(dotlock_glob)),
          journal(std::move(journal_dir)),
          dotlocks(std::move(host), journal),
          inodes(s, std::move(root_fd), root_st, max_dir_fds),
          cache(std::move(policy)),
          switch_identity(may_switch_identity) {
        // Logged by the names nfsguard knows: the kernel's path of a
        // directory another host removed reads "/x (deleted)/...".
        false_errors.name_directories_by([this](int dirfd) -> std::optional<std::string> {
            auto st = sys.fstat(dirfd);
            if (!st) return std::nullopt;
            return inodes.path_of(st->st_dev, st->st_ino);
        });
    }

    ops::Syscalls& sys;
    ops::FalseErrors false_errors;
    const std::string dotlock_pattern;  // empty: no dot-lock protocol
    ops::DotlockJournal journal;
    ops::DotlockCreator dotlocks;
    InodeTable inodes;
    cache::CachePolicy cache;
    // Set once the FUSE session exists: the kernel caches are dropped through
    // it (fs/kernel_cache.hpp).
    std::atomic<fuse_session*> session{nullptr};
    CallerIdentity callers;
    std::atomic<uint64_t> estale_retries{0};
    // ESTALE comes with every request on an object another host replaced:
    // logged once a while, with a count.
    OnceAWhile estale_persists_log;
    OnceAWhile estale_gone_log;
    // The steady clock in ns, as the times below are kept (atomics of it).
    static int64_t steady_ns() {
        return std::chrono::steady_clock::now().time_since_epoch().count();
    }
    // When the backing last answered ESTALE (steady clock, ns). For a while
    // after, lookups of known directories fetch fresh attributes: only a
    // fetch finds a directory handle stale (ops::lookup_known_directory).
    std::atomic<int64_t> last_estale_ns{0};
    static constexpr int64_t kFreshLookupsAfterEstaleNs = 60'000'000'000;  // NFS's acdirmax
    bool estale_lately() const {
        const int64_t last = last_estale_ns.load(std::memory_order_relaxed);
        return last != 0 && steady_ns() - last < kFreshLookupsAfterEstaleNs;
    }
    RequestStats requests;

    // The backing guard (backing_monitor.hpp). Detached: every write is
    // refused with guard_errno, and the tree shows empty.
    std::atomic<bool> attached{true};
    // Writes stay refused until then (steady clock, ns) after an attach: a
    // delivery that looked for ~/.forward while detached (Postfix takes any
    // error there for "none") must not write into the mbox spool the moment
    // the backing is back (seen in the end-to-end tests).
    std::atomic<int64_t> writes_refused_until_ns{0};
    std::atomic<bool> detach_reason_logged{false};
    int guard_errno = ESTALE;
    std::atomic<uint64_t> refused_writes{0};
    struct stat root_stat {};  // what the root looks like while detached
    LockOwners locks;
    LockWaits waits;
    const bool switch_identity;  // false when not run as root
    bool show_silly_renames = false;
    bool client_timestamps = true;
    bool adaptive_timestamps = false;
    ops::ClockSkew skew;
    // Whether times are set from this host's clock now. Adaptive: only while
    // the server's clock is measured kAdaptiveSkewSeconds or more off (or
    // not measured yet), which spares a call per new or written file where
    // clocks agree. A quarter second: well above the measure's error (a
    // round trip and a jiffy), below what mail software notices (Postfix
    // passes over a queue file whose mtime is in the future for one scan,
    // Dovecot warns past a second).
    static constexpr double kAdaptiveSkewSeconds = 0.25;
    bool stamping() const {
        if (!client_timestamps) return false;
        if (!adaptive_timestamps || !skew.measured()) return true;
        return std::fabs(skew.seconds()) >= kAdaptiveSkewSeconds;
    }
    // One stamp of an mtime owed for a write at a time per inode (striped by
    // inode number): a close and another process's stat stamping at once
    // could land the earlier time last, and the mtime the writer saw at its
    // close would move back.
    std::array<std::mutex, 64> stamp_locks;

    bool is_dotlock(const char* name) const {
        return !dotlock_pattern.empty() && fnmatch(dotlock_pattern.c_str(), name, 0) == 0;
    }
};

}  // namespace nfsguard::fs
