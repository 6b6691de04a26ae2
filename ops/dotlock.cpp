#include "ops/dotlock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ops/directory_entries.hpp"
#include "ops/identity.hpp"

namespace nfsguard::ops {

bool is_dotlock_temp(const char* name) {
    return std::strncmp(name, kTempPrefix, std::strlen(kTempPrefix)) == 0;
}

DotlockJournal::DotlockJournal(std::string state_dir) : dir_(std::move(state_dir)) {
    if (dir_.empty()) return;
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
        spdlog::warn("no dot-lock journal in {}: {}", dir_, std::strerror(errno));
        dir_.clear();
    }
}

bool DotlockJournal::begin(int dirfd, const std::string& temp) {
    if (dir_.empty()) return false;
    const std::string path = path_of_fd(dirfd);
    if (path.empty()) return false;
    std::ofstream(dir_ + "/" + temp) << path << "\n";
    return true;
}

void DotlockJournal::end(const std::string& temp) {
    if (!dir_.empty()) ::unlink((dir_ + "/" + temp).c_str());
}

size_t DotlockJournal::recover(Syscalls& sys, int rootfd, const std::string& root_path) {
    if (dir_.empty()) return 0;
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return 0;
    size_t removed = 0;
    while (struct dirent* e = ::readdir(d)) {
        if (!is_dotlock_temp(e->d_name)) continue;
        const std::string entry = dir_ + "/" + e->d_name;
        std::string dir;
        std::getline(std::ifstream(entry), dir);
        if (dir.compare(0, root_path.size(), root_path) != 0) {
            ::unlink(entry.c_str());  // not below this backing root: not ours to mend
            continue;
        }
        auto gone = remove_below(sys, rootfd, dir.substr(root_path.size()), e->d_name);
        if (gone) ++removed;
        // Kept for the next start when the backing could not say (ESTALE,
        // EIO): the hidden file may still be there.
        if (gone || gone.error() == ENOENT || gone.error() == ENOTDIR)
            ::unlink(entry.c_str());
        else
            spdlog::warn("cannot remove the dot-lock leftover {} in {}: {}", e->d_name, dir,
                         std::strerror(gone.error()));
    }
    ::closedir(d);
    return removed;
}

Result<void> DotlockJournal::remove_below(Syscalls& sys, int rootfd, const std::string& below,
                                          const char* name) {
    // Walked one name at a time from the root, following no symlink.
    auto dir = sys.openat(rootfd, ".", O_PATH | O_DIRECTORY);
    std::stringstream parts(below);
    std::string part;
    while (dir && std::getline(parts, part, '/')) {
        if (!part.empty())
            dir = sys.openat(dir->get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW);
    }
    if (!dir) return Errno{dir.error()};
    auto gone = sys.unlinkat(dir->get(), name, 0);
    // ENOENT: gone already, or a lost reply on the unlink; either way done.
    if (!gone && gone.error() == ENOENT) return {};
    return gone;
}

DotlockCreator::DotlockCreator(std::string host, DotlockJournal& journal)
    : host_(std::move(host)), journal_(journal) {}

std::string DotlockCreator::unique_name() {
    return std::string(kTempPrefix) + host_ + "." + std::to_string(::getpid()) + "." +
           std::to_string(counter_.fetch_add(1));
}

Result<OpenedObject> DotlockCreator::create(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                                            const char* name, int flags, mode_t mode,
                                            const ExclusiveCreate* exclusive) {
    const int open_flags = (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW;
    if (exclusive != nullptr && exclusive->made_before &&
        exclusive_create_was_done(sys, dirfd, name, current_fsuid(), *exclusive)) {
        if (auto fd = sys.openat(dirfd, name, open_flags, 0)) {
            if (auto st = stat_open_file(sys, fd->get());
                st && st->st_ino == exclusive->made_before->ino) {
                spdlog::warn(
                    "the dot-lock {} that the crashed nfsguard had taken was asked for again: it "
                    "is given, not EEXIST",
                    name);
                return OpenedObject{std::move(*fd), *st};
            }
        }
    }
    const std::string temp = unique_name();
    bool journaled;
    {
        // The journal is nfsguard's own state, written as root.
        ScopedIdentity root(Identity::root());
        journaled = journal_.begin(dirfd, temp);
    }
    // The unique name: no one else makes it, so it is opened without O_EXCL
    // (an exclusive create's lost reply would be a false EEXIST) and
    // truncated (a crashed run's leftover under the same name).
    auto fd = sys.openat(dirfd, temp.c_str(), open_flags | O_CREAT | O_TRUNC, mode);
    auto finish = [&] {
        if (!journaled) return;
        ScopedIdentity root(Identity::root());
        journal_.end(temp);
    };
    if (!fd) {
        finish();
        return Errno{fd.error()};
    }
    auto ours = stat_open_file(sys, fd->get());
    Result<struct stat> lock = Errno{EIO};
    if (ours) {
        if (exclusive != nullptr && exclusive->making) exclusive->making(ObjectId::of(*ours));
        // Whatever link() answers, the lock is ours exactly when the lock
        // name is now our file.
        auto linked = sys.linkat(dirfd, temp.c_str(), dirfd, name, 0);
        lock = look_at_made(sys, dirfd, name);
        bool is_ours = lock && lock->st_dev == ours->st_dev && lock->st_ino == ours->st_ino;
        if (!lock) {
            // The lock name cannot be looked at (ESTALE that persists): our
            // file's link count tells, as liblockfile checks it, since no one
            // else knows its name. Answering an error for a lock that was taken
            // would leave it behind for good: every later try meets EEXIST.
            auto again = stat_open_file(sys, fd->get());
            is_ours = again ? again->st_nlink == ours->st_nlink + 1 : bool(linked);
            if (is_ours) lock = again ? *again : *ours;
        }
        if (is_ours && !linked)
            false_errors.hidden(FalseErrorOp::link, dirfd, name, linked.error());
        // Not ours: someone else holds the lock (EEXIST), or link() failed for
        // a reason of its own (EACCES, ENOSPC, ...), which the caller gets.
        if (!is_ours) lock = Errno{linked || linked.error() == EEXIST ? EEXIST : linked.error()};
    } else {
        lock = Errno{ours.error()};
    }
    (void)sys.unlinkat(dirfd, temp.c_str(),
                       0);  // an ENOENT here is a lost reply: gone all the same
    finish();
    if (!lock) return Errno{lock.error()};
    // The lock is held: an error now would make the caller's retry meet it.
    auto st = stat_open_file(sys, fd->get());
    return OpenedObject{std::move(*fd), st ? *st : *lock};
}

}  // namespace nfsguard::ops
