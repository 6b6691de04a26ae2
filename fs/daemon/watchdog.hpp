// Watchdog: keeps systemd's WatchdogSec= satisfied only while the request
// loop really serves requests.
//
// Every half of $WATCHDOG_USEC a thread stats the mount point. The stat goes
// through the kernel to nfsguard's own request threads, so it returns only if
// they are serving; then WATCHDOG=1 is sent. A loop that is stuck (every
// thread blocked) leaves the stat hanging and the pings stop, and systemd
// restarts the service. (Detached from its backing, nfsguard answers the
// root's stat without touching the backing, so a dead NFS server does not
// count as a stuck loop.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace nfsguard::fs {

class Watchdog {
  public:
    // Does nothing unless systemd asked for a watchdog (for this process).
    explicit Watchdog(std::string mountpoint_path);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    void start();

  private:
    // Shared with the thread, which a wedged stat may keep past this object.
    struct State {
        std::mutex mutex;
        std::condition_variable cv;
        bool stopping = false;
    };
    const std::string path_;
    std::chrono::microseconds interval_{0};
    std::shared_ptr<State> state_ = std::make_shared<State>();
    std::thread thread_;
};

}  // namespace nfsguard::fs
