#include "fs/inode_table.hpp"

#include <algorithm>
#include <cassert>
#include <climits>
#include <thread>
#include <unordered_set>

#include "ops/namespace_ops.hpp"

namespace nfsguard::fs {
namespace {

// Parents recorded from lookups can go stale when other hosts move
// directories; a walk up that has not reached a cached directory after this
// many steps is taken for a loop in stale records and answered ESTALE.
constexpr size_t kMaxDepth = 4096;
// How often wait_for_release looks again: a release comes within
// microseconds of the close that caused it.
constexpr std::chrono::microseconds kReleasePoll{100};

}  // namespace

InodeTable::InodeTable(ops::Syscalls& sys, ops::UniqueFd root_fd, const struct stat& root_st,
                       size_t max_dir_fds, uint32_t epoch)
    : sys_(sys), max_dir_fds_(std::max<size_t>(max_dir_fds, 1)), ids_(epoch) {
    auto root = std::make_unique<Inode>(root_st.st_dev, root_st.st_ino, S_IFDIR);
    root->id = kRootId;
    root->nlookup = 1;  // the kernel never forgets the root
    root->dir_fd = ops::share(std::move(root_fd));
    root_ = root.get();
    index_.emplace(Key{root_st.st_dev, root_st.st_ino}, std::move(root));
}

InodeTable::~InodeTable() = default;

Inode* InodeTable::find(uint64_t id) {
    if (id == kRootId) return root_.load(std::memory_order_acquire);
    return ids_.find(id);
}

Inode& InodeTable::from_id(uint64_t id) {
    Inode* inode = find(id);
    assert(inode != nullptr && "an id just given is known");
    return *inode;
}

Inode& InodeTable::remember(Inode& parent, const std::string& name, const struct stat& st,
                            Origin origin, Names* evicted) {
    std::lock_guard lock(mutex_);
    const mode_t type = st.st_mode & S_IFMT;
    const Key key{st.st_dev, st.st_ino};
    Inode* inode = nullptr;
    auto it = index_.find(key);
    if (it != index_.end() && it->second.get() == root_) {
        ++root_.load()->nlookup;
        return *root_;
    }
    if (it != index_.end() && it->second->type == type && origin == Origin::looked_up) {
        inode = it->second.get();
    } else {
        if (it != index_.end()) {
            // The inode number was freed and reused (for an object of another
            // type, or for one just made). The kernel still holds the old
            // nodeid; it lives on, out of the index and without names, until
            // the kernel forgets it: using it answers ESTALE, and the kernel
            // looks the name up again.
            Inode* old = it->second.get();
            while (!old->aliases.empty())
                drop_alias(*old, old->aliases.back().parent, old->aliases.back().name);
            old->in_index = false;
            note(*old);
            orphans_.emplace(old, std::move(it->second));
            index_.erase(it);
        }
        auto fresh = std::make_unique<Inode>(st.st_dev, st.st_ino, type);
        inode = fresh.get();
        inode->id = ids_.assign(inode);
        index_.emplace(key, std::move(fresh));
    }
    ++inode->nlookup;
    if (inode != root_) add_alias(*inode, parent, name, evicted);
    note(*inode);
    return *inode;
}

void InodeTable::forget(Inode& inode, uint64_t nlookup) {
    std::lock_guard lock(mutex_);
    inode.nlookup -= std::min(nlookup, inode.nlookup);
    note(inode);
    release_if_unused(&inode);
}

void InodeTable::moved(const ops::ObjectId& obj, Inode& from, const std::string& from_name,
                       Inode& to, const std::string& to_name, Names* evicted) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key{obj.dev, obj.ino});
    if (it == index_.end() || it->second->type != obj.type) return;
    Inode& inode = *it->second;
    if (&inode == root_) return;
    drop_alias(inode, &from, from_name);
    add_alias(inode, to, to_name, evicted);
    note(inode);
}

std::optional<ops::ObjectId> InodeTable::known_at(const Inode& parent,
                                                  const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = names_.find(NameKey{&parent, name});
    if (it == names_.end()) return std::nullopt;
    const Inode& inode = *it->second;
    return ops::ObjectId{inode.dev, inode.ino, inode.type};
}

void InodeTable::unindex_name(const Inode* parent, const std::string& name, const Inode* inode) {
    NameKey key{parent, name};
    if (auto it = names_.find(key); it != names_.end() && it->second == inode) {
        names_.erase(it);
        return;
    }
    forget_displaced(key, inode);
}

