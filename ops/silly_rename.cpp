#include "ops/silly_rename.hpp"

#include "ops/directory_entries.hpp"

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
    return every_entry(sys, dirfd, name, is_silly_rename);
}

}  // namespace nfsguard::ops
