// KeptNameless: open files whose name went away through this mount (unlinked,
// or replaced by a rename: Dovecot replaces dovecot.index while processes
// hold it open) have one descriptor kept in the service manager's store
// while they are open, named by node id: after a crash, the next process
// cannot open them again by a name, and opens this descriptor's file
// instead (/proc/self/fd reaches a deleted file). Files that keep a name
// need nothing kept: the next process opens them by it (fs/table_mirror.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace nfsguard::fs {

class KeptNameless {
  public:
    using Keep = std::function<bool(const std::string& name, int fd)>;
    using Drop = std::function<void(const std::string& name)>;
    // Where to keep them (fs/daemon/session.cpp); unset: nowhere.
    void keep_in(Keep keep, Drop drop) {
        keep_ = std::move(keep);
        drop_ = std::move(drop);
    }
    bool enabled() const { return static_cast<bool>(keep_); }
    // Node `id` lost its name while `fd`, one of its open files, is open.
    void name_gone(uint64_t id, int fd) {
        if (!keep_) return;
        std::lock_guard lock(mutex_);
        if (kept_.count(id) == 0 && keep_(name_of(id), fd)) insert(id);
    }
    // Drops those whose node has no open file left (`open(id)` false).
    void drop_closed(const std::function<bool(uint64_t id)>& open) {
        if (count_.load(std::memory_order_relaxed) == 0) return;  // the usual case
        std::vector<uint64_t> ids;
        {
            std::lock_guard lock(mutex_);
            ids.assign(kept_.begin(), kept_.end());
        }
        for (uint64_t id : ids) {
            if (open(id)) continue;
            {
                std::lock_guard lock(mutex_);
                if (kept_.erase(id) == 0) continue;  // dropped by another
                count_ = kept_.size();
            }
            drop_(name_of(id));
        }
    }
    // One the process before kept, and this one took up.
    void taken_up(uint64_t id) {
        std::lock_guard lock(mutex_);
        insert(id);
    }
    bool taken(uint64_t id) {
        std::lock_guard lock(mutex_);
        return kept_.count(id) != 0;
    }
    static std::string name_of(uint64_t id);
    static bool parse(const std::string& name, uint64_t& id);

  private:
    void insert(uint64_t id) {
        kept_.insert(id);
        count_ = kept_.size();
    }
    std::mutex mutex_;
    std::set<uint64_t> kept_;
    std::atomic<size_t> count_{0};
    Keep keep_;
    Drop drop_;
};

}  // namespace nfsguard::fs
