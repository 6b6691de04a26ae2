#include "cache/cache_policy.hpp"

namespace nfsguard::cache {

bool CachePolicy::for_mode(std::string_view mode, CachePolicy& out) {
    if (mode == "shared") {
        out = CachePolicy{std::string(mode), 0, 0, 0, false};
        return true;
    }
    return false;
}

}  // namespace nfsguard::cache
