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

struct ExclusiveCreate;  // ops/verify_after_error.hpp

// lstat of `name` in `dirfd`.
Result<struct stat> lookup_entry(Syscalls& sys, int dirfd, const char* name);
// lstat of a `name` last seen as a directory, for a path walk whose
// attributes no one keeps: the name is resolved as always, the directory's
// attributes are taken as the backing has them cached (AT_STATX_DONT_SYNC).
// Each create or rename in a Maildir folder makes an NFSv4 client fetch the
// folder's attributes at the next lstat: three GETATTRs a delivery, counted
// on the real-NFS lane, that a walk through the folder does not need. A name
// that is no longer a directory is looked at afresh.
Result<struct stat> lookup_known_directory(Syscalls& sys, int dirfd, const char* name);
// The looks at what a non-idempotent call has just made (lstat of its name,
// fstat of its descriptor) look again, a few times, at an ESTALE: the
// caller's retry of the whole call after an ESTALE here would meet its own
// result (a false EEXIST, a dot-lock left behind).
Result<struct stat> look_at_made(Syscalls& sys, int dirfd, const char* name);
Result<struct stat> stat_open_file(Syscalls& sys, int fd);

// A descriptor on an object, and its attributes when it was opened.
struct OpenedObject {
    UniqueFd fd;
    struct stat st;
};

// An O_PATH descriptor on `name`, which must still be the object (dev, ino):
// ESTALE when the name has come to mean another object since it was looked
// up (replaced or renamed by another host or process); then `other_object`,
// if given, is set, telling it from an ESTALE of the backing itself.
Result<OpenedObject> open_entry(Syscalls& sys, int dirfd, const char* name, dev_t dev, ino_t ino,
                                bool* other_object = nullptr);

// Creates and opens a regular file (flags as for open(2); O_CREAT is added).
// `exclusive` (an O_EXCL create): told what it made; sent again after a
// crash of nfsguard, its file is given if the EEXIST it meets is the dead
// process's doing (verify_after_error.hpp, exclusive_create_was_done).
Result<OpenedObject> create_file(Syscalls& sys, int dirfd, const char* name, int flags, mode_t mode,
                                 const ExclusiveCreate* exclusive = nullptr);
// `server_ahead_seconds`: the measured clock skew, which the check of a
// lost reply needs to judge the new directory's ctime. `name_was`: the
// caller's own lookup found the name free a moment before (the kernel asks
// for a mkdir or symlink only then); otherwise they look themselves, since an
// EEXIST can only be false for a name that was free.
Result<struct stat> make_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                                   const char* name, mode_t mode, double server_ahead_seconds = 0,
                                   NameWas name_was = NameWas::unknown);
Result<struct stat> make_node(Syscalls& sys, int dirfd, const char* name, mode_t mode, dev_t rdev);
Result<struct stat> make_symlink(Syscalls& sys, FalseErrors& false_errors, const char* target,
                                 int dirfd, const char* name, NameWas name_was = NameWas::unknown);

// What the caller already knows of a name, from its own lookup a moment
// before the call: given it, a successful call costs no backing call beyond
// itself, and the checks look at the tree only after an error; without it
// (nullopt) the op looks itself. Why the kernel's lookup proves as much as an
// lstat here: README, design, "Verify after error".

// unlink, rmdir. `before`: the object the caller's lookup found at `name`.
Result<void> remove_file(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name,
                         std::optional<ObjectId> before = std::nullopt);
Result<void> remove_directory(Syscalls& sys, FalseErrors& false_errors, int dirfd, const char* name,
                              std::optional<ObjectId> before = std::nullopt);

// What a rename moved: the object that was at the old name and, for
// RENAME_EXCHANGE, the one that was at the new name.
struct Renamed {
    ObjectId moved;
    std::optional<ObjectId> exchanged;
};
// `moved`: the object the caller's lookup found at the old name;
// `exchanged`: for RENAME_EXCHANGE, the one at the new name.
Result<Renamed> rename_entry(Syscalls& sys, FalseErrors& false_errors, int olddirfd,
                             const char* oldname, int newdirfd, const char* newname, unsigned flags,
                             std::optional<ObjectId> moved = std::nullopt,
                             std::optional<ObjectId> exchanged = std::nullopt);

// A new name for an existing object: `object` is the identity of `obj` (fs/
// has it from the inode table; without it, an fstat of obj.fd). `newname_was`:
// the caller's lookup found `newname` free just before the call (fs/: the
// kernel asks for a link only then); otherwise link_entry looks itself.
// Returns the object's attributes after.
Result<struct stat> link_entry(Syscalls& sys, FalseErrors& false_errors, const Located& obj,
                               int newdirfd, const char* newname,
                               std::optional<ObjectId> object = std::nullopt,
                               NameWas newname_was = NameWas::unknown);

}  // namespace nfsguard::ops
