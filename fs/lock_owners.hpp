// LockOwners: the backing descriptor that carries each caller's POSIX locks.
//
// One descriptor per (inode, lock owner), opened on the first lock and
// closed when the owner closes any descriptor of the file (flush): POSIX
// drops all of a process's locks on a file at its first close, and closing
// the descriptor drops its OFD locks on the backing file and on the server.
// An OFD lock's owner is the open file itself, which no flush names: its
// descriptor goes when the last handle it locked through is released.
//
// Each descriptor can also be kept outside the process (the service
// manager's store: a Keeper), so that a crash does not let go of its locks
// on the server; the next process takes the kept ones up (adopt_kept) and
// serves the dead process's owners with them until they unlock or close.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
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
        std::string kept_as;            // its name with the Keeper, if kept
    };

    // Where descriptors are kept beyond this process. `drop` must let go of
    // the locks on `fd` first: the kept copy would hold them. `not_kept` is
    // told each open file an owner that could not be kept locks through:
    // after a crash its locks are gone, and that file must not be written.
    struct Keeper {
        std::function<bool(const std::string& name, int fd)> keep;
        std::function<void(const std::string& name, int fd)> drop;
        std::function<void(uint64_t handle)> not_kept;
    };
    void keep_in(Keeper keeper) { keeper_ = std::move(keeper); }
    // The name an owner's descriptor is kept under, and back.
    static std::string kept_name(uint64_t node_id, uint64_t owner, uint64_t handle);
    static bool parse_kept_name(const std::string& name, uint64_t& node_id, uint64_t& owner,
                                uint64_t& handle);

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

    // Every owner with the node id of its inode, for a planned restart
    // (fs/daemon/handover.hpp); and one taken up from the process before.
    struct Held {
        uint64_t node_id;
        uint64_t owner;
        Owner state;
    };
    std::vector<Held> held() const;
    void adopt(const Inode& inode, uint64_t owner, Owner state);

    // After a crash: a descriptor the dead process kept as `name`, with its
    // owner's locks, for node ids and handles only the dead process knew.
    // False for a name that is not a kept lock's.
    bool adopt_kept(const std::string& name, ops::UniqueFd fd);
    // The kept descriptor of `owner` on the dead process's `node_id`.
    ops::SharedFd find_kept(uint64_t node_id, uint64_t owner) const;
    // The owner closed the file (flush), or the open file `handle` is gone.
    void release_kept(uint64_t node_id, uint64_t owner);
    void kept_handle_released(uint64_t node_id, uint64_t handle);
    size_t kept_size() const;

  private:
    using Key = std::pair<const Inode*, uint64_t>;
    void drop(std::vector<Owner>& gone);  // without the mutex
    mutable std::mutex mutex_;
    std::map<Key, Owner> owners_;  // ordered: an inode's owners are adjacent
    std::map<std::pair<uint64_t, uint64_t>, Owner> kept_;  // (dead node id, owner)
    Keeper keeper_;
};

}  // namespace nfsguard::fs
