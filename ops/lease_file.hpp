// Lease files: a host owns a unit of the export (a mailbox) while it holds
// the write lock of the unit's lease file, so that the NFS server arbitrates
// ownership with its own locking and expires the lock of a client that dies
// (NFSv4 leases; NFSv3 lockd and statd). README, design: "One host per
// mailbox".
//
// A lease file holds one line naming its holder, written and synced once the
// lock is taken, so that any host can tell who holds a unit. The lock, not
// the line, says whether it is held: a released file keeps its last holder's
// line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ops/result.hpp"
#include "ops/syscalls.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::ops {

// Who holds a lease: "host=NAME pid=N since=UNIXTIME", then words of the
// holder's own ("idle=S", a unit's name) after it on the same line.
struct LeaseRecord {
    std::string host;
    int64_t pid = 0;
    int64_t since = 0;  // unix seconds
    std::string rest;   // what follows the three fields

    std::string line() const;
    static std::optional<LeaseRecord> parse(std::string_view line);
};

// The file name a unit's lease has ('%', '/' and ':' escaped as %25, %2F and
// %3A), and the unit of such a name (nothing if it is none).
std::string lease_file_name(std::string_view unit);
std::optional<std::string> unit_of_lease_file(std::string_view name);

// The directory `path` ("a/b") below `root`, made (mode 0755) where missing.
Result<UniqueFd> open_private_dir(Syscalls& sys, int root, std::string_view path);

// Takes lease file `name` in `dir` (made if missing): its whole-file write
// lock, without waiting (EAGAIN: another holds it), then `me` written over
// what it said and synced. The line it held before is put in `previous`.
Result<UniqueFd> take_lease(Syscalls& sys, int dir, const std::string& name, const LeaseRecord& me,
                            std::optional<LeaseRecord>* previous = nullptr);

// The holder's line of the lease file open at `fd` (nothing if unreadable).
std::optional<LeaseRecord> read_lease(Syscalls& sys, int fd);

// Writes `text` as the whole content of the lease file open at `fd`, synced.
// A holder's heartbeat: once the NFS client lost the lock (its lease expired
// on the server) the write fails with EIO.
Result<void> rewrite_lease(Syscalls& sys, int fd, std::string_view text);

// The holder of lease file `name` in `dir` and the rest of its text (lines
// after the first), or nothing while no lock is held on it.
struct HeldLease {
    LeaseRecord holder;
    std::string text;  // the whole file
};
Result<std::optional<HeldLease>> lease_holder(Syscalls& sys, int dir, const std::string& name);

}  // namespace nfsguard::ops
