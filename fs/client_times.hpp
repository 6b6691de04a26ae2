// ClientTimes: the times this host owes what is made or written through the
// mount. NFS stamps with the server's clock; nfsguard sets atime and mtime
// from this host's once per created file (at its first look or its close)
// and once after writes, and shows ctime on this host's clock (README,
// design: timestamps). The backing calls are ops/timestamps.hpp's.
#pragma once

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "ops/located.hpp"
#include "ops/syscalls.hpp"
#include "ops/timestamps.hpp"

namespace nfsguard::fs {

class ClientTimes {
  public:
    // The timestamps= option: the server's times; this host's; this host's
    // only while the server's clock is measured kAdaptiveSkewSeconds off.
    enum class Mode { server, client, adaptive };
    // A quarter second: well above the measure's error (a round trip and a
    // jiffy), below what mail software notices (Postfix passes over a queue
    // file whose mtime is in the future, Dovecot warns past a second).
    static constexpr double kAdaptiveSkewSeconds = 0.25;

    // What one object is owed (a member of its Inode), noted without a lock.
    // Changes are counted rather than flagged: a change counts as covered
    // only once a stamp made after it is done, so that a close racing
    // another process's stat still stamps before it answers.
    class Owed {
      public:
        bool any() const {
            return stamped_.load(std::memory_order_acquire) <
                   changes_.load(std::memory_order_acquire);
        }
        // A write or a truncate: the server stamped it with its clock.
        void data_changed() { changes_.fetch_add(1, std::memory_order_acq_rel); }
        // The caller set the mtime itself: what came before is covered (mutt
        // and procmail set mtime and atime to mark new mail).
        void caller_set_mtime() { covered(changes_.load(std::memory_order_acquire)); }
        // The caller set times itself: the making's stamp sets no atime.
        void caller_set_times() { made_ns_.store(0, std::memory_order_release); }
        // Created here at `when` (this host's clock): stamped later, once.
        void made_at(const struct timespec& when);

      private:
        friend class ClientTimes;
        void covered(uint64_t changes);

        std::atomic<uint64_t> changes_{0};
        std::atomic<uint64_t> stamped_{0};
        // When it was made (ns; 0: no making owed), and the count of changes
        // its making stands for (more: written since).
        std::atomic<int64_t> made_ns_{0};
        std::atomic<uint64_t> made_changes_{0};
    };

    ClientTimes(ops::Syscalls& sys, Mode mode) : sys_(sys), mode_(mode) {}

    // Whether times are set from this host's clock now.
    bool stamping() const;
    // Whether `owed` is to be paid now.
    bool owes(const Owed& owed) const { return stamping() && owed.any(); }
    const ops::ClockSkew& skew() const { return skew_; }

    // A new object was just made (between `before` and now): measures the
    // server's clock from its ctime. Returns stamping() after the measure.
    bool measure(const struct stat& made, const struct timespec& before);
    // The same, then stamps atime and mtime of the new `name` in `dirfd`
    // from this host's clock, in `st` too.
    void stamp_new(struct stat& st, const struct timespec& before, int dirfd, const char* name);
    // Sets on `obj` what `owed` holds (the making's atime and mtime, or the
    // mtime of the last change), one stamp at a time per object: a close and
    // another process's stat stamping at once could land the earlier time
    // last. Returns true if set; `st`, if given, gets the times set.
    bool pay(Owed& owed, const ops::Located& obj, struct stat* st = nullptr);
    // `st`'s ctime on this host's clock (ClockSkew::ctime_correction).
    void on_our_clock(struct stat& st) const;

  private:
    ops::Syscalls& sys_;
    const Mode mode_;
    ops::ClockSkew skew_;
    std::array<std::mutex, 64> stripes_;  // by the Owed's address
};

}  // namespace nfsguard::fs
