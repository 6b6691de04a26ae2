// Reading a backing directory's entries, and the path of a descriptor.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

#include "ops/syscalls.hpp"

namespace nfsguard::ops {

// True when every entry of directory `name` in `dirfd` ("." and ".." aside)
// satisfies `pred` -- an empty directory satisfies any. False when it cannot
// be read, or when `expected` is given and the directory opened is not that
// object.
bool every_entry(Syscalls& sys, int dirfd, const char* name,
                 const std::function<bool(const char*)>& pred,
                 const struct stat* expected = nullptr);

// The path the kernel knows for descriptor `fd` (readlink of
// /proc/self/fd/N); empty when it cannot say.
std::string path_of_fd(int fd);

}  // namespace nfsguard::ops
