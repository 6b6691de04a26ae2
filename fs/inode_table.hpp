// InodeTable: the kernel's view of the backing tree, without a descriptor per
// file.
//
// The libfuse passthrough examples keep an O_PATH descriptor for every inode
// the kernel knows; on a 20,000-file Maildir they run out of descriptors, and
// on NFS every such descriptor pins its file, so that an unlink by anyone
// becomes a silly rename (.nfsXXXX). nfsguard instead remembers, per inode,
// the names (directory and entry) it is known under, most recent first, and
// opens the object only for the length of a request, checking that the name
// still means the same (dev, ino). A file has several names when it has hard
// links (Maildir delivery links tmp/X to new/X, then unlinks tmp/X), and a
// name goes stale when it is unlinked or replaced: resolution tries the names
// in turn and forgets those that no longer lead to the object. Only
// directories keep a descriptor, in a cache with a fixed bound (least recently
// used out first); the backing root's descriptor is held for the life of the
// mount, since the mount may hide its path.
//
// The kernel's lookup count decides an inode's life (lookup/forget); an inode
// also stays while inodes below it are in the table, since resolving them
// walks through it.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/client_times.hpp"
#include "fs/id_table.hpp"
#include "fs/table_mirror.hpp"
#include "ops/located.hpp"
#include "ops/result.hpp"
#include "ops/syscalls.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

struct Inode {
    Inode(dev_t d, ino_t i, mode_t t) : dev(d), ino(i), type(t) {}
    const dev_t dev;
    const ino_t ino;
    const mode_t type;  // S_IFMT bits
    uint64_t id = 0;    // the kernel's node id for it (IdTable), set once

    // A name the object is known under. Each holds a child count on `parent`.
    struct Alias {
        Inode* parent;
        std::string name;
    };
    // At most this many names per object (a directory has one).
    static constexpr size_t kMaxAliases = 4;

    // Everything below is guarded by the table's mutex.
    uint64_t nlookup = 0;
    uint64_t children = 0;       // aliases of table inodes that name this directory
    std::vector<Alias> aliases;  // most recent first
    ops::SharedFd dir_fd;        // cached O_PATH descriptor, directories only
    // Descriptors of the callers' open files on this object. They reach it
    // when its name is gone (fstat of an unlinked file comes without a file
    // handle) and save resolving the name while it is open.
    std::vector<std::weak_ptr<const ops::UniqueFd>> open_files;
    std::list<Inode*>::iterator lru_pos;
    bool in_index = true;  // still the table's inode for (dev, ino)

    // The times this host owes the object (not guarded by the mutex).
    ClientTimes::Owed times;
};

// An object located for one request, its descriptors held: they stay valid
// while it lives, whatever the cache does meanwhile.
struct HeldObject {
    ops::SharedFd object;  // O_PATH on the object
    ops::SharedFd parent;  // O_PATH on its directory (null for directories and the root)
    std::string name;
    mode_t type = 0;

    ops::Located located() const {
        return ops::Located{object->get(), type, parent ? parent->get() : -1,
                            parent ? name.c_str() : nullptr};
    }
};

// Where an entry the kernel learns comes from: a lookup of what was there,
// or an object this mount just made.
enum class Origin { looked_up, made_here };

class InodeTable {
  public:
    // `epoch` tells this table's node ids from another run's (IdTable).
    InodeTable(ops::Syscalls& sys, ops::UniqueFd root_fd, const struct stat& root_st,
               size_t max_dir_fds, uint32_t epoch = 1);
    ~InodeTable();
    InodeTable(const InodeTable&) = delete;
    InodeTable& operator=(const InodeTable&) = delete;

    Inode& root() { return *root_; }
    // nodeid <-> inode. The kernel only sends nodeids it was given, and only
    // until it forgets them; the root is nodeid 1 (FUSE_ROOT_ID).
    static constexpr uint64_t kRootId = 1;
    uint64_t id_of(const Inode& inode) const { return inode.id; }
    // The inode of an id the kernel sent: nullptr when this table cannot
    // vouch for it (not given by it, or forgotten), which is answered ESTALE.
    Inode* find(uint64_t id);
    // The inode of an id just given (a reply's entry).
    Inode& from_id(uint64_t id);

