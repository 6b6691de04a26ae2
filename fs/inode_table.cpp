#include "fs/inode_table.hpp"

#include <algorithm>

#include "ops/namespace_ops.hpp"

namespace nfsguard::fs {
namespace {

// Parents recorded from lookups can go stale when other hosts move
// directories; a walk up that has not reached a cached directory after this
// many steps is taken for a loop in stale records and answered ESTALE.
constexpr size_t kMaxDepth = 4096;

}  // namespace

InodeTable::InodeTable(ops::Syscalls& sys, ops::UniqueFd root_fd, const struct stat& root_st,
                       size_t max_dir_fds)
    : sys_(sys), max_dir_fds_(std::max<size_t>(max_dir_fds, 1)) {
    auto root = std::make_unique<Inode>(root_st.st_dev, root_st.st_ino, S_IFDIR);
    root->nlookup = 1;  // the kernel never forgets the root
    root->dir_fd = ops::share(std::move(root_fd));
    root_ = root.get();
    index_.emplace(Key{root_st.st_dev, root_st.st_ino}, std::move(root));
}

InodeTable::~InodeTable() = default;

uint64_t InodeTable::id_of(const Inode& inode) const {
    if (&inode == root_) return kRootId;
    return reinterpret_cast<uintptr_t>(&inode);
}

Inode& InodeTable::from_id(uint64_t id) {
    if (id == kRootId) return *root_;
    return *reinterpret_cast<Inode*>(static_cast<uintptr_t>(id));
}

Inode& InodeTable::remember(Inode& parent, const std::string& name, const struct stat& st) {
    std::lock_guard lock(mutex_);
    const mode_t type = st.st_mode & S_IFMT;
    const Key key{st.st_dev, st.st_ino};
    Inode* inode = nullptr;
    auto it = index_.find(key);
    if (it != index_.end() && it->second->type == type) {
        inode = it->second.get();
    } else {
        if (it != index_.end()) {
            // The inode number was freed and reused for an object of another
            // type. The kernel still holds the old nodeid; it lives on, out of
            // the index, until the kernel forgets it.
            Inode* old = it->second.get();
            old->in_index = false;
            orphans_.emplace(old, std::move(it->second));
            index_.erase(it);
        }
        auto fresh = std::make_unique<Inode>(st.st_dev, st.st_ino, type);
        inode = fresh.get();
        index_.emplace(key, std::move(fresh));
    }
    ++inode->nlookup;
    if (inode != root_) {
        set_parent(*inode, &parent);
        inode->name = name;
    }
    return *inode;
}

void InodeTable::forget(Inode& inode, uint64_t nlookup) {
    std::lock_guard lock(mutex_);
    inode.nlookup -= std::min(nlookup, inode.nlookup);
    release_if_unused(&inode);
}

void InodeTable::moved(const struct stat& st, Inode& parent, const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key{st.st_dev, st.st_ino});
    if (it == index_.end() || it->second->type != (st.st_mode & S_IFMT)) return;
    Inode& inode = *it->second;
    if (&inode == root_) return;
    set_parent(inode, &parent);
    inode.name = name;
}

void InodeTable::set_parent(Inode& inode, Inode* parent) {
    if (inode.parent == parent) return;
    if (parent) ++parent->children;
    Inode* old = inode.parent;
    inode.parent = parent;
    if (old) {
        --old->children;
        release_if_unused(old);
    }
}

void InodeTable::release_if_unused(Inode* inode) {
    while (inode && inode != root_ && inode->nlookup == 0 && inode->children == 0) {
        Inode* parent = inode->parent;
        if (inode->dir_fd) lru_.erase(inode->lru_pos);
        if (inode->in_index)
            index_.erase(Key{inode->dev, inode->ino});
        else
            orphans_.erase(inode);
        // `inode` is freed now.
        if (parent) --parent->children;
        inode = parent;
    }
}

void InodeTable::touch(Inode& dir) {
    if (&dir == root_ || !dir.dir_fd) return;
    lru_.splice(lru_.begin(), lru_, dir.lru_pos);
}

