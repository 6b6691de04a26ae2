#include "fs/stats/request_stats.hpp"

namespace nfsguard::fs {

thread_local RequestTimer* RequestTimer::current_ = nullptr;

const char* request_op_name(RequestOp op) {
    static constexpr std::array<const char*, kRequestOps> names{
        "lookup",   "forget",    "batch_forget", "getattr",     "setattr",
        "readlink", "access",    "statfs",       "mknod",       "mkdir",
        "symlink",  "link",      "unlink",       "rmdir",       "rename",
        "open",     "create",    "read",         "write",       "flush",
        "release",  "fsync",     "fallocate",    "lseek",       "copy_file_range",
        "opendir",  "readdir",   "readdirplus",  "releasedir",  "fsyncdir",
        "getxattr", "listxattr", "setxattr",     "removexattr", "getlk",
        "setlk",    "flock"};
    return names[static_cast<size_t>(op)];
}

namespace {
thread_local RequestOp t_serving = RequestOp::lookup;
}  // namespace

void set_serving(RequestOp op) {
    t_serving = op;
}

RequestOp serving() {
    return t_serving;
}

}  // namespace nfsguard::fs
