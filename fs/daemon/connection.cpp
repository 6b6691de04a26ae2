#include "fs/daemon/connection.hpp"

#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>

#include "fs/table_mirror.hpp"

namespace nfsguard::fs {
namespace {

// Newer than Debian 12's <linux/fuse.h> (protocol 7.38): Linux 6.9's resend.
constexpr int32_t kNotifyResend = 7;                   // FUSE_NOTIFY_RESEND
constexpr uint64_t kHasResend = uint64_t{1} << 39;     // FUSE_HAS_RESEND, in flags2
constexpr uint64_t kResentUnique = uint64_t{1} << 63;  // FUSE_UNIQUE_RESEND
// The replayed INIT's unique: odd, which no request of the kernel's is.
constexpr uint64_t kReplayUnique = 0x7fff'ffff'ffff'fff1ULL;

// libfuse hands the custom io its session's userdata (the Filesystem), so
// the one connection of the process is found here.
std::atomic<Connection*> current{nullptr};

// Whether this thread has read a request it is still serving, and which.
thread_local bool thread_serving = false;
thread_local uint64_t serving_unique = 0;
thread_local uint32_t serving_opcode = 0;
// When the process before had started the exclusive create this thread
// serves, sent again after its crash (Connection::started_before).
thread_local std::optional<TableMirror::Started> serving_started_before;

// Requests whose effect is not the same when done twice: their replies are
// recorded for the process after a crash (Connection::record_replies_in).
bool reply_recorded(uint32_t opcode) {
    switch (opcode) {
        case FUSE_LOOKUP:  // a lookup count
        case FUSE_MKNOD:
        case FUSE_MKDIR:
        case FUSE_UNLINK:
        case FUSE_RMDIR:
        case FUSE_RENAME:
        case FUSE_RENAME2:
        case FUSE_LINK:
        case FUSE_SYMLINK:
        case FUSE_OPEN:  // a handle
        case FUSE_OPENDIR:
        case FUSE_CREATE:
        case FUSE_WRITE:  // O_APPEND
            return true;
        default:
            return false;
    }
}

}  // namespace

Connection::Connection(std::atomic<uint64_t>& resent,
                       std::function<void(const std::vector<char>&)> on_init)
    : on_init_(std::move(on_init)),
      resent_(resent),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Connection::~Connection() {
    Connection* self = this;
    current.compare_exchange_strong(self, nullptr);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool Connection::attach(struct fuse_session* se, int fd) {
    assert(current.load() == nullptr || current.load() == this);
    current.store(this);
    se_ = se;
    fd_ = fd;
    // Reads must not block where a drain cannot wake them: they poll.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return false;
    // No splice_receive: every request comes through read_request, which
    // sees its header (INIT, resent requests) and can be drained.
    static const struct fuse_custom_io io = {&io_writev, &io_read, nullptr, nullptr};
    return fuse_session_custom_io(se, &io, fd) == 0;
}

std::string Connection::replay_init(const std::vector<char>& init_request) {
    if (init_request.size() < sizeof(fuse_in_header) + 8) return "the saved FUSE_INIT is too short";
    std::vector<char> copy = init_request;
    auto* header = reinterpret_cast<fuse_in_header*>(copy.data());
    if (header->opcode != FUSE_INIT) return "the saved FUSE_INIT is not one";
    header->unique = kReplayUnique;
    struct fuse_buf buf {};
    buf.size = copy.size();
    buf.mem = copy.data();
    init_seen_.store(true);
    replaying_.store(true);
    fuse_session_process_buf(se_, &buf);
    replaying_.store(false);
    return {};
}

bool Connection::kernel_resends(const std::vector<char>& init_request) {
    if (init_request.size() < sizeof(fuse_in_header) + sizeof(fuse_init_in)) return false;
    fuse_init_in in{};
    std::memcpy(&in, init_request.data() + sizeof(fuse_in_header), sizeof in);
    const uint64_t flags = in.flags | (uint64_t{in.flags2} << 32);
    return (flags & FUSE_INIT_EXT) != 0 && (flags & kHasResend) != 0;
}

bool Connection::ask_resend() {
    fuse_out_header out{};
    out.len = sizeof out;
    out.error = kNotifyResend;
    out.unique = 0;  // a notification
    return ::write(fd_, &out, sizeof out) == static_cast<ssize_t>(sizeof out);
}

void Connection::drain() {
    draining_.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Connection::undrain() {
    uint64_t count;
    [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
    std::lock_guard lock(mutex_);
    ended_ = false;
    draining_.store(false);
}

void Connection::done_serving() {
    if (!thread_serving) return;
    thread_serving = false;
    if (serving_.fetch_sub(1) == 1 && draining_.load()) {
        std::lock_guard lock(mutex_);
        none_serving_.notify_all();
    }
}

ssize_t Connection::leave_reading() {
    // Not cancelled while it waits: libfuse cancels its idle workers once
    // the loop has ended, and an unwind through this wait is no way to end
    // (AddressSanitizer aborts on it). It returns on its own instead.
    int cancel_state = 0;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    {
        std::unique_lock lock(mutex_);
        none_serving_.wait(lock, [this] { return serving_.load() == 0; });
        if (!ended_) {
            ended_ = true;
            fuse_session_exit(se_);
        }
    }
    pthread_setcancelstate(cancel_state, nullptr);
    errno = EINTR;  // libfuse's loop sees it has exited, and ends
    return -1;
}

ssize_t Connection::read_request(int fd, void* buf, size_t len) {
    done_serving();  // the request this thread read before is answered
    for (;;) {
        if (draining_.load()) return leave_reading();
        struct pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return -1;
        if (fds[1].revents != 0) continue;
        // Counted before reading and drain checked after (both sequentially
        // consistent): a drain that saw none serving has no read behind it.
        serving_.fetch_add(1);
        thread_serving = true;
        if (draining_.load()) {
            done_serving();
            continue;
        }
        const ssize_t n = ::read(fd, buf, len);
        if (n < 0) {
            const int err = errno;
            done_serving();
            if (err == EAGAIN || err == EINTR) continue;  // another thread took it
            errno = err;
            return -1;
        }
        if (static_cast<size_t>(n) >= sizeof(fuse_in_header)) {
            const auto* header = static_cast<const fuse_in_header*>(buf);
            serving_unique = header->unique;
            serving_opcode = header->opcode;
            if (header->unique & kResentUnique) resent_.fetch_add(1, std::memory_order_relaxed);
            if (answered_before(fd, buf)) {
                done_serving();
                continue;
            }
            note_start(buf, static_cast<size_t>(n));
            if (header->opcode == FUSE_INIT && !init_seen_.exchange(true) && on_init_)
                on_init_(std::vector<char>(static_cast<char*>(buf), static_cast<char*>(buf) + n));
        }
        return n;
    }
}

bool Connection::answered_before(int fd, const void* request) {
    const auto* header = static_cast<const fuse_in_header*>(request);
    if (replies_ == nullptr || !(header->unique & kResentUnique)) return false;
    auto reply = replies_->reply_to(header->unique & ~kResentUnique);
    if (!reply || reply->size() < sizeof(fuse_out_header)) return false;
    reinterpret_cast<fuse_out_header*>(reply->data())->unique = header->unique;
    return ::write(fd, reply->data(), reply->size()) == static_cast<ssize_t>(reply->size());
}

void Connection::note_start(const void* request, size_t size) {
    serving_started_before.reset();
    const auto* header = static_cast<const fuse_in_header*>(request);
    if (replies_ == nullptr || header->opcode != FUSE_CREATE ||
        size < sizeof(fuse_in_header) + sizeof(fuse_create_in))
        return;
    const auto* in = reinterpret_cast<const fuse_create_in*>(header + 1);
    if (!(in->flags & O_EXCL)) return;
    if (header->unique & kResentUnique) {
        serving_started_before = replies_->started_at(header->unique & ~kResentUnique);
    } else {
        struct timespec now;
        ::clock_gettime(CLOCK_REALTIME, &now);
        replies_->started(header->unique, now);
    }
}

std::optional<TableMirror::Started> Connection::started_before() {
    return serving_started_before;
}

void Connection::note_making(const ops::ObjectId& object) {
    Connection* c = current.load();
    if (c == nullptr || c->replies_ == nullptr || !thread_serving || serving_opcode != FUSE_CREATE)
        return;
    c->replies_->making(serving_unique & ~kResentUnique, object);
}

ssize_t Connection::write_reply(int fd, struct iovec* iov, int count) {
    if (replaying_.load() && count > 0 && iov[0].iov_len >= sizeof(fuse_out_header) &&
        static_cast<const fuse_out_header*>(iov[0].iov_base)->unique == kReplayUnique) {
        ssize_t total = 0;  // the kernel had this reply from the first process
        for (int i = 0; i < count; ++i) total += static_cast<ssize_t>(iov[i].iov_len);
        return total;
    }
    if (replies_ != nullptr && thread_serving && reply_recorded(serving_opcode) && count > 0 &&
        iov[0].iov_len >= sizeof(fuse_out_header) &&
        static_cast<const fuse_out_header*>(iov[0].iov_base)->unique == serving_unique) {
        std::vector<char> reply;
        for (int i = 0; i < count; ++i) {
            const auto* p = static_cast<const char*>(iov[i].iov_base);
            reply.insert(reply.end(), p, p + iov[i].iov_len);
        }
        replies_->replied(serving_unique & ~kResentUnique, reply);
    }
    return ::writev(fd, iov, count);
}

ssize_t Connection::io_read(int fd, void* buf, size_t len, void*) {
    return current.load()->read_request(fd, buf, len);
}

ssize_t Connection::io_writev(int fd, struct iovec* iov, int count, void*) {
    return current.load()->write_reply(fd, iov, count);
}

}  // namespace nfsguard::fs
