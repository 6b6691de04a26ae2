// FalseErrors: what nfsguard hid, counted per operation and logged once each.
//
// NFS retransmits a request whose reply was lost; a server that has forgotten
// the first run (rebooted, or its duplicate-request cache was full) runs it
// again, and a call that succeeded reports an error: rename, unlink and rmdir
// ENOENT, link, mkdir and symlink EEXIST. The checks in
// namespace_ops.cpp prove such an error false before hiding it; each one they
// hide is reported here, so that an administrator can see how often the
// server misbehaves.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace nfsguard::ops {

enum class FalseErrorOp { rename, link, mkdir, symlink, unlink, rmdir };
constexpr size_t kFalseErrorOps = 6;
const char* op_name(FalseErrorOp op);

class FalseErrors {
  public:
    // `backing_root` (absolute) is cut from the paths in log lines, so they
    // read as paths below the mount point.
    explicit FalseErrors(std::string backing_root = {}) : root_(std::move(backing_root)) {}

    // Names a directory for the log by what the caller knows of it (the
    // path below the mount); nothing when it cannot say. Without it, or when
    // it cannot say, the kernel's path of the descriptor is logged.
    using DirectoryNamer = std::function<std::optional<std::string>(int dirfd)>;
    void name_directories_by(DirectoryNamer namer) { namer_ = std::move(namer); }

    // A false `err` of `op` on `name` in directory `dirfd` was hidden.
    void hidden(FalseErrorOp op, int dirfd, const char* name, int err);
    uint64_t count(FalseErrorOp op) const {
        return counts_[static_cast<size_t>(op)].load(std::memory_order_relaxed);
    }
    uint64_t total() const;

  private:
    std::string directory_path(int dirfd) const;

    std::string root_;
    DirectoryNamer namer_;
    std::array<std::atomic<uint64_t>, kFalseErrorOps> counts_{};
};

}  // namespace nfsguard::ops
