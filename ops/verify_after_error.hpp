// Verify after error: does the backing tree prove that a call which reported
// an error had in fact been done?
//
// The lost-reply false errors (see false_errors.hpp) leave the tree exactly as
// a success would. Each check here looks for that state, strictly: a check
// that cannot decide says no, and the original error is passed on. nfsguard
// never invents success. The checks run only after an error, so their extra
// calls cost nothing on the normal path.
#pragma once

#include <sys/stat.h>
#include <time.h>

#include <functional>
#include <optional>

#include "ops/located.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::ops {

// When a call started and how far server timestamps may stray from the
// client's clock and still count as "made by this call".
struct CallWindow {
    struct timespec start;
    int slack_seconds = 2;
    // The server's clock runs this far ahead of ours (ClockSkew): the times
    // it stamps are compared after taking it off.
    double server_ahead_seconds = 0;

    static CallWindow now(double server_ahead_seconds = 0);
    // True when `t` (a server timestamp) falls between the start of the call
    // and now, give or take the slack.
    bool contains(const struct timespec& t) const;
};

// An exclusive create (O_CREAT|O_EXCL, or a dot-lock) as the recovery from
// a crash of nfsguard sees it (README, design, "Restart without unmount").
struct ExclusiveCreate {
    // Told the object being made as soon as it is known: a dot-lock's own
    // file before the lock name is linked to it, a plain create's file once
    // opened. Unset: nothing is told.
    std::function<void(const ObjectId&)> making;
    // Sent again after a crash: when the dead process had started it, and
    // what it was making, if it had got that far.
    std::optional<CallWindow> started_before;
    std::optional<ObjectId> made_before;
};

// rename(old, new) said ENOENT: done when `new` is now the object that was
// at `old` before the call (same dev, ino and type) and `old` is gone.
// Stronger than Postfix's sane_rename, which accepts any object at `new`;
// what it leaves open (an inode number reused within the call) is in the
// README's design, "Verify after error".
bool rename_was_done(Syscalls& sys, int olddirfd, const char* oldname, int newdirfd,
                     const char* newname, const ObjectId& moved);

// link(obj, new) said EEXIST: done when `new` did not exist before the call
// and is now the same object (dev, ino, type). (Link counts are not
// compared: an NFS client may serve a cached st_nlink.) The caller holds a
// descriptor on the object for the call, so its number cannot be freed and
// reused meanwhile on this host.
bool link_was_done(Syscalls& sys, int newdirfd, const char* newname, const ObjectId& object);

// mkdir(new) said EEXIST, and the name was free just before the call: done
// only when `new` is a directory owned by the caller, changed within the
// call's window, and empty. mkdir serves as a lock for some programs, so
// anything less certain keeps the EEXIST. (What no check can tell apart: a
// process of the same user making the same empty directory between the
// caller's check and its call.)
bool mkdir_was_done(Syscalls& sys, int dirfd, const char* name, uid_t caller,
                    const CallWindow& window);

// symlink(target, new) said EEXIST, and the name was free just before the
// call: done when `new` is a symlink owned by the caller that points at
// `target`.
bool symlink_was_done(Syscalls& sys, int dirfd, const char* name, const char* target, uid_t caller);

// open(O_CREAT|O_EXCL) said EEXIST: no check after a lost NFS reply, by
// design. NFS clients protect exclusive creates with a verifier that lets the
// server recognise a retransmission (the nfsvm reference saw no false EEXIST
// there), and the lookalike -- an empty file the same user created a moment
// ago -- is exactly a lock held by another process. Dot-lock names get the
// NFS-safe link protocol instead, which needs no guessing.
//
// One case is checked: the same create, sent again by the kernel after a
// crash of nfsguard, where the dead process had started it (its record in
// fs/table_mirror.hpp) and recorded no reply (ExclusiveCreate). When that
// process had recorded what it was making, the name must be that object.
// Otherwise (a plain create that crashed between its open and the record)
// `name` must be a regular file owned by the caller, empty, with one link,
// changed within the window from that start; what is left open then:
// another process of the same user making that very name in that window.
bool exclusive_create_was_done(Syscalls& sys, int dirfd, const char* name, uid_t caller,
                               const ExclusiveCreate& before);

}  // namespace nfsguard::ops
