// TableMirror: the node ids and file handles the kernel holds, mirrored into
// shared memory that outlives the process (a memfd the service manager's
// store keeps), so that after a crash the next process takes them up
// instead of answering ESTALE (README, design: "Restart without unmount").
//
// One fixed-size record per id slot (fs/id_table.hpp). A record is written
// before the reply that gives its id, so the mirror holds every id the
// kernel may hold. Each record has a sequence number, odd while it is
// written: a record the crash tore is known as torn, and its id is kept
// from reuse (answered ESTALE), never given to another object.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ops/located.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

class TableMirror {
  public:
    // Slots per table: ids beyond are not mirrored (overflowed() says so).
    static constexpr uint64_t kSlots = uint64_t{1} << 21;

    // A new, empty mirror in a memfd; nullptr if it cannot be made.
    static std::unique_ptr<TableMirror> create();
    // The mirror in `fd` (one a process before left); nullptr if it is not one.
    static std::unique_ptr<TableMirror> open(ops::UniqueFd fd);
    ~TableMirror();
    TableMirror(const TableMirror&) = delete;
    TableMirror& operator=(const TableMirror&) = delete;
    int fd() const { return fd_.get(); }

    struct Node {
        uint64_t id = 0;
        dev_t dev = 0;
        ino_t ino = 0;
        mode_t type = 0;
        uint64_t nlookup = 0;
        bool in_index = true;
        uint64_t parent = 0;  // the directory of its most recent name; 0: none
        std::string name;
    };
    // An open file or directory (kept apart: their handles are two tables).
    enum class Kind { file, dir };
    struct File {
        uint64_t handle = 0;
        uint64_t node = 0;
        int flags = 0;  // as the caller opened it
        Kind kind = Kind::file;
        std::string backing_handle;  // name_to_handle_at (ops::Syscalls::handle_of), if known
        bool lock_lost = false;      // see lock_not_kept
    };
    // Not thread-safe per slot: a node is written under the inode table's
    // mutex, a file by the request that owns its handle.
    void put(const Node& node);
    void clear_node(uint64_t id);
    void put(const File& file);
    void clear_file(uint64_t handle, Kind kind = Kind::file);
    // A lock owner that used open file `handle` has no descriptor in the
    // store (it was refused): after a crash the server has let its locks
    // go, so the handle answers EIO instead of writing unlocked.
    void lock_not_kept(uint64_t handle);

    // The reply to the kernel's request `unique`, as sent (a request whose
    // effect is not the same twice: create, rename, an O_APPEND write...),
    // recorded before it is sent: the kernel sends the requests a crashed
    // process had read again, and one it had answered is answered from here
    // instead of being done twice. The last kReplies are kept.
    static constexpr size_t kReplies = 4096;
    static constexpr size_t kMaxReply = 240;
    void replied(uint64_t unique, const std::vector<char>& reply);
    std::optional<std::vector<char>> reply_to(uint64_t unique) const;
    // In the reply's place until it comes: that request `unique` was started
    // at `at` (client clock). An exclusive create is recorded so before it is
    // done: sent again after a crash, its EEXIST may be the dead process's
    // own doing (ops/verify_after_error.hpp, exclusive_create_was_done).
    // What it makes is added once known (ops::ExclusiveCreate::making).
    void started(uint64_t unique, const struct timespec& at);
    void making(uint64_t unique, const ops::ObjectId& object);
    struct Started {
        struct timespec at;
        std::optional<ops::ObjectId> making;
    };
    std::optional<Started> started_at(uint64_t unique) const;

    struct Contents {
        std::vector<Node> nodes;
        std::vector<File> files;           // open files and directories
        std::vector<uint64_t> torn_nodes;  // ids: to be kept from reuse
        std::vector<File> torn_handles;    // likewise (handle and kind)
    };
    // What the mirror holds, for a table of `epoch`.
    Contents read(uint32_t epoch) const;
    // Whether an id went beyond kSlots: then the mirror does not hold all.
    bool overflowed() const;

  private:
    struct Header;
    struct NodeRecord;
    struct FileRecord;
    struct ReplyRecord;
    TableMirror(ops::UniqueFd fd, void* base);
    static size_t total_size();
    Header& header() const;
    NodeRecord& node_at(uint64_t slot) const;
    FileRecord& file_at(Kind kind, uint64_t slot) const;
    ReplyRecord& reply_at(uint64_t unique) const;
    bool slot_of(uint64_t id, uint64_t& slot);

    ops::UniqueFd fd_;
    char* base_;
};

}  // namespace nfsguard::fs
