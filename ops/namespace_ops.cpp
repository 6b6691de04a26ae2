#include "ops/namespace_ops.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "ops/identity.hpp"
#include "ops/silly_rename.hpp"
#include "ops/verify_after_error.hpp"

namespace nfsguard::ops {

namespace {
constexpr int kLookRetries = 3;

template <typename Look>
Result<struct stat> look_again_on_estale(Look&& look) {
    for (int attempt = 0;; ++attempt) {
        auto st = look();
        if (st || st.error() != ESTALE || attempt == kLookRetries) return st;
    }
}
}  // namespace

Result<struct stat> lookup_entry(Syscalls& sys, int dirfd, const char* name) {
    return sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
}

namespace {

// Whether `name` was free before a call that makes it: an EEXIST can only be
// false if it was. Known from the caller's lookup, or looked at now.
bool was_free(Syscalls& sys, int dirfd, const char* name, NameWas name_was) {
    return name_was == NameWas::free || lookup_entry(sys, dirfd, name).error() == ENOENT;
}

}  // namespace

Result<struct stat> lookup_known_directory(Syscalls& sys, int dirfd, const char* name) {
    auto st = sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC);
    if (st && S_ISDIR(st->st_mode)) return st;
    return lookup_entry(sys, dirfd, name);
}

Result<struct stat> look_at_made(Syscalls& sys, int dirfd, const char* name) {
    return look_again_on_estale([&] { return lookup_entry(sys, dirfd, name); });
}

Result<struct stat> stat_open_file(Syscalls& sys, int fd) {
    return look_again_on_estale([&] { return sys.fstat(fd); });
}

Result<OpenedObject> open_entry(Syscalls& sys, int dirfd, const char* name, dev_t dev, ino_t ino,
                                bool* other_object) {
    auto fd = sys.openat(dirfd, name, O_PATH | O_NOFOLLOW);
    if (!fd) return Errno{fd.error()};
    auto st = sys.fstat(fd->get());
    if (!st) return Errno{st.error()};
    if (st->st_dev != dev || st->st_ino != ino) {
        if (other_object != nullptr) *other_object = true;
        return Errno{ESTALE};
    }
    return OpenedObject{std::move(*fd), *st};
}

Result<OpenedObject> create_file(Syscalls& sys, int dirfd, const char* name, int flags, mode_t mode,
                                 const ExclusiveCreate* exclusive) {
    // An exclusive create's EEXIST is passed on, never guessed at, except
    // after a crash: see verify_after_error.hpp.
    // O_NOFOLLOW: the kernel resolved any symlink at this name before asking
    // us; one that appears here since was planted and must not be followed.
    auto fd = sys.openat(dirfd, name, flags | O_CREAT | O_NOFOLLOW, mode);
    if (!fd && fd.error() == EEXIST && (flags & O_EXCL) && exclusive != nullptr &&
        exclusive_create_was_done(sys, dirfd, name, current_fsuid(), *exclusive)) {
        spdlog::warn(
            "an exclusive create of {} that the crashed nfsguard had done was sent again: its "
            "file is given, not EEXIST",
            name);
        fd = sys.openat(dirfd, name, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW, 0);
    }
    if (!fd) return Errno{fd.error()};
    auto st = stat_open_file(sys, fd->get());
    if (!st) return Errno{st.error()};
    if (exclusive != nullptr && exclusive->making) exclusive->making(ObjectId::of(*st));
    return OpenedObject{std::move(*fd), *st};
}

Result<struct stat> make_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                                   const char* name, mode_t mode, double server_ahead_seconds,
                                   NameWas name_was) {
    const bool free_before = was_free(sys, dirfd, name, name_was);
    const auto window = CallWindow::now(server_ahead_seconds);
    if (auto r = sys.mkdirat(dirfd, name, mode); !r) {
        if (r.error() != EEXIST || !free_before ||
            !mkdir_was_done(sys, dirfd, name, current_fsuid(), window))
            return Errno{r.error()};
        false_errors.hidden(FalseErrorOp::mkdir, dirfd, name, EEXIST);
    }
    return look_at_made(sys, dirfd, name);
}

Result<struct stat> make_node(Syscalls& sys, int dirfd, const char* name, mode_t mode, dev_t rdev) {
    if (auto r = sys.mknodat(dirfd, name, mode, rdev); !r) return Errno{r.error()};
    return look_at_made(sys, dirfd, name);
}

Result<struct stat> make_symlink(Syscalls& sys, FalseErrors& false_errors, const char* target,
                                 int dirfd, const char* name, NameWas name_was) {
    const bool free_before = was_free(sys, dirfd, name, name_was);
    if (auto r = sys.symlinkat(target, dirfd, name); !r) {
        if (r.error() != EEXIST || !free_before ||
            !symlink_was_done(sys, dirfd, name, target, current_fsuid()))
            return Errno{r.error()};
        false_errors.hidden(FalseErrorOp::symlink, dirfd, name, EEXIST);
    }
    return look_at_made(sys, dirfd, name);
}

