#include "fs/node_ids.hpp"

#include <cassert>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace nfsguard::fs {

uint64_t NodeIds::assign(Inode* inode) {
    uint64_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = next_++;
        const size_t chunk = slot >> kChunkBits;
        if (chunk >= kChunks) {
            // 268 million inodes known at once: memory runs out long before.
            spdlog::critical("more node ids than this table can hold");
            std::abort();
        }
        if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
            owned_.push_back(std::make_unique<Chunk>(size_t{1} << kChunkBits));
            chunks_[chunk].store(owned_.back().get(), std::memory_order_release);
        }
    }
    chunks_[slot >> kChunkBits]
        .load(std::memory_order_relaxed)[slot & ((1U << kChunkBits) - 1)]
        .store(inode, std::memory_order_release);
    return epoch_bits_ | slot;
}

void NodeIds::release(uint64_t id) {
    const uint64_t slot = id & 0xffffffffU;
    assert(find(id) != nullptr);
    chunks_[slot >> kChunkBits]
        .load(std::memory_order_relaxed)[slot & ((1U << kChunkBits) - 1)]
        .store(nullptr, std::memory_order_release);
    free_.push_back(slot);
}

Inode* NodeIds::find(uint64_t id) const {
    const uint64_t slot = id & 0xffffffffU;
    if ((id & ~uint64_t{0xffffffffU}) != epoch_bits_ || slot < kFirstSlot) return nullptr;
    if ((slot >> kChunkBits) >= kChunks) return nullptr;
    const auto* chunk = chunks_[slot >> kChunkBits].load(std::memory_order_acquire);
    if (chunk == nullptr) return nullptr;
    return chunk[slot & ((1U << kChunkBits) - 1)].load(std::memory_order_acquire);
}

}  // namespace nfsguard::fs
