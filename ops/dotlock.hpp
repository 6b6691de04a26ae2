// Dot-locks made NFS-safe.
//
// Mail software locks a mailbox `user` by creating `user.lock` with
// O_CREAT|O_EXCL. On NFS an exclusive create can report EEXIST for a lock it
// did take (a lost reply), and older clients and servers did not honour
// O_EXCL at all. The safe way is the link protocol (Postfix's dot_lockfile,
// liblockfile, Dovecot): create a file under a name no one else uses, link
// it to the lock name, and compare inodes: the lock is ours exactly when the
// lock name is now our file, whatever link() said. nfsguard does this for
// every exclusive create of a name that matches the dot-lock pattern, so
// the mail software's plain O_EXCL becomes NFS-safe without knowing.
//
// The unique names (kTempPrefix...) are hidden from readdir. Each is noted
// in a journal before it is made, and the journal is replayed at the next
// start, so a crash between create and unlink leaves nothing behind.
#pragma once

#include <atomic>
#include <string>

#include "ops/false_errors.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/result.hpp"
#include "ops/syscalls.hpp"
#include "ops/verify_after_error.hpp"

namespace nfsguard::ops {

inline constexpr const char* kTempPrefix = ".nfsguard-dotlock.";

bool is_dotlock_temp(const char* name);

// Records the unique names in use in files of a local state directory, and
// removes what a crash left behind.
class DotlockJournal {
  public:
    // `state_dir` empty: no journal (a crash may then leave a hidden file).
    explicit DotlockJournal(std::string state_dir);
    // Notes `temp` in directory `dirfd` before it is made; false when that
    // could not be recorded (the dot-lock goes ahead all the same).
    bool begin(int dirfd, const std::string& temp);
    void end(const std::string& temp);
    // Removes every unique name a previous run noted and did not finish,
    // relative to the backing root `rootfd` whose path is `root_path`.
    // Returns how many were removed.
    size_t recover(Syscalls& sys, int rootfd, const std::string& root_path);

  private:
    // Unlinks `name` in the directory `below` the backing root (a path that
    // starts at the root, "" for the root itself).
    static Result<void> remove_below(Syscalls& sys, int rootfd, const std::string& below,
                                     const char* name);

    std::string dir_;
};

class DotlockCreator {
  public:
    DotlockCreator(std::string host, DotlockJournal& journal);

    // Takes the lock `name` in `dirfd` by the link protocol; returns an open
    // descriptor (with the caller's `flags`, less O_CREAT|O_EXCL) on the lock
    // file, or EEXIST when another holds it. `exclusive`: told our file
    // before it is linked; sent again after a crash of nfsguard, the lock
    // the dead process had taken for it is given (verify_after_error.hpp).
    Result<OpenedObject> create(Syscalls& sys, FalseErrors& false_errors, int dirfd,
                                const char* name, int flags, mode_t mode,
                                const ExclusiveCreate* exclusive = nullptr);

  private:
    std::string unique_name();

    std::string host_;
    DotlockJournal& journal_;
    std::atomic<uint64_t> counter_{0};
};

}  // namespace nfsguard::ops
