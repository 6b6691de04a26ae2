// Ownership: one host at a time serves a unit of the export (a mailbox),
// while it holds the unit's lease (ops/lease_file.hpp). README, design: "One
// host per mailbox".
//
// A request into a unit claims it: at once while this host holds it, else
// after taking its lease, waiting a bounded time for another host to let it
// go, and refused when it does not. A unit no request and no open file has
// used for the idle time is let go. A heartbeat on this host's own lease file
// confirms with the server that the host's locks still stand; while it
// cannot, no tenure is valid (a partitioned host stops serving before the
// server hands its units to another), and they end (fenced).
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/ownership/unit_pattern.hpp"
#include "ops/syscalls.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

class Ownership;

// What the service manager's store calls a lease's descriptor: this, then
// the unit's lease file name (ops::lease_file_name).
inline constexpr std::string_view kKeptLeasePrefix = "lease-";
std::string kept_lease_name(const std::string& unit);

// One holding of a unit by this host, from taking its lease to letting it
// go. Requests in the unit and files opened in it hold it; a file opened
// under a tenure that ended answers EIO: what its caller knows of the unit
// may be another host's past.
class Tenure {
  public:
    Tenure(const Ownership& owner, bool from_elsewhere)
        : taken_over(from_elsewhere), owner_(owner) {}
    // Not ended, and this host's leases confirmed with the server.
    bool valid() const;
    // True the first time (dev, ino) is seen in this tenure: after a
    // takeover, its first access fetches fresh attributes from the server.
    bool first_sight(dev_t dev, ino_t ino);
    // Another host held the unit before (or nobody knows who did).
    const bool taken_over;

  private:
    friend class Ownership;
    const Ownership& owner_;
    std::atomic<bool> ended_{false};
    std::mutex mutex_;
    std::set<std::pair<dev_t, ino_t>> seen_;  // exact: a skipped refresh serves stale data
};

class Ownership {
  public:
    struct Config {
        UnitPattern pattern;
        std::string host;  // the name other hosts see (lease files, `nfsguard owners`)
        std::chrono::milliseconds wait{2000};
        std::chrono::milliseconds idle{60000};
        std::chrono::milliseconds lease{90000};  // the NFS server's lease time
        bool switch_identity = true;             // lease files are made as root
    };
    // Why a claim was refused.
    enum class Refusal { held, unconfirmed, error };
    static constexpr size_t kRefusals = 3;
    static const char* refusal_name(Refusal r);

    struct Counts {
        std::atomic<uint64_t> waits{0};  // claims that waited for another host
        std::array<std::atomic<uint64_t>, kRefusals> refused{};
        std::atomic<uint64_t> acquired{0};
        std::atomic<uint64_t> takeovers{0};  // acquired from another host
        std::atomic<uint64_t> released{0};   // let go after the idle time
        std::atomic<uint64_t> fenced{0};     // ended when the leases could not be confirmed
    };

    // How to reach the backing root, whether it is attached, and what to do
    // when a unit is let go or taken over (drop the kernel's caches of it).
    struct Hooks {
        std::function<ops::SharedFd()> root;
        std::function<bool()> attached;
        std::function<void(const std::string& unit)> unit_changed_hands;
        // A lease taken, to keep where a crash does not close it (the
        // service manager's store); and let go of.
        std::function<void(const std::string& unit, int fd)> keep;
        std::function<void(const std::string& unit)> unkeep;
    };

    Ownership(ops::Syscalls& sys, Config config, Hooks hooks);
    ~Ownership();
    Ownership(const Ownership&) = delete;
    Ownership& operator=(const Ownership&) = delete;

    // The heartbeat and the keeper (idle release, fencing) run from start to
    // stop; the first heartbeat is done before start returns.
    void start();
    void stop();

    struct Claim {
        std::shared_ptr<Tenure> tenure;   // null: refused
        bool taken_now = false;           // the lease was taken for this claim
        Refusal refusal = Refusal::held;  // why, when refused
    };
    // Claims `unit` for a request; waits at most Config::wait.
    Claim claim(const std::string& unit);
    // Ends every tenure (the backing was mounted anew: what was held may be
    // gone with the server's locks).
    void end_all(const char* why);

    // --- Restarts without unmount: the leases pass to the next process.
    struct Lease {
        std::string unit;
        int fd;
    };
    std::vector<Lease> leases() const;
    // Takes up `lease` of `unit`, which the process before held.
    void adopt(const std::string& unit, ops::UniqueFd lease);
    // The tenure a file opened before the restart in `unit` lives under:
    // the unit's, or an ended one when its lease was not taken up.
    std::shared_ptr<Tenure> tenure_of(const std::string& unit);

    bool confirmed() const {
        return steady_ns() < confirmed_until_ns_.load(std::memory_order_acquire);
    }
    size_t owned() const;
    const Config& config() const { return config_; }
    Counts counts;

    static int64_t steady_ns() {
        return std::chrono::steady_clock::now().time_since_epoch().count();
    }

  private:
    struct Unit {
        std::mutex mutex;
        std::condition_variable changed;
        std::shared_ptr<Tenure> tenure;
        ops::UniqueFd lease;
        bool taking = false;
        int64_t since = 0;  // unix seconds
        std::atomic<int64_t> last_used_ns{0};
    };
    std::shared_ptr<Unit> unit_entry(const std::string& unit);
    // Every unit, for a walk that locks each in turn.
    std::vector<std::pair<std::string, std::shared_ptr<Unit>>> units_now() const;
    // The lease directories below the backing root, opened when first needed.
    ops::Result<ops::SharedFd> private_dir(ops::SharedFd& cached, const char* path);
    ops::Result<ops::UniqueFd> take(const std::string& unit, bool& taken_over);
    void heartbeat();
    void beat();
    std::string beat_once();  // what failed, or empty
    std::chrono::milliseconds beat_every() const;
    void keep();
    // Ends the tenure of `u` (locked by the caller); its lease file to close.
    ops::UniqueFd end_tenure(Unit& u);
    void let_go(const std::string& unit, ops::UniqueFd lease);
    void forget_kept(const std::string& unit);

    ops::Syscalls& sys_;
    const Config config_;
    const Hooks hooks_;
    const int64_t started_ = 0;  // unix seconds

    mutable std::mutex units_mutex_;
    std::unordered_map<std::string, std::shared_ptr<Unit>> units_;

    std::mutex dirs_mutex_;
    ops::SharedFd owners_dir_, hosts_dir_;

    // The heartbeat: this host's lease file (the heartbeat thread's alone),
    // and until when what it confirmed holds. No backing call is made under
    // confirm_mutex_: claims and the keeper wait on it.
    ops::UniqueFd host_lease_;
    std::atomic<bool> retake_host_lease_{false};
    std::atomic<int64_t> confirmed_until_ns_{0};
    std::mutex confirm_mutex_;
    std::condition_variable confirm_changed_;
    bool stopping_ = false;      // under confirm_mutex_
    bool beat_now_ = false;      // under confirm_mutex_
    int64_t beat_failures_ = 0;  // in a row (the heartbeat thread's)
    std::thread heartbeat_thread_, keeper_thread_;
};

}  // namespace nfsguard::fs
