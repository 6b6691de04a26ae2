// FUSE open, create, read, write, flush, release, fsync, fallocate, lseek,
// copy_file_range: the life of an open file.
#include <fcntl.h>

#include <chrono>
#include <optional>

#include "fs/daemon/connection.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "fs/open_file.hpp"
#include "ops/entry_name.hpp"
#include "ops/file_ops.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/object_ops.hpp"
#include "ops/timestamps.hpp"
#include "ops/verify_after_error.hpp"

namespace nfsguard::fs {
namespace {

// How long a release waits for requests still serving its handle (a read
// whose reply is on its way): longer only when the server hangs one.
constexpr std::chrono::milliseconds kOtherHoldersWait{1000};

void set_handle(Request& r, Inode& inode, struct fuse_file_info* fi, ops::UniqueFd fd) {
    auto file = std::make_unique<OpenFile>(std::move(fd));
    file->tenure = r.tenure();
    const int backing_fd = file->get();
    r.fs().inodes.opened(inode, file->fd);
    fi->fh = r.fs().files.add(std::move(file));
    if (TableMirror* mirror = r.fs().mirror) {
        // Its handle reaches it after a crash whatever its name is by then.
        auto handle = r.fs().sys.handle_of(backing_fd);
        mirror->put(TableMirror::File{fi->fh, inode.id, fi->flags, TableMirror::Kind::file,
                                      handle ? *handle : std::string()});
    }
    // Other hosts may have changed the file: drop cached pages unless the
    // cache policy says this host is the only writer (and has been since
    // the kernel cached them).
    fi->keep_cache = r.fs().cache.keep_page_cache && !r.first_since_takeover() ? 1 : 0;
}

}  // namespace

void op_open(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    const bool writes = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    if (r.refused_while_detached(writes)) return;
    Inode& inode = r.inode(id);
    auto open = [&](const ops::Located& obj) { return ops::reopen(r.fs().sys, obj, fi->flags); };
    auto fd = r.or_reopen_by_name(r.on_object(id, open), id, open);
    if (!fd) return r.reply_error(fd);
    if (fi->flags & O_TRUNC) inode.times.data_changed();  // the server stamped the truncate
    set_handle(r, inode, fi, std::move(*fd));
    if (r.reply<fuse_reply_open>(fi) != 0)
        r.fs().files.remove(fi->fh);  // the caller was interrupted: no release will come
}

void op_create(Request& r, fuse_ino_t parent_id, const char* name, mode_t mode,
               struct fuse_file_info* fi) {
    if (auto ok = ops::check_entry_name(name); !ok) return r.reply_error(ok);
    Inode& parent = r.inode(parent_id);
    std::optional<struct timespec> made_at;  // when this host's times are owed
    // Recognised if sent again after a crash (ops/verify_after_error.hpp).
    ops::ExclusiveCreate exclusive{Connection::note_making, std::nullopt, std::nullopt};
    if (auto before = Connection::started_before()) {
        exclusive.started_before = ops::CallWindow{before->at, 2, r.fs().times.skew().seconds()};
        exclusive.made_before = before->making;
    }
    const ops::ExclusiveCreate* excl = (fi->flags & O_EXCL) ? &exclusive : nullptr;
    auto created = r.retry_stale([&]() -> ops::Result<ops::OpenedObject> {
        auto dir = r.directory_fd(parent);
        if (!dir) return ops::Errno{dir.error()};
        const struct timespec before = ops::client_now();
        auto made = (fi->flags & O_EXCL) && r.fs().is_dotlock(name)
                        ? r.fs().dotlocks.create(r.fs().sys, r.fs().false_errors, (*dir)->get(),
                                                 name, fi->flags, mode, excl)
                        : ops::create_file(r.fs().sys, (*dir)->get(), name, fi->flags, mode, excl);
        // The kernel asks for a create only where its lookup found no file;
        // one that has data by now was not made here and keeps its times.
        if (made && made->st.st_size == 0 && r.fs().times.measure(made->st, before))
            made_at = ops::stamp_now();
        return made;
    });
    if (!created) return r.reply_error(created);
    struct fuse_entry_param e;
    r.fill_entry(parent, name, created->st, e, Origin::made_here);
    if (made_at) {
        // Stamped at the first look or at close (a delivery writes its file
        // next: one call then, not two). The kernel is told the times that
        // stamp will set unless the file is written, and a write makes it
        // ask again. (Attributes it must ask for would cost a request at
        // once: its permission check at open asks for stale ones.)
        r.fs().inodes.from_id(e.ino).times.made_at(*made_at);
        e.attr.st_atim = *made_at;
        e.attr.st_mtim = *made_at;
    }
    set_handle(r, r.fs().inodes.from_id(e.ino), fi, std::move(created->fd));
    if (r.reply<fuse_reply_create>(&e, fi) != 0) {
        r.fs().files.remove(fi->fh);
        r.fs().inodes.forget(r.fs().inodes.from_id(e.ino), 1);
    }
}

void op_read(Request& r, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
    // Read with the descriptor opened for the caller; no identity switch is
    // needed, and libfuse splices from it to /dev/fuse where it can.
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = r.open_file(fi).get();
    buf.buf[0].pos = off;
    r.reply<fuse_reply_data>(&buf, FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(Request& r, fuse_ino_t id, struct fuse_bufvec* in, off_t off,
                  struct fuse_file_info* fi) {
    // As the caller: a write by someone other than root must clear set-user-ID
    // and set-group-ID bits, which the kernel decides by the writer's rights.
    struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = r.open_file(fi).get();
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in, FUSE_BUF_SPLICE_NONBLOCK);
    if (n > 0) r.inode(id).times.data_changed();
    if (n < 0)
        r.reply_error(static_cast<int>(-n));
    else
        r.reply<fuse_reply_write>(static_cast<size_t>(n));
}

void op_flush(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    // A close of a file the crashed process before had opened: the locks
    // it kept for the owner go (LockOwners::adopt_kept), the file is unknown.
    if (r.fs().inodes.find(id) == nullptr) r.fs().locks.release_kept(id, fi->lock_owner);
    OpenFile& file = r.open_file(fi);
    // Changed and not yet looked at: the mtime is this host's time, not the
    // server's. (A writer who does not own the file may not set it: then the
    // server's time stays.) The kernel may have fetched the server's mtime
    // since the last write: dropped before the reply, so that a stat after
    // close() sees ours (an attribute-only notify takes no lock the closing
    // process holds).
    if (r.fs().times.pay(r.inode(id).times, ops::Located{file.get(), S_IFREG, -1, nullptr}))
        r.drop_attributes_now(id);
    auto flushed = ops::flush_file(r.fs().sys, file.get());
    // A close by a process drops all its POSIX locks on the file (POSIX says
    // so, and mail software relies on it when it dies holding one). After the
    // flush: a host that takes the lock next must find the data there.
    r.fs().locks.release(r.inode(id), fi->lock_owner);
    r.reply_error(flushed);
}

void op_release(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    Filesystem& fs = r.fs();
    // The kernel keeps no record of the locks it forwards, so it sends no
    // unlock for an OFD lock at close: this release is its owner's end.
    if (Inode* inode = fs.inodes.find(id))
        fs.locks.handle_released(*inode, fi->fh);
    else
        fs.locks.kept_handle_released(id, fi->fh);
    if (auto file = fs.files.remove(fi->fh)) wait_for_other_holders(file, kOtherHoldersWait);
    fs.nameless_closed();
    r.reply<fuse_reply_err>(0);
}

void op_fsync(Request& r, fuse_ino_t, int datasync, struct fuse_file_info* fi) {
    r.reply_error(ops::sync_file(r.fs().sys, r.open_file(fi).get(), datasync != 0));
}

void op_fallocate(Request& r, fuse_ino_t id, int mode, off_t offset, off_t length,
                  struct fuse_file_info* fi) {
    auto res = ops::allocate_file(r.fs().sys, r.open_file(fi).get(), mode, offset, length);
    if (res) r.inode(id).times.data_changed();
    r.reply_error(res);
}

void op_lseek(Request& r, fuse_ino_t, off_t off, int whence, struct fuse_file_info* fi) {
    auto pos = ops::seek_file(r.fs().sys, r.open_file(fi).get(), off, whence);
    if (!pos) return r.reply_error(pos);
    r.reply<fuse_reply_lseek>(*pos);
}

void op_copy_file_range(Request& r, fuse_ino_t, off_t off_in, struct fuse_file_info* fi_in,
                        fuse_ino_t id_out, off_t off_out, struct fuse_file_info* fi_out, size_t len,
                        int flags) {
    auto n = ops::copy_range(r.fs().sys, r.open_file(fi_in).get(), off_in,
                             r.open_file(fi_out).get(), off_out, len, static_cast<unsigned>(flags));
    if (!n) return r.reply_error(n);
    r.inode(id_out).times.data_changed();
    r.reply<fuse_reply_write>(*n);
}

}  // namespace nfsguard::fs
