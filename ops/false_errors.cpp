#include "ops/false_errors.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ops/directory_entries.hpp"

namespace nfsguard::ops {

std::string FalseErrors::directory_path(int dirfd) const {
    if (namer_) {
        if (auto known = namer_(dirfd)) return known->empty() ? "/" : *known;
    }
    // The kernel's path, relative to the backing root; it names a removed
    // directory "PATH (deleted)".
    std::string path = path_of_fd(dirfd);
    if (path.empty()) return "?";
    if (root_.empty() || path.compare(0, root_.size(), root_) != 0) return path;
    std::string below = path.substr(root_.size());
    return below.empty() ? "/" : below;
}

const char* op_name(FalseErrorOp op) {
    switch (op) {
        case FalseErrorOp::rename:
            return "rename";
        case FalseErrorOp::link:
            return "link";
        case FalseErrorOp::mkdir:
            return "mkdir";
        case FalseErrorOp::symlink:
            return "symlink";
        case FalseErrorOp::unlink:
            return "unlink";
        case FalseErrorOp::rmdir:
            return "rmdir";
    }
    return "?";
}

void FalseErrors::hidden(FalseErrorOp op, int dirfd, const char* name, int err) {
    counts_[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed);
    std::string dir = directory_path(dirfd);
    if (dir.back() != '/') dir += '/';
    spdlog::warn("hid a false {} from {} of {}{}: the call had been done (lost NFS reply)",
                 strerrorname_np(err) ? strerrorname_np(err) : std::strerror(err), op_name(op), dir,
                 name);
}

uint64_t FalseErrors::total() const {
    uint64_t sum = 0;
    for (const auto& c : counts_) sum += c.load(std::memory_order_relaxed);
    return sum;
}

}  // namespace nfsguard::ops
