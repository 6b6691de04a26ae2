// Backing check: is the backing directory the one the administrator meant?
//
// When the NFS mount fails at boot, or is unmounted, or its server is gone,
// the backing path is an empty local directory (or a dead mount). Mail that
// lands there is lost to every other host and hidden once NFS is back. The
// check says whether the backing can be vouched for: its filesystem type is
// one of those allowed (by statfs; the NFS family by default) and, if asked
// for, a sentinel file that only the real export holds is there.
#pragma once

#include <string>
#include <vector>

#include "ops/syscalls.hpp"

namespace nfsguard::ops {

struct BackingPolicy {
    std::vector<long> fs_types;  // statfs f_type values allowed; empty: any
    std::string sentinel;        // a name in the backing root that must exist; empty: none

    // "nfs" (the default), "any", or a comma-free list of names and hex
    // numbers joined by '+' (e.g. "nfs+fuse"). False for an unknown name.
    static bool parse_types(const std::string& spec, std::vector<long>& out);
};

// Empty when the backing root `rootfd` can be vouched for, else why not.
std::string check_backing(Syscalls& sys, int rootfd, const BackingPolicy& policy);

}  // namespace nfsguard::ops