void InodeTable::cache_dir_fd(Inode& dir, ops::SharedFd fd) {
    if (dir.dir_fd || !S_ISDIR(dir.type)) return;
    dir.dir_fd = std::move(fd);
    lru_.push_front(&dir);
    dir.lru_pos = lru_.begin();
    while (lru_.size() > max_dir_fds_) {
        Inode* victim = lru_.back();
        lru_.pop_back();
        victim->dir_fd.reset();  // closed when its last user is done
    }
}

ops::Result<ops::SharedFd> InodeTable::directory_fd(Inode& dir) {
    std::unique_lock lock(mutex_);
    return resolve_dir(dir, lock);
}

ops::Result<ops::SharedFd> InodeTable::resolve_dir(Inode& dir, std::unique_lock<std::mutex>& lock) {
    if (!S_ISDIR(dir.type)) {
        lock.unlock();
        return ops::Errno{ENOTDIR};
    }
    // Plan under the lock: the names from the nearest directory whose
    // descriptor is cached down to `dir`.
    std::vector<Step> steps;
    Inode* cur = &dir;
    while (!cur->dir_fd) {
        if (cur->parent == nullptr || steps.size() >= kMaxDepth) {
            lock.unlock();
            return ops::Errno{ESTALE};
        }
        steps.push_back(Step{cur->name, cur->dev, cur->ino, cur->type});
        cur = cur->parent;
    }
    ops::SharedFd fd = cur->dir_fd;
    touch(*cur);
    lock.unlock();
    if (steps.empty()) return fd;

    // Walk down without the lock: these are backing calls, maybe slow ones.
    std::reverse(steps.begin(), steps.end());
    std::vector<ops::SharedFd> opened;
    opened.reserve(steps.size());
    for (const Step& step : steps) {
        auto o = ops::open_entry(sys_, fd->get(), step.name.c_str(), step.dev, step.ino);
        if (!o) return ops::Errno{o.error()};
        fd = ops::share(std::move(o->fd));
        opened.push_back(fd);
    }

    // Cache what was opened, in whichever inodes stand for those objects now.
    lock.lock();
    for (size_t i = 0; i < steps.size(); ++i) {
        auto it = index_.find(Key{steps[i].dev, steps[i].ino});
        if (it != index_.end()) cache_dir_fd(*it->second, opened[i]);
    }
    lock.unlock();
    return fd;
}

ops::Result<Target> InodeTable::locate(Inode& inode) {
    if (S_ISDIR(inode.type)) {
        auto fd = directory_fd(inode);
        if (!fd) return ops::Errno{fd.error()};
        return Target{std::move(*fd), nullptr, {}, S_IFDIR};
    }
    std::unique_lock lock(mutex_);
    for (const auto& weak : inode.open_files) {
        if (auto fd = weak.lock()) return Target{std::move(fd), nullptr, {}, inode.type};
    }
    if (inode.parent == nullptr) return ops::Errno{ESTALE};
    std::string name = inode.name;
    const dev_t dev = inode.dev;
    const ino_t ino = inode.ino;
    auto parent_fd = resolve_dir(*inode.parent, lock);
    if (!parent_fd) return ops::Errno{parent_fd.error()};
    auto o = ops::open_entry(sys_, (*parent_fd)->get(), name.c_str(), dev, ino);
    if (!o) return ops::Errno{o.error()};
    return Target{ops::share(std::move(o->fd)), std::move(*parent_fd), std::move(name),
                  inode.type};
}

void InodeTable::opened(Inode& inode, const ops::SharedFd& fd) {
    std::lock_guard lock(mutex_);
    std::erase_if(inode.open_files, [](const auto& weak) { return weak.expired(); });
    inode.open_files.push_back(fd);
}

size_t InodeTable::size() const {
    std::lock_guard lock(mutex_);
    return index_.size() + orphans_.size();
}

size_t InodeTable::cached_dir_fds() const {
    std::lock_guard lock(mutex_);
    return lru_.size();
}

}  // namespace nfsguard::fs
