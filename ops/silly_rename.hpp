// Silly renames: the NFS client's placeholders for open-but-deleted files.
//
// When a file that is still open is unlinked, the Linux NFS client renames it
// to ".nfs" followed by 24 hex digits instead, and removes that name at the
// last close. Mail software listing a Maildir would take such a name for a
// message, and an rmdir of the directory fails with ENOTEMPTY while it
// exists. nfsguard hides them (readdir, lookup) and lets rmdir wait a moment
// for them to go: through FUSE the last close reaches the backing file only
// after the caller's close() has returned.
#pragma once

#include <chrono>

#include "ops/result.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::ops {

bool is_silly_rename(const char* name);

// True when directory `name` in `dirfd` holds nothing but silly renames.
bool holds_only_silly_renames(Syscalls& sys, int dirfd, const char* name);

// How long an rmdir waits for silly renames to go before it says ENOTEMPTY.
inline constexpr std::chrono::milliseconds kSillyRenameWait{2000};
// How often it looks again meanwhile.
inline constexpr std::chrono::milliseconds kSillyRenamePoll{20};

}  // namespace nfsguard::ops
