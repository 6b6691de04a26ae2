// CallerIdentity: the identity a FUSE request is made with.
//
// The kernel tells uid, gid and pid with each request but not the caller's
// supplementary groups; libfuse reads those from /proc/PID/task/PID/status,
// a file read per request. They are cached per (pid, uid, gid) for a short
// time: a process that changes uid or gid misses the cache at once; one that
// only changes its group list (rare: setgroups without setgid) is seen with
// its old list for at most kGroupsTtl.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "ops/identity.hpp"

namespace nfsguard::fs {

class CallerIdentity {
  public:
    static constexpr std::chrono::milliseconds kGroupsTtl{1000};
    static constexpr size_t kMaxEntries = 4096;

    // `read_groups` fills the caller's groups (fuse_req_getgroups); injected
    // so the cache can be tested without FUSE.
    template <typename ReadGroups>
    ops::Identity identify(pid_t pid, uid_t uid, gid_t gid, ReadGroups&& read_groups);

  private:
    struct Entry {
        uid_t uid;
        gid_t gid;
        std::vector<gid_t> groups;
        std::chrono::steady_clock::time_point expires;
    };
    std::mutex mutex_;
    std::unordered_map<pid_t, Entry> by_pid_;
};

template <typename ReadGroups>
ops::Identity CallerIdentity::identify(pid_t pid, uid_t uid, gid_t gid, ReadGroups&& read_groups) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        auto it = by_pid_.find(pid);
        if (it != by_pid_.end() && it->second.uid == uid && it->second.gid == gid &&
            it->second.expires > now)
            return ops::Identity{uid, gid, it->second.groups};
    }
    std::vector<gid_t> groups = read_groups();
    std::lock_guard lock(mutex_);
    if (by_pid_.size() >= kMaxEntries) by_pid_.clear();
    by_pid_[pid] = Entry{uid, gid, groups, now + kGroupsTtl};
    return ops::Identity{uid, gid, std::move(groups)};
}

}  // namespace nfsguard::fs
