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
//
// "pinned" is for a host that is the only writer of its mailboxes (users
// pinned to one server): names, attributes and file data stay in the kernel
// for a minute, and nfsguard itself drops what it changes behind the kernel's
// back (cache/invalidations.hpp). So do directory listings (FOPEN_CACHE_DIR):
// a folder scanned again is listed by the kernel alone. The kernel drops a
// listing itself when a change to the directory goes through it, and checks
// the directory's mtime before it serves one; nfsguard drops the listings it
// changes behind the kernel's back. Since cached dentries skip nfsguard's lookup
// as the caller, the kernel checks permissions itself (default_permissions)
// from the attributes nfsguard gave it; the backing still checks every call
// it serves, so access is only ever narrowed. Negative entries are not kept:
// mail software asks for new unique names all the time, so they would save
// little, and a name that appears when the backing re-attaches must be seen.
#pragma once

#include <string>
#include <string_view>

namespace nfsguard::cache {

struct CachePolicy {
    std::string mode;                 // "shared" or "pinned"
    double entry_timeout = 0;         // seconds the kernel may keep a name -> inode
    double attr_timeout = 0;          // seconds the kernel may keep attributes
    double negative_timeout = 0;      // seconds the kernel may remember "no such name"
    bool keep_page_cache = false;     // whether open() may keep cached file data
    bool kernel_permissions = false;  // the kernel checks permissions (default_permissions)
    bool invalidates = false;         // nfsguard drops the kernel's copies it made stale
    bool keep_listings = false;       // whether opendir() may keep directory listings

    // The policy for a mode name; false for a mode this build does not know.
    static bool for_mode(std::string_view mode, CachePolicy& out);
    // The mode names this build knows, for messages.
    static constexpr std::string_view kModes = "shared, pinned";
};

}  // namespace nfsguard::cache
