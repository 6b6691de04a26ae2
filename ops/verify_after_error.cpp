#include "ops/verify_after_error.hpp"

#include <cmath>

#include "ops/directory_entries.hpp"

#include <fcntl.h>

namespace nfsguard::ops {
namespace {

bool same_object(const struct stat& now, const ObjectId& before) {
    return now.st_dev == before.dev && now.st_ino == before.ino &&
           (now.st_mode & S_IFMT) == before.type;
}

// Before looking at the tree after an error: the NFS client may hold what it
// cached before the call. After a failed NFSv4 RENAME (whose error reply
// carries no directory change information) it keeps "no such name" for the
// new name for up to the attribute timeout; a fresh GETATTR of the
// directories shows them changed and drops that. (NFSv3's error replies
// carry the directory's new attributes and need no help; measured with the
// real-NFS lane, tests/nfs.)
void refresh(Syscalls& sys, int dirfd) {
    (void)sys.refresh_attributes(dirfd);
}

}  // namespace

CallWindow CallWindow::now(double server_ahead_seconds) {
    CallWindow w;
    ::clock_gettime(CLOCK_REALTIME, &w.start);
    w.server_ahead_seconds = server_ahead_seconds;
    return w;
}

bool CallWindow::contains(const struct timespec& t) const {
    struct timespec end;
    ::clock_gettime(CLOCK_REALTIME, &end);
    const auto ours = t.tv_sec - static_cast<time_t>(std::lround(server_ahead_seconds));
    return ours >= start.tv_sec - slack_seconds && ours <= end.tv_sec + slack_seconds;
}

bool rename_was_done(Syscalls& sys, int olddirfd, const char* oldname, int newdirfd,
                     const char* newname, const ObjectId& moved) {
    refresh(sys, newdirfd);
    if (olddirfd != newdirfd) refresh(sys, olddirfd);
    auto now_new = sys.fstatat(newdirfd, newname, AT_SYMLINK_NOFOLLOW);
    if (!now_new || !same_object(*now_new, moved)) return false;
    auto now_old = sys.fstatat(olddirfd, oldname, AT_SYMLINK_NOFOLLOW);
    // Still there as the same object: a hard link named twice, not a rename.
    if (now_old) return !same_object(*now_old, moved);
    return now_old.error() == ENOENT;
}

bool link_was_done(Syscalls& sys, int newdirfd, const char* newname, const ObjectId& object) {
    refresh(sys, newdirfd);
    auto now_new = sys.fstatat(newdirfd, newname, AT_SYMLINK_NOFOLLOW);
    return now_new && same_object(*now_new, object);
}

bool mkdir_was_done(Syscalls& sys, int dirfd, const char* name, uid_t caller,
                    const CallWindow& window) {
    refresh(sys, dirfd);
    auto st = sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
    return st && S_ISDIR(st->st_mode) && st->st_uid == caller && window.contains(st->st_ctim) &&
           every_entry(
               sys, dirfd, name, [](const char*) { return false; }, &*st);
}

bool exclusive_create_was_done(Syscalls& sys, int dirfd, const char* name, uid_t caller,
                               const ExclusiveCreate& before) {
    if (!before.started_before) return false;
    refresh(sys, dirfd);
    auto st = sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
    if (!st || !S_ISREG(st->st_mode) || st->st_uid != caller) return false;
    if (const auto& made = before.made_before)
        return st->st_dev == made->dev && st->st_ino == made->ino;
    return st->st_size == 0 && st->st_nlink == 1 && before.started_before->contains(st->st_ctim);
}

bool symlink_was_done(Syscalls& sys, int dirfd, const char* name, const char* target,
                      uid_t caller) {
    refresh(sys, dirfd);
    auto st = sys.fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
    if (!st || !S_ISLNK(st->st_mode) || st->st_uid != caller) return false;
    auto link = sys.readlinkat(dirfd, name);
    return link && *link == target;
}

}  // namespace nfsguard::ops
