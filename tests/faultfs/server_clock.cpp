#include "tests/faultfs/server_clock.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <optional>

#include "ops/identity.hpp"

namespace nfsguard::faultfs {

struct timespec ServerClock::now() const {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += plan_.clock_offset().count();
    return ts;
}

void ServerClock::created(int dir, const char* name) const {
    if (!skewed()) return;
    const struct timespec t = now();
    const struct timespec both[2] = {t, t};
    stamp(dir, name, both);
    entries_changed(dir);
}

void ServerClock::entries_changed(int dir) const {
    if (!skewed()) return;
    const struct timespec times[2] = {{0, UTIME_OMIT}, now()};
    stamp(dir, ".", times);
}

void ServerClock::data_changed(int fd) const {
    if (!skewed()) return;
    const struct timespec times[2] = {{0, UTIME_OMIT}, now()};
    stamp(fd, nullptr, times);
}

void ServerClock::times_set(int dir, const char* name, const struct timespec times[2]) const {
    if (!skewed()) return;
    const struct timespec t = now();
    struct timespec server[2];
    bool any_now = false;
    for (int i = 0; i < 2; ++i) {
        const bool is_now = times[i].tv_nsec == UTIME_NOW;
        any_now = any_now || is_now;
        server[i] = is_now ? t : timespec{0, UTIME_OMIT};
    }
    if (any_now) stamp(dir, name, server);
}

void ServerClock::times_set(int fd, const struct timespec times[2]) const {
    times_set(fd, nullptr, times);
}

void ServerClock::report(struct stat& st) const {
    st.st_ctim.tv_sec += plan_.clock_offset().count();
}

void ServerClock::stamp(int dir, const char* name, const struct timespec times[2]) const {
    std::optional<ops::ScopedIdentity> as_root;
    if (switch_identity_) as_root.emplace(ops::Identity::root());
    const int rc = name == nullptr ? ::futimens(dir, times)
                                   : ::utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW);
    if (rc == -1)
        spdlog::warn("cannot set server time on {}: {}", name ? name : "an open file",
                     std::strerror(errno));
}

}  // namespace nfsguard::faultfs
