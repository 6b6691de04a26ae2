#include "fs/daemon/watchdog.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "fs/daemon/service_notify.hpp"

namespace nfsguard::fs {

Watchdog::Watchdog(std::string mountpoint_path) : path_(std::move(mountpoint_path)) {
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (usec == nullptr) return;
    if (pid != nullptr && std::atol(pid) != ::getpid()) return;  // meant for another process
    const long long us = std::atoll(usec);
    if (us > 0) interval_ = std::chrono::microseconds(us / 2);
}

Watchdog::~Watchdog() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
    }
    state_->cv.notify_all();
    // A stat stuck in a wedged loop would never return: do not wait for it.
    if (thread_.joinable()) thread_.detach();
}

void Watchdog::start() {
    if (interval_.count() == 0) return;
    thread_ = std::thread([state = state_, path = path_, interval = interval_] {
        std::unique_lock lock(state->mutex);
        while (!state->cv.wait_for(lock, interval, [&] { return state->stopping; })) {
            lock.unlock();
            struct stat st;
            (void)::stat(path.c_str(), &st);  // answered by the request loop, or hangs
            notify_service("WATCHDOG=1");
            lock.lock();
        }
    });
}

}  // namespace nfsguard::fs
