// The operation table and the capabilities nfsguard asks the kernel for.
#include <spdlog/spdlog.h>

#include "fs/op_handlers.hpp"

namespace nfsguard::fs {
namespace {

void want_if_capable(struct fuse_conn_info* conn, unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
}

void op_init(void*, struct fuse_conn_info* conn) {
    // O_TRUNC comes with open() instead of as a separate setattr: one backing
    // call, and no window where another host sees a truncated file not yet open.
    want_if_capable(conn, FUSE_CAP_ATOMIC_O_TRUNC);
    // Lookups and creates in one directory may run at once (a busy Maildir).
    want_if_capable(conn, FUSE_CAP_PARALLEL_DIROPS);
    // Data moves between /dev/fuse and backing files by splice where it can.
    want_if_capable(conn, FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ);
    // readdirplus only when the kernel sees a lookup follow the listing
    // (ls -l), not for every plain readdir of a 200,000-file folder.
    want_if_capable(conn, FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    // Locks are served by nfsguard, so they reach the NFS server (op_lock.cpp)
    // instead of staying in this host's kernel.
    want_if_capable(conn, FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
    // Writes go through to the backing file at once: a page cache that holds
    // writes back would acknowledge mail the NFS server has not seen.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_write = 1U << 20;
    spdlog::debug("fuse: protocol {}.{}, capable {:#x}, want {:#x}", conn->proto_major,
                  conn->proto_minor, conn->capable, conn->want);
}

struct fuse_lowlevel_ops make_table() {
    struct fuse_lowlevel_ops ops {};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.forget = op_forget;
    ops.forget_multi = op_forget_multi;
    ops.getattr = op_getattr;
    ops.setattr = op_setattr;
    ops.readlink = op_readlink;
    ops.access = op_access;
    ops.statfs = op_statfs;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.symlink = op_symlink;
    ops.link = op_link;
    ops.unlink = op_unlink;
    ops.rmdir = op_rmdir;
    ops.rename = op_rename;
    ops.open = op_open;
    ops.create = op_create;
    ops.read = op_read;
    ops.write_buf = op_write_buf;
    ops.flush = op_flush;
    ops.release = op_release;
    ops.fsync = op_fsync;
    ops.fallocate = op_fallocate;
    ops.lseek = op_lseek;
    ops.copy_file_range = op_copy_file_range;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.readdirplus = op_readdirplus;
    ops.releasedir = op_releasedir;
    ops.fsyncdir = op_fsyncdir;
    ops.getxattr = op_getxattr;
    ops.listxattr = op_listxattr;
    ops.setxattr = op_setxattr;
    ops.removexattr = op_removexattr;
    ops.getlk = op_getlk;
    ops.setlk = op_setlk;
    ops.flock = op_flock;
    return ops;
}

}  // namespace

const struct fuse_lowlevel_ops& op_table() {
    static const struct fuse_lowlevel_ops table = make_table();
    return table;
}

}  // namespace nfsguard::fs
