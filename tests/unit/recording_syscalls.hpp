// RecordingSyscalls: the real calls, with every path they were given kept,
// so a test can check that nfsguard names nothing but single components under
// descriptors it holds, and /proc/self/fd magic links.
#pragma once

#include <string>
#include <vector>

#include "ops/syscalls.hpp"

namespace nfsguard::test {

class RecordingSyscalls : public ops::Syscalls {
  public:
    std::vector<std::string> paths;
    int openat_calls = 0;

    ops::Result<ops::UniqueFd> openat(int dirfd, const char* path, int flags,
                                      mode_t mode) override {
        ++openat_calls;
        paths.emplace_back(path);
        return Syscalls::openat(dirfd, path, flags, mode);
    }
    ops::Result<struct stat> fstatat(int dirfd, const char* path, int flags) override {
        paths.emplace_back(path);
        return Syscalls::fstatat(dirfd, path, flags);
    }
    ops::Result<void> mkdirat(int dirfd, const char* name, mode_t mode) override {
        paths.emplace_back(name);
        return Syscalls::mkdirat(dirfd, name, mode);
    }
    ops::Result<void> unlinkat(int dirfd, const char* name, int flags) override {
        paths.emplace_back(name);
        return Syscalls::unlinkat(dirfd, name, flags);
    }
    ops::Result<void> renameat2(int olddirfd, const char* oldname, int newdirfd,
                                const char* newname, unsigned flags) override {
        paths.emplace_back(oldname);
        paths.emplace_back(newname);
        return Syscalls::renameat2(olddirfd, oldname, newdirfd, newname, flags);
    }
    ops::Result<void> linkat(int olddirfd, const char* oldpath, int newdirfd, const char* newname,
                             int flags) override {
        paths.emplace_back(oldpath);
        paths.emplace_back(newname);
        return Syscalls::linkat(olddirfd, oldpath, newdirfd, newname, flags);
    }
    ops::Result<void> chmod(const char* path, mode_t mode) override {
        paths.emplace_back(path);
        return Syscalls::chmod(path, mode);
    }
    ops::Result<void> truncate(const char* path, off_t size) override {
        paths.emplace_back(path);
        return Syscalls::truncate(path, size);
    }
    ops::Result<void> utimensat(int dirfd, const char* path, const struct timespec times[2],
                                int flags) override {
        paths.emplace_back(path ? path : "");
        return Syscalls::utimensat(dirfd, path, times, flags);
    }

    // True when every recorded path is one component, or a /proc/self/fd
    // magic link (optionally followed by one component).
    bool only_single_components() const;
};

inline bool RecordingSyscalls::only_single_components() const {
    const std::string proc = "/proc/self/fd/";
    for (const auto& p : paths) {
        std::string rest = p;
        if (rest.rfind(proc, 0) == 0) {
            rest = rest.substr(proc.size());
            auto slash = rest.find('/');
            if (slash == std::string::npos) continue;  // the magic link itself
            rest = rest.substr(slash + 1);
        }
        if (rest == "." || rest == ".." || rest.find('/') != std::string::npos) return false;
    }
    return true;
}

}  // namespace nfsguard::test
