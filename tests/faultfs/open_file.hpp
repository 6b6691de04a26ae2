// OpenFile, OpenDir: what fuse_file_info::fh points to while a file or
// directory is open.
//
// Each keeps the entry name it was opened by. libfuse may hand later calls
// on the handle no path at all (nullpath_ok, and an unlinked file has none),
// yet close_error and estale faults are aimed at names.
#pragma once

#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fuse.h>

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ops/unique_fd.hpp"

namespace nfsguard::faultfs {

// The inodes open files hold. An NFS client that has a file open holds its
// file handle, and GETATTR by handle needs no search permission on the path.
class OpenInodes {
  public:
    void add(ino_t ino) {
        std::lock_guard lock(mutex_);
        ++count_[ino];
    }
    void remove(ino_t ino) {
        std::lock_guard lock(mutex_);
        if (auto it = count_.find(ino); it != count_.end() && --it->second == 0) count_.erase(it);
    }
    bool contains(ino_t ino) {
        std::lock_guard lock(mutex_);
        return count_.count(ino) != 0;
    }

  private:
    std::mutex mutex_;
    std::unordered_map<ino_t, int> count_;
};
OpenInodes& open_inodes();

struct OpenFile {
    OpenFile() = default;
    ~OpenFile() {
        if (ino != 0) open_inodes().remove(ino);
    }
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;

    ops::UniqueFd fd;
    std::string name;
    bool writable = false;  // opened for writing: only then can closing it fail
    ino_t ino = 0;          // registered in open_inodes() while open

    static OpenFile& of(const struct fuse_file_info* fi) {
        return *reinterpret_cast<OpenFile*>(static_cast<std::uintptr_t>(fi->fh));
    }
};

struct OpenDir {
    OpenDir(DIR* d, std::string n) : dir(d), name(std::move(n)) {}
    ~OpenDir() { ::closedir(dir); }
    OpenDir(const OpenDir&) = delete;
    OpenDir& operator=(const OpenDir&) = delete;

    DIR* const dir;
    const std::string name;
    // A directory stream has one position; readdir calls on one handle must
    // not interleave.
    std::mutex mutex;
    struct dirent* pending = nullptr;  // read but not yet taken by the kernel
    off_t offset = 0;                  // where `dir` stands, as telldir tells

    static OpenDir& of(const struct fuse_file_info* fi) {
        return *reinterpret_cast<OpenDir*>(static_cast<std::uintptr_t>(fi->fh));
    }
};

}  // namespace nfsguard::faultfs
