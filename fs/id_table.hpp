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

#include <algorithm>
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
            ensure_chunk(slot);
        }
        entry(slot).store(object, std::memory_order_release);
        return epoch_bits_ | slot;
    }
    // `id` is free again: the kernel let it go. Returns what it stood for
    // (nullptr for an unknown id). `before_reuse(id)` runs before the slot
    // can be given again: a record of the id kept elsewhere is cleared
    // before the next holder's can be written there.
    T* release(uint64_t id) {
        return release(id, [](uint64_t) {});
    }
    template <typename Fn>
    T* release(uint64_t id, Fn before_reuse) {
        std::lock_guard lock(mutex_);
        T* object = find(id);
        if (object == nullptr) return nullptr;
        before_reuse(id);
        entry(id & kSlotMask).store(nullptr, std::memory_order_release);
        free_.push_back(id & kSlotMask);
        return object;
    }
    // Takes up `object` under `id`, an id of this epoch another process gave
    // (a planned restart hands its tables over). False if `id` is not one
    // of this epoch's or its slot is taken. The slots left free between
    // are free again once done_placing() is called.
    bool place(uint64_t id, T* object) {
        std::lock_guard lock(mutex_);
        const uint64_t slot = id & kSlotMask;
        if ((id & ~kSlotMask) != epoch_bits_ || slot < kFirstSlot ||
            (slot >> kChunkBits) >= kChunks)
            return false;
        ensure_chunk(slot);
        if (entry(slot).load(std::memory_order_relaxed) != nullptr) return false;
        entry(slot).store(object, std::memory_order_release);
        next_ = std::max(next_, slot + 1);
        return true;
    }
    void done_placing() {
        std::lock_guard lock(mutex_);
        free_.clear();
        for (uint64_t slot = next_; slot-- > kFirstSlot;)
            if (entry(slot).load(std::memory_order_relaxed) == nullptr) free_.push_back(slot);
    }
    // Calls `fn(id, object)` for every id given and not released.
    template <typename Fn>
    void for_each(Fn fn) const {
        std::lock_guard lock(mutex_);
        for (uint64_t slot = kFirstSlot; slot < next_; ++slot)
            if (T* object = const_cast<IdTable*>(this)->entry(slot).load())
                fn(epoch_bits_ | slot, object);
    }
    uint32_t epoch() const { return static_cast<uint32_t>(epoch_bits_ >> 32); }

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

    void ensure_chunk(uint64_t slot) {
        auto& chunk = chunks_[slot >> kChunkBits];
        if (chunk.load(std::memory_order_relaxed) == nullptr) {
            owned_.push_back(std::make_unique<Chunk>(kChunkSize));
            chunk.store(owned_.back().get(), std::memory_order_release);
        }
    }
    std::atomic<T*>& entry(uint64_t slot) {
        return chunks_[slot >> kChunkBits].load(std::memory_order_relaxed)[slot & (kChunkSize - 1)];
    }

    const uint64_t epoch_bits_;
    mutable std::mutex mutex_;  // for assign, release, place
    std::array<std::atomic<std::atomic<T*>*>, kChunks> chunks_{};
    std::vector<std::unique_ptr<Chunk>> owned_;
    std::vector<uint64_t> free_;
    uint64_t next_ = kFirstSlot;
};

}  // namespace nfsguard::fs
