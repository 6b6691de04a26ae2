// FUSE mknod, mkdir, symlink, link, unlink, rmdir, rename: changes to the
// names in a directory.
#include <linux/fs.h>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "ops/entry_name.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/timestamps.hpp"

namespace nfsguard::fs {
namespace {

// How long an unlink waits for the release of a file closed a moment ago.
constexpr std::chrono::microseconds kReleaseWait{10000};

// The parent's descriptor, once the name has been checked.
ops::Result<ops::SharedFd> parent_dir(Request& r, Inode& parent, const char* name) {
    if (auto ok = ops::check_entry_name(name); !ok) return ops::Errno{ok.error()};
    return r.directory_fd(parent);
}

// Notes `name` in `parent` as stale in the kernel when the call's outcome
// may differ from what the kernel will believe: it failed (a lost reply may
// have done it anyway, which verify-after-error could not prove), or an error
// was hidden (the call ran twice on the server). Rare, and cheap to redo.
template <typename T>
void note_uncertain(Request& r, const ops::Result<T>& result, uint64_t false_errors_before,
                    Inode& parent, const char* name) {
    if (result && r.fs().false_errors.total() == false_errors_before) return;
    r.stale().name_changed(r.fs().inodes.id_of(parent), name);
}

// Resolves the parent, makes the entry with `make(dirfd)`, and replies with
// the new entry (or the error). An object made here gets this host's times.
template <typename Make>
void make_entry(Request& r, Inode& parent, const char* name, Origin origin, Make make) {
    const uint64_t hidden = r.fs().false_errors.total();
    auto st = r.retry_stale([&]() -> ops::Result<struct stat> {
        auto dir = parent_dir(r, parent, name);
        if (!dir) return ops::Errno{dir.error()};
        const struct timespec before = ops::client_now();
        auto made = make((*dir)->get());
        if (made && origin == Origin::made_here)
            r.fs().times.stamp_new(*made, before, (*dir)->get(), name);
        return made;
    });
    note_uncertain(r, st, hidden, parent, name);
    if (!st) return r.reply_error(st);
    r.reply_entry(parent, name, *st, origin);
}

// Resolves the parent and removes the entry with `remove(dirfd)`.
template <typename Remove>
void remove_entry(Request& r, Inode& parent, const char* name, Remove remove) {
    const uint64_t hidden = r.fs().false_errors.total();
    auto removed = r.retry_stale([&]() -> ops::Result<void> {
        auto dir = parent_dir(r, parent, name);
        if (!dir) return ops::Errno{dir.error()};
        return remove((*dir)->get());
    });
    note_uncertain(r, removed, hidden, parent, name);
    r.reply_error(removed);
}

// The object's identity as the table holds it.
ops::ObjectId object_id(const Inode& inode) {
    return ops::ObjectId{inode.dev, inode.ino, inode.type};
}

}  // namespace

void op_mknod(Request& r, fuse_ino_t parent_id, const char* name, mode_t mode, dev_t rdev) {
    make_entry(r, r.inode(parent_id), name, Origin::made_here,
               [&](int dirfd) { return ops::make_node(r.fs().sys, dirfd, name, mode, rdev); });
}

void op_mkdir(Request& r, fuse_ino_t parent_id, const char* name, mode_t mode) {
    make_entry(r, r.inode(parent_id), name, Origin::made_here, [&](int dirfd) {
        // The name was free: the kernel asks for a mkdir only where its
        // lookup found none (as for link, below).
        return ops::make_directory(r.fs().sys, r.fs().false_errors, dirfd, name, mode,
                                   r.fs().times.skew().seconds(), ops::NameWas::free);
    });
}

void op_symlink(Request& r, const char* target, fuse_ino_t parent_id, const char* name) {
    make_entry(r, r.inode(parent_id), name, Origin::made_here, [&](int dirfd) {
        return ops::make_symlink(r.fs().sys, r.fs().false_errors, target, dirfd, name,
                                 ops::NameWas::free);
    });
}

void op_link(Request& r, fuse_ino_t id, fuse_ino_t newparent_id, const char* newname) {
    Inode& inode = r.inode(id);
    make_entry(
        r, r.inode(newparent_id), newname,
        Origin::looked_up, [&](int dirfd) -> ops::Result<struct stat> {
            auto target = r.fs().inodes.locate(inode);
            if (!target) return ops::Errno{target.error()};
            // What verify-after-error needs, known without a backing
            // call: the object's identity from the table, and that
            // the new name was free (the kernel asks for a link only
            // where its lookup found none).
            return ops::link_entry(r.fs().sys, r.fs().false_errors, target->located(), dirfd,
                                   newname, object_id(inode), ops::NameWas::free);
        });
}

void op_unlink(Request& r, fuse_ino_t parent_id, const char* name) {
    Inode& parent = r.inode(parent_id);
    // A file closed a moment ago (Maildir: tmp/X, just linked into new/) may
    // still be open here, its release on the way. Unlinked now, the NFS
    // client would silly-rename it (.nfsXXXX, two more round trips, left
    // behind until the release): give the release a moment. A file the
    // caller really keeps open costs this wait.
    r.fs().inodes.wait_for_release(parent, name, kReleaseWait);
    std::vector<std::pair<uint64_t, ops::SharedFd>> still_open;  // (fs/kept_nameless.hpp)
    if (r.fs().nameless.enabled()) still_open = r.fs().inodes.open_files_at(parent, name);
    remove_entry(r, parent, name, [&](int dirfd) {
        auto removed = ops::remove_file(r.fs().sys, r.fs().false_errors, dirfd, name,
                                        r.fs().inodes.known_at(parent, name));
        if (removed)
            for (const auto& [node, fd] : still_open) r.fs().nameless.name_gone(node, fd->get());
        return removed;
    });
}

void op_rmdir(Request& r, fuse_ino_t parent_id, const char* name) {
    Inode& parent = r.inode(parent_id);
    remove_entry(r, parent, name, [&](int dirfd) {
        return ops::remove_directory(r.fs().sys, r.fs().false_errors, dirfd, name,
                                     r.fs().inodes.known_at(parent, name));
    });
}

void op_rename(Request& r, fuse_ino_t parent_id, const char* name, fuse_ino_t newparent_id,
               const char* newname, unsigned int flags) {
    Inode& parent = r.inode(parent_id);
    Inode& newparent = r.inode(newparent_id);
    const uint64_t hidden = r.fs().false_errors.total();
    // A file replaced while open (Dovecot's dovecot.index) loses its name.
    std::vector<std::pair<uint64_t, ops::SharedFd>> replaced_open;
    if (r.fs().nameless.enabled() && !(flags & RENAME_EXCHANGE))
        replaced_open = r.fs().inodes.open_files_at(newparent, newname);
    auto moved = r.retry_stale([&]() -> ops::Result<ops::Renamed> {
        auto dir = parent_dir(r, parent, name);
        if (!dir) return ops::Errno{dir.error()};
        auto newdir = parent_dir(r, newparent, newname);
        if (!newdir) return ops::Errno{newdir.error()};
        // The objects at the names, as the kernel's lookups found them: no
        // lstat before the call (ops/namespace_ops.hpp says why none is needed).
        std::optional<ops::ObjectId> exchanged;
        if (flags & RENAME_EXCHANGE) exchanged = r.fs().inodes.known_at(newparent, newname);
        return ops::rename_entry(r.fs().sys, r.fs().false_errors, (*dir)->get(), name,
                                 (*newdir)->get(), newname, flags,
                                 r.fs().inodes.known_at(parent, name), exchanged);
    });
    note_uncertain(r, moved, hidden, parent, name);
    note_uncertain(r, moved, hidden, newparent, newname);
    if (!moved) return r.reply_error(moved);
    for (const auto& [node, fd] : replaced_open) {
        const Inode* open = r.fs().inodes.find(node);
        if (open && !(open->dev == moved->moved.dev && open->ino == moved->moved.ino))
            r.fs().nameless.name_gone(node, fd->get());
    }
    // Keep the table's names current, so that an inode the kernel reaches by
    // nodeid (a process's cwd, an open directory) is found at its new name.
    InodeTable::Names evicted;
    r.fs().inodes.moved(moved->moved, parent, name, newparent, newname, &evicted);
    if (moved->exchanged)
        r.fs().inodes.moved(*moved->exchanged, newparent, newname, parent, name, &evicted);
    for (auto& [dir, old_name] : evicted) r.stale().name_dropped(dir, std::move(old_name));
    r.reply_ok();
}

}  // namespace nfsguard::fs
