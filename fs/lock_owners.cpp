#include "fs/lock_owners.hpp"

namespace nfsguard::fs {

ops::Result<ops::SharedFd> LockOwners::descriptor(
    const Inode& inode, uint64_t owner, pid_t pid,
    const std::function<ops::Result<ops::UniqueFd>()>& open) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = owners_.find(Key{&inode, owner}); it != owners_.end()) {
            it->second.pid = pid;
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
        owners_.emplace(Key{&inode, owner}, Owner{ops::share(std::move(*fd)), pid});
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

size_t LockOwners::size() const {
    std::lock_guard lock(mutex_);
    return owners_.size();
}

}  // namespace nfsguard::fs
