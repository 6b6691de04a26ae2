// Connection: the mount's /dev/fuse descriptor, read and written through
// libfuse's custom io so that the mount can outlive this process. It keeps
// the FUSE_INIT request the kernel sent, lets a new process take the
// descriptor up without a second INIT (resume), asks the kernel to send again
// what a crashed process had read (FUSE_NOTIFY_RESEND), and for a planned
// restart stops taking requests once those being served are answered
// (drain). README, design: "Restart without unmount".
#pragma once

#include <sys/types.h>
#include <time.h>
#include <atomic>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct fuse_session;
struct iovec;

#include "fs/table_mirror.hpp"

namespace nfsguard::fs {

class Connection {
  public:
    // `on_init` is called once with the INIT request, when it comes (the
    // first start), from a request thread. Requests the kernel sends again
    // are counted in `resent`.
    Connection(std::atomic<uint64_t>& resent,
               std::function<void(const std::vector<char>&)> on_init = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Serves `se` on `fd` (its own after fuse_session_mount, or one taken
    // up): libfuse reads and writes through this from now on.
    bool attach(struct fuse_session* se, int fd);
    // Brings `se`, attached to a live connection, to where the INIT it
    // answered long ago left the old process: `init_request` is processed
    // as if it came now, and its reply goes nowhere (the kernel had one).
    // Returns an empty string, or why not.
    std::string replay_init(const std::vector<char>& init_request);

    // Whether the kernel's INIT offered FUSE_NOTIFY_RESEND (Linux 6.9+).
    static bool kernel_resends(const std::vector<char>& init_request);
    // Asks the kernel to send again every request read but not answered on
    // this connection. False if the kernel refused.
    bool ask_resend();

    // Planned restart: no request is read from now on; once those being
    // served are answered, the request loop ends. Async-signal-safe.
    void drain();
    bool draining() const { return draining_.load(); }
    // Serves again after a drain whose restart failed (the loop is reset).
    void undrain();

    int fd() const { return fd_; }

    // From now on the replies to requests whose effect is not the same
    // twice are recorded in `mirror` before they are sent, and a request
    // the kernel sends again that was answered already is answered from it
    // (fs/table_mirror.hpp): a crash does not make a create, rename or
    // O_APPEND write happen twice.
    void record_replies_in(TableMirror* mirror) { replies_ = mirror; }
    // The exclusive create this thread serves was sent again by the kernel
    // after a crash, and the process before had started it then (client
    // clock; and what it was making, if known) with no reply recorded: its
    // EEXIST may be that process's doing (ops/verify_after_error.hpp).
    // nullopt otherwise.
    static std::optional<TableMirror::Started> started_before();
    // The exclusive create this thread serves is making `object`: recorded
    // with its start for the process after a crash.
    static void note_making(const ops::ObjectId& object);

  private:
    ssize_t read_request(int fd, void* buf, size_t len);
    ssize_t write_reply(int fd, struct iovec* iov, int count);
    ssize_t leave_reading();
    bool answered_before(int fd, const void* request);
    void note_start(const void* request, size_t size);
    void done_serving();

    static ssize_t io_read(int fd, void* buf, size_t len, void* userdata);
    static ssize_t io_writev(int fd, struct iovec* iov, int count, void* userdata);

    std::function<void(const std::vector<char>&)> on_init_;
    std::atomic<uint64_t>& resent_;
    struct fuse_session* se_ = nullptr;
    int fd_ = -1;
    int wake_fd_ = -1;  // an eventfd, readable once draining
    TableMirror* replies_ = nullptr;
    std::atomic<bool> init_seen_{false};
    std::atomic<bool> replaying_{false};

    // Draining: threads that read a request and have not come back for
    // the next one are serving; the loop ends once none is.
    std::atomic<bool> draining_{false};
    std::atomic<int> serving_{0};
    std::mutex mutex_;
    std::condition_variable none_serving_;
    bool ended_ = false;
};

}  // namespace nfsguard::fs