void InodeTable::forget_displaced(const NameKey& key, const Inode* inode) {
    auto [first, last] = displaced_.equal_range(key);
    for (auto it = first; it != last; ++it) {
        if (it->second == inode) {
            displaced_.erase(it);
            return;
        }
    }
}

void InodeTable::add_alias(Inode& inode, Inode& parent, const std::string& name, Names* evicted) {
    NameKey key{&parent, name};
    auto [named, fresh] = names_.try_emplace(key, &inode);
    if (!fresh && named->second != &inode) {
        // The name's newer object; the older keeps the alias until it finds
        // it stale, and may be open under it (open_file_at).
        displaced_.emplace(key, named->second);
        named->second = &inode;
    }
    forget_displaced(key, &inode);
    auto& aliases = inode.aliases;
    auto same = [&](const Inode::Alias& a) { return a.parent == &parent && a.name == name; };
    if (auto it = std::find_if(aliases.begin(), aliases.end(), same); it != aliases.end()) {
        std::rotate(aliases.begin(), it, it + 1);
        return;
    }
    ++parent.children;
    aliases.insert(aliases.begin(), Inode::Alias{&parent, name});
    // A directory has a single name: a new one means it was moved.
    const size_t max = S_ISDIR(inode.type) ? 1 : Inode::kMaxAliases;
    while (aliases.size() > max) {
        Inode* old_parent = aliases.back().parent;
        unindex_name(old_parent, aliases.back().name, &inode);
        if (evicted) evicted->emplace_back(id_of(*old_parent), std::move(aliases.back().name));
        aliases.pop_back();
        --old_parent->children;
        release_if_unused(old_parent);
    }
}

void InodeTable::drop_alias(Inode& inode, const Inode* parent, const std::string& name) {
    auto& aliases = inode.aliases;
    auto it = std::find_if(aliases.begin(), aliases.end(), [&](const Inode::Alias& a) {
        return a.parent == parent && a.name == name;
    });
    if (it == aliases.end()) return;
    Inode* old_parent = it->parent;
    unindex_name(old_parent, it->name, &inode);
    aliases.erase(it);
    --old_parent->children;
    release_if_unused(old_parent);
}

void InodeTable::release_if_unused(Inode* start) {
    // A parent is queued only when its child count reaches zero, which
    // happens once: nothing is visited after it was freed.
    std::vector<Inode*> work{start};
    while (!work.empty()) {
        Inode* inode = work.back();
        work.pop_back();
        if (inode == nullptr || inode == root_ || inode->nlookup != 0 || inode->children != 0)
            continue;
        for (const auto& alias : inode->aliases) {
            unindex_name(alias.parent, alias.name, inode);
            if (--alias.parent->children == 0) work.push_back(alias.parent);
        }
        if (inode->dir_fd) lru_.erase(inode->lru_pos);
        if (mirror_) mirror_->clear_node(inode->id);
        if (inode->id != kRootId) ids_.release(inode->id);
        if (inode->in_index)
            index_.erase(Key{inode->dev, inode->ino});
        else
            orphans_.erase(inode);
        // `inode` is freed now.
    }
}

void InodeTable::note(const Inode& inode) {
    if (!mirror_ || &inode == root_) return;
    const bool named = !inode.aliases.empty();
    mirror_->put(TableMirror::Node{inode.id, inode.dev, inode.ino, inode.type, inode.nlookup,
                                   inode.in_index, named ? inode.aliases.front().parent->id : 0,
                                   named ? inode.aliases.front().name : std::string()});
}

void InodeTable::mirror_to(TableMirror* mirror) {
    std::lock_guard lock(mutex_);
    mirror_ = mirror;
    for (const auto& [key, inode] : index_) note(*inode);
    for (const auto& [ptr, inode] : orphans_) note(*inode);
}

std::vector<std::pair<uint64_t, ops::SharedFd>> InodeTable::open_files_at(
    const Inode& parent, const std::string& name) const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<uint64_t, ops::SharedFd>> open;
    auto add = [&](const Inode* inode) {
        for (const auto& weak : inode->open_files) {
            if (auto fd = weak.lock()) {
                open.emplace_back(inode->id, std::move(fd));
                return;
            }
        }
    };
    const NameKey key{&parent, name};
    if (auto it = names_.find(key); it != names_.end()) add(it->second);
    auto [first, last] = displaced_.equal_range(key);
    for (auto it = first; it != last; ++it) add(it->second);
    return open;
}

