#include "fs/lock_owners.hpp"

#include <algorithm>

namespace nfsguard::fs {

ops::Result<ops::SharedFd> LockOwners::descriptor(
    const Inode& inode, uint64_t owner, pid_t pid, uint64_t handle,
    const std::function<ops::Result<ops::UniqueFd>()>& open) {
    auto note_handle = [handle](Owner& o) {
        if (std::find(o.handles.begin(), o.handles.end(), handle) == o.handles.end())
            o.handles.push_back(handle);
    };
    {
        std::lock_guard lock(mutex_);
        if (auto it = owners_.find(Key{&inode, owner}); it != owners_.end()) {
            it->second.pid = pid;
            note_handle(it->second);
            return it->second.fd;
        }
    }
    // Opened without the lock held: a backing open may be a slow NFS call.
    // One owner's requests come one at a time (a process waits for its
    // fcntl), so two opens for one owner do not race.
    auto fd = open();
    if (!fd) return ops::Errno{fd.error()};
    std::lock_guard lock(mutex_);
    auto [it, inserted] =
        owners_.emplace(Key{&inode, owner}, Owner{ops::share(std::move(*fd)), pid, {}});
    note_handle(it->second);
    return it->second.fd;
}

ops::SharedFd LockOwners::find(const Inode& inode, uint64_t owner) const {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(Key{&inode, owner});
    return it == owners_.end() ? nullptr : it->second.fd;
}

std::vector<LockOwners::Owner> LockOwners::others(const Inode& inode, uint64_t owner) const {
    std::lock_guard lock(mutex_);
    std::vector<Owner> result;
    for (auto it = owners_.lower_bound(Key{&inode, 0});
         it != owners_.end() && it->first.first == &inode; ++it) {
        if (it->first.second != owner) result.push_back(it->second);
    }
    return result;
}

void LockOwners::release(const Inode& inode, uint64_t owner) {
    ops::SharedFd fd;  // closed (a backing call) once the mutex is let go
    {
        std::lock_guard lock(mutex_);
        auto it = owners_.find(Key{&inode, owner});
        if (it == owners_.end()) return;
        fd = std::move(it->second.fd);
        owners_.erase(it);
    }
}

void LockOwners::handle_released(const Inode& inode, uint64_t handle) {
    std::vector<ops::SharedFd> closing;  // closed once the mutex is let go
    std::lock_guard lock(mutex_);
    for (auto it = owners_.lower_bound(Key{&inode, 0});
         it != owners_.end() && it->first.first == &inode;) {
        const auto& handles = it->second.handles;
        if (std::find(handles.begin(), handles.end(), handle) == handles.end()) {
            ++it;
            continue;
        }
        closing.push_back(std::move(it->second.fd));
        it = owners_.erase(it);
    }
}

size_t LockOwners::size() const {
    std::lock_guard lock(mutex_);
    return owners_.size();
}

}  // namespace nfsguard::fs
