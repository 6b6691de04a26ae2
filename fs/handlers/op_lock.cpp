// FUSE getlk, setlk, flock: locks taken through the mount reach the backing
// file, and through it the NFS server (ops/locks.hpp says how).
#include <fcntl.h>
#include <sys/file.h>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "fs/open_file.hpp"
#include "ops/locks.hpp"
#include "ops/object_ops.hpp"

namespace nfsguard::fs {
namespace {

// Opened anew from `obj`: read-write if the caller may, so that one owner
// can take read and write locks alike.
ops::Result<ops::UniqueFd> reopen_for_locks(Request& r, const ops::Located& obj) {
    ops::Result<ops::UniqueFd> fd = ops::Errno{EACCES};
    for (int mode : {O_RDWR, O_RDONLY, O_WRONLY}) {
        fd = ops::reopen(r.fs().sys, obj, mode);
        if (fd || (fd.error() != EACCES && fd.error() != EROFS)) break;
    }
    return fd;
}

// A descriptor of the owner's own for its POSIX locks, opened from the
// caller's open file (its name may be gone), else by name
// (Request::or_reopen_by_name says why).
ops::Result<ops::UniqueFd> open_lock_descriptor(Request& r, fuse_ino_t id,
                                                const struct fuse_file_info* fi) {
    return r.or_reopen_by_name(
        reopen_for_locks(r, ops::Located{r.open_file(fi).get(), S_IFREG, -1, nullptr}), id,
        [&](const ops::Located& obj) { return reopen_for_locks(r, obj); });
}

// The pid of the process that holds `found`, a lock another owner holds
// through this mount (the backing kernel reports -1 for an OFD lock). The
// holder is the owner from whose descriptor the lock does not conflict.
pid_t holder_of(Request& r, const Inode& inode, uint64_t owner, const struct flock& found) {
    if (found.l_pid > 0) return found.l_pid;
    for (const auto& other : r.fs().locks.others(inode, owner)) {
        struct flock probe = found;
        probe.l_type = F_WRLCK;
        auto seen = ops::find_conflicting_lock(r.fs().sys, other.fd->get(), probe);
        if (seen && (seen->l_type == F_UNLCK || seen->l_start != found.l_start ||
                     seen->l_len != found.l_len || seen->l_type != found.l_type))
            return other.pid;
    }
    return 0;
}

// After a crash: the descriptor the dead process kept for this owner, whose
// node id and handle only it knew (LockOwners::adopt_kept). The owner may
// ask, unlock and lock again through it; without one, the id is unknown.
ops::SharedFd kept_descriptor(Request& r, fuse_ino_t id, const struct fuse_file_info* fi) {
    ops::SharedFd kept = r.fs().locks.find_kept(id, fi->lock_owner);
    if (!kept) throw UnknownId{};
    return kept;
}

}  // namespace

void op_getlk(Request& r, fuse_ino_t id, struct fuse_file_info* fi, struct flock* lock) {
    if (r.fs().inodes.find(id) == nullptr) {
        auto found =
            ops::find_conflicting_lock(r.fs().sys, kept_descriptor(r, id, fi)->get(), *lock);
        if (!found) return r.reply_error(found);
        r.reply<fuse_reply_lock>(&*found);
        return;
    }
    Inode& inode = r.inode(id);
    // Asked through the owner's descriptor, so its own locks do not count as
    // conflicts; an owner without one has no locks and asks through its file.
    ops::SharedFd own = r.fs().locks.find(inode, fi->lock_owner);
    const int fd = own ? own->get() : r.open_file(fi).get();
    auto found = ops::find_conflicting_lock(r.fs().sys, fd, *lock);
    if (!found) return r.reply_error(found);
    if (found->l_type != F_UNLCK) found->l_pid = holder_of(r, inode, fi->lock_owner, *found);
    r.reply<fuse_reply_lock>(&*found);
}

void op_setlk(Request& r, fuse_ino_t id, struct fuse_file_info* fi, struct flock* lock, int sleep) {
    ops::Syscalls& sys = r.fs().sys;
    if (r.fs().inodes.find(id) == nullptr) {
        ops::SharedFd kept = kept_descriptor(r, id, fi);
        auto done = ops::set_range_lock(sys, kept->get(), *lock, false);
        if (done || done.error() != EAGAIN || !sleep) return r.reply_error(done);
        return r.fs().waits.start(r.hand_over(), [&sys, kept, want = *lock] {
            return ops::set_range_lock(sys, kept->get(), want, true);
        });
    }
    Inode& inode = r.inode(id);
    if (lock->l_type == F_UNLCK) {
        ops::SharedFd own = r.fs().locks.find(inode, fi->lock_owner);
        if (!own) return r.reply_ok();  // holds nothing here
        return r.reply_error(ops::set_range_lock(sys, own->get(), *lock, false));
    }
    auto fd = r.fs().locks.descriptor(inode, fi->lock_owner, fuse_req_ctx(r.raw())->pid, fi->fh,
                                      [&] { return open_lock_descriptor(r, id, fi); });
    if (!fd) return r.reply_error(fd);
    auto taken = ops::set_range_lock(sys, (*fd)->get(), *lock, false);
    if (taken || taken.error() != EAGAIN || !sleep) return r.reply_error(taken);
    r.fs().waits.start(r.hand_over(), [&sys, fd = *fd, want = *lock] {
        return ops::set_range_lock(sys, fd->get(), want, true);
    });
}

void op_flock(Request& r, fuse_ino_t, struct fuse_file_info* fi, int operation) {
    ops::Syscalls& sys = r.fs().sys;
    ops::SharedFd fd = r.open_file(fi).fd;
    auto taken = ops::set_file_lock(sys, fd->get(), operation | LOCK_NB);
    if (taken || taken.error() != EWOULDBLOCK || (operation & LOCK_NB) || (operation & LOCK_UN))
        return r.reply_error(taken);
    r.fs().waits.start(r.hand_over(), [&sys, fd, operation] {
        return ops::set_file_lock(sys, fd->get(), operation);
    });
}

}  // namespace nfsguard::fs
