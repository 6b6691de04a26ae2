// LockOwners: the backing descriptor that carries each caller's POSIX locks.
//
// One descriptor per (inode, lock owner), opened on the first lock and
// closed when the owner closes any descriptor of the file (flush): POSIX
// drops all of a process's locks on a file at its first close, and closing
// the descriptor drops its OFD locks on the backing file and on the server.
// An OFD lock's owner is the open file itself, which no flush names: its
// descriptor goes when the last handle it locked through is released.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "fs/inode_table.hpp"
#include "ops/result.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

class LockOwners {
  public:
    struct Owner {
        ops::SharedFd fd;
        pid_t pid;                      // of the process that last locked through it
        std::vector<uint64_t> handles;  // the open files it locked through
    };

    // The owner's descriptor, opened by `open` if it has none yet; the lock
    // request came through the caller's open file `handle` (fuse fh).
    ops::Result<ops::SharedFd> descriptor(const Inode& inode, uint64_t owner, pid_t pid,
                                          uint64_t handle,
                                          const std::function<ops::Result<ops::UniqueFd>()>& open);
    // The owner's descriptor if it has one (for F_GETLK).
    ops::SharedFd find(const Inode& inode, uint64_t owner) const;
    // The other owners of locks on `inode`: (descriptor, pid).
    std::vector<Owner> others(const Inode& inode, uint64_t owner) const;
    // The owner closed the file: its locks on it go.
    void release(const Inode& inode, uint64_t owner);
    // The open file `handle` is gone (its last close): every owner that
    // locked through it goes, with its locks. For a POSIX owner that flush
    // did already; an OFD owner is that open file, and this is its only end.
    void handle_released(const Inode& inode, uint64_t handle);
    size_t size() const;

  private:
    using Key = std::pair<const Inode*, uint64_t>;
    mutable std::mutex mutex_;
    std::map<Key, Owner> owners_;  // ordered: an inode's owners are adjacent
};

}  // namespace nfsguard::fs
