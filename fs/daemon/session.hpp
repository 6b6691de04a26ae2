// Session: mounts nfsguard (or takes up the mount of the process before it:
// fs/daemon/handover.hpp), serves requests until unmounted or signalled
// (SIGTERM, SIGINT, SIGHUP), unmounts. SIGUSR1 restarts in place.
#pragma once

#include "fs/daemon/options.hpp"

namespace nfsguard::fs {

// Returns the process exit status. A failure at start prints one line
// ("nfsguard: ...") on stderr and leaves nothing mounted.
// `argv` is what a restart in place runs again.
int run_session(const Options& opts, char** argv);

}  // namespace nfsguard::fs
