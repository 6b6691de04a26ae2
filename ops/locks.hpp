// Locks that reach the NFS server.
//
// Without lock handlers a FUSE filesystem keeps fcntl and flock locks inside
// the local kernel: other NFS clients never see them, and an mbox locked on
// this host is appended to by another at the same time. nfsguard forwards
// every lock to the backing file instead, where the NFS client takes it to
// the server (NLM for NFSv3, LOCK for NFSv4).
//
// A POSIX (fcntl) lock belongs to a process; the caller's lock owner is
// mapped to an open-file-description (OFD) lock on a backing descriptor of
// its own, one per (file, owner): two owners then conflict exactly as two
// processes would, and one owner's locks merge, split and upgrade as POSIX
// says. A flock belongs to an open file description, which is the caller's
// open file: it goes to that file's backing descriptor.
#pragma once

#include <fcntl.h>

#include "ops/result.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::ops {

// The first lock that would conflict with `want` (l_type F_UNLCK if none).
// The answer's l_pid is what the backing kernel says: -1 for an OFD lock.
Result<struct flock> find_conflicting_lock(Syscalls& sys, int fd, struct flock want);

// Sets or clears a byte-range lock on the owner's descriptor. With `wait`
// it blocks until granted; a signal to the thread ends the wait with EINTR.
// A conflict without `wait` is EAGAIN.
Result<void> set_range_lock(Syscalls& sys, int fd, struct flock lock, bool wait);

// flock(2) on the open file's descriptor: LOCK_SH, LOCK_EX, LOCK_UN, and
// LOCK_NB (then a conflict is EWOULDBLOCK). Without LOCK_NB it blocks as
// set_range_lock does.
Result<void> set_file_lock(Syscalls& sys, int fd, int operation);

}  // namespace nfsguard::ops