bool InodeTable::has_open_files(const Inode& inode) const {
    std::lock_guard lock(mutex_);
    for (const auto& weak : inode.open_files)
        if (!weak.expired()) return true;
    return false;
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

ops::Result<InodeTable::Plan> InodeTable::plan(Inode& dir) {
    if (!S_ISDIR(dir.type)) return ops::Errno{ENOTDIR};
    std::vector<Step> steps;
    Inode* cur = &dir;
    while (!cur->dir_fd) {
        if (cur->aliases.empty() || steps.size() >= kMaxDepth) return ops::Errno{ESTALE};
        const Inode::Alias& alias = cur->aliases.front();
        steps.push_back(Step{alias.name, cur->dev, cur->ino});
        cur = alias.parent;
    }
    touch(*cur);
    std::reverse(steps.begin(), steps.end());
    return Plan{cur->dir_fd, std::move(steps), cur == root_};
}

ops::Result<ops::SharedFd> InodeTable::walk(const Plan& plan, bool* moved_on) {
    // Without the lock: these are backing calls, maybe slow ones.
    ops::SharedFd fd = plan.from;
    std::vector<ops::SharedFd> opened;
    opened.reserve(plan.steps.size());
    for (const Step& step : plan.steps) {
        bool other_object = false;
        auto o =
            ops::open_entry(sys_, fd->get(), step.name.c_str(), step.dev, step.ino, &other_object);
        if (!o) {
            // From the root, by names: no cached descriptor stood in the
            // way, so a name gone or another object's is the answer.
            if (moved_on != nullptr && plan.from_root && (o.error() == ENOENT || other_object))
                *moved_on = true;
            return ops::Errno{o.error()};
        }
        fd = ops::share(std::move(o->fd));
        opened.push_back(fd);
    }
    if (opened.empty()) return fd;
    // Cache what was opened, in whichever inodes stand for those objects now.
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < plan.steps.size(); ++i) {
        auto it = index_.find(Key{plan.steps[i].dev, plan.steps[i].ino});
        if (it != index_.end()) cache_dir_fd(*it->second, opened[i]);
    }
    return fd;
}

ops::Result<ops::SharedFd> InodeTable::directory_fd(Inode& dir, bool* moved_on) {
    ops::Result<Plan> p = ops::Errno{EIO};
    {
        std::lock_guard lock(mutex_);
        p = plan(dir);
    }
    if (!p) return ops::Errno{p.error()};
    return walk(*p, moved_on);
}

ops::Result<HeldObject> InodeTable::locate(Inode& inode, bool* moved_on, Reach reach) {
    if (S_ISDIR(inode.type)) {
        auto fd = directory_fd(inode, moved_on);
        if (!fd) return ops::Errno{fd.error()};
        return HeldObject{std::move(*fd), nullptr, {}, S_IFDIR};
    }
    struct Candidate {
        const Inode* parent;  // compared, never dereferenced once unlocked
        std::string name;
        ops::Result<Plan> plan;
    };
    std::vector<Candidate> candidates;
    {
        std::lock_guard lock(mutex_);
        if (reach == Reach::open_file_first) {
            for (const auto& weak : inode.open_files) {
                if (auto fd = weak.lock())
                    return HeldObject{std::move(fd), nullptr, {}, inode.type};
            }
        }
        for (const auto& alias : inode.aliases)
            candidates.push_back(Candidate{alias.parent, alias.name, plan(*alias.parent)});
    }
    int err = ESTALE;
    // Every name gone or now another object's (unlinked, or replaced: a
    // dot-lock taken again, a uidlist renamed over): no stale handle
    // anywhere, so nothing that resolving afresh here would mend.
    bool all_moved_on = !candidates.empty();
    bool any_replaced = false;
    std::vector<const Candidate*> stale;
    for (const Candidate& c : candidates) {
        if (!c.plan) {
            err = c.plan.error();
            all_moved_on = false;
            continue;
        }
        auto parent_fd = walk(*c.plan);
        if (!parent_fd) {
            err = parent_fd.error();
            all_moved_on = false;
            continue;
        }
        bool other_object = false;
        auto o = ops::open_entry(sys_, (*parent_fd)->get(), c.name.c_str(), inode.dev, inode.ino,
                                 &other_object);
        if (o) {
            std::lock_guard lock(mutex_);
            for (const Candidate* s : stale) drop_alias(inode, s->parent, s->name);
            return HeldObject{ops::share(std::move(o->fd)), std::move(*parent_fd), c.name,
                              inode.type};
        }
        err = o.error();
        if (err != ENOENT && !other_object) all_moved_on = false;
        any_replaced = any_replaced || other_object;
        // Gone, or now another object: a name this object no longer has.
        if (err == ENOENT || err == ESTALE) stale.push_back(&c);
    }
    std::lock_guard lock(mutex_);
    for (const Candidate* s : stale) drop_alias(inode, s->parent, s->name);
    if (!all_moved_on) return ops::Errno{err};
    if (moved_on != nullptr) *moved_on = true;
    // Replaced: ESTALE, on which the kernel looks the name up again and
    // retries the call once (a program gets the new object, as from a local
    // filesystem). Only removed: ENOENT, as if it had been before the call.
    return ops::Errno{any_replaced ? ESTALE : ENOENT};
}

