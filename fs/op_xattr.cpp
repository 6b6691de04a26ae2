// FUSE getxattr, setxattr, listxattr, removexattr: extended attributes,
// which carry POSIX ACLs too.
#include <vector>

#include "fs/op_handlers.hpp"
#include "fs/request.hpp"
#include "ops/object_ops.hpp"

namespace nfsguard::fs {
namespace {

// Replies to a size probe (size 0) with the size, otherwise with the data.
void reply_sized(fuse_req_t req, size_t size, const ops::Result<size_t>& n,
                 const std::vector<char>& buf) {
    if (!n) return (void)fuse_reply_err(req, n.error());
    if (size == 0) return (void)fuse_reply_xattr(req, *n);
    fuse_reply_buf(req, buf.data(), *n);
}

}  // namespace

void op_getxattr(fuse_req_t req, fuse_ino_t id, const char* name, size_t size) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    std::vector<char> buf(size);
    auto n = ops::get_xattr(r.fs().sys, target->located(), name, size ? buf.data() : nullptr, size);
    reply_sized(req, size, n, buf);
}

void op_listxattr(fuse_req_t req, fuse_ino_t id, size_t size) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    std::vector<char> buf(size);
    auto n = ops::list_xattr(r.fs().sys, target->located(), size ? buf.data() : nullptr, size);
    reply_sized(req, size, n, buf);
}

void op_setxattr(fuse_req_t req, fuse_ino_t id, const char* name, const char* value, size_t size,
                 int flags) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    r.reply_error(ops::set_xattr(r.fs().sys, target->located(), name, value, size, flags));
}

void op_removexattr(fuse_req_t req, fuse_ino_t id, const char* name) {
    Request r(req);
    if (!r.acting_as_caller()) return;
    auto target = r.fs().inodes.locate(r.inode(id));
    if (!target) return r.reply_error(target);
    r.reply_error(ops::remove_xattr(r.fs().sys, target->located(), name));
}

}  // namespace nfsguard::fs
