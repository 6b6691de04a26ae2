// Operations on a backing file the caller has open.
#pragma once

#include <sys/types.h>

#include "ops/result.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::ops {

// Called at each close(2) of a caller's descriptor. NFS reports many write
// errors (EDQUOT, ENOSPC, EIO) only when the client flushes, at close or
// fsync: this flushes now so the error reaches the caller's close().
Result<void> flush_file(Syscalls& sys, int fd);
Result<void> sync_file(Syscalls& sys, int fd, bool datasync);
// fsync of a directory: makes its entries (a delivered message's name)
// durable. ESTALE is no error here (file_ops.cpp says why).
Result<void> sync_directory(Syscalls& sys, int dirfd, bool datasync);
Result<void> allocate_file(Syscalls& sys, int fd, int mode, off_t offset, off_t length);
Result<off_t> seek_file(Syscalls& sys, int fd, off_t offset, int whence);
Result<size_t> copy_range(Syscalls& sys, int fd_in, off_t off_in, int fd_out, off_t off_out,
                          size_t len, unsigned flags);

}  // namespace nfsguard::ops