void InodeTable::opened(Inode& inode, const ops::SharedFd& fd) {
    std::lock_guard lock(mutex_);
    std::erase_if(inode.open_files, [](const auto& weak) { return weak.expired(); });
    inode.open_files.push_back(fd);
}

bool InodeTable::wait_for_release(const Inode& parent, const std::string& name,
                                  std::chrono::microseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            auto it = names_.find(NameKey{&parent, name});
            if (it == names_.end()) return true;
            const auto& files = it->second->open_files;
            if (std::none_of(files.begin(), files.end(),
                             [](const auto& weak) { return !weak.expired(); }))
                return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kReleasePoll);
    }
}

ops::SharedFd InodeTable::root_fd() const {
    std::lock_guard lock(mutex_);
    return root_.load()->dir_fd;
}

void InodeTable::replace_root(ops::UniqueFd fd, const struct stat& st) {
    std::vector<ops::SharedFd> closing;
    std::lock_guard lock(mutex_);
    if (root_.load()->dev == st.st_dev && root_.load()->ino == st.st_ino)
        return;  // the same directory
    // The old root lives on, out of the index and without a descriptor,
    // while inodes below it are known; nodeid 1 is the new one.
    Inode* old = root_;
    auto it = index_.find(Key{old->dev, old->ino});
    old->in_index = false;
    old->nlookup = 0;
    closing.push_back(std::move(old->dir_fd));
    orphans_.emplace(old, std::move(it->second));
    index_.erase(it);
    if (auto known = index_.find(Key{st.st_dev, st.st_ino}); known != index_.end()) {
        // The new root was known below the old one: that inode lives on as
        // an orphan while the kernel holds its id.
        known->second->in_index = false;
        orphans_.emplace(known->second.get(), std::move(known->second));
        index_.erase(known);
    }
    auto fresh = std::make_unique<Inode>(st.st_dev, st.st_ino, S_IFDIR);
    fresh->id = kRootId;
    fresh->nlookup = 1;
    fresh->dir_fd = ops::share(std::move(fd));
    root_ = fresh.get();
    index_[Key{st.st_dev, st.st_ino}] = std::move(fresh);
    for (Inode* dir : lru_) closing.push_back(std::move(dir->dir_fd));
    lru_.clear();
    if (old->children == 0) orphans_.erase(old);
}

void InodeTable::forget_directory_fds_above(const std::vector<Inode*>& inodes) {
    std::vector<ops::SharedFd> closing;  // closed once the mutex is let go
    std::lock_guard lock(mutex_);
    std::vector<Inode*> work(inodes.begin(), inodes.end());
    std::unordered_set<Inode*> seen;
    while (!work.empty()) {
        Inode* inode = work.back();
        work.pop_back();
        if (inode == root_ || !seen.insert(inode).second) continue;
        if (inode->dir_fd) {
            closing.push_back(std::move(inode->dir_fd));
            lru_.erase(inode->lru_pos);
        }
        for (const auto& alias : inode->aliases) work.push_back(alias.parent);
    }
}