    // The kernel now knows `st` as `name` in `parent` (one more lookup).
    // Origin::made_here says the object was just created through this mount: then any
    // inode the table holds under its (dev, ino) is a dead object whose
    // number the filesystem reused (ext4 and NFS servers do at once), and it
    // is retired so that the new object gets a nodeid of its own. Otherwise
    // the kernel, which may trust a dentry for up to a jiffy even with
    // entry timeouts of 0, would show the new object under the old name:
    // dotlockfile compares inode numbers to decide it holds a lock.
    //
    // An object keeps at most Inode::kMaxAliases names; the oldest beyond
    // that are forgotten, and added to `evicted` (directory nodeid, name) if
    // given: a kernel that keeps dentries (cache=pinned) must drop them, or
    // it would send requests for an object nfsguard can no longer find.
    using Names = std::vector<std::pair<uint64_t, std::string>>;
    Inode& remember(Inode& parent, const std::string& name, const struct stat& st,
                    Origin origin = Origin::looked_up, Names* evicted = nullptr);
    void forget(Inode& inode, uint64_t nlookup);
    // The object `obj` (if the table knows it) was renamed from
    // `from`/`from_name` to `to`/`to_name`.
    void moved(const ops::ObjectId& obj, Inode& from, const std::string& from_name, Inode& to,
               const std::string& to_name, Names* evicted = nullptr);

    // The object last known as `name` in `parent` (by the kernel's lookup, a
    // create or a rename through this mount), if the table holds that name:
    // what verify-after-error needs to know of a name before a call, without
    // asking the backing (ops/namespace_ops.hpp).
    std::optional<ops::ObjectId> known_at(const Inode& parent, const std::string& name) const;

    // A caller opened the object; `fd` lives as long as that open file.
    void opened(Inode& inode, const ops::SharedFd& fd);
    // The node id and one open file of each object known as `name` in
    // `parent` (the newest, and older ones not yet found stale) that a
    // caller has open: what loses its name if that name goes.
    std::vector<std::pair<uint64_t, ops::SharedFd>> open_files_at(const Inode& parent,
                                                                  const std::string& name) const;
    bool has_open_files(const Inode& inode) const;
    // Waits, at most `limit`, until no caller's open file is left on the
    // object known as `name` in `parent`: the kernel sends the release of a
    // file after close() returns, so a file closed a moment ago may still be
    // open here. True when none is (or the name is not known).
    bool wait_for_release(const Inode& parent, const std::string& name,
                          std::chrono::microseconds limit);

    // The cached O_PATH descriptor of a directory, opened if need be. When
    // a walk from the root finds a name on its way removed or now another
    // object's, `moved_on` (if given) is set: resolving again will not find
    // the directory.
    ops::Result<ops::SharedFd> directory_fd(Inode& dir, bool* moved_on = nullptr);
    // Descriptors on the object: an open file's if the caller has one open,
    // else for non-directories its parent's and name, resolved now. When no
    // name leads to the object any more (removed: ENOENT; replaced by another
    // object: ESTALE) `moved_on`, if given, is set: resolving again will not
    // find it.
    // Reach::by_name: resolved by name even if the caller has it open.
    enum class Reach { open_file_first, by_name };
    ops::Result<HeldObject> locate(Inode& inode, bool* moved_on = nullptr,
                                   Reach reach = Reach::open_file_first);

    // The backing root's descriptor.
    ops::SharedFd root_fd() const;
    // The backing root is now `fd` (the backing was mounted anew): the root
    // inode stands for it, and everything known below the old one is
    // resolved afresh (and fails, until the kernel looks it up again).
    void replace_root(ops::UniqueFd fd, const struct stat& st);

    // Closes the cached descriptors of `inodes` and of every directory above
    // them (the root's aside): after an ESTALE any of them may stand for a
    // directory another host replaced, and the next use resolves names
    // afresh from the root. Other directories keep theirs.
    void forget_directory_fds_above(const std::vector<Inode*>& inodes);

