// OnceAWhile: a message that may come with every request, logged at most
// once a minute with how many times it came meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace nfsguard::fs {

class OnceAWhile {
  public:
    explicit OnceAWhile(std::chrono::seconds every = std::chrono::seconds(60)) : every_(every) {}

    // Counts one occurrence. When it is to be logged, returns how many came
    // since the last logged one (this one aside); else nothing.
    std::optional<uint64_t> due() {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        if (logged_once_ && now - last_ < every_) {
            ++since_;
            return std::nullopt;
        }
        logged_once_ = true;
        last_ = now;
        const uint64_t since = since_;
        since_ = 0;
        return since;
    }

  private:
    const std::chrono::steady_clock::duration every_;
    std::mutex mutex_;
    bool logged_once_ = false;
    std::chrono::steady_clock::time_point last_;
    uint64_t since_ = 0;
};

}  // namespace nfsguard::fs
