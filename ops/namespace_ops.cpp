#include "ops/namespace_ops.hpp"

#include <fcntl.h>
#include <linux/fs.h>

namespace nfsguard::ops {

Result<struct stat> lookup_entry(Syscalls& sys, int dirfd, const char* name) {
    return sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
}

Result<Opened> open_entry(Syscalls& sys, int dirfd, const char* name, dev_t dev, ino_t ino) {
    auto fd = sys.openat(dirfd, name, O_PATH | O_NOFOLLOW);
    if (!fd) return Errno{fd.error()};
    auto st = sys.fstat(fd->get());
    if (!st) return Errno{st.error()};
    if (st->st_dev != dev || st->st_ino != ino) return Errno{ESTALE};
    return Opened{std::move(*fd), *st};
}

Result<Opened> create_file(Syscalls& sys, int dirfd, const char* name, int flags, mode_t mode) {
    // O_NOFOLLOW: the kernel resolved any symlink at this name before asking
    // us; one that appears here since was planted and must not be followed.
    auto fd = sys.openat(dirfd, name, flags | O_CREAT | O_NOFOLLOW, mode);
    if (!fd) return Errno{fd.error()};
    auto st = sys.fstat(fd->get());
    if (!st) return Errno{st.error()};
    return Opened{std::move(*fd), *st};
}

Result<struct stat> make_directory(Syscalls& sys, int dirfd, const char* name, mode_t mode) {
    if (auto r = sys.mkdirat(dirfd, name, mode); !r) return Errno{r.error()};
    return lookup_entry(sys, dirfd, name);
}

Result<struct stat> make_node(Syscalls& sys, int dirfd, const char* name, mode_t mode, dev_t rdev) {
    if (auto r = sys.mknodat(dirfd, name, mode, rdev); !r) return Errno{r.error()};
    return lookup_entry(sys, dirfd, name);
}

Result<struct stat> make_symlink(Syscalls& sys, const char* target, int dirfd, const char* name) {
    if (auto r = sys.symlinkat(target, dirfd, name); !r) return Errno{r.error()};
    return lookup_entry(sys, dirfd, name);
}

Result<void> remove_file(Syscalls& sys, int dirfd, const char* name) {
    return sys.unlinkat(dirfd, name, 0);
}

Result<void> remove_directory(Syscalls& sys, int dirfd, const char* name) {
    return sys.unlinkat(dirfd, name, AT_REMOVEDIR);
}

Result<Renamed> rename_entry(Syscalls& sys, int olddirfd, const char* oldname, int newdirfd,
                             const char* newname, unsigned flags) {
    // The object at the old name, noted before the call: fs/ moves its inode
    // to the new name, and it is what proves a rename that NFS reports as
    // failed had in fact been done.
    auto moved = lookup_entry(sys, olddirfd, oldname);
    if (!moved) return Errno{moved.error()};
    std::optional<struct stat> exchanged;
    if (flags & RENAME_EXCHANGE) {
        auto other = lookup_entry(sys, newdirfd, newname);
        if (!other) return Errno{other.error()};
        exchanged = *other;
    }
    if (auto r = sys.renameat2(olddirfd, oldname, newdirfd, newname, flags); !r)
        return Errno{r.error()};
    return Renamed{*moved, exchanged};
}

Result<struct stat> link_entry(Syscalls& sys, const Located& obj, int newdirfd,
                               const char* newname) {
    Result<void> r;
    if (obj.is_symlink()) {
        // The magic link of an O_PATH symlink descriptor cannot be linked
        // from without CAP_DAC_READ_SEARCH; name it by its directory instead.
        if (obj.parent_fd < 0) return Errno{EPERM};
        r = sys.linkat(obj.parent_fd, obj.name, newdirfd, newname, 0);
    } else {
        // Through the magic link: links exactly the object fs/ verified, with
        // the caller's rights (fs.protected_hardlinks applies as usual).
        r = sys.linkat(AT_FDCWD, proc_fd_path(obj.fd).c_str(), newdirfd, newname,
                       AT_SYMLINK_FOLLOW);
    }
    if (!r) return Errno{r.error()};
    return lookup_entry(sys, newdirfd, newname);
}

}  // namespace nfsguard::ops
