// FUSE opendir, readdir, readdirplus, releasedir, fsyncdir: listing a
// directory.
#include <fcntl.h>

#include <cstring>
#include <vector>

#include "fs/op_handlers.hpp"
#include "fs/open_file.hpp"
#include "fs/request.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/file_ops.hpp"
#include "ops/object_ops.hpp"

namespace nfsguard::fs {
namespace {

bool is_dot_or_dotdot(const char* name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

void read_directory(fuse_req_t req, fuse_ino_t id, size_t size, off_t off,
                    struct fuse_file_info* fi, bool plus) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    OpenDir& d = OpenDir::of(fi);
    Inode& parent = r.inode(id);
    std::lock_guard lock(d.mutex);
    if (off != d.offset) {
        seekdir(d.dir, off);
        d.pending = nullptr;
        d.offset = off;
    }
    std::vector<char> buf(size);
    size_t used = 0;
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
        size_t len;
        if (plus) {
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
    if (err != 0 && used == 0) return r.reply_error(err);
    fuse_reply_buf(req, buf.data(), used);
}

}  // namespace

void op_opendir(fuse_req_t req, fuse_ino_t id, struct fuse_file_info* fi) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    auto fd = ops::reopen(r.fs().sys, target->located(), O_RDONLY | O_DIRECTORY);
    if (!fd) return r.reply_error(fd);
    DIR* dir = fdopendir(fd->get());
    if (dir == nullptr) return r.reply_error(errno);
    fd->release();  // the stream owns it now
    auto* d = new OpenDir(dir);
    fi->fh = reinterpret_cast<uintptr_t>(d);
    if (fuse_reply_open(req, fi) != 0) delete d;
}

void op_readdir(fuse_req_t req, fuse_ino_t id, size_t size, off_t off, struct fuse_file_info* fi) {
    read_directory(req, id, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t id, size_t size, off_t off,
                    struct fuse_file_info* fi) {
    read_directory(req, id, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
    delete &OpenDir::of(fi);
    fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, struct fuse_file_info* fi) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    OpenDir& d = OpenDir::of(fi);
    r.reply_error(ops::sync_directory(r.fs().sys, dirfd(d.dir), datasync != 0));
}

}  // namespace nfsguard::fs
