// ServerClock: imitates an NFS server whose clock is off by the plan's
// clock_offset.
//
// An NFS server stamps atime/mtime/ctime with its own clock whenever it sets
// them itself: on create, write, truncate, on the directories whose entries
// change, and for utimes(NULL) (SET_TO_SERVER_TIME). Mail software that
// compares those stamps with its own clock (Dovecot's maildir, Postfix's
// queue) breaks when the clocks differ. The backing filesystem stamps with
// the local clock, so after each such change the touched times are set
// explicitly to now + offset. ctime cannot be set: it is reported shifted by
// the offset in every attribute reply instead.
//
// The stamps are the server's doing, not the caller's: they are set as root
// (an explicit time needs ownership; the server needs none).
#pragma once

#include <sys/stat.h>
#include <time.h>

#include "tests/faultfs/fault_plan.hpp"

namespace nfsguard::faultfs {

class ServerClock {
  public:
    ServerClock(const FaultPlan& plan, bool switch_identity)
        : plan_(plan), switch_identity_(switch_identity) {}

    bool skewed() const { return plan_.clock_offset().count() != 0; }
    struct timespec now() const;

    // A new entry `name` in `dir`: its atime and mtime, and dir's mtime.
    void created(int dir, const char* name) const;
    // The entries of `dir` changed: its mtime.
    void entries_changed(int dir) const;
    // The data of the open file `fd` changed: its mtime.
    void data_changed(int fd) const;
    // After utimensat(dir, name, times) the caller asked for: every UTIME_NOW
    // becomes the server's now.
    void times_set(int dir, const char* name, const struct timespec times[2]) const;
    void times_set(int fd, const struct timespec times[2]) const;

    // Shifts st_ctime by the offset.
    void report(struct stat& st) const;

  private:
    // utimensat as root; a failure is logged, the call it follows has
    // happened and stands.
    void stamp(int dir, const char* name, const struct timespec times[2]) const;

    const FaultPlan& plan_;
    bool switch_identity_;
};

}  // namespace nfsguard::faultfs
