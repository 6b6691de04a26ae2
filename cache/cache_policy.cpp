#include "cache/cache_policy.hpp"

namespace nfsguard::cache {

namespace {
// Long enough that a folder scanned twice within a delivery burst is served
// from the kernel; short enough that a change made against the pinning rule
// (an administrator editing the export from another host) shows within a
// minute.
constexpr double kPinnedTimeout = 60;
}  // namespace

bool CachePolicy::for_mode(std::string_view mode, CachePolicy& out) {
    if (mode == "shared") {
        out = CachePolicy{std::string(mode), 0, 0, 0, false, false, false};
        return true;
    }
    if (mode == "pinned") {
        out = CachePolicy{std::string(mode), kPinnedTimeout, kPinnedTimeout, 0, true, true, true};
        return true;
    }
    return false;
}

}  // namespace nfsguard::cache
