// mknod, mkdir, symlink, unlink, rmdir, rename, link: changes to directory
// entries. These are the calls NFS does not make idempotent: when a reply is
// lost and the server has forgotten the request, the retransmission runs the
// call a second time and reports its failure. Here the call is performed,
// then the plan may replace its success with that failure.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/faultfs/call.hpp"
#include "tests/faultfs/control_command.hpp"
#include "tests/faultfs/handlers.hpp"
#include "tests/faultfs/open_file.hpp"

namespace nfsguard::faultfs {
namespace {

// The reply to a call that succeeded on the backing store: 0, or the error
// of the retransmission if the plan says this reply is lost.
int reply_after_success(Call& call, NameOp op, std::string_view name) {
    const int err = call.fs().plan.take_lost_reply(op, name);
    if (err == 0) return 0;
    spdlog::info("fault: lost_reply {} '{}' -> {}", op_name(op), name, errno_name(err));
    return -err;
}

}  // namespace

int fs_mknod(const char* path, mode_t mode, dev_t rdev) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    if (::mknodat(at->dir, at->c_name(), mode, rdev) == -1) return -errno;
    call.fs().clock.created(at->dir, at->c_name());
    return 0;
}

int fs_mkdir(const char* path, mode_t mode) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    if (::mkdirat(at->dir, at->c_name(), mode) == -1) return -errno;
    call.fs().clock.created(at->dir, at->c_name());
    return reply_after_success(call, NameOp::mkdir, at->name);
}

int fs_symlink(const char* target, const char* path) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    if (::symlinkat(target, at->dir, at->c_name()) == -1) return -errno;
    call.fs().clock.created(at->dir, at->c_name());
    return reply_after_success(call, NameOp::symlink, at->name);
}

namespace {

// unlink and rmdir: the same call but for the flag, and the fault they name.
int remove_name(const char* path, int flags, NameOp op) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    if (::unlinkat(at->dir, at->c_name(), flags) == -1) return -errno;
    call.fs().clock.entries_changed(at->dir);
    return reply_after_success(call, op, at->name);
}

}  // namespace

int fs_unlink(const char* path) {
    return remove_name(path, 0, NameOp::unlink);
}

int fs_rmdir(const char* path) {
    return remove_name(path, AT_REMOVEDIR, NameOp::rmdir);
}

int fs_rename(const char* from, const char* to, unsigned int flags) {
    Call call{entry_name(from), entry_name(to)};
    if (call.refusal()) return call.refusal();
    auto old_at = call.fs().backing.locate(from);
    if (!old_at) return -old_at.error();
    auto new_at = call.fs().backing.locate(to);
    if (!new_at) return -new_at.error();
    struct stat moved {};
    const bool open = ::fstatat(old_at->dir, old_at->c_name(), &moved, AT_SYMLINK_NOFOLLOW) == 0 &&
                      open_inodes().contains(moved.st_ino);
    if (::renameat2(old_at->dir, old_at->c_name(), new_at->dir, new_at->c_name(), flags) == -1)
        return -errno;
    call.fs().clock.entries_changed(old_at->dir);
    call.fs().clock.entries_changed(new_at->dir);
    const int reply = reply_after_success(call, NameOp::rename, new_at->name);
    if (reply != 0 || open) return reply;
    return reply_after_success(call, NameOp::rename_closed, new_at->name);
}

int fs_link(const char* from, const char* to) {
    Call call{entry_name(from), entry_name(to)};
    if (call.refusal()) return call.refusal();
    auto old_at = call.fs().backing.locate(from);
    if (!old_at) return -old_at.error();
    auto new_at = call.fs().backing.locate(to);
    if (!new_at) return -new_at.error();
    // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
    if (::linkat(old_at->dir, old_at->c_name(), new_at->dir, new_at->c_name(), 0) == -1)
        return -errno;
    call.fs().clock.entries_changed(new_at->dir);
    return reply_after_success(call, NameOp::link, new_at->name);
}

}  // namespace nfsguard::faultfs
