// FUSE lookup and forget: how the kernel learns and drops nodeids.
#include <fcntl.h>
#include <unistd.h>

#include "fs/handlers/caller_syscall.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "ops/entry_name.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/silly_rename.hpp"

namespace nfsguard::fs {
namespace {

// Shared mode: the kernel opens a FIFO or connects to a socket without asking
// nfsguard and checks no mode (fs/handlers/caller_syscall.hpp): the backing decides
// here, for the access the caller's system call wants.
ops::Result<void> caller_may_use_special(Request& r, Inode& parent, const char* name,
                                         const struct stat& st) {
    if (r.fs().cache.kernel_permissions || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return {};
    const int wanted = access_asked_by(fuse_req_ctx(r.raw())->pid);
    if (wanted == 0) return {};
    auto dir = r.directory_fd(parent);
    if (!dir) return ops::Errno{dir.error()};
    return r.fs().sys.faccessat((*dir)->get(), name, wanted, AT_EACCESS | AT_SYMLINK_NOFOLLOW);
}

}  // namespace

void op_lookup(Request& r, fuse_ino_t parent_id, const char* name) {
    if (auto ok = ops::check_entry_name(name); !ok) return r.reply_error(ok);
    if (!r.fs().show_silly_renames && ops::is_silly_rename(name)) return r.reply_error(ENOENT);
    // Detached, nothing is vouched for, absence neither: a lookup that said
    // ENOENT made Postfix decide a Maildir user has no ~/.forward and
    // deliver into the mbox spool the moment the backing came back (seen in
    // the end-to-end tests). The guard's errno makes it defer instead.
    // Counted with the refused writes: a lookup is how every create starts.
    // (Not refused in the moment after an attach when writes still are.)
    if (r.detached()) return (void)r.refused_while_detached(true);
    Inode& parent = r.inode(parent_id);
    // A walk through a folder the kernel keeps no attributes of (shared
    // mode) needs its identity, not its fresh mtime: a stat asks again.
    // Not for a while after an ESTALE: the fetch is what finds a directory
    // another host replaced (the NFS client then drops the stale name and
    // the kernel's walk resolves it afresh); a cached answer handed the
    // stale directory back to every retry (the real-NFS lane's ESTALE check).
    const auto known =
        r.fs().cache.attr_timeout == 0 ? r.fs().inodes.known_at(parent, name) : std::nullopt;
    const bool walk = known && known->type == S_IFDIR;
    auto st = r.retry_stale([&]() -> ops::Result<struct stat> {
        auto dir = r.directory_fd(parent);
        if (!dir) return ops::Errno{dir.error()};
        return walk && !r.fs().estale_lately()
                   ? ops::lookup_known_directory(r.fs().sys, (*dir)->get(), name)
                   : ops::lookup_entry(r.fs().sys, (*dir)->get(), name);
    });
    if (!st) {
        if (st.error() == ENOENT && r.fs().cache.negative_timeout > 0) {
            struct fuse_entry_param e {};
            e.entry_timeout = r.fs().cache.negative_timeout;
            r.reply<fuse_reply_entry>(&e);
            return;
        }
        return r.reply_error(st);
    }
    if (auto may = caller_may_use_special(r, parent, name, *st); !may) return r.reply_error(may);
    r.reply_entry(parent, name, *st);
}

void op_forget(Request& r, fuse_ino_t id, uint64_t nlookup) {
    Filesystem& fs = r.fs();
    if (Inode* inode = fs.inodes.find(id)) fs.inodes.forget(*inode, nlookup);
    r.reply<fuse_reply_none>();
}

void op_forget_multi(Request& r, size_t count, struct fuse_forget_data* forgets) {
    Filesystem& fs = r.fs();
    for (size_t i = 0; i < count; ++i)
        if (Inode* inode = fs.inodes.find(forgets[i].ino))
            fs.inodes.forget(*inode, forgets[i].nlookup);
    r.reply<fuse_reply_none>();
}

}  // namespace nfsguard::fs
