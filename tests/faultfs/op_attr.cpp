// getattr, chmod, chown, truncate, utimens, access, readlink, statfs: the
// attributes of one object. Calls with an open file use its descriptor: the
// file may have no name any more.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ops/identity.hpp"
#include "tests/faultfs/call.hpp"
#include "tests/faultfs/handlers.hpp"
#include "tests/faultfs/open_file.hpp"

namespace nfsguard::faultfs {
namespace {

// The name faults aim at: the open file's when there is one.
std::string_view name_of(const char* path, const struct fuse_file_info* fi) {
    return fi != nullptr ? std::string_view(OpenFile::of(fi).name) : entry_name(path);
}

// NFS's GETATTR names a file handle, not a path, and needs no search
// permission on the directories above. The kernel sends no handle with
// fstat(), so when a process opened a file in a 0700 home and then changed its
// euid (Postfix's local reads ~/.forward so), the path walk as the caller
// fails where NFS would answer: for an inode some handle holds open, the walk
// is made again as the server, root.
bool attributes_of_open_file(const char* path, struct stat* st) {
    ops::ScopedIdentity as_server{ops::Identity::root()};
    auto at = this_faultfs().backing.locate(path);
    return at && ::fstatat(at->dir, at->c_name(), st, AT_SYMLINK_NOFOLLOW) == 0 &&
           open_inodes().contains(st->st_ino);
}

}  // namespace

int fs_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
    Call call{name_of(path, fi)};
    if (call.refusal()) return call.refusal();
    if (fi != nullptr) {
        if (::fstat(OpenFile::of(fi).fd.get(), st) == -1) return -errno;
    } else {
        auto at = call.fs().backing.locate(path);
        int err = !at                                                               ? at.error()
                  : ::fstatat(at->dir, at->c_name(), st, AT_SYMLINK_NOFOLLOW) == -1 ? errno
                                                                                    : 0;
        if (err == EACCES && attributes_of_open_file(path, st)) err = 0;
        if (err != 0) return -err;
    }
    call.fs().clock.report(*st);
    return 0;
}

int fs_chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
    Call call{name_of(path, fi)};
    if (call.refusal()) return call.refusal();
    if (fi != nullptr) return result_of(::fchmod(OpenFile::of(fi).fd.get(), mode));
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    return result_of(::fchmodat(at->dir, at->c_name(), mode, AT_SYMLINK_NOFOLLOW));
}

int fs_chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
    Call call{name_of(path, fi)};
    if (call.refusal()) return call.refusal();
    if (fi != nullptr) return result_of(::fchown(OpenFile::of(fi).fd.get(), uid, gid));
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    return result_of(::fchownat(at->dir, at->c_name(), uid, gid, AT_SYMLINK_NOFOLLOW));
}

int fs_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
    Call call{name_of(path, fi)};
    if (call.refusal()) return call.refusal();
    ops::UniqueFd opened;
    int fd;
    if (fi != nullptr) {
        fd = OpenFile::of(fi).fd.get();
    } else {
        // truncate(2) needs write permission, as opening for writing does.
        // O_NONBLOCK: a FIFO must not hang us (truncating it fails anyway).
        auto at = call.fs().backing.locate(path);
        if (!at) return -at.error();
        opened.reset(
            ::openat(at->dir, at->c_name(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!opened.valid()) return -errno;
        fd = opened.get();
    }
    if (::ftruncate(fd, size) == -1) return -errno;
    call.fs().clock.data_changed(fd);
    return 0;
}

int fs_utimens(const char* path, const struct timespec times[2], struct fuse_file_info* fi) {
    Call call{name_of(path, fi)};
    if (call.refusal()) return call.refusal();
    // Made as the caller even when the server clock is skewed: UTIME_NOW
    // needs only write permission, explicit times need ownership.
    if (fi != nullptr) {
        const int fd = OpenFile::of(fi).fd.get();
        if (::futimens(fd, times) == -1) return -errno;
        call.fs().clock.times_set(fd, times);
        return 0;
    }
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    if (::utimensat(at->dir, at->c_name(), times, AT_SYMLINK_NOFOLLOW) == -1) return -errno;
    call.fs().clock.times_set(at->dir, at->c_name(), times);
    return 0;
}

int fs_access(const char* path, int mask) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    // AT_EACCESS: check with the identity we act as (fsuid, fsgid, groups),
    // not the real uid, which is root's.
    return result_of(::faccessat(at->dir, at->c_name(), mask, AT_EACCESS | AT_SYMLINK_NOFOLLOW));
}

int fs_readlink(const char* path, char* buf, size_t size) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    if (size == 0) return -EINVAL;
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    ssize_t n = ::readlinkat(at->dir, at->c_name(), buf, size - 1);
    if (n == -1) return -errno;
    buf[n] = '\0';
    return 0;
}

int fs_statfs(const char* path, struct statvfs* st) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    return result_of(::fstatvfs(call.fs().backing.root(), st));
}

}  // namespace nfsguard::faultfs
