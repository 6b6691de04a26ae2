#include "fs/ownership/ownership.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "ops/identity.hpp"
#include "ops/lease_file.hpp"

namespace nfsguard::fs {
namespace {

constexpr const char* kOwnersDir = ".nfsguard/owners";
constexpr const char* kHostsDir = ".nfsguard/hosts";
// How often a claim looks again at a lease another host holds, and how
// often the keeper looks for idle units and lapsed confirmations.
constexpr auto kRetakeEvery = std::chrono::milliseconds(50);
constexpr auto kKeepEvery = std::chrono::milliseconds(250);

int64_t ns_of(std::chrono::milliseconds ms) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

}  // namespace

std::string kept_lease_name(const std::string& unit) {
    return std::string(kKeptLeasePrefix) + ops::lease_file_name(unit);
}

bool Tenure::valid() const {
    return !ended_.load(std::memory_order_acquire) && owner_.confirmed();
}

bool Tenure::first_sight(dev_t dev, ino_t ino) {
    std::lock_guard lock(mutex_);
    return seen_.emplace(dev, ino).second;
}

const char* Ownership::refusal_name(Refusal r) {
    switch (r) {
        case Refusal::held:
            return "held";
        case Refusal::unconfirmed:
            return "unconfirmed";
        case Refusal::error:
            return "error";
    }
    return "?";
}

Ownership::Ownership(ops::Syscalls& sys, Config config, Hooks hooks)
    : sys_(sys),
      config_(std::move(config)),
      hooks_(std::move(hooks)),
      started_(static_cast<int64_t>(::time(nullptr))) {}

Ownership::~Ownership() {
    stop();
}

void Ownership::start() {
    beat();
    heartbeat_thread_ = std::thread([this] { heartbeat(); });
    keeper_thread_ = std::thread([this] { keep(); });
}

void Ownership::stop() {
    {
        std::lock_guard lock(confirm_mutex_);
        stopping_ = true;
    }
    confirm_changed_.notify_all();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
    if (keeper_thread_.joinable()) keeper_thread_.join();
}

std::shared_ptr<Ownership::Unit> Ownership::unit_entry(const std::string& unit) {
    std::lock_guard lock(units_mutex_);
    auto& entry = units_[unit];
    if (!entry) entry = std::make_shared<Unit>();
    return entry;
}

std::vector<std::pair<std::string, std::shared_ptr<Ownership::Unit>>> Ownership::units_now() const {
    std::lock_guard lock(units_mutex_);
    return {units_.begin(), units_.end()};
}

size_t Ownership::owned() const {
    std::lock_guard lock(units_mutex_);
    size_t n = 0;
    for (const auto& [name, u] : units_) {
        std::lock_guard unit_lock(u->mutex);
        if (u->tenure && u->tenure->valid()) ++n;
    }
    return n;
}

ops::Result<ops::SharedFd> Ownership::private_dir(ops::SharedFd& cached, const char* path) {
    std::lock_guard lock(dirs_mutex_);
    if (cached) return cached;
    ops::SharedFd root = hooks_.root();
    if (!root) return ops::Errno{ESTALE};
    auto dir = ops::open_private_dir(sys_, root->get(), path);
    if (!dir) return ops::Errno{dir.error()};
    cached = ops::share(std::move(*dir));
    return cached;
}

ops::Result<ops::UniqueFd> Ownership::take(const std::string& unit, bool& taken_over) {
    // Lease files are nfsguard's, not the caller's whose request claims.
    std::optional<ops::ScopedIdentity> as_root;
    if (config_.switch_identity) as_root.emplace(ops::Identity::root());
    const ops::LeaseRecord me{config_.host, ::getpid(), static_cast<int64_t>(::time(nullptr)), {}};
    for (int attempt = 0;; ++attempt) {
        auto dir = private_dir(owners_dir_, kOwnersDir);
        if (!dir) return ops::Errno{dir.error()};
        std::optional<ops::LeaseRecord> previous;
        auto lease =
            ops::take_lease(sys_, (*dir)->get(), ops::lease_file_name(unit), me, &previous);
        if (!lease && lease.error() == ESTALE && attempt == 0) {
            // The export was mounted anew under the directory's descriptor.
            std::lock_guard lock(dirs_mutex_);
            owners_dir_.reset();
            continue;
        }
        taken_over = !previous || previous->host != config_.host;
        return lease;
    }
}

Ownership::Claim Ownership::claim(const std::string& name) {
    auto u = unit_entry(name);
    const auto deadline = std::chrono::steady_clock::now() + config_.wait;
    auto refuse = [&](Refusal why) {
        counts.refused[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
        return Claim{nullptr, false, why};
    };
    bool waited = false;
    std::unique_lock lock(u->mutex);
    for (;;) {
        if (u->tenure && u->tenure->valid()) {
            u->last_used_ns.store(steady_ns(), std::memory_order_relaxed);
            return Claim{u->tenure, false, Refusal::held};
        }
        if (u->taking) {
            if (u->changed.wait_until(lock, deadline) == std::cv_status::timeout)
                return refuse(Refusal::held);
            continue;
        }
        if (u->tenure) {
            // Ended, or no longer confirmed: the lease goes before it is taken anew.
            ops::UniqueFd old = end_tenure(*u);
            lock.unlock();
            // No cache dropped from here, inside a request: the kernel may hold
            // a directory lock until it is answered. The claim after drops them.
            forget_kept(name);
            old.reset();
            lock.lock();
            continue;
        }
        if (!confirmed() || !hooks_.attached()) {
            lock.unlock();
            {
                std::unique_lock confirm(confirm_mutex_);
                confirm_changed_.wait_until(confirm, deadline,
                                            [&] { return stopping_ || confirmed(); });
            }
            lock.lock();
            if (!confirmed() || !hooks_.attached()) return refuse(Refusal::unconfirmed);
            continue;
        }
        u->taking = true;
        lock.unlock();
        bool taken_over = false;
        auto lease = take(name, taken_over);
        lock.lock();
        u->taking = false;
        u->changed.notify_all();
        if (lease) {
            u->lease = std::move(*lease);
            if (hooks_.keep) hooks_.keep(name, u->lease.get());
            u->tenure = std::make_shared<Tenure>(*this, taken_over);
            u->since = static_cast<int64_t>(::time(nullptr));
            u->last_used_ns.store(steady_ns(), std::memory_order_relaxed);
            counts.acquired.fetch_add(1, std::memory_order_relaxed);
            if (taken_over) counts.takeovers.fetch_add(1, std::memory_order_relaxed);
            spdlog::debug("ownership: {} is this host's now{}", name,
                          taken_over ? " (taken over: its caches dropped)" : "");
            return Claim{u->tenure, true, Refusal::held};
        }
        if (lease.error() != EAGAIN) {
            spdlog::error("ownership: cannot take the lease of {}: {}", name,
                          std::strerror(lease.error()));
            return refuse(Refusal::error);
        }
        if (!waited) counts.waits.fetch_add(1, std::memory_order_relaxed);
        waited = true;
        if (std::chrono::steady_clock::now() >= deadline) return refuse(Refusal::held);
        u->changed.wait_for(lock, kRetakeEvery);
    }
}

std::vector<Ownership::Lease> Ownership::leases() const {
    std::lock_guard lock(units_mutex_);
    std::vector<Lease> out;
    for (const auto& [name, u] : units_) {
        std::lock_guard unit_lock(u->mutex);
        if (u->tenure && u->lease.valid()) out.push_back({name, u->lease.get()});
    }
    return out;
}

void Ownership::adopt(const std::string& unit, ops::UniqueFd lease) {
    auto u = unit_entry(unit);
    std::lock_guard lock(u->mutex);
    auto held = ops::read_lease(sys_, lease.get());
    u->since = held ? held->since : static_cast<int64_t>(::time(nullptr));
    u->lease = std::move(lease);
    u->tenure = std::make_shared<Tenure>(*this, false);
    u->last_used_ns.store(steady_ns(), std::memory_order_relaxed);
    // Kept in the store already, by the process before.
}

std::shared_ptr<Tenure> Ownership::tenure_of(const std::string& unit) {
    auto u = unit_entry(unit);
    std::lock_guard lock(u->mutex);
    if (u->tenure) return u->tenure;
    auto ended = std::make_shared<Tenure>(*this, false);
    ended->ended_ = true;
    return ended;
}

ops::UniqueFd Ownership::end_tenure(Unit& u) {
    u.tenure->ended_.store(true, std::memory_order_release);
    u.tenure.reset();
    return std::move(u.lease);
}

void Ownership::forget_kept(const std::string& unit) {
    if (hooks_.unkeep) hooks_.unkeep(unit);
}

void Ownership::let_go(const std::string& unit, ops::UniqueFd lease) {
    forget_kept(unit);
    lease.reset();  // the lock goes with the last descriptor of its file
    if (hooks_.unit_changed_hands) hooks_.unit_changed_hands(unit);
}

void Ownership::end_all(const char* why) {
    auto all = units_now();
    size_t ended = 0;
    for (auto& [name, u] : all) {
        std::unique_lock lock(u->mutex);
        if (!u->tenure) continue;
        ops::UniqueFd lease = end_tenure(*u);
        lock.unlock();
        let_go(name, std::move(lease));
        ++ended;
    }
    {
        std::lock_guard lock(dirs_mutex_);
        owners_dir_.reset();
        hosts_dir_.reset();
    }
    retake_host_lease_.store(true);
    {
        std::lock_guard lock(confirm_mutex_);
        confirmed_until_ns_.store(0, std::memory_order_release);
        beat_now_ = true;
    }
    confirm_changed_.notify_all();
    if (ended > 0) spdlog::warn("ownership: {} unit(s) let go: {}", ended, why);
}

std::chrono::milliseconds Ownership::beat_every() const {
    return std::max<std::chrono::milliseconds>(config_.lease / 6, std::chrono::milliseconds(100));
}

void Ownership::beat() {
    const std::string failed = beat_once();
    // A failing heartbeat is logged when it starts failing, then once a minute.
    const int64_t per_minute = std::max<int64_t>(1, 60'000 / beat_every().count());
    if (failed.empty() && beat_failures_ > 0)
        spdlog::warn("ownership: the heartbeat works again after {} failed beat(s)",
                     beat_failures_);
    else if (!failed.empty() && beat_failures_ % per_minute == 0)
        spdlog::error("ownership: {} ({} failed beat(s) in a row)", failed, beat_failures_ + 1);
    beat_failures_ = failed.empty() ? 0 : beat_failures_ + 1;
}

std::string Ownership::beat_once() {
    if (retake_host_lease_.exchange(false)) host_lease_.reset();
    if (!hooks_.attached()) {
        host_lease_.reset();
        return "the backing is not attached: no heartbeat";
    }
    const int64_t sent = steady_ns();
    if (!host_lease_.valid()) {
        auto dir = private_dir(hosts_dir_, kHostsDir);
        if (!dir) return fmt::format("cannot open {}: {}", kHostsDir, std::strerror(dir.error()));
        const ops::LeaseRecord me{config_.host, ::getpid(), started_, {}};
        auto lease = ops::take_lease(sys_, (*dir)->get(), ops::lease_file_name(config_.host), me);
        if (!lease && lease.error() == EAGAIN)
            return fmt::format(
                "another nfsguard holds the host name {} on this export: no unit is served "
                "until it lets go (ownership_host=)",
                config_.host);
        if (!lease)
            return fmt::format("cannot take this host's lease file: {}",
                               std::strerror(lease.error()));
        host_lease_ = std::move(*lease);
    }
    // Who holds what, for `nfsguard owners` on any host: one write a beat.
    std::string text =
        ops::LeaseRecord{config_.host, ::getpid(), started_,
                         "beat=" + std::to_string(static_cast<int64_t>(::time(nullptr)))}
            .line() +
        "\n";
    {
        std::lock_guard units(units_mutex_);
        const int64_t now = steady_ns();
        for (const auto& [name, u] : units_) {
            std::lock_guard unit_lock(u->mutex);
            if (!u->tenure) continue;
            const int64_t idle =
                u->tenure.use_count() > 1
                    ? 0
                    : (now - u->last_used_ns.load(std::memory_order_relaxed)) / 1'000'000'000;
            text += "unit=" + ops::lease_file_name(name) + " since=" + std::to_string(u->since) +
                    " idle=" + std::to_string(idle) + "\n";
        }
    }
    if (auto written = ops::rewrite_lease(sys_, host_lease_.get(), text); !written) {
        host_lease_.reset();  // its lock may be lost: taken anew
        return fmt::format("the heartbeat on this host's lease file failed: {}",
                           std::strerror(written.error()));
    }
    {
        std::lock_guard lock(confirm_mutex_);  // a claim waiting cannot miss it
        confirmed_until_ns_.store(sent + ns_of(config_.lease) / 2, std::memory_order_release);
    }
    confirm_changed_.notify_all();
    return {};
}

void Ownership::heartbeat() {
    const auto every = beat_every();
    for (;;) {
        beat();
        std::unique_lock lock(confirm_mutex_);
        // Early after end_all: the leases are to be confirmed afresh.
        confirm_changed_.wait_for(lock, every, [&] { return stopping_ || beat_now_; });
        beat_now_ = false;
        if (stopping_) return;
    }
}

void Ownership::keep() {
    bool was_confirmed = false;
    for (;;) {
        {
            std::unique_lock lock(confirm_mutex_);
            confirm_changed_.wait_for(lock, kKeepEvery, [&] { return stopping_; });
            if (stopping_) return;
        }
        const bool now_confirmed = confirmed();
        auto all = units_now();
        const int64_t now = steady_ns();
        size_t fenced = 0;
        std::vector<std::pair<std::string, ops::UniqueFd>> ended;
        for (auto& [name, u] : all) {
            std::unique_lock lock(u->mutex);
            if (!u->tenure || u->taking) continue;
            const bool idle =
                u->tenure.use_count() == 1 &&
                now - u->last_used_ns.load(std::memory_order_relaxed) > ns_of(config_.idle);
            if (now_confirmed && !idle) continue;
            ended.emplace_back(name, end_tenure(*u));
            lock.unlock();
            if (now_confirmed) {
                counts.released.fetch_add(1, std::memory_order_relaxed);
                spdlog::debug("ownership: {} let go after {} s idle", name,
                              config_.idle.count() / 1000);
            } else {
                ++fenced;
            }
        }
        if (fenced > 0) {
            counts.fenced.fetch_add(fenced, std::memory_order_relaxed);
            spdlog::error(
                "ownership: this host's leases could not be confirmed with the NFS server "
                "within {:.1f} s: {} unit(s) fenced, nothing is served in them until they are "
                "taken anew",
                config_.lease.count() / 2000.0, fenced);
        } else if (was_confirmed && !now_confirmed) {
            spdlog::warn("ownership: this host's leases are not confirmed with the NFS server");
        }
        was_confirmed = now_confirmed;
        // Told first: cut off from a hard-mounted server, a lease's close
        // waits for its unlock until the network is back.
        for (auto& [name, lease] : ended) let_go(name, std::move(lease));
        // Units let go, and nobody waiting for them: forgotten.
        std::lock_guard lock(units_mutex_);
        for (auto it = units_.begin(); it != units_.end();) {
            bool unused = it->second.use_count() == 1;
            if (unused) {
                std::lock_guard unit_lock(it->second->mutex);
                unused = !it->second->tenure && !it->second->taking;
            }
            it = unused ? units_.erase(it) : std::next(it);
        }
    }
}

}  // namespace nfsguard::fs
