#include "fs/kernel_cache.hpp"

#include <spdlog/spdlog.h>

namespace nfsguard::fs {

void drop_from_kernel(Filesystem& fs, const cache::Invalidations& stale) {
    fuse_session* se = fs.session.load(std::memory_order_acquire);
    if (!fs.cache.invalidates || se == nullptr || stale.empty()) return;
    // ENOENT from the kernel means it no longer holds that name or inode:
    // nothing to drop, so the answers are not looked at.
    if (stale.everything) {
        auto names = fs.inodes.known_names();
        for (const auto& [parent, name] : names)
            (void)fuse_lowlevel_notify_inval_entry(se, parent, name.c_str(), name.size());
        auto ids = fs.inodes.known_ids();
        // Offset 0, length 0: the attributes and every cached page.
        for (uint64_t id : ids) (void)fuse_lowlevel_notify_inval_inode(se, id, 0, 0);
        spdlog::debug("kernel cache dropped: {} names, {} inodes", names.size(), ids.size());
        return;
    }
    for (const auto& e : stale.entries)
        (void)fuse_lowlevel_notify_inval_entry(se, e.parent, e.name.c_str(), e.name.size());
    // A negative offset: the attributes only, cached data stays.
    for (uint64_t id : stale.inodes) (void)fuse_lowlevel_notify_inval_inode(se, id, -1, 0);
    // A directory's cached listing is its data (FOPEN_CACHE_DIR): offset 0,
    // length 0 drops it with the attributes.
    if (fs.cache.keep_listings)
        for (uint64_t id : stale.listings) (void)fuse_lowlevel_notify_inval_inode(se, id, 0, 0);
    for (uint64_t id : stale.contents) (void)fuse_lowlevel_notify_inval_inode(se, id, 0, 0);
}

}  // namespace nfsguard::fs
