// NodeIds: the node ids the kernel is given, and the inodes they stand for.
//
// An id is (epoch << 32) | slot. The kernel sends an id only until it has
// forgotten it (FUSE_FORGET), so a slot serves again once its inode is gone;
// the epoch tells apart the ids of another run of nfsguard (before a
// restart), which this table cannot vouch for: they are unknown, as is any
// id it never gave. The kernel's root, FUSE_ROOT_ID, is not one of these.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace nfsguard::fs {

struct Inode;

class NodeIds {
  public:
    explicit NodeIds(uint32_t epoch) : epoch_bits_(uint64_t{epoch} << 32) {}

    // A new id for `inode`. The caller holds the inode table's mutex.
    uint64_t assign(Inode* inode);
    // `id` is free again: its inode is gone. Under the table's mutex.
    void release(uint64_t id);
    // The inode of `id`, or nullptr for an id this table did not give or
    // has released. Needs no lock: a request reads it while others assign.
    Inode* find(uint64_t id) const;

  private:
    static constexpr unsigned kChunkBits = 16;  // 65,536 slots a chunk
    static constexpr size_t kChunks = 4096;     // 268 million slots at the most
    static constexpr uint64_t kFirstSlot = 2;   // ids 0 and 1 mean something to FUSE
    using Chunk = std::atomic<Inode*>[];

    const uint64_t epoch_bits_;
    std::array<std::atomic<std::atomic<Inode*>*>, kChunks> chunks_{};
    std::vector<std::unique_ptr<Chunk>> owned_;
    std::vector<uint64_t> free_;
    uint64_t next_ = kFirstSlot;
};

}  // namespace nfsguard::fs
