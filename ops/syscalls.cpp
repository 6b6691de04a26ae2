#include "ops/syscalls.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace nfsguard::ops {

Result<UniqueFd> Syscalls::openat(int dirfd, const char* path, int flags, mode_t mode) {
    int fd = ::openat(dirfd, path, flags | O_CLOEXEC, mode);
    if (fd == -1) return last_errno();
    return UniqueFd(fd);
}

Result<std::string> Syscalls::handle_of(int fd) {
    alignas(struct file_handle) char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    auto* fh = reinterpret_cast<struct file_handle*>(buf);
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    if (::name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH) != 0) return last_errno();
    return std::string(buf, sizeof(struct file_handle) + fh->handle_bytes);
}

Result<UniqueFd> Syscalls::open_by_handle(int mount_fd, const std::string& handle, int flags) {
    if (handle.size() < sizeof(struct file_handle)) return Errno{EINVAL};
    alignas(struct file_handle) char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    if (handle.size() > sizeof buf) return Errno{EINVAL};
    std::memcpy(buf, handle.data(), handle.size());
    const int fd = ::open_by_handle_at(mount_fd, reinterpret_cast<struct file_handle*>(buf),
                                       flags | O_CLOEXEC);
    if (fd == -1) return last_errno();
    return UniqueFd(fd);
}

Result<struct stat> Syscalls::fstatat(int dirfd, const char* path, int flags) {
    struct stat st {};
    if ((flags & AT_STATX_SYNC_TYPE) == 0) {
        if (::fstatat(dirfd, path, &st, flags) == -1) return last_errno();
        return st;
    }
    // fstatat() takes no AT_STATX_* flag: statx() it is, in struct stat.
    struct statx x {};
    if (::statx(dirfd, path, flags, STATX_BASIC_STATS, &x) == -1) return last_errno();
    st.st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
    st.st_ino = x.stx_ino;
    st.st_mode = x.stx_mode;
    st.st_nlink = x.stx_nlink;
    st.st_uid = x.stx_uid;
    st.st_gid = x.stx_gid;
    st.st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
    st.st_size = static_cast<off_t>(x.stx_size);
    st.st_blksize = x.stx_blksize;
    st.st_blocks = static_cast<blkcnt_t>(x.stx_blocks);
    st.st_atim = {x.stx_atime.tv_sec, x.stx_atime.tv_nsec};
    st.st_mtim = {x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec};
    st.st_ctim = {x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec};
    return st;
}

Result<struct stat> Syscalls::fstat(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) == -1) return last_errno();
    return st;
}

Result<struct statvfs> Syscalls::fstatvfs(int fd) {
    struct statvfs sv {};
    if (::fstatvfs(fd, &sv) == -1) return last_errno();
    return sv;
}

Result<struct statfs> Syscalls::fstatfs(int fd) {
    struct statfs sf {};
    if (::fstatfs(fd, &sf) == -1) return last_errno();
    return sf;
}

Result<void> Syscalls::refresh_attributes(int fd) {
    struct statx stx {};
    return check(::statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx));
}

Result<void> Syscalls::mkdirat(int dirfd, const char* name, mode_t mode) {
    return check(::mkdirat(dirfd, name, mode));
}

Result<void> Syscalls::mknodat(int dirfd, const char* name, mode_t mode, dev_t rdev) {
    return check(::mknodat(dirfd, name, mode, rdev));
}

Result<void> Syscalls::symlinkat(const char* target, int dirfd, const char* name) {
    return check(::symlinkat(target, dirfd, name));
}

Result<std::string> Syscalls::readlinkat(int dirfd, const char* path) {
    std::string buf(PATH_MAX + 1, '\0');
    ssize_t n = ::readlinkat(dirfd, path, buf.data(), buf.size());
    if (n == -1) return last_errno();
    if (static_cast<size_t>(n) >= buf.size()) return Errno{ENAMETOOLONG};
    buf.resize(static_cast<size_t>(n));
    return buf;
}

Result<size_t> Syscalls::pread(int fd, void* buf, size_t size, off_t offset) {
    const ssize_t n = ::pread(fd, buf, size, offset);
    if (n == -1) return last_errno();
    return static_cast<size_t>(n);
}

Result<size_t> Syscalls::pwrite(int fd, const void* buf, size_t size, off_t offset) {
    const ssize_t n = ::pwrite(fd, buf, size, offset);
    if (n == -1) return last_errno();
    return static_cast<size_t>(n);
}

