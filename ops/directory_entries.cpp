#include "ops/directory_entries.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "ops/located.hpp"

namespace nfsguard::ops {

bool every_entry(Syscalls& sys, int dirfd, const char* name,
                 const std::function<bool(const char*)>& pred, const struct stat* expected) {
    auto fd = sys.openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd) return false;
    if (expected != nullptr) {
        auto opened = sys.fstat(fd->get());
        if (!opened || opened->st_dev != expected->st_dev || opened->st_ino != expected->st_ino)
            return false;
    }
    bool all = true;
    auto read = sys.read_directory(fd->get(), [&](const char* entry) { return all = pred(entry); });
    return read && all;
}

std::string path_of_fd(int fd) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(proc_fd_path(fd).c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace nfsguard::ops
