// BackingMonitor: keeps checking, off the request path, that the backing
// directory can be vouched for (ops/backing_check.hpp), and switches the
// mount between attached and detached.
//
// Detached, nfsguard stays mounted, refuses every write with an error that
// makes mail software defer and retry (Filesystem::guard_errno), and shows
// an empty tree without touching the backing: mail never lands in the local
// directory under a failed NFS mount. It re-attaches by itself once the check
// passes again. A dead hard-mounted NFS server makes calls hang, so every
// check is bounded in time, and a hung check is never started twice.
//
// With BACKING apart from MOUNTPOINT the path is opened anew while detached,
// so an NFS mount that appears there later is taken up. With one path for
// both (nfsguard on top of the NFS mount point) the path leads to nfsguard
// itself: only the descriptor opened at start is checked again, which covers
// a server that comes back; a mount made later on that path needs a restart.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "fs/filesystem.hpp"
#include "ops/backing_check.hpp"

namespace nfsguard::fs {

class BackingMonitor {
  public:
    BackingMonitor(Filesystem& fs, std::string backing_path, bool reopen_path,
                   ops::BackingPolicy policy, std::chrono::milliseconds interval,
                   std::chrono::milliseconds timeout);
    ~BackingMonitor();
    BackingMonitor(const BackingMonitor&) = delete;
    BackingMonitor& operator=(const BackingMonitor&) = delete;

    // Checks once and sets the state: before mounting, so that no write is
    // ever served unguarded.
    void check_now() { tick(); }
    // Keeps checking on a thread of its own (after daemonizing: a fork
    // keeps no threads).
    void start();
    // Stops checking (waits for the thread): before the FUSE session it
    // notifies the kernel through is destroyed.
    void stop();

  private:
    struct Outcome {
        std::string problem;  // empty: vouched for
        ops::UniqueFd reopened;
        struct stat st {};
        bool timed_out = false;
        bool estale = false;  // the failure was an ESTALE
    };
    struct Pending;

    Outcome check_bounded();
    void tick();
    void drop_everything_from_kernel();
    void run();

    Filesystem& fs_;
    const std::string path_;
    const bool reopen_;
    const ops::BackingPolicy policy_;
    const std::chrono::milliseconds interval_;
    const std::chrono::milliseconds timeout_;
    std::shared_ptr<Pending> pending_;  // a check that may still be hanging
    std::thread checker_;               // the thread of pending_
    std::mutex stop_mutex_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace nfsguard::fs
