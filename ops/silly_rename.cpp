#include "ops/silly_rename.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <cctype>
#include <cstring>

namespace nfsguard::ops {

bool is_silly_rename(const char* name) {
    if (std::strncmp(name, ".nfs", 4) != 0 || std::strlen(name) != 4 + 24) return false;
    for (const char* p = name + 4; *p; ++p) {
        if (!std::isxdigit(static_cast<unsigned char>(*p))) return false;
    }
    return true;
}

bool holds_only_silly_renames(Syscalls& sys, int dirfd, const char* name) {
    auto fd = sys.openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd) return false;
    DIR* dir = ::fdopendir(fd->get());
    if (dir == nullptr) return false;
    fd->release();
    bool only_silly = true;
    while (struct dirent* e = ::readdir(dir)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        if (!is_silly_rename(e->d_name)) {
            only_silly = false;
            break;
        }
    }
    ::closedir(dir);
    return only_silly;
}

}  // namespace nfsguard::ops
