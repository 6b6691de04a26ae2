// Operations on names in a backing directory: look up, create, remove,
// rename, link.
//
// Each takes the O_PATH descriptor of the directory and one entry name that
// has passed check_entry_name(), and never follows a symlink: a symlink
// planted in a mail directory cannot lead nfsguard outside the backing root.
// The calls run under the identity the thread acts as, so new objects belong
// to the caller.
//
// The calls NFS can answer with a lost-reply false error (rename, link,
// mkdir, symlink, unlink, rmdir) check the tree after an error (verify_after_error.hpp); an error
// proved false is reported to `false_errors` and the call succeeds, as it had.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

#include "ops/false_errors.hpp"
#include "ops/located.hpp"
#include "ops/result.hpp"
#include "ops/syscalls.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::ops {

// lstat of `name` in `dirfd`.
Result<struct stat> lookup_entry(Syscalls& sys, int dirfd, const char* name);
// The looks at what a non-idempotent call has just made (lstat of its name,
// fstat of its descriptor) look again, a few times, at an ESTALE: the
// caller's retry of the whole call after an ESTALE here would meet its own
// result (a false EEXIST, a dot-lock left behind).
Result<struct stat> look_at_made(Syscalls& sys, int dirfd, const char* name);
Result<struct stat> stat_open_file(Syscalls& sys, int fd);

// An O_PATH descriptor on `name`, which must still be the object (dev, ino):
// ESTALE when the name has come to mean another object since it was looked
// up (replaced or renamed by another host or process); then `other_object`,
// if given, is set, telling it from an ESTALE of the backing itself.
struct Opened {
    UniqueFd fd;
    struct stat st;
};
Result<Opened> open_entry(Syscalls& sys, int dirfd, const char* name, dev_t dev, ino_t ino,
                          bool* other_object = nullptr);

// Creates and opens a regular file (flags as for open(2); O_CREAT is added).
Result<Opened> create_file(Syscalls& sys, int dirfd, const char* name, int flags, mode_t mode);
// `server_ahead_seconds`: the measured clock skew, which the check of a
// lost reply needs to judge the new directory's ctime.
Result<struct stat> make_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                                   const char* name, mode_t mode, double server_ahead_seconds = 0);
Result<struct stat> make_node(Syscalls& sys, int dirfd, const char* name, mode_t mode, dev_t rdev);
Result<struct stat> make_symlink(Syscalls& sys, FalseErrors& false_errors, const char* target,
                                 int dirfd, const char* name);

Result<void> remove_file(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name);
Result<void> remove_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                              const char* name);

// What a rename moved: the object that was at the old name and, for
// RENAME_EXCHANGE, the one that was at the new name.
struct Renamed {
    struct stat moved;
    std::optional<struct stat> exchanged;
};
Result<Renamed> rename_entry(Syscalls& sys, FalseErrors& false_errors, int olddirfd,
                             const char* oldname, int newdirfd, const char* newname,
                             unsigned flags);

// A new name for an existing object. Returns the object's attributes after.
Result<struct stat> link_entry(Syscalls& sys, FalseErrors& false_errors, const Located& obj,
                               int newdirfd, const char* newname);

}  // namespace nfsguard::ops
