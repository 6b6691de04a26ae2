// ControlServer: the Unix socket through which tests arm faults.
//
// One thread serves one client at a time (others wait in the listen
// backlog): commands are rare and tiny, and a serial server needs no limit on
// connections. A line longer than kMaxLine or a client idle for kIdleTimeout
// is cut off, so a stuck test cannot wedge the control thread.
//
// The socket is bound before the filesystem mounts (a bad path is a startup
// error, and a test may connect as soon as the mount appears); the thread
// starts once FUSE is running, after a daemonizing fork.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "ops/result.hpp"
#include "ops/unique_fd.hpp"
#include "tests/faultfs/fault_plan.hpp"

namespace nfsguard::faultfs {

class ControlServer {
  public:
    static constexpr size_t kMaxLine = 1024;
    static constexpr std::chrono::seconds kIdleTimeout{10};

    explicit ControlServer(FaultPlan& plan) : plan_(plan) {}
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Binds and listens on `path` (mode 0600: whoever may connect may break
    // the filesystem). A stale socket left by a dead faultfs is replaced.
    ops::Result<void> listen(const std::string& path);
    // Serves on its own thread until stop(). Does nothing if not listening.
    ops::Result<void> start();
    // Ends the thread and removes the socket. Idempotent.
    void stop();

  private:
    void serve();
    // Serves one connection until it closes, misbehaves or stop() is called.
    void serve_client(int fd);
    // False when stop() was called while waiting.
    bool wait_readable(int fd, std::chrono::milliseconds timeout);

    FaultPlan& plan_;
    std::string path_;
    ops::UniqueFd listen_fd_;
    ops::UniqueFd stop_fd_;  // an eventfd: readable once stop() is called
    std::thread thread_;
};

}  // namespace nfsguard::faultfs
