// drop_from_kernel: hands cache::Invalidations to the kernel through FUSE's
// notify calls, in pinned mode (in shared mode the kernel keeps nothing).
//
// Must not be called while the kernel waits for the reply to a request about
// the same directory (the notify would wait for the directory's lock, held
// until that reply): Request calls it after replying, the backing monitor
// from its own thread.
#pragma once

#include "cache/invalidations.hpp"
#include "fs/filesystem.hpp"

namespace nfsguard::fs {

void drop_from_kernel(Filesystem& fs, const cache::Invalidations& stale);

}  // namespace nfsguard::fs
