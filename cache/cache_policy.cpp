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
        out = CachePolicy{.mode = std::string(mode)};
        return true;
    }
    if (mode == "pinned") {
        out = CachePolicy{.mode = std::string(mode),
                          .entry_timeout = kPinnedTimeout,
                          .attr_timeout = kPinnedTimeout,
                          .negative_timeout = 0,
                          .keep_page_cache = true,
                          .kernel_permissions = true,
                          .invalidates = true,
                          .keep_listings = true};
        return true;
    }
    return false;
}

}  // namespace nfsguard::cache
