// FUSE mknod, mkdir, symlink, link, unlink, rmdir, rename: changes to the
// names in a directory.
#include "fs/op_handlers.hpp"
#include "fs/request.hpp"
#include "ops/entry_name.hpp"
#include "ops/namespace_ops.hpp"

namespace nfsguard::fs {
namespace {

// The parent's descriptor after checking the name; on failure the request is
// answered and the result is empty.
ops::Result<ops::SharedFd> parent_dir(Request& r, Inode& parent, const char* name) {
    if (auto ok = ops::check_entry_name(name); !ok) return ops::Errno{ok.error()};
    return r.fs().inodes.directory_fd(parent);
}

}  // namespace

void op_mknod(fuse_req_t req, fuse_ino_t parent_id, const char* name, mode_t mode, dev_t rdev) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    Inode& parent = r.inode(parent_id);
    auto dir = parent_dir(r, parent, name);
    if (!dir) return r.reply_error(dir);
    auto st = ops::make_node(r.fs().sys, (*dir)->get(), name, mode, rdev);
    if (!st) return r.reply_error(st);
    r.reply_entry(parent, name, *st);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent_id, const char* name, mode_t mode) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    Inode& parent = r.inode(parent_id);
    auto dir = parent_dir(r, parent, name);
    if (!dir) return r.reply_error(dir);
    auto st = ops::make_directory(r.fs().sys, r.fs().false_errors, (*dir)->get(), name, mode);
    if (!st) return r.reply_error(st);
    r.reply_entry(parent, name, *st);
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent_id, const char* name) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    Inode& parent = r.inode(parent_id);
    auto dir = parent_dir(r, parent, name);
    if (!dir) return r.reply_error(dir);
    auto st = ops::make_symlink(r.fs().sys, r.fs().false_errors, target, (*dir)->get(), name);
    if (!st) return r.reply_error(st);
    r.reply_entry(parent, name, *st);
}

void op_link(fuse_req_t req, fuse_ino_t id, fuse_ino_t newparent_id, const char* newname) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    Inode& newparent = r.inode(newparent_id);
    auto dir = parent_dir(r, newparent, newname);
    if (!dir) return r.reply_error(dir);
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    auto st =
        ops::link_entry(r.fs().sys, r.fs().false_errors, target->located(), (*dir)->get(), newname);
    if (!st) return r.reply_error(st);
    r.reply_entry(newparent, newname, *st);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent_id, const char* name) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto dir = parent_dir(r, r.inode(parent_id), name);
    if (!dir) return r.reply_error(dir);
    r.reply_error(ops::remove_file(r.fs().sys, r.fs().false_errors, (*dir)->get(), name));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent_id, const char* name) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto dir = parent_dir(r, r.inode(parent_id), name);
    if (!dir) return r.reply_error(dir);
    r.reply_error(ops::remove_directory(r.fs().sys, r.fs().false_errors, (*dir)->get(), name));
}

void op_rename(fuse_req_t req, fuse_ino_t parent_id, const char* name, fuse_ino_t newparent_id,
               const char* newname, unsigned int flags) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    Inode& parent = r.inode(parent_id);
    Inode& newparent = r.inode(newparent_id);
    auto dir = parent_dir(r, parent, name);
    if (!dir) return r.reply_error(dir);
    auto newdir = parent_dir(r, newparent, newname);
    if (!newdir) return r.reply_error(newdir);
    auto moved = ops::rename_entry(r.fs().sys, r.fs().false_errors, (*dir)->get(), name,
                                   (*newdir)->get(), newname, flags);
    if (!moved) return r.reply_error(moved);
    // Keep the table's names current, so that an inode the kernel reaches by
    // nodeid (a process's cwd, an open directory) is found at its new name.
    r.fs().inodes.moved(moved->moved, parent, name, newparent, newname);
    if (moved->exchanged) r.fs().inodes.moved(*moved->exchanged, newparent, newname, parent, name);
    r.reply_ok();
}

}  // namespace nfsguard::fs
