// What stands behind fuse_file_info::fh: one backing descriptor per open of
// the caller, opened with the caller's flags and rights, closed at release;
// the handle is an id of a Handles table (an IdTable that owns the objects).
#pragma once

#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fuse_lowlevel.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "fs/id_table.hpp"
#include "fs/table_mirror.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

class Tenure;  // fs/ownership/ownership.hpp

struct OpenFile {
    explicit OpenFile(ops::UniqueFd f, int error = ESTALE)
        : fd(ops::share(std::move(f))), dead_errno(error) {}
    ops::SharedFd fd;  // shared with the inode table (see Inode::open_files)
    // What a handle with no descriptor answers (one a crashed process had
    // open that cannot be opened again, fs/table_mirror.hpp).
    const int dead_errno;
    // The holding of its unit it was opened under (null: in no unit).
    std::shared_ptr<Tenure> tenure;
    int get() const { return fd->get(); }
};

// An open directory stream. readdir requests on one handle may come from
// several threads; the mutex keeps the stream and its offset together.
struct OpenDir {
    explicit OpenDir(DIR* d) : dir(d) {}
    ~OpenDir() {
        if (dir) closedir(dir);
    }
    OpenDir(const OpenDir&) = delete;
    OpenDir& operator=(const OpenDir&) = delete;

    std::mutex mutex;
    std::shared_ptr<Tenure> tenure;  // as OpenFile::tenure
    DIR* dir;
    off_t offset = 0;                  // position of `pending`, or of the stream
    struct dirent* pending = nullptr;  // read but not yet given to the kernel
};

// The handles of open files (or directories): a handle this run did not
// give is unknown, never another file's descriptor (fs/id_table.hpp).
// What a handle stands for lives on while a request still holds it: the
// release of a process killed in its close comes while its flush is served.
template <typename T>
class Handles {
  public:
    explicit Handles(uint32_t epoch) : ids_(epoch) {}
    uint64_t add(std::unique_ptr<T> object) {
        std::shared_ptr<T> owned(std::move(object));
        std::unique_lock lock(mutex_);
        const uint64_t handle = ids_.assign(owned.get());
        owned_.emplace(handle, std::move(owned));
        return handle;
    }
    std::shared_ptr<T> find(uint64_t handle) const {
        std::shared_lock lock(mutex_);
        auto it = owned_.find(handle);
        return it == owned_.end() ? nullptr : it->second;
    }
    // A handle another process gave, taken up (a planned restart).
    bool place(uint64_t handle, std::unique_ptr<T> object) {
        std::shared_ptr<T> owned(std::move(object));
        std::unique_lock lock(mutex_);
        if (!ids_.place(handle, owned.get())) return false;
        owned_.emplace(handle, std::move(owned));
        return true;
    }
    void done_placing() { ids_.done_placing(); }
    template <typename Fn>
    void for_each(Fn fn) const {
        ids_.for_each(fn);
    }
    // Removed handles are cleared from `mirror` (fs/table_mirror.hpp) before
    // their id can serve again: cleared after, the next holder's record goes.
    void mirror_to(TableMirror* mirror, TableMirror::Kind kind) {
        mirror_ = mirror;
        kind_ = kind;
    }
    // The object of `handle`, which is unknown from now on.
    std::shared_ptr<T> remove(uint64_t handle) {
        std::unique_lock lock(mutex_);
        if (ids_.release(handle, [this](uint64_t id) {
                if (mirror_) mirror_->clear_file(id, kind_);
            }) == nullptr)
            return nullptr;
        auto owned = owned_.extract(handle);
        return owned ? std::move(owned.mapped()) : nullptr;
    }

  private:
    mutable std::shared_mutex mutex_;
    IdTable<T> ids_;  // gives the handles; owned_ keeps their objects
    std::unordered_map<uint64_t, std::shared_ptr<T>> owned_;
    TableMirror* mirror_ = nullptr;
    TableMirror::Kind kind_ = TableMirror::Kind::file;
};

// Waits, at most `limit`, until no request but the caller holds `object`
// (Request::open_file holds it while serving; a read's reply reads its
// descriptor as it is sent): a release closes the backing descriptor before
// it answers, so that an unlink right after finds it closed, not open (the
// NFS client would silly-rename it).
template <typename T>
void wait_for_other_holders(const std::shared_ptr<T>& object, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (object.use_count() > 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
}

}  // namespace nfsguard::fs