std::optional<std::string> InodeTable::path_locked(const Inode* inode) const {
    std::string path;
    for (const Inode* cur = inode; cur != root_;) {
        if (cur->aliases.empty() || path.size() > PATH_MAX) return std::nullopt;
        path = "/" + cur->aliases.front().name + path;
        cur = cur->aliases.front().parent;
    }
    return path;
}

std::optional<std::string> InodeTable::path_of(dev_t dev, ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key{dev, ino});
    if (it == index_.end()) return std::nullopt;
    return path_locked(it->second.get());
}

std::optional<std::string> InodeTable::path_of(const Inode& inode) const {
    std::lock_guard lock(mutex_);
    return path_locked(&inode);
}

InodeTable::Known InodeTable::known_under(std::string_view under) const {
    const std::string top = "/" + std::string(under);
    std::lock_guard lock(mutex_);
    Known known;
    auto add = [&](const Inode& inode) {
        auto path = path_locked(&inode);
        if (!path || !(*path == top || path->starts_with(top + "/"))) return;
        known.ids.push_back(id_of(inode));
        for (const auto& a : inode.aliases) known.names.emplace_back(id_of(*a.parent), a.name);
    };
    for (const auto& [key, inode] : index_) add(*inode);
    for (const auto& [ptr, inode] : orphans_) add(*inode);
    return known;
}

InodeTable::Names InodeTable::known_names() const {
    std::lock_guard lock(mutex_);
    Names names;
    auto add = [&](const Inode& inode) {
        for (const auto& a : inode.aliases) names.emplace_back(id_of(*a.parent), a.name);
    };
    for (const auto& [key, inode] : index_) add(*inode);
    for (const auto& [ptr, inode] : orphans_) add(*inode);
    return names;
}

std::vector<uint64_t> InodeTable::known_ids() const {
    std::lock_guard lock(mutex_);
    std::vector<uint64_t> ids{kRootId};
    for (const auto& [key, inode] : index_)
        if (inode.get() != root_) ids.push_back(id_of(*inode));
    for (const auto& [ptr, inode] : orphans_) ids.push_back(id_of(*inode));
    return ids;
}

size_t InodeTable::size() const {
    std::lock_guard lock(mutex_);
    return index_.size() + orphans_.size();
}

size_t InodeTable::cached_dir_fds() const {
    std::lock_guard lock(mutex_);
    return lru_.size();
}

std::vector<InodeTable::Entry> InodeTable::entries() const {
    std::lock_guard lock(mutex_);
    std::vector<Entry> out;
    auto add = [&](const Inode& inode) {
        if (&inode == root_) return;
        Entry e{inode.id, inode.dev, inode.ino, inode.type, inode.nlookup, inode.in_index, {}, {}};
        for (const auto& alias : inode.aliases)
            e.aliases.emplace_back(alias.parent->id, alias.name);
        for (const auto& file : inode.open_files)
            if (auto fd = file.lock()) e.open_fds.push_back(fd->get());
        out.push_back(std::move(e));
    };
    for (const auto& [key, inode] : index_) add(*inode);
    for (const auto& [ptr, inode] : orphans_) add(*inode);
    return out;
}

size_t InodeTable::restore(const std::vector<Entry>& entries) {
    std::lock_guard lock(mutex_);
    std::unordered_map<uint64_t, Inode*> by_id{{kRootId, root_.load()}};
    size_t failed = 0;
    for (const Entry& e : entries) {
        auto inode = std::make_unique<Inode>(e.dev, e.ino, e.type);
        inode->id = e.id;
        inode->nlookup = e.nlookup;
        if (!ids_.place(e.id, inode.get())) {
            ++failed;
            continue;
        }
        by_id[e.id] = inode.get();
        const Key key{e.dev, e.ino};
        if (e.in_index && index_.find(key) == index_.end()) {
            index_.emplace(key, std::move(inode));
        } else {
            inode->in_index = false;
            Inode* raw = inode.get();
            orphans_.emplace(raw, std::move(inode));
        }
    }
    ids_.done_placing();
    for (const Entry& e : entries) {
        auto self = by_id.find(e.id);
        if (self == by_id.end() || self->second == root_) continue;
        // Oldest first: add_alias puts each new name in front.
        for (auto it = e.aliases.rbegin(); it != e.aliases.rend(); ++it) {
            auto parent = by_id.find(it->first);
            if (parent != by_id.end())
                add_alias(*self->second, *parent->second, it->second, nullptr);
        }
    }
    return failed;
}

}  // namespace nfsguard::fs
