// FUSE getxattr, setxattr, listxattr, removexattr: extended attributes,
// which carry POSIX ACLs too.
#include <utility>
#include <vector>

#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
#include "ops/object_ops.hpp"

namespace nfsguard::fs {
namespace {

// Replies to a size probe (size 0) with the size, otherwise with the data.
void reply_sized(Request& r, size_t size, const ops::Result<size_t>& n,
                 const std::vector<char>& buf) {
    if (!n) return r.reply_error(n);
    if (size == 0) return (void)r.reply<fuse_reply_xattr>(*n);
    r.reply<fuse_reply_buf>(buf.data(), *n);
}

}  // namespace

void op_getxattr(Request& r, fuse_ino_t id, const char* name, size_t size) {
    std::vector<char> buf(size);
    auto n = r.on_object(id, [&](const ops::Located& obj) {
        return ops::get_xattr(r.fs().sys, obj, name, size ? buf.data() : nullptr, size);
    });
    reply_sized(r, size, n, buf);
}

void op_listxattr(Request& r, fuse_ino_t id, size_t size) {
    std::vector<char> buf(size);
    auto n = r.on_object(id, [&](const ops::Located& obj) {
        return ops::list_xattr(r.fs().sys, obj, size ? buf.data() : nullptr, size);
    });
    reply_sized(r, size, n, buf);
}

void op_setxattr(Request& r, fuse_ino_t id, const char* name, const char* value, size_t size,
                 int flags) {
    r.reply_error(r.on_object(id, [&](const ops::Located& obj) {
        return ops::set_xattr(r.fs().sys, obj, name, value, size, flags);
    }));
}

void op_removexattr(Request& r, fuse_ino_t id, const char* name) {
    r.reply_error(r.on_object(
        id, [&](const ops::Located& obj) { return ops::remove_xattr(r.fs().sys, obj, name); }));
}

}  // namespace nfsguard::fs
