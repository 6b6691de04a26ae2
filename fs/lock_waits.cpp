#include "fs/lock_waits.hpp"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>

#include "fs/stats/request_stats.hpp"

namespace nfsguard::fs {

struct LockWaits::Waiter {
    pthread_t thread;
    std::atomic<bool> interrupted{false};
    std::atomic<bool> done{false};
};

namespace {

// Sent to a waiting thread to end its blocking fcntl/flock with EINTR. The
// handler does nothing; it is installed without SA_RESTART so the call is
// not restarted.
constexpr int kWakeSignal = SIGUSR2;
// How often an interruption is signalled again until the waiter saw it.
constexpr std::chrono::milliseconds kWakeAgain{1};

void on_wake(int) {}

void install_wake_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = on_wake;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(kWakeSignal, &sa, nullptr);
    });
}

// libfuse calls this, holding the request's lock, when the kernel says the
// waiting process was signalled. A signal sent just before the waiter entered
// its blocking call would be lost, so it is sent again until the waiter has
// seen the interruption (it sets `done` before it unregisters this callback,
// which needs the request's lock).
void on_interrupt(fuse_req_t, void* data) {
    auto* w = static_cast<LockWaits::Waiter*>(data);
    w->interrupted = true;
    if (pthread_equal(pthread_self(), w->thread)) return;  // called at registration
    while (!w->done.load()) {
        pthread_kill(w->thread, kWakeSignal);
        std::this_thread::sleep_for(kWakeAgain);
    }
}

}  // namespace

void LockWaits::interrupt_all() {
    std::lock_guard lock(shared_->mutex);
    for (Waiter* w : shared_->waiters) {
        w->interrupted = true;
        if (!w->done.load()) pthread_kill(w->thread, kWakeSignal);
    }
}

void LockWaits::start(fuse_req_t req, std::function<ops::Result<void>()> wait) {
    install_wake_handler();
    if (shared_->waiting.fetch_add(1) >= kMaxWaiting) {
        --shared_->waiting;
        RequestTimer::note_reply(ENOLCK);
        fuse_reply_err(req, ENOLCK);
        return;
    }
    const auto started = std::chrono::steady_clock::now();
    auto run = [req, wait = std::move(wait), shared = shared_, started] {
        Waiter w;
        w.thread = pthread_self();
        {
            std::lock_guard lock(shared->mutex);
            shared->waiters.insert(&w);
        }
        fuse_req_interrupt_func(req, on_interrupt, &w);
        int err = 0;
        for (;;) {
            if (w.interrupted) {
                err = EINTR;
                break;
            }
            auto r = wait();
            if (r) break;
            if (r.error() != EINTR) {  // EINTR without an interruption: wait on
                err = r.error();
                break;
            }
        }
        w.done = true;
        {
            std::lock_guard lock(shared->mutex);
            shared->waiters.erase(&w);
        }
        fuse_req_interrupt_func(req, nullptr, nullptr);
        shared->waited.record(std::chrono::steady_clock::now() - started);
        --shared->waiting;
        if (err != 0) shared->failed.fetch_add(1, std::memory_order_relaxed);
        fuse_reply_err(req, err);
    };
    try {
        std::thread(std::move(run)).detach();
    } catch (const std::system_error&) {
        --shared_->waiting;
        RequestTimer::note_reply(ENOLCK);
        fuse_reply_err(req, ENOLCK);
    }
}

}  // namespace nfsguard::fs
