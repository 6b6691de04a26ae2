// `nfsguard owners [--json] MOUNTPOINT`: the units held on the export below
// MOUNTPOINT, by which host, since when, idle how long (README, Operations).
#pragma once

namespace nfsguard::fs {

int run_owners(int argc, const char* const* argv);

}  // namespace nfsguard::fs
