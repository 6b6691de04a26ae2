// Backing: where a path of the mounted filesystem lives in the backing tree.
//
// libfuse's path API hands every call a path below the mount ("/a/b/c").
// The call is made on the last component relative to its parent directory,
// and the parent is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS):
// if someone swaps a directory of the backing tree for a symlink while we
// run, we fail with ELOOP instead of following it out of the tree.
#pragma once

#include <string>
#include <string_view>

#include "ops/result.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::faultfs {

// A path's parent directory and last component.
struct Located {
    ops::UniqueFd owned;  // the parent when it is not the backing root
    int dir = -1;         // the parent directory (O_PATH)
    std::string name;     // "." for the root itself

    const char* c_name() const { return name.c_str(); }
};

class Backing {
  public:
    // `root`: the backing directory, opened O_PATH before mounting (the
    // mount may hide it).
    explicit Backing(ops::UniqueFd root) : root_(std::move(root)) {}

    ops::Result<Located> locate(const char* path) const;
    int root() const { return root_.get(); }

  private:
    ops::UniqueFd root_;
};

// The last component of a mount path: what fault globs are matched against.
// Empty for the root.
std::string_view entry_name(const char* path);

// "/proc/self/fd/DIR/NAME": lets the l*xattr calls, which take only a path,
// reach an entry by its parent's descriptor.
std::string proc_path(const Located& at);

}  // namespace nfsguard::faultfs