Result<void> Syscalls::unlinkat(int dirfd, const char* name, int flags) {
    return check(::unlinkat(dirfd, name, flags));
}

Result<void> Syscalls::read_directory(int fd, const std::function<bool(const char*)>& visit) {
    // getdents64 itself: no DIR stream to own the descriptor.
    struct linux_dirent64 {
        ino64_t d_ino;
        off64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
    };
    alignas(linux_dirent64) char buf[16384];
    for (;;) {
        const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n == -1) return last_errno();
        if (n == 0) return {};
        for (long at = 0; at < n;) {
            const auto* e = reinterpret_cast<const linux_dirent64*>(buf + at);
            at += e->d_reclen;
            if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
            if (!visit(e->d_name)) return {};
        }
    }
}

Result<void> Syscalls::renameat2(int olddirfd, const char* oldname, int newdirfd,
                                 const char* newname, unsigned flags) {
    return check(::renameat2(olddirfd, oldname, newdirfd, newname, flags));
}

Result<void> Syscalls::linkat(int olddirfd, const char* oldpath, int newdirfd, const char* newname,
                              int flags) {
    return check(::linkat(olddirfd, oldpath, newdirfd, newname, flags));
}

Result<void> Syscalls::chmod(const char* path, mode_t mode) {
    return check(::chmod(path, mode));
}

Result<void> Syscalls::fchmod(int fd, mode_t mode) {
    return check(::fchmod(fd, mode));
}

Result<void> Syscalls::fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
    return check(::fchownat(dirfd, path, uid, gid, flags));
}

Result<void> Syscalls::truncate(const char* path, off_t size) {
    return check(::truncate(path, size));
}

Result<void> Syscalls::ftruncate(int fd, off_t size) {
    return check(::ftruncate(fd, size));
}

Result<void> Syscalls::utimensat(int dirfd, const char* path, const struct timespec times[2],
                                 int flags) {
    return check(::utimensat(dirfd, path, times, flags));
}

Result<void> Syscalls::faccessat(int dirfd, const char* path, int mode, int flags) {
    return check(::faccessat(dirfd, path, mode, flags));
}

Result<size_t> Syscalls::getxattr(const char* path, bool follow, const char* name, void* value,
                                  size_t size) {
    ssize_t n = follow ? ::getxattr(path, name, value, size) : ::lgetxattr(path, name, value, size);
    if (n == -1) return last_errno();
    return static_cast<size_t>(n);
}

Result<void> Syscalls::setxattr(const char* path, bool follow, const char* name, const void* value,
                                size_t size, int flags) {
    return check(follow ? ::setxattr(path, name, value, size, flags)
                        : ::lsetxattr(path, name, value, size, flags));
}

Result<size_t> Syscalls::listxattr(const char* path, bool follow, char* list, size_t size) {
    ssize_t n = follow ? ::listxattr(path, list, size) : ::llistxattr(path, list, size);
    if (n == -1) return last_errno();
    return static_cast<size_t>(n);
}

Result<void> Syscalls::removexattr(const char* path, bool follow, const char* name) {
    return check(follow ? ::removexattr(path, name) : ::lremovexattr(path, name));
}

Result<void> Syscalls::fsync(int fd, bool datasync) {
    return check(datasync ? ::fdatasync(fd) : ::fsync(fd));
}

Result<void> Syscalls::close_duplicate(int fd) {
    int dup = ::dup(fd);
    if (dup == -1) return last_errno();
    return check(::close(dup));
}

Result<void> Syscalls::fallocate(int fd, int mode, off_t offset, off_t length) {
    return check(::fallocate(fd, mode, offset, length));
}

Result<off_t> Syscalls::lseek(int fd, off_t offset, int whence) {
    off_t r = ::lseek(fd, offset, whence);
    if (r == -1) return last_errno();
    return r;
}

Result<size_t> Syscalls::copy_file_range(int fd_in, off_t* off_in, int fd_out, off_t* off_out,
                                         size_t len, unsigned flags) {
    ssize_t n = ::copy_file_range(fd_in, off_in, fd_out, off_out, len, flags);
    if (n == -1) return last_errno();
    return static_cast<size_t>(n);
}

Result<void> Syscalls::fcntl_lock(int fd, int cmd, struct flock* lock) {
    return check(::fcntl(fd, cmd, lock));
}

Result<void> Syscalls::flock(int fd, int operation) {
    return check(::flock(fd, operation));
}

}  // namespace nfsguard::ops
