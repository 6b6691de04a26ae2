// The human form of a mount's stats: what `nfsguard stats MOUNTPOINT` prints
// from the JSON file the mount writes (fs/stats/stats.hpp).
#pragma once

#include <string>

namespace nfsguard::fs {

// One "name  value" line per counter (nested names joined by '.'), then a
// table of the operations served: requests, errors, mean time and the
// bucket that 99% of them fit in. Empty if `json` cannot be read.
std::string stats_as_text(const std::string& json);

}  // namespace nfsguard::fs
