// Handover: what passes from one nfsguard process to the next on one mount
// (README, design: "Restart without unmount").
//
// The connection record (the FUSE_INIT the kernel sent, the epoch of ids,
// restart counts) lives in a memfd that the service manager's store keeps
// from the first start on, so that it outlives a crash. A planned restart
// adds the tables the kernel's ids stand for (inodes, open files and
// directories, lock owners) in a second memfd, and keeps their descriptors
// open across exec, at the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <map>

#include "fs/inode_table.hpp"
#include "fs/table_mirror.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

struct Filesystem;

struct ConnectionRecord {
    uint32_t epoch = 1;  // of node ids and handles (fs/id_table.hpp)
    uint64_t planned_restarts = 0;
    uint64_t crashes = 0;  // starts that found the connection but no handover
    // Absolute; a process that takes the mount up must not resolve them:
    // the lookup of the mount point would wait for that very process.
    std::string mountpoint;
    std::string backing;
    std::vector<char> init_request;
    // The process before drained its requests and left the mount to the
    // next one (the stop of a service manager's restart): not a crash.
    bool left_drained = false;
};
// A new memfd holding `record`; invalid if it cannot be made.
ops::UniqueFd new_record_file(const ConnectionRecord& record);
// Writes `record` over what the memfd `fd` holds.
bool write_record(int fd, const ConnectionRecord& record);
std::optional<ConnectionRecord> read_record(int fd);

struct Handover {
    int fuse_fd = -1;
    int record_fd = -1;
    int root_fd = -1;    // the backing root (the mount may hide its path)
    int mirror_fd = -1;  // fs/table_mirror.hpp
    ConnectionRecord connection;
    std::vector<InodeTable::Entry> inodes;
    struct File {
        uint64_t handle;
        int fd;
    };
    std::vector<File> files;
    struct Dir {
        uint64_t handle;
        int fd;
        int64_t offset;
    };
    std::vector<Dir> dirs;
    struct Lock {
        uint64_t node_id;
        uint64_t owner;
        int32_t pid;
        std::vector<uint64_t> handles;
        int fd;
        std::string kept_as;
    };
    std::vector<Lock> locks;
    // Units this host owns (fs/ownership/): their leases' descriptors.
    struct Lease {
        std::string unit;
        int fd;
    };
    std::vector<Lease> leases;
};

// The tables of `fs`, whose request loop has ended (drained).
Handover capture(const Filesystem& fs);
// Every descriptor `h` names: they must stay open across exec.
std::vector<int> descriptors(const Handover& h);
// `h` in a new memfd; invalid if it cannot be made.
ops::UniqueFd write_handover(const Handover& h);
std::optional<Handover> read_handover(int fd);
// Takes up the tables of `h` into `fs`, which holds nothing yet; the
// descriptors they name become fs's. Returns how many entries could not be
// taken up (their ids are answered ESTALE).
size_t restore(Filesystem& fs, const Handover& h);

// After a crash: what the mirror holds, taken up into `fs` (which holds
// nothing yet): node ids with their most recent names, file handles opened
// again by name with the caller's flags (else by the descriptor kept for a
// file with no name left), and the lock owners' descriptors the store kept.
// What it takes from `kept_fds` it leaves invalid there. Returns how many
// could not be: their ids are answered ESTALE, and never given again.
size_t take_up_mirror(Filesystem& fs, const TableMirror::Contents& mirrored,
                      std::map<std::string, ops::UniqueFd>& kept_fds);

}  // namespace nfsguard::fs