    // The path below the backing root the table knows for (dev, ino), by
    // the most recent names ("" for the root); nothing when not known.
    std::optional<std::string> path_of(dev_t dev, ino_t ino) const;
    std::optional<std::string> path_of(const Inode& inode) const;
    // The node ids, and (directory nodeid, name)s, of what the table knows
    // at or below path `under` ("a/b"): what the kernel may hold of a unit
    // another host may have changed meanwhile (fs/ownership/).
    struct Known {
        Names names;
        std::vector<uint64_t> ids;
    };
    Known known_under(std::string_view under) const;

    // Every (directory nodeid, name) and every nodeid the table holds, for
    // dropping all the kernel caches (fs/kernel_cache.hpp).
    Names known_names() const;
    std::vector<uint64_t> known_ids() const;

    size_t size() const;
    size_t cached_dir_fds() const;

    // An inode as a planned restart hands it to the next process
    // (fs/daemon/handover.hpp), which takes up the kernel's node ids.
    struct Entry {
        uint64_t id = 0;
        dev_t dev = 0;
        ino_t ino = 0;
        mode_t type = 0;
        uint64_t nlookup = 0;
        bool in_index = true;
        std::vector<std::pair<uint64_t, std::string>> aliases;  // (directory id, name)
        std::vector<int> open_fds;  // the callers' open files on it (Inode::open_files)
    };
    // Every inode but the root.
    std::vector<Entry> entries() const;
    // From now on every change is written to `mirror` too (all known now
    // at once), so that a crash does not lose the kernel's node ids.
    void mirror_to(TableMirror* mirror);
    // Takes up `entries`, given by a table of this epoch, into this table,
    // which holds nothing but its root yet. Returns how many could not be.
    size_t restore(const std::vector<Entry>& entries);

  private:
    // A name in a directory, and the inode that most recently took it.
    struct NameKey {
        const Inode* parent;
        std::string name;
        bool operator==(const NameKey&) const = default;
    };
    struct NameKeyHash {
        size_t operator()(const NameKey& k) const {
            return std::hash<std::string>()(k.name) ^ std::hash<const void*>()(k.parent);
        }
    };
    struct Key {
        dev_t dev;
        ino_t ino;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const {
            return std::hash<uint64_t>()(k.ino) ^ (std::hash<uint64_t>()(k.dev) << 1);
        }
    };
    // One step of a path from a cached directory down to a wanted inode.
    struct Step {
        std::string name;
        dev_t dev;
        ino_t ino;
    };
    // How to reach a directory: from a cached descriptor, down these steps.
    struct Plan {
        ops::SharedFd from;
        std::vector<Step> steps;
        bool from_root = false;
    };

    void add_alias(Inode& inode, Inode& parent, const std::string& name, Names* evicted);
    void drop_alias(Inode& inode, const Inode* parent, const std::string& name);
    void unindex_name(const Inode* parent, const std::string& name, const Inode* inode);
    void forget_displaced(const NameKey& key, const Inode* inode);
    void release_if_unused(Inode* inode);
    ops::Result<Plan> plan(Inode& dir);                                           // locked
    ops::Result<ops::SharedFd> walk(const Plan& plan, bool* moved_on = nullptr);  // unlocked
    void cache_dir_fd(Inode& dir, ops::SharedFd fd);
    void touch(Inode& dir);
    void note(const Inode& inode);  // to the mirror
    std::optional<std::string> path_locked(const Inode* inode) const;

    ops::Syscalls& sys_;
    const size_t max_dir_fds_;
    mutable std::mutex mutex_;
    // Read without the mutex (from_id, id_of); replaced under it when the
    // backing is mounted anew (replace_root).
    std::atomic<Inode*> root_;
    IdTable<Inode> ids_;
    std::unordered_map<Key, std::unique_ptr<Inode>, KeyHash> index_;
    std::unordered_map<Inode*, std::unique_ptr<Inode>> orphans_;  // replaced at their (dev, ino)
    std::list<Inode*> lru_;  // directories with a cached descriptor, most recent first
    // (directory, name) -> the inode that took that alias last. Two inodes
    // may hold one alias (a name another host replaced, not yet found stale);
    // the index keeps the newer.
    std::unordered_map<NameKey, Inode*, NameKeyHash> names_;
    // Older holders of a name in names_ that still list it as an alias.
    std::unordered_multimap<NameKey, Inode*, NameKeyHash> displaced_;
    TableMirror* mirror_ = nullptr;
};

}  // namespace nfsguard::fs
