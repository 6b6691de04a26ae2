#include "tests/faultfs/backing.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace nfsguard::faultfs {

ops::Result<Located> Backing::locate(const char* path) const {
    if (path == nullptr) return ops::Errno{EBADF};  // an unlinked open file with no handle
    std::string_view p(path);
    while (p.starts_with('/')) p.remove_prefix(1);
    Located at;
    at.dir = root_.get();
    if (p.empty()) {
        at.name = ".";
        return at;
    }
    const size_t slash = p.rfind('/');
    if (slash == std::string_view::npos) {
        at.name = p;
        return at;
    }
    at.name = p.substr(slash + 1);
    const std::string parent(p.substr(0, slash));
    struct open_how how {};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd =
        static_cast<int>(::syscall(SYS_openat2, root_.get(), parent.c_str(), &how, sizeof how));
    if (fd == -1) return ops::last_errno();
    at.owned.reset(fd);
    at.dir = fd;
    return at;
}

std::string_view entry_name(const char* path) {
    if (path == nullptr) return {};
    std::string_view p(path);
    const size_t slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

std::string proc_path(const Located& at) {
    return "/proc/self/fd/" + std::to_string(at.dir) + "/" + at.name;
}

}  // namespace nfsguard::faultfs
