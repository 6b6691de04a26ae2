// Syscalls: the one seam between ops/ and the kernel.
//
// Every call ops/ makes on the backing tree goes through a Syscalls object.
// The base class performs the real system call; a test derives from it and
// overrides one method to imitate what NFS does on a bad day, typically "the
// call happened, then the error came" (a lost reply answered by a server that
// forgot it had already done the work).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/vfs.h>

#include <functional>
#include <string>

#include "ops/result.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::ops {

class Syscalls {
  public:
    virtual ~Syscalls() = default;

    virtual Result<UniqueFd> openat(int dirfd, const char* path, int flags, mode_t mode = 0);
    virtual Result<struct stat> fstatat(int dirfd, const char* path, int flags);
    // The filesystem's handle of the object `fd` is open on (bytes of a
    // struct file_handle), and the object opened anew from one, whatever its
    // name now (open_by_handle_at: needs CAP_DAC_READ_SEARCH; `mount_fd` is
    // any descriptor on the same filesystem but an O_PATH one).
    virtual Result<std::string> handle_of(int fd);
    virtual Result<UniqueFd> open_by_handle(int mount_fd, const std::string& handle, int flags);
    virtual Result<struct stat> fstat(int fd);
    virtual Result<struct statvfs> fstatvfs(int fd);
    virtual Result<struct statfs> fstatfs(int fd);
    // Asks the server for `fd`'s attributes now (statx AT_STATX_FORCE_SYNC):
    // an NFS client that sees a directory changed drops what it cached of its
    // names, "no such name" included.
    virtual Result<void> refresh_attributes(int fd);

    virtual Result<void> mkdirat(int dirfd, const char* name, mode_t mode);
    virtual Result<void> mknodat(int dirfd, const char* name, mode_t mode, dev_t rdev);
    virtual Result<void> symlinkat(const char* target, int dirfd, const char* name);
    virtual Result<std::string> readlinkat(int dirfd, const char* path);
    virtual Result<void> unlinkat(int dirfd, const char* name, int flags);
    // The entries of the directory open at `fd` ("." and ".." aside), each
    // given to `visit` until it returns false; reads from fd's position on.
    virtual Result<void> read_directory(int fd, const std::function<bool(const char*)>& visit);
    virtual Result<void> renameat2(int olddirfd, const char* oldname, int newdirfd,
                                   const char* newname, unsigned flags);
    virtual Result<void> linkat(int olddirfd, const char* oldpath, int newdirfd,
                                const char* newname, int flags);

    virtual Result<void> chmod(const char* path, mode_t mode);
    virtual Result<void> fchmod(int fd, mode_t mode);
    virtual Result<void> fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags);
    virtual Result<void> truncate(const char* path, off_t size);
    virtual Result<void> ftruncate(int fd, off_t size);
    virtual Result<void> utimensat(int dirfd, const char* path, const struct timespec times[2],
                                   int flags);
    virtual Result<void> faccessat(int dirfd, const char* path, int mode, int flags);

    // Extended attributes by path; `follow` false means the l*xattr variant.
    virtual Result<size_t> getxattr(const char* path, bool follow, const char* name, void* value,
                                    size_t size);
    virtual Result<void> setxattr(const char* path, bool follow, const char* name,
                                  const void* value, size_t size, int flags);
    virtual Result<size_t> listxattr(const char* path, bool follow, char* list, size_t size);
    virtual Result<void> removexattr(const char* path, bool follow, const char* name);

    virtual Result<size_t> pread(int fd, void* buf, size_t size, off_t offset);
    virtual Result<size_t> pwrite(int fd, const void* buf, size_t size, off_t offset);
    virtual Result<void> fsync(int fd, bool datasync);
    // close(dup(fd)): makes the NFS client flush and report deferred write
    // errors (EDQUOT, ENOSPC, EIO) now, while the caller can still hear them.
    virtual Result<void> close_duplicate(int fd);
    virtual Result<void> fallocate(int fd, int mode, off_t offset, off_t length);
    virtual Result<off_t> lseek(int fd, off_t offset, int whence);
    virtual Result<size_t> copy_file_range(int fd_in, off_t* off_in, int fd_out, off_t* off_out,
                                           size_t len, unsigned flags);

    // fcntl(fd, cmd, lock) for the lock commands (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW).
    virtual Result<void> fcntl_lock(int fd, int cmd, struct flock* lock);
    virtual Result<void> flock(int fd, int operation);
};

}  // namespace nfsguard::ops
