// IdTable: the ids the kernel is given for what nfsguard keeps (node ids of
// inodes, handles of open files and directories), and what they stand for.
//
// An id is (epoch << 32) | slot. The kernel sends an id only until it has
// let it go (FUSE_FORGET, release), so a slot serves again once its object
// is gone; the epoch tells apart the ids of another run of nfsguard (before
// a restart), which this table cannot vouch for: they are unknown, as is
// any id it never gave, and are answered ESTALE, never taken for another
// object. Ids 0 and 1 are never given (1 is the kernel's root).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace nfsguard::fs {

template <typename T>
class IdTable {
  public:
    explicit IdTable(uint32_t epoch) : epoch_bits_(uint64_t{epoch} << 32) {}

    // A new id for `object`.
    uint64_t assign(T* object) {
        std::lock_guard lock(mutex_);
        uint64_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            slot = next_++;
            // 268 million at once: memory runs out long before.
            if ((slot >> kChunkBits) >= kChunks) std::abort();
            auto& chunk = chunks_[slot >> kChunkBits];
            if (chunk.load(std::memory_order_relaxed) == nullptr) {
                owned_.push_back(std::make_unique<Chunk>(kChunkSize));
                chunk.store(owned_.back().get(), std::memory_order_release);
            }
        }
        entry(slot).store(object, std::memory_order_release);
        return epoch_bits_ | slot;
    }
    // `id` is free again: the kernel let it go. Returns what it stood for
    // (nullptr for an unknown id).
    T* release(uint64_t id) {
        std::lock_guard lock(mutex_);
        T* object = find(id);
        if (object == nullptr) return nullptr;
        entry(id & kSlotMask).store(nullptr, std::memory_order_release);
        free_.push_back(id & kSlotMask);
        return object;
    }
    // The object of `id`, or nullptr for an id this table did not give or
    // has released. Takes no lock: requests read while others assign.
    T* find(uint64_t id) const {
        const uint64_t slot = id & kSlotMask;
        if ((id & ~kSlotMask) != epoch_bits_ || slot < kFirstSlot ||
            (slot >> kChunkBits) >= kChunks)
            return nullptr;
        const auto* chunk = chunks_[slot >> kChunkBits].load(std::memory_order_acquire);
        return chunk == nullptr ? nullptr
                                : chunk[slot & (kChunkSize - 1)].load(std::memory_order_acquire);
    }

  private:
    static constexpr unsigned kChunkBits = 16;
    static constexpr size_t kChunkSize = size_t{1} << kChunkBits;
    static constexpr size_t kChunks = 4096;  // 268 million slots at the most
    static constexpr uint64_t kSlotMask = 0xffffffffU;
    static constexpr uint64_t kFirstSlot = 2;
    using Chunk = std::atomic<T*>[];

    std::atomic<T*>& entry(uint64_t slot) {
        return chunks_[slot >> kChunkBits].load(std::memory_order_relaxed)[slot & (kChunkSize - 1)];
    }

    const uint64_t epoch_bits_;
    std::mutex mutex_;  // for assign and release
    std::array<std::atomic<std::atomic<T*>*>, kChunks> chunks_{};
    std::vector<std::unique_ptr<Chunk>> owned_;
    std::vector<uint64_t> free_;
    uint64_t next_ = kFirstSlot;
};

}  // namespace nfsguard::fs
