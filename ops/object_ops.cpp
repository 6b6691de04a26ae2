#include "ops/object_ops.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "ops/identity.hpp"

namespace nfsguard::ops {

namespace {

// The path that reaches `obj` for the *xattr calls, and whether to follow it.
// /proc/self/fd/N of an O_PATH descriptor on a symlink names the magic link,
// not the symlink, so symlinks are named by their parent's descriptor and
// their name instead, with the l*xattr calls.
struct XattrPath {
    std::string path;
    bool follow;
};

XattrPath xattr_path(const Located& obj) {
    if (obj.is_symlink() && obj.parent_fd >= 0)
        return {proc_fd_path(obj.parent_fd) + "/" + obj.name, false};
    return {proc_fd_path(obj.fd), true};
}

}  // namespace

Result<struct stat> stat_object(Syscalls& sys, const Located& obj) {
    return sys.fstat(obj.fd);
}

Result<struct statvfs> statfs_object(Syscalls& sys, const Located& obj) {
    return sys.fstatvfs(obj.fd);
}

Result<void> change_mode(Syscalls& sys, const Located& obj, mode_t mode) {
    // Linux has no mode on symlinks; fchmodat(AT_SYMLINK_NOFOLLOW) says so too.
    if (obj.is_symlink()) return Errno{EOPNOTSUPP};
    return sys.chmod(proc_fd_path(obj.fd).c_str(), mode);
}

bool is_set_id_kill_by_writer(Syscalls& sys, const Located& obj, mode_t mode) {
    constexpr mode_t kSetId = S_ISUID | S_ISGID;
    if (!S_ISREG(obj.type)) return false;
    auto st = stat_object(sys, obj);
    if (!st) return false;
    const mode_t now = st->st_mode & 07777;
    const mode_t asked = mode & 07777;
    // Only set-ID bits dropped, at least one, nothing else changed.
    if ((asked & ~kSetId) != (now & ~kSetId) || (asked & kSetId & ~now) != 0 ||
        (now & kSetId) == (asked & kSetId))
        return false;
    return static_cast<bool>(check_access(sys, obj, W_OK));
}

Result<void> change_mode_for_caller(Syscalls& sys, const Located& obj, mode_t mode,
                                    bool& left_to_write) {
    left_to_write = false;
    auto res = change_mode(sys, obj, mode);
    if (res || res.error() != EPERM || !is_set_id_kill_by_writer(sys, obj, mode)) return res;
    ScopedIdentity as_root(Identity::root());
    left_to_write = !change_mode(sys, obj, mode);
    return {};
}

Result<void> change_owner(Syscalls& sys, const Located& obj, uid_t uid, gid_t gid) {
    return sys.fchownat(obj.fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

Result<void> truncate_object(Syscalls& sys, const Located& obj, off_t size) {
    if (S_ISDIR(obj.type)) return Errno{EISDIR};
    if (!S_ISREG(obj.type)) return Errno{EINVAL};
    return sys.truncate(proc_fd_path(obj.fd).c_str(), size);
}

Result<void> set_times(Syscalls& sys, const Located& obj, const struct timespec times[2]) {
    if (obj.is_symlink()) {
        if (obj.parent_fd < 0) return Errno{EPERM};
        return sys.utimensat(obj.parent_fd, obj.name, times, AT_SYMLINK_NOFOLLOW);
    }
    return sys.utimensat(AT_FDCWD, proc_fd_path(obj.fd).c_str(), times, 0);
}

Result<void> check_access(Syscalls& sys, const Located& obj, int mask) {
    return sys.faccessat(AT_FDCWD, proc_fd_path(obj.fd).c_str(), mask, AT_EACCESS);
}

Result<std::string> read_link(Syscalls& sys, const Located& obj) {
    if (!obj.is_symlink()) return Errno{EINVAL};
    return sys.readlinkat(obj.fd, "");
}

Result<UniqueFd> reopen(Syscalls& sys, const Located& obj, int flags) {
    if (obj.is_symlink()) return Errno{ELOOP};
    // O_NOFOLLOW was the kernel's to apply, at its lookup; here it would
    // refuse the magic link itself.
    flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
    return sys.openat(AT_FDCWD, proc_fd_path(obj.fd).c_str(), flags);
}

Result<size_t> get_xattr(Syscalls& sys, const Located& obj, const char* name, void* value,
                         size_t size) {
    auto p = xattr_path(obj);
    return sys.getxattr(p.path.c_str(), p.follow, name, value, size);
}

Result<void> set_xattr(Syscalls& sys, const Located& obj, const char* name, const void* value,
                       size_t size, int flags) {
    auto p = xattr_path(obj);
    return sys.setxattr(p.path.c_str(), p.follow, name, value, size, flags);
}

Result<size_t> list_xattr(Syscalls& sys, const Located& obj, char* list, size_t size) {
    auto p = xattr_path(obj);
    return sys.listxattr(p.path.c_str(), p.follow, list, size);
}

Result<void> remove_xattr(Syscalls& sys, const Located& obj, const char* name) {
    auto p = xattr_path(obj);
    return sys.removexattr(p.path.c_str(), p.follow, name);
}

}  // namespace nfsguard::ops