namespace {

// What the caller knows of `name`, or what an lstat says now.
std::optional<ObjectId> known_or_looked(Syscalls& sys, int dirfd, const char* name,
                                        const std::optional<ObjectId>& known) {
    if (known) return known;
    auto st = lookup_entry(sys, dirfd, name);
    if (!st) return std::nullopt;
    return ObjectId::of(*st);
}

// unlink and rmdir: the name must exist, as the right kind of object, just
// before the call; then an ENOENT from the call means a lost reply.
Result<void> remove_entry(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name,
                          bool directory, const std::optional<ObjectId>& known) {
    auto before = known_or_looked(sys, dirfd, name, known);
    auto r = sys.unlinkat(dirfd, name, directory ? AT_REMOVEDIR : 0);
    if (r || r.error() != ENOENT || !before || S_ISDIR(before->type) != directory) return r;
    false_errors.hidden(directory ? FalseErrorOp::rmdir : FalseErrorOp::unlink, dirfd, name,
                        ENOENT);
    return {};
}

}  // namespace

Result<void> remove_file(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name,
                         std::optional<ObjectId> before) {
    return remove_entry(sys, false_errors, dirfd, name, false, before);
}

Result<void> remove_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name,
                              std::optional<ObjectId> before) {
    auto r = remove_entry(sys, false_errors, dirfd, name, true, before);
    // Only silly renames left: the NFS client removes each at its file's last
    // close, which through FUSE comes a moment after the caller's close().
    const auto deadline = std::chrono::steady_clock::now() + kSillyRenameWait;
    while (!r && r.error() == ENOTEMPTY && std::chrono::steady_clock::now() < deadline &&
           holds_only_silly_renames(sys, dirfd, name)) {
        std::this_thread::sleep_for(kSillyRenamePoll);
        r = remove_entry(sys, false_errors, dirfd, name, true, before);
    }
    return r;
}

Result<Renamed> rename_entry(Syscalls& sys, FalseErrors& false_errors, int olddirfd,
                             const char* oldname, int newdirfd, const char* newname, unsigned flags,
                             std::optional<ObjectId> moved, std::optional<ObjectId> exchanged) {
    // The object at the old name before the call: fs/ moves its inode to the
    // new name, and it is what proves a rename that NFS reports as failed had
    // in fact been done. Known to fs/ from the kernel's lookup; looked up
    // here only when it is not.
    if (!moved) {
        auto st = lookup_entry(sys, olddirfd, oldname);
        if (!st) return Errno{st.error()};
        moved = ObjectId::of(*st);
    }
    if ((flags & RENAME_EXCHANGE) && !exchanged) {
        auto other = lookup_entry(sys, newdirfd, newname);
        if (!other) return Errno{other.error()};
        exchanged = ObjectId::of(*other);
    }
    if (!(flags & RENAME_EXCHANGE)) exchanged.reset();
    if (auto r = sys.renameat2(olddirfd, oldname, newdirfd, newname, flags); !r) {
        // A plain rename or RENAME_NOREPLACE (GNU mv tries it first), once
        // done, leaves the state the check looks for; RENAME_EXCHANGE leaves
        // both names in place and is never guessed at.
        if (r.error() != ENOENT || (flags & ~RENAME_NOREPLACE) != 0 ||
            !rename_was_done(sys, olddirfd, oldname, newdirfd, newname, *moved))
            return Errno{r.error()};
        false_errors.hidden(FalseErrorOp::rename, newdirfd, newname, ENOENT);
    }
    return Renamed{*moved, exchanged};
}

Result<struct stat> link_entry(Syscalls& sys, FalseErrors& false_errors, const Located& obj,
                               int newdirfd, const char* newname, std::optional<ObjectId> object,
                               NameWas newname_was) {
    if (!object) {
        auto st = sys.fstat(obj.fd);
        if (!st) return Errno{st.error()};
        object = ObjectId::of(*st);
    }
    const bool free_before = was_free(sys, newdirfd, newname, newname_was);
    Result<void> r;
    if (obj.is_symlink()) {
        // The magic link of an O_PATH symlink descriptor cannot be linked
        // from without CAP_DAC_READ_SEARCH; name it by its directory instead.
        if (obj.parent_fd < 0) return Errno{EPERM};
        r = sys.linkat(obj.parent_fd, obj.name, newdirfd, newname, 0);
    } else {
        // Through the magic link: links exactly the object fs/ verified, with
        // the caller's rights (fs.protected_hardlinks applies as usual).
        r = sys.linkat(AT_FDCWD, proc_fd_path(obj.fd).c_str(), newdirfd, newname,
                       AT_SYMLINK_FOLLOW);
    }
    if (!r) {
        if (r.error() != EEXIST || !free_before || !link_was_done(sys, newdirfd, newname, *object))
            return Errno{r.error()};
        false_errors.hidden(FalseErrorOp::link, newdirfd, newname, EEXIST);
    }
    return look_at_made(sys, newdirfd, newname);
}

}  // namespace nfsguard::ops
