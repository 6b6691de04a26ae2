// CachePolicy: how long the kernel may trust what nfsguard told it.
//
// Other NFS clients may change the same mailboxes at any moment, so the
// default ("shared") mode lets the kernel cache nothing: every path walk asks
// nfsguard, which asks the backing filesystem, and page cache is dropped when a
// file is opened (close-to-open consistency, as the NFS client gives). A
// zero entry timeout is also what keeps permission checks right: without
// default_permissions the kernel checks no directory search permission itself,
// nfsguard's lookup as the caller does it, so a cached dentry would let one
// user walk a path another user had looked up.
#pragma once

#include <string>
#include <string_view>

namespace nfsguard::cache {

struct CachePolicy {
    std::string mode;              // "shared"
    double entry_timeout = 0;      // seconds the kernel may keep a name -> inode
    double attr_timeout = 0;       // seconds the kernel may keep attributes
    double negative_timeout = 0;   // seconds the kernel may remember "no such name"
    bool keep_page_cache = false;  // whether open() may keep cached file data

    // The policy for a mode name; false for a mode this build does not know.
    static bool for_mode(std::string_view mode, CachePolicy& out);
};

}  // namespace nfsguard::cache
