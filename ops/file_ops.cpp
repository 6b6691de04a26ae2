#include "ops/file_ops.hpp"

namespace nfsguard::ops {

Result<void> flush_file(Syscalls& sys, int fd) {
    return sys.close_duplicate(fd);
}

Result<void> sync_file(Syscalls& sys, int fd, bool datasync) {
    return sys.fsync(fd, datasync);
}

Result<void> sync_directory(Syscalls& sys, int dirfd, bool datasync) {
    auto r = sys.fsync(dirfd, datasync);
    // An NFS server makes every change of a directory stable before it
    // answers the call (creates, links, renames: NFS3 and 4 require it), so
    // a directory whose handle went stale since has nothing left to commit.
    // Passing ESTALE on would make the mail software fail a delivery that is
    // durable (Dovecot's fdatasync_path of new/, seen in the end-to-end tests).
    if (!r && r.error() == ESTALE) return {};
    return r;
}

Result<void> allocate_file(Syscalls& sys, int fd, int mode, off_t offset, off_t length) {
    return sys.fallocate(fd, mode, offset, length);
}

Result<off_t> seek_file(Syscalls& sys, int fd, off_t offset, int whence) {
    return sys.lseek(fd, offset, whence);
}

Result<size_t> copy_range(Syscalls& sys, int fd_in, off_t off_in, int fd_out, off_t off_out,
                          size_t len, unsigned flags) {
    return sys.copy_file_range(fd_in, &off_in, fd_out, &off_out, len, flags);
}

}  // namespace nfsguard::ops
