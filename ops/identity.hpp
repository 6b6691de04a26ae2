// Identity: who a backing call is made for.
//
// nfsguard runs as root for many users at once. Each backing call must get
// the permission checks, and give new files the owner, that the calling user
// would get on the backing filesystem itself; on NFS with root_squash, root
// acting for a user would get nothing at all. So every request thread takes on
// the caller's fsuid, fsgid and supplementary groups before it touches the
// backing tree.
//
// The switch is per thread. glibc's setgroups() changes every thread of the
// process (POSIX semantics), so the raw system calls are used: in the kernel
// credentials belong to a task, and a task is a thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

#include "ops/result.hpp"

namespace nfsguard::ops {

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups, in the caller's order

    static Identity root() { return Identity{}; }
    bool operator==(const Identity&) const = default;
};

// True when this process may switch identities (it runs as root). Without it
// every backing call is made as the daemon's own user.
bool can_switch_identity();

// Makes the calling thread act as `who` for filesystem access. Cheap when the
// thread already acts as `who`. On failure the thread's identity is unknown
// and the next call switches from scratch.
Result<void> act_as(const Identity& who);

// The identity the calling thread acts as, as the kernel reports it.
Identity current_identity();
// Just its fsuid: the owner new objects get.
uid_t current_fsuid();

// The caller's supplementary groups through `getgroups(size, list)`, which
// answers the total count like getgroups(2) (fuse_req_getgroups and
// fuse_getgroups do): asked again with room enough when the list was too
// small. Empty when it fails (a kernel-internal request, a caller gone).
std::vector<gid_t> read_groups(const std::function<int(int, gid_t*)>& getgroups);

// Acts as `who` for the lifetime of the object, then returns to what the
// thread acted as before.
class ScopedIdentity {
  public:
    explicit ScopedIdentity(const Identity& who);
    ~ScopedIdentity();
    ScopedIdentity(const ScopedIdentity&) = delete;
    ScopedIdentity& operator=(const ScopedIdentity&) = delete;
    const Result<void>& result() const { return result_; }

  private:
    Identity previous_;
    Result<void> result_;
};

}  // namespace nfsguard::ops
