// FUSE getattr, setattr, readlink, access, statfs: reading and changing an
// object's attributes.
#include <fcntl.h>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "fs/open_file.hpp"
#include "ops/object_ops.hpp"
#include "ops/timestamps.hpp"

namespace nfsguard::fs {

void op_getattr(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    if (r.detached()) {
        if (id == FUSE_ROOT_ID) return r.reply_attr(r.fs().root_stat);
        return r.reply_error(r.fs().guard_errno);
    }
    Inode& inode = r.inode(id);
    if (fi != nullptr) {
        const int fd = r.open_file(fi).get();
        r.fs().times.pay(inode.times, ops::Located{fd, S_IFREG, -1, nullptr});
        auto st = r.fs().sys.fstat(fd);
        return st ? r.reply_attr(*st) : r.reply_error(st);
    }
    auto st = r.on_object(id, [&](const ops::Located& obj) {
        r.fs().times.pay(inode.times, obj);
        return ops::stat_object(r.fs().sys, obj);
    });
    return st ? r.reply_attr(*st) : r.reply_error(st);
}

namespace {

// The times a setattr asks for, as utimensat(2) takes them.
void asked_times(const struct stat& attr, int to_set, struct timespec times[2]) {
    times[0] = times[1] = {0, UTIME_OMIT};
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        times[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        times[0] = attr.st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        times[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        times[1] = attr.st_mtim;
}

// What a setattr changes: the caller's open file if it has one (ftruncate
// must work on a file whose name is gone), else the object by name.
ops::Result<HeldObject> setattr_target(Request& r, Inode& inode, const struct fuse_file_info* fi) {
    if (fi != nullptr) return HeldObject{r.open_file(fi).fd, nullptr, {}, S_IFREG};
    return r.fs().inodes.locate(inode);
}

}  // namespace

void op_setattr(Request& r, fuse_ino_t id, struct stat* attr, int to_set,
                struct fuse_file_info* fi) {
    ops::Syscalls& sys = r.fs().sys;
    Inode& inode = r.inode(id);
    auto st = r.retry_stale([&]() -> ops::Result<struct stat> {
        auto target = setattr_target(r, inode, fi);
        if (!target) return ops::Errno{target.error()};
        const ops::Located obj = target->located();
        bool kill_left_to_write = false;
        if (to_set & FUSE_SET_ATTR_MODE) {
            auto res = ops::change_mode_for_caller(sys, obj, attr->st_mode, kill_left_to_write);
            if (!res) return ops::Errno{res.error()};
        }
        if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
            uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
            gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
            if (auto res = ops::change_owner(sys, obj, uid, gid); !res)
                return ops::Errno{res.error()};
        }
        if (to_set & FUSE_SET_ATTR_SIZE) {
            auto res = fi != nullptr ? sys.ftruncate(obj.fd, attr->st_size)
                                     : ops::truncate_object(sys, obj, attr->st_size);
            if (!res) return ops::Errno{res.error()};
            inode.times.data_changed();  // the server stamped the truncate
        }
        if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
            // The caller's times win over a stamp still owed: noted first,
            // so that no stamp lands after them.
            if (to_set & FUSE_SET_ATTR_MTIME) inode.times.caller_set_mtime();
            inode.times.caller_set_times();
            struct timespec times[2];
            asked_times(*attr, to_set, times);
            auto res = ops::set_asked_times(sys, obj, times, r.fs().times.stamping());
            if (!res) return ops::Errno{res.error()};
        }
        r.fs().times.pay(inode.times, obj);
        auto now = ops::stat_object(sys, obj);
        // Set-ID bits left to the caller's write are answered as cleared.
        if (now && kill_left_to_write)
            now->st_mode = (now->st_mode & S_IFMT) | (attr->st_mode & 07777);
        return now;
    });
    return st ? r.reply_attr(*st) : r.reply_error(st);
}

void op_readlink(Request& r, fuse_ino_t id) {
    auto link =
        r.on_object(id, [&](const ops::Located& obj) { return ops::read_link(r.fs().sys, obj); });
    if (!link) return r.reply_error(link);
    r.reply<fuse_reply_readlink>(link->c_str());
}

void op_access(Request& r, fuse_ino_t id, int mask) {
    r.reply_error(r.on_object(
        id, [&](const ops::Located& obj) { return ops::check_access(r.fs().sys, obj, mask); }));
}

void op_statfs(Request& r, fuse_ino_t id) {
    auto sv = r.on_object(
        id, [&](const ops::Located& obj) { return ops::statfs_object(r.fs().sys, obj); });
    if (!sv) return r.reply_error(sv);
    r.reply<fuse_reply_statfs>(&*sv);
}

}  // namespace nfsguard::fs
