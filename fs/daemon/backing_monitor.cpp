#include "fs/daemon/backing_monitor.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "fs/kernel_cache.hpp"

namespace nfsguard::fs {
namespace {
constexpr std::chrono::milliseconds kConfirmPause{100};
constexpr int kEstaleRechecks = 10;
// Long enough for any delivery that began while detached to reach its write.
constexpr std::chrono::milliseconds kWritesSettle{1000};
}  // namespace

// One check, run on a thread of its own so that a hung NFS call holds only
// that thread. Shared with it: the monitor may give up waiting first.
struct BackingMonitor::Pending {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    Outcome outcome;
};

BackingMonitor::BackingMonitor(Filesystem& fs, std::string backing_path, bool reopen_path,
                               ops::BackingPolicy policy, std::chrono::milliseconds interval,
                               std::chrono::milliseconds timeout)
    : fs_(fs),
      path_(std::move(backing_path)),
      reopen_(reopen_path),
      policy_(std::move(policy)),
      interval_(interval),
      timeout_(timeout) {}

BackingMonitor::~BackingMonitor() {
    stop();
    if (!checker_.joinable()) return;
    std::unique_lock lock(pending_->mutex);
    const bool hung = !pending_->done;
    lock.unlock();
    // A hung check is left to the exiting process.
    if (hung)
        checker_.detach();
    else
        checker_.join();
}

void BackingMonitor::stop() {
    {
        std::lock_guard lock(stop_mutex_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void BackingMonitor::start() {
    thread_ = std::thread([this] { run(); });
}

void BackingMonitor::run() {
    std::unique_lock lock(stop_mutex_);
    while (!stop_cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
        lock.unlock();
        tick();
        lock.lock();
    }
}

BackingMonitor::Outcome BackingMonitor::check_bounded() {
    bool idle = pending_ == nullptr;
    if (!idle) {
        std::lock_guard lock(pending_->mutex);  // a hanging check may end now
        idle = pending_->done;
    }
    if (idle) {
        if (checker_.joinable()) checker_.join();  // done: only its end was left
        pending_ = std::make_shared<Pending>();
        const bool reopen = reopen_ && !fs_.attached.load();
        ops::SharedFd root = fs_.inodes.root_fd();
        checker_ = std::thread([p = pending_, reopen, root, this] {
            // The monitor outlives this thread unless the thread hangs past
            // the end of the session, when the process is exiting anyway.
            Outcome o;
            int fd = root->get();
            if (reopen) {
                o.reopened.reset(::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
                if (!o.reopened.valid())
                    o.problem = fmt::format("cannot open {}: {}", path_, std::strerror(errno));
                fd = o.reopened.get();
            }
            if (o.problem.empty()) o.problem = ops::check_backing(fs_.sys, fd, policy_);
            if (o.problem.empty() && ::fstat(fd, &o.st) != 0)
                o.problem = fmt::format("cannot stat {}: {}", path_, std::strerror(errno));
            // Every problem names its cause by strerror.
            o.estale = o.problem.find(std::strerror(ESTALE)) != std::string::npos;
            std::lock_guard lock(p->mutex);
            p->outcome = std::move(o);
            p->done = true;
            p->done_cv.notify_all();
        });
    }
    std::unique_lock lock(pending_->mutex);
    if (!pending_->done_cv.wait_for(lock, timeout_, [&] { return pending_->done; }))
        return Outcome{fmt::format("no answer from the backing directory within {} ms (server "
                                   "gone?)",
                                   timeout_.count()),
                       {},
                       {},
                       true};
    Outcome outcome = std::move(pending_->outcome);
    lock.unlock();
    // The check is done: no thread of it may be left at the fork that
    // daemonizes (a lock it held would stay held in the child).
    checker_.join();
    return outcome;
}

void BackingMonitor::tick() {
    Outcome o = check_bounded();
    const bool was_attached = fs_.attached.load();
    // One failed check is not yet a gone backing: a single ESTALE or EIO that
    // a busy NFS mount gives now and then would refuse mail for a whole
    // interval (found by the end-to-end tests with faults). An ESTALE is
    // checked again at once, as requests retry it; other failures twice more
    // a moment apart. A timeout has waited long enough already.
    for (int again = 0, stale = 0;
         was_attached && !o.problem.empty() && !o.timed_out && again < 2;) {
        if (o.estale && stale < kEstaleRechecks) {
            ++stale;
        } else {
            ++again;
            std::unique_lock lock(stop_mutex_);
            if (stop_cv_.wait_for(lock, kConfirmPause, [this] { return stopping_; })) return;
        }
        o = check_bounded();
    }
    if (!o.problem.empty()) {
        if (was_attached || !fs_.detach_reason_logged.exchange(true)) {
            fs_.attached = false;
            spdlog::error("backing NOT attached: {}; refusing every write ({}) until it is back",
                          o.problem, strerrorname_np(fs_.guard_errno));
            // The tree now shows empty: nothing the kernel kept from the
            // backing may be served from its caches either.
            if (was_attached) drop_everything_from_kernel();
            if (was_attached && fs_.ownership)
                fs_.ownership->end_all("the backing is not attached");
        }
        return;
    }
    if (o.reopened.valid()) {
        fs_.inodes.replace_root(std::move(o.reopened), o.st);
        // Leases taken on the old mount (or on the directory under it)
        // hold nothing on this one.
        if (fs_.ownership) fs_.ownership->end_all("the backing was mounted anew");
    }
    if (!was_attached) {
        fs_.detach_reason_logged = false;
        fs_.writes_refused_until_ns =
            Filesystem::steady_ns() + std::chrono::nanoseconds(kWritesSettle).count();
        fs_.attached = true;
        spdlog::warn("backing attached: {} can be vouched for; writes are served", path_);
    }
    // What the kernel learned while detached (the empty tree) or from the
    // old root is wrong now.
    if (!was_attached || o.reopened.valid()) drop_everything_from_kernel();
}

void BackingMonitor::drop_everything_from_kernel() {
    cache::Invalidations all;
    all.all_changed();
    drop_from_kernel(fs_, all);
}

}  // namespace nfsguard::fs
