#include "fs/lock_owners.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace nfsguard::fs {
namespace {

// Moves to `gone` the owners in `owners` (keyed by (object, owner), so an
// object's owners are adjacent) of `object` that used `handle`.
template <typename Map, typename Object>
void take_owners_of_handle(Map& owners, Object object, uint64_t handle,
                           std::vector<LockOwners::Owner>& gone) {
    for (auto it = owners.lower_bound(typename Map::key_type{object, 0});
         it != owners.end() && it->first.first == object;) {
        const auto& handles = it->second.handles;
        if (std::find(handles.begin(), handles.end(), handle) == handles.end()) {
            ++it;
            continue;
        }
        gone.push_back(std::move(it->second));
        it = owners.erase(it);
    }
}

}  // namespace

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
            if (keeper_.keep && it->second.kept_as.empty() && keeper_.not_kept)
                keeper_.not_kept(handle);
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
        owners_.emplace(Key{&inode, owner}, Owner{ops::share(std::move(*fd)), pid, {}, {}});
    note_handle(it->second);
    if (inserted && keeper_.keep) {
        const std::string name = kept_name(inode.id, owner, handle);
        if (keeper_.keep(name, it->second.fd->get()))
            it->second.kept_as = name;
        else if (keeper_.not_kept)
            keeper_.not_kept(handle);
    }
    return it->second.fd;
}

std::string LockOwners::kept_name(uint64_t node_id, uint64_t owner, uint64_t handle) {
    char name[80];
    std::snprintf(name, sizeof name, "lock-%" PRIx64 "-%" PRIx64 "-%" PRIx64, node_id, owner,
                  handle);
    return name;
}

bool LockOwners::parse_kept_name(const std::string& name, uint64_t& node_id, uint64_t& owner,
                                 uint64_t& handle) {
    int end = 0;
    return std::sscanf(name.c_str(), "lock-%" SCNx64 "-%" SCNx64 "-%" SCNx64 "%n", &node_id, &owner,
                       &handle, &end) == 3 &&
           static_cast<size_t>(end) == name.size();
}

void LockOwners::drop(std::vector<Owner>& gone) {
    for (Owner& o : gone)
        if (!o.kept_as.empty() && keeper_.drop) keeper_.drop(o.kept_as, o.fd->get());
    gone.clear();  // the descriptors close here, unless a request still uses one
}

bool LockOwners::adopt_kept(const std::string& name, ops::UniqueFd fd) {
    uint64_t node_id = 0, owner = 0, handle = 0;
    if (!parse_kept_name(name, node_id, owner, handle)) return false;
    std::lock_guard lock(mutex_);
    kept_.insert_or_assign(std::pair{node_id, owner},
                           Owner{ops::share(std::move(fd)), 0, {handle}, name});
    return true;
}

ops::SharedFd LockOwners::find_kept(uint64_t node_id, uint64_t owner) const {
    std::lock_guard lock(mutex_);
    auto it = kept_.find({node_id, owner});
    return it == kept_.end() ? nullptr : it->second.fd;
}

void LockOwners::release_kept(uint64_t node_id, uint64_t owner) {
    std::vector<Owner> gone;
    {
        std::lock_guard lock(mutex_);
        auto it = kept_.find({node_id, owner});
        if (it == kept_.end()) return;
        gone.push_back(std::move(it->second));
        kept_.erase(it);
    }
    drop(gone);
}

void LockOwners::kept_handle_released(uint64_t node_id, uint64_t handle) {
    std::vector<Owner> gone;
    {
        std::lock_guard lock(mutex_);
        take_owners_of_handle(kept_, node_id, handle, gone);
    }
    drop(gone);
}

size_t LockOwners::kept_size() const {
    std::lock_guard lock(mutex_);
    return kept_.size();
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
    std::vector<Owner> gone;  // closed (a backing call) once the mutex is let go
    {
        std::lock_guard lock(mutex_);
        auto it = owners_.find(Key{&inode, owner});
        if (it == owners_.end()) return;
        gone.push_back(std::move(it->second));
        owners_.erase(it);
    }
    drop(gone);
}

void LockOwners::handle_released(const Inode& inode, uint64_t handle) {
    std::vector<Owner> gone;  // closed once the mutex is let go
    {
        std::lock_guard lock(mutex_);
        take_owners_of_handle(owners_, &inode, handle, gone);
    }
    drop(gone);
}

std::vector<LockOwners::Held> LockOwners::held() const {
    std::lock_guard lock(mutex_);
    std::vector<Held> out;
    for (const auto& [key, state] : owners_) out.push_back(Held{key.first->id, key.second, state});
    return out;
}

void LockOwners::adopt(const Inode& inode, uint64_t owner, Owner state) {
    std::lock_guard lock(mutex_);
    owners_.insert_or_assign(Key{&inode, owner}, std::move(state));
}

size_t LockOwners::size() const {
    std::lock_guard lock(mutex_);
    return owners_.size();
}

}  // namespace nfsguard::fs
