// Operations on an existing object of the backing tree, reached through the
// O_PATH descriptor fs/ holds for it (see Located), never through a path that
// could be swapped for a symlink between check and use.
//
// Each call runs under the identity the calling thread acts as (identity.hpp),
// so the backing filesystem makes exactly the permission checks it would make
// for the caller: chmod by a non-owner fails, truncate needs write access.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <string>

#include "ops/located.hpp"
#include "ops/result.hpp"
#include "ops/syscalls.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::ops {

Result<struct stat> stat_object(Syscalls& sys, const Located& obj);
Result<struct statvfs> statfs_object(Syscalls& sys, const Located& obj);

Result<void> change_mode(Syscalls& sys, const Located& obj, mode_t mode);
// The kernel clears the set-user-ID and set-group-ID bits of a file before a
// write or truncate by a user without CAP_FSETID, who need not own it, by a
// chmod to the same mode less those bits (FUSE turns its ATTR_KILL_SUID into
// a SETATTR of the mode, made as the writer; a local kernel forces it past
// the ownership check). Asked of the backing as the caller, a non-owner's
// chmod fails with EPERM, and so would the write. True when `mode` is such a
// request and the caller may write the object: then no chmod is needed, since
// the caller's write or truncate, made as the caller, clears the bits on the
// backing itself (as it does on a local filesystem and on an NFS server). A
// non-owner's own chmod that only drops set-ID bits of a file they may write
// is then answered as done, in shared mode (in pinned mode the kernel checks
// ownership first): no more than such a user can do by writing to the file.
bool is_set_id_kill_by_writer(Syscalls& sys, const Located& obj, mode_t mode);
// chmod as the caller; where that is EPERM for a set-ID kill by a writer
// (above), done as root, which gives that writer no power it lacks (its
// write clears the bits all the same). A backing that refuses root too
// (root_squash) leaves the bits to the write, made as the caller:
// `left_to_write` is then set, and the change is answered as done.
Result<void> change_mode_for_caller(Syscalls& sys, const Located& obj, mode_t mode,
                                    bool& left_to_write);
// uid or gid (uid_t)-1 / (gid_t)-1 leaves that one as it is.
Result<void> change_owner(Syscalls& sys, const Located& obj, uid_t uid, gid_t gid);
Result<void> truncate_object(Syscalls& sys, const Located& obj, off_t size);
// times as for utimensat(2): UTIME_NOW and UTIME_OMIT allowed.
Result<void> set_times(Syscalls& sys, const Located& obj, const struct timespec times[2]);
// access(2) with the acting identity's fsuid, fsgid and groups (AT_EACCESS).
Result<void> check_access(Syscalls& sys, const Located& obj, int mask);
Result<std::string> read_link(Syscalls& sys, const Located& obj);

// A real open of the object with the caller's flags (O_CREAT/O_EXCL dropped:
// the object exists). Race free: the object is the one fs/ verified.
Result<UniqueFd> reopen(Syscalls& sys, const Located& obj, int flags);

// Extended attributes. getxattr/listxattr follow the size-probe convention of
// the syscalls: size 0 asks for the size needed.
Result<size_t> get_xattr(Syscalls& sys, const Located& obj, const char* name, void* value,
                         size_t size);
Result<void> set_xattr(Syscalls& sys, const Located& obj, const char* name, const void* value,
                       size_t size, int flags);
Result<size_t> list_xattr(Syscalls& sys, const Located& obj, char* list, size_t size);
Result<void> remove_xattr(Syscalls& sys, const Located& obj, const char* name);

}  // namespace nfsguard::ops
