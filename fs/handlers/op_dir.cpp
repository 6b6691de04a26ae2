// FUSE opendir, readdir, readdirplus, releasedir, fsyncdir: listing a
// directory.
#include <fcntl.h>

#include <cstring>
#include <utility>
#include <vector>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "fs/open_file.hpp"
#include "ops/dotlock.hpp"
#include "ops/file_ops.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/object_ops.hpp"
#include "ops/silly_rename.hpp"

namespace nfsguard::fs {
namespace {

bool is_dot_or_dotdot(const char* name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// readdir gives names; readdirplus names with attributes (and lookups).
enum class Listing { names, with_attributes };

// Fills `buf` with entries from the stream's position `off`; returns the
// errno of a failed readdir (the entries before it are kept).
int fill_listing(Request& r, OpenDir& d, Inode& parent, off_t off, Listing listing,
                 std::vector<char>& buf, size_t& used, std::vector<uint64_t>& looked_up) {
    if (off != d.offset) {
        seekdir(d.dir, off);
        d.pending = nullptr;
        d.offset = off;
    }
    const size_t size = buf.size();
    fuse_req_t req = r.raw();
    int err = 0;
    for (;;) {
        struct dirent* entry = d.pending;
        if (entry == nullptr) {
            errno = 0;
            entry = readdir(d.dir);
            if (entry == nullptr) {
                err = errno;
                break;
            }
        }
        d.pending = entry;
        const off_t next = entry->d_off;
        if (ops::is_dotlock_temp(entry->d_name) ||
            (!r.fs().show_silly_renames && ops::is_silly_rename(entry->d_name)) ||
            (r.fs().ownership && &parent == &r.fs().inodes.root() &&
             entry->d_name == kPrivateDir)) {
            // A dot-lock in the making (ops/dotlock.hpp), an NFS client's
            // placeholder (ops/silly_rename.hpp) or the lease files
            // (fs/ownership/): not the caller's to see.
            d.pending = nullptr;
            d.offset = next;
            continue;
        }
        size_t len;
        if (listing == Listing::with_attributes) {
            struct fuse_entry_param e {};
            if (is_dot_or_dotdot(entry->d_name)) {
                // Not looked up: the kernel knows these itself.
                e.attr.st_ino = entry->d_ino;
                e.attr.st_mode = static_cast<mode_t>(entry->d_type) << 12;
            } else {
                auto st = ops::lookup_entry(r.fs().sys, dirfd(d.dir), entry->d_name);
                if (!st) {
                    // Removed since it was listed: leave it out, as a later
                    // readdir would.
                    d.pending = nullptr;
                    d.offset = next;
                    continue;
                }
                r.fill_entry(parent, entry->d_name, *st, e);
            }
            len = fuse_add_direntry_plus(req, buf.data() + used, size - used, entry->d_name, &e,
                                         next);
            if (len > size - used) {
                if (e.ino != 0) r.fs().inodes.forget(r.fs().inodes.from_id(e.ino), 1);
                break;
            }
            if (e.ino != 0) looked_up.push_back(e.ino);
        } else {
            struct stat st {};
            st.st_ino = entry->d_ino;
            st.st_mode = static_cast<mode_t>(entry->d_type) << 12;
            len = fuse_add_direntry(req, buf.data() + used, size - used, entry->d_name, &st, next);
            if (len > size - used) break;
        }
        used += len;
        d.pending = nullptr;
        d.offset = next;
    }
    return err;
}

// A stream on directory `id`, opened anew for the caller.
ops::Result<DIR*> open_directory_stream(Request& r, fuse_ino_t id) {
    auto fd = r.on_object(id, [&](const ops::Located& obj) {
        return ops::reopen(r.fs().sys, obj, O_RDONLY | O_DIRECTORY);
    });
    if (!fd) return ops::Errno{fd.error()};
    DIR* dir = fdopendir(fd->get());
    if (dir == nullptr) return ops::Errno{errno};
    fd->release();  // the stream owns it now
    return dir;
}

// A stream on directory `dir`, opened anew after its handle went stale (the
// caller's retry loop retries; this does not).
ops::Result<DIR*> reopen_directory_stream(Request& r, Inode& dir) {
    auto fd = r.directory_fd(dir);
    if (!fd) return ops::Errno{fd.error()};
    auto opened = ops::reopen(r.fs().sys, ops::Located{(*fd)->get(), S_IFDIR, -1, nullptr},
                              O_RDONLY | O_DIRECTORY);
    if (!opened) return ops::Errno{opened.error()};
    DIR* stream = fdopendir(opened->get());
    if (stream == nullptr) return ops::Errno{errno};
    opened->release();  // the stream owns it now
    return stream;
}

void read_directory(Request& r, fuse_ino_t id, size_t size, off_t off, struct fuse_file_info* fi,
                    Listing listing) {
    OpenDir& d = r.open_dir(fi);
    if (d.dir == nullptr) return (void)r.reply<fuse_reply_buf>(nullptr, 0);  // detached
    std::vector<char> buf(size);
    std::vector<uint64_t> looked_up;
    size_t used = 0;
    int err = 0;
    {
        std::lock_guard lock(d.mutex);
        Inode& inode = r.inode(id);
        bool retrying = false;
        err =
            r.retry_stale([&]() -> ops::Result<void> {
                 // The directory's handle went stale (a stale answer of a
                 // busy server, or a server that came back with new
                 // handles): a stream opened anew goes on from where this
                 // one stood. The reopen finds the same object or fails (the
                 // inode table checks the inode number), and positions are
                 // the server's cookies for that directory, valid in any
                 // stream on it. A directory another host replaced or
                 // removed cannot be reopened: the caller gets ESTALE.
                 if (std::exchange(retrying, true)) {
                     auto dir = reopen_directory_stream(r, inode);
                     if (!dir) return ops::Errno{dir.error() == ENOENT ? ESTALE : dir.error()};
                     closedir(d.dir);
                     d.dir = *dir;
                     d.pending = nullptr;
                     if (d.offset != 0) seekdir(d.dir, d.offset);
                     off = d.offset;
                 }
                 if (int e = fill_listing(r, d, inode, off, listing, buf, used, looked_up); e != 0)
                     return ops::Errno{e};
                 return {};
             }).error();
    }
    // Replied only once the handle's lock is let go: the reply lets the
    // caller close the directory, and releasedir frees the handle (and its
    // mutex) on another thread at once.
    if (err != 0 && used == 0) return r.reply_error(err);
    if (r.reply<fuse_reply_buf>(buf.data(), used) != 0) {
        // The kernel did not take the entries (the caller was interrupted).
        for (uint64_t ino : looked_up) r.fs().inodes.forget(r.fs().inodes.from_id(ino), 1);
    }
}

// Open directories are mirrored for the process after a crash
// (fs/table_mirror.hpp), which opens them again.
void mirror_directory(Request& r, fuse_ino_t id, uint64_t handle) {
    if (TableMirror* mirror = r.fs().mirror)
        mirror->put(TableMirror::File{handle, id, O_RDONLY, TableMirror::Kind::dir, {}});
}

void released(Request& r, uint64_t handle) {
    if (auto dir = r.fs().dirs.remove(handle)) {
        // A readdir's reply lets the kernel send this release while that
        // readdir still holds the stream's mutex: it is let go first.
        std::lock_guard last_readdir_done(dir->mutex);
    }
}

}  // namespace

void op_opendir(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    if (r.detached()) {
        // The root lists as empty; nothing else is there to open.
        if (id != FUSE_ROOT_ID) return r.reply_error(r.fs().guard_errno);
        fi->fh = r.fs().dirs.add(std::make_unique<OpenDir>(nullptr));
        mirror_directory(r, id, fi->fh);
        if (r.reply<fuse_reply_open>(fi) != 0) released(r, fi->fh);
        return;
    }
    auto dir = open_directory_stream(r, id);
    if (!dir) return r.reply_error(dir);
    auto opened = std::make_unique<OpenDir>(*dir);
    opened->tenure = r.tenure();
    fi->fh = r.fs().dirs.add(std::move(opened));
    mirror_directory(r, id, fi->fh);
    // Pinned: the kernel keeps the listing and serves the next opendir from
    // it, until a change to the directory drops it (cache_policy.hpp). Not
    // while detached: the empty root must not be kept.
    if (r.fs().cache.keep_listings) {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
    }
    if (r.reply<fuse_reply_open>(fi) != 0) released(r, fi->fh);
}

void op_readdir(Request& r, fuse_ino_t id, size_t size, off_t off, struct fuse_file_info* fi) {
    read_directory(r, id, size, off, fi, Listing::names);
}

void op_readdirplus(Request& r, fuse_ino_t id, size_t size, off_t off, struct fuse_file_info* fi) {
    read_directory(r, id, size, off, fi, Listing::with_attributes);
}

void op_releasedir(Request& r, fuse_ino_t, struct fuse_file_info* fi) {
    released(r, fi->fh);
    r.reply<fuse_reply_err>(0);
}

void op_fsyncdir(Request& r, fuse_ino_t, int datasync, struct fuse_file_info* fi) {
    OpenDir& d = r.open_dir(fi);
    if (d.dir == nullptr) return r.reply_ok();
    r.reply_error(ops::sync_directory(r.fs().sys, dirfd(d.dir), datasync != 0));
}

}  // namespace nfsguard::fs
