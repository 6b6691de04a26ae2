// Session: mounts nfsguard, serves requests until unmounted or signalled
// (SIGTERM, SIGINT, SIGHUP), unmounts.
#pragma once

#include "fs/daemon/options.hpp"

namespace nfsguard::fs {

// Returns the process exit status. A failure at start prints one line
// ("nfsguard: ...") on stderr and leaves nothing mounted.
int run_session(const Options& opts);

}  // namespace nfsguard::fs
