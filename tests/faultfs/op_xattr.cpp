// setxattr, getxattr, listxattr, removexattr. The l*xattr calls take a path
// only; /proc/self/fd/DIR/NAME reaches the entry through its parent's
// descriptor without following a symlink at NAME.
#include <sys/xattr.h>

#include "tests/faultfs/call.hpp"
#include "tests/faultfs/handlers.hpp"

namespace nfsguard::faultfs {

int fs_setxattr(const char* path, const char* name, const char* value, size_t size, int flags) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    return result_of(::lsetxattr(proc_path(*at).c_str(), name, value, size, flags));
}

int fs_getxattr(const char* path, const char* name, char* value, size_t size) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    ssize_t n = ::lgetxattr(proc_path(*at).c_str(), name, value, size);
    return n == -1 ? -errno : static_cast<int>(n);
}

int fs_listxattr(const char* path, char* list, size_t size) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    ssize_t n = ::llistxattr(proc_path(*at).c_str(), list, size);
    return n == -1 ? -errno : static_cast<int>(n);
}

int fs_removexattr(const char* path, const char* name) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    return result_of(::lremovexattr(proc_path(*at).c_str(), name));
}

}  // namespace nfsguard::faultfs
