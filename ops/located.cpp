#include "ops/located.hpp"

#include <cstdio>

namespace nfsguard::ops {

std::string proc_fd_path(int fd) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
    return buf;
}

}  // namespace nfsguard::ops
