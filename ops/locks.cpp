#include "ops/locks.hpp"

#include <sys/file.h>

namespace nfsguard::ops {

Result<struct flock> find_conflicting_lock(Syscalls& sys, int fd, struct flock want) {
    want.l_pid = 0;  // OFD commands insist on it
    if (auto r = sys.fcntl_lock(fd, F_OFD_GETLK, &want); !r) return Errno{r.error()};
    return want;
}

Result<void> set_range_lock(Syscalls& sys, int fd, struct flock lock, bool wait) {
    lock.l_pid = 0;
    auto r = sys.fcntl_lock(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock);
    // POSIX allows EACCES for a conflict; callers expect EAGAIN from F_SETLK.
    if (!r && r.error() == EACCES && lock.l_type != F_UNLCK) return Errno{EAGAIN};
    return r;
}

Result<void> set_file_lock(Syscalls& sys, int fd, int operation) {
    return sys.flock(fd, operation);
}

}  // namespace nfsguard::ops
