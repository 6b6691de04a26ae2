#include "ops/identity.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <optional>

namespace nfsguard::ops {
namespace {

// What this thread acts as, as far as act_as() knows. Empty at a thread's
// start: a thread inherits the credentials of the thread that created it,
// which for a libfuse worker may be whatever user that thread served last.
thread_local std::optional<Identity> tls_current;

Result<void> apply(const Identity& who) {
    if (::syscall(SYS_setgroups, who.groups.size(), who.groups.data()) == -1) return last_errno();
    // setfsuid/setfsgid report no errors: read the value back to be sure.
    ::syscall(SYS_setfsgid, who.gid);
    if (static_cast<gid_t>(::syscall(SYS_setfsgid, -1)) != who.gid) return Errno{EPERM};
    ::syscall(SYS_setfsuid, who.uid);
    if (static_cast<uid_t>(::syscall(SYS_setfsuid, -1)) != who.uid) return Errno{EPERM};
    return {};
}

}  // namespace

std::vector<gid_t> read_groups(const std::function<int(int, gid_t*)>& getgroups) {
    std::vector<gid_t> groups(32);
    for (;;) {
        int n = getgroups(static_cast<int>(groups.size()), groups.data());
        if (n < 0) return {};
        const bool fits = static_cast<size_t>(n) <= groups.size();
        groups.resize(static_cast<size_t>(n));
        if (fits) return groups;
    }
}

bool can_switch_identity() {
    return ::geteuid() == 0;
}

Result<void> act_as(const Identity& who) {
    if (tls_current && *tls_current == who) return {};
    tls_current.reset();
    auto r = apply(who);
    if (r) tls_current = who;
    return r;
}

uid_t current_fsuid() {
    return static_cast<uid_t>(::syscall(SYS_setfsuid, -1));
}

Identity current_identity() {
    Identity id;
    id.uid = static_cast<uid_t>(::syscall(SYS_setfsuid, -1));
    id.gid = static_cast<gid_t>(::syscall(SYS_setfsgid, -1));
    int n = ::getgroups(0, nullptr);
    if (n > 0) {
        id.groups.resize(static_cast<size_t>(n));
        n = ::getgroups(n, id.groups.data());
        id.groups.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    return id;
}

ScopedIdentity::ScopedIdentity(const Identity& who)
    : previous_(tls_current ? *tls_current : current_identity()), result_(act_as(who)) {}

ScopedIdentity::~ScopedIdentity() {
    (void)act_as(previous_);
}

}  // namespace nfsguard::ops
