// Filesystem: the state one mounted nfsguard shares between its request
// threads. The op handlers in fs/op_*.cpp reach it through their request.
#pragma once

#include "cache/cache_policy.hpp"
#include "fs/caller_identity.hpp"
#include "fs/inode_table.hpp"
#include "fs/lock_owners.hpp"
#include "fs/lock_waits.hpp"
#include "ops/false_errors.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::fs {

struct Filesystem {
    Filesystem(ops::Syscalls& s, ops::UniqueFd root_fd, const struct stat& root_st,
               std::string backing_path, size_t max_dir_fds, cache::CachePolicy policy,
               bool may_switch_identity)
        : sys(s),
          false_errors(std::move(backing_path)),
          inodes(s, std::move(root_fd), root_st, max_dir_fds),
          cache(std::move(policy)),
          switch_identity(may_switch_identity) {}

    ops::Syscalls& sys;
    ops::FalseErrors false_errors;
    InodeTable inodes;
    cache::CachePolicy cache;
    CallerIdentity callers;
    LockOwners locks;
    LockWaits waits;
    const bool switch_identity;  // false when not run as root
};

}  // namespace nfsguard::fs
