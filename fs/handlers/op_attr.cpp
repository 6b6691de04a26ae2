// FUSE getattr, setattr, readlink, access, statfs: reading and changing an
// object's attributes.
#include <fcntl.h>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "fs/open_file.hpp"
#include "ops/identity.hpp"
#include "ops/object_ops.hpp"
#include "ops/timestamps.hpp"

namespace nfsguard::fs {

void op_getattr(Request& r, fuse_ino_t id, struct fuse_file_info* fi) {
    ops::Syscalls& sys = r.fs().sys;
    if (r.detached()) {
        if (id == FUSE_ROOT_ID) return r.reply_attr(r.fs().root_stat);
        return r.reply_error(r.fs().guard_errno);
    }
    if (fi != nullptr) {
        const int fd = OpenFile::of(fi).get();
        r.stamp_if_changed(id, ops::Located{fd, S_IFREG, -1, nullptr});
        auto st = sys.fstat(fd);
        return st ? r.reply_attr(*st) : r.reply_error(st);
    }
    auto st = r.on_object(id, [&](const ops::Located& obj) {
        r.stamp_if_changed(id, obj);
        return ops::stat_object(sys, obj);
    });
    return st ? r.reply_attr(*st) : r.reply_error(st);
}

void op_setattr(Request& r, fuse_ino_t id, struct stat* attr, int to_set,
                struct fuse_file_info* fi) {
    ops::Syscalls& sys = r.fs().sys;
    // ftruncate() comes with the open file: it must work on a file whose name
    // is gone (unlinked while open), so everything goes through that file.
    auto st = r.retry_stale([&]() -> ops::Result<struct stat> {
        const int open_fd = fi != nullptr ? OpenFile::of(fi).get() : -1;
        ops::Result<Target> target = Target{};
        ops::Located obj{open_fd, S_IFREG, -1, nullptr};
        if (open_fd < 0) {
            target = r.fs().inodes.locate(r.inode(id));
            if (!target) return ops::Errno{target.error()};
            obj = target->located();
        }

        // Set-ID bits the kernel asks to clear before a write or truncate by
        // a non-owner, who may not chmod: cleared as root, which gives that
        // writer no power it lacks (its write clears them all the same). A
        // backing that refuses root too (root_squash) has them cleared by
        // the write itself, made as the caller: left to it
        // (ops/object_ops.hpp), and answered as cleared, which they are once
        // it is done.
        bool kill_left_to_write = false;
        auto answer = [&]() -> ops::Result<struct stat> {
            auto now = ops::stat_object(sys, obj);
            if (now && kill_left_to_write)
                now->st_mode = (now->st_mode & S_IFMT) | (attr->st_mode & 07777);
            return now;
        };
        if (to_set & FUSE_SET_ATTR_MODE) {
            auto res = ops::change_mode(sys, obj, attr->st_mode);
            if (!res && res.error() == EPERM &&
                ops::is_set_id_kill_by_writer(sys, obj, attr->st_mode)) {
                ops::ScopedIdentity as_root(ops::Identity::root());
                res = ops::change_mode(sys, obj, attr->st_mode);
                kill_left_to_write = !res;
            } else if (!res) {
                return ops::Errno{res.error()};
            }
        }
        if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
            uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
            gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
            if (auto res = ops::change_owner(sys, obj, uid, gid); !res)
                return ops::Errno{res.error()};
        }
        if (to_set & FUSE_SET_ATTR_SIZE) {
            auto res = open_fd >= 0 ? sys.ftruncate(open_fd, attr->st_size)
                                    : ops::truncate_object(sys, obj, attr->st_size);
            if (!res) return ops::Errno{res.error()};
            r.inode(id).data_changed();  // the server stamped the truncate
        }
        if (to_set & FUSE_SET_ATTR_MTIME) {
            // The caller's mtime wins over a stamp still owed for a write
            // (mutt and procmail set mtime and atime to mark new mail).
            r.inode(id).mtime_set();
        }
        if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
            r.inode(id).times_set();
            struct timespec times[2];
            times[0].tv_sec = 0;
            times[0].tv_nsec = UTIME_OMIT;
            times[1] = times[0];
            if (to_set & FUSE_SET_ATTR_ATIME_NOW)
                times[0].tv_nsec = UTIME_NOW;
            else if (to_set & FUSE_SET_ATTR_ATIME)
                times[0] = attr->st_atim;
            if (to_set & FUSE_SET_ATTR_MTIME_NOW)
                times[1].tv_nsec = UTIME_NOW;
            else if (to_set & FUSE_SET_ATTR_MTIME)
                times[1] = attr->st_mtim;
            // UTIME_NOW would be the server's clock: ask for this host's. Only
            // an owner may set explicit times; a writer who is not keeps NOW.
            struct timespec explicit_times[2] = {times[0], times[1]};
            const bool now_asked = times[0].tv_nsec == UTIME_NOW || times[1].tv_nsec == UTIME_NOW;
            if (now_asked && r.fs().stamping()) {
                const struct timespec now = ops::stamp_now();
                for (auto& t : explicit_times)
                    if (t.tv_nsec == UTIME_NOW) t = now;
                if (auto res = ops::set_times(sys, obj, explicit_times);
                    res || res.error() != EPERM)
                    return res ? answer() : ops::Result<struct stat>(ops::Errno{res.error()});
            }
            if (auto res = ops::set_times(sys, obj, times); !res) return ops::Errno{res.error()};
        }
        r.stamp_if_changed(id, obj);
        return answer();
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
