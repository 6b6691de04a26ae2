// The operation table and the capabilities nfsguard asks the kernel for.
#include <spdlog/spdlog.h>

#include "fs/filesystem.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/stats/request_stats.hpp"

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
    // Not asked for, because libfuse 3.14 cannot: FUSE_CAP_HANDLE_KILLPRIV_V2,
    // which would spare the getxattr of security.capability the kernel sends
    // before every write (it sets SB_NOSEC only with it). 3.14 has no such
    // capability (libfuse 3.17 added it), does not send FUSE_HANDLE_KILLPRIV
    // (v1) in its INIT reply either, and hands no FUSE_WRITE_KILL_SUIDGID or
    // FUSE_OPEN_KILL_SUIDGID to the filesystem. It would be correct for
    // nfsguard: writes, truncates and chowns reach the backing as the caller
    // (fsuid without CAP_FSETID), so the backing kernel clears set-user-ID,
    // set-group-ID and security.capability itself, as it does for a local
    // process (tests/integration/test_kill_privileges.py).
    // Writes go through to the backing file at once: a page cache that holds
    // writes back would acknowledge mail the NFS server has not seen.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_write = 1U << 20;
    spdlog::debug("fuse: protocol {}.{}, capable {:#x}, want {:#x}", conn->proto_major,
                  conn->proto_minor, conn->capable, conn->want);
}

// `handler`, counted and timed as a request of `op` (fs/stats/request_stats.hpp).
template <RequestOp op, auto handler>
struct Timed;
template <RequestOp op, typename... Args, void (*handler)(fuse_req_t, Args...)>
struct Timed<op, handler> {
    static void serve(fuse_req_t req, Args... args) {
        // Taken before the handler runs: its reply frees `req`.
        auto& fs = *static_cast<Filesystem*>(fuse_req_userdata(req));
        RequestTimer timer(fs.requests.of(op));
        set_serving(op);
        handler(req, args...);
    }
};

struct fuse_lowlevel_ops make_table() {
    struct fuse_lowlevel_ops ops {};
    ops.init = op_init;
    ops.lookup = Timed<RequestOp::lookup, op_lookup>::serve;
    ops.forget = Timed<RequestOp::forget, op_forget>::serve;
    ops.forget_multi = Timed<RequestOp::batch_forget, op_forget_multi>::serve;
    ops.getattr = Timed<RequestOp::getattr, op_getattr>::serve;
    ops.setattr = Timed<RequestOp::setattr, op_setattr>::serve;
    ops.readlink = Timed<RequestOp::readlink, op_readlink>::serve;
    ops.access = Timed<RequestOp::access, op_access>::serve;
    ops.statfs = Timed<RequestOp::statfs, op_statfs>::serve;
    ops.mknod = Timed<RequestOp::mknod, op_mknod>::serve;
    ops.mkdir = Timed<RequestOp::mkdir, op_mkdir>::serve;
    ops.symlink = Timed<RequestOp::symlink, op_symlink>::serve;
    ops.link = Timed<RequestOp::link, op_link>::serve;
    ops.unlink = Timed<RequestOp::unlink, op_unlink>::serve;
    ops.rmdir = Timed<RequestOp::rmdir, op_rmdir>::serve;
    ops.rename = Timed<RequestOp::rename, op_rename>::serve;
    ops.open = Timed<RequestOp::open, op_open>::serve;
    ops.create = Timed<RequestOp::create, op_create>::serve;
    ops.read = Timed<RequestOp::read, op_read>::serve;
    ops.write_buf = Timed<RequestOp::write, op_write_buf>::serve;
    ops.flush = Timed<RequestOp::flush, op_flush>::serve;
    ops.release = Timed<RequestOp::release, op_release>::serve;
    ops.fsync = Timed<RequestOp::fsync, op_fsync>::serve;
    ops.fallocate = Timed<RequestOp::fallocate, op_fallocate>::serve;
    ops.lseek = Timed<RequestOp::lseek, op_lseek>::serve;
    ops.copy_file_range = Timed<RequestOp::copy_file_range, op_copy_file_range>::serve;
    ops.opendir = Timed<RequestOp::opendir, op_opendir>::serve;
    ops.readdir = Timed<RequestOp::readdir, op_readdir>::serve;
    ops.readdirplus = Timed<RequestOp::readdirplus, op_readdirplus>::serve;
    ops.releasedir = Timed<RequestOp::releasedir, op_releasedir>::serve;
    ops.fsyncdir = Timed<RequestOp::fsyncdir, op_fsyncdir>::serve;
    ops.getxattr = Timed<RequestOp::getxattr, op_getxattr>::serve;
    ops.listxattr = Timed<RequestOp::listxattr, op_listxattr>::serve;
    ops.setxattr = Timed<RequestOp::setxattr, op_setxattr>::serve;
    ops.removexattr = Timed<RequestOp::removexattr, op_removexattr>::serve;
    ops.getlk = Timed<RequestOp::getlk, op_getlk>::serve;
    ops.setlk = Timed<RequestOp::setlk, op_setlk>::serve;
    ops.flock = Timed<RequestOp::flock, op_flock>::serve;
    return ops;
}

}  // namespace

const struct fuse_lowlevel_ops& op_table() {
    static const struct fuse_lowlevel_ops table = make_table();
    return table;
}

}  // namespace nfsguard::fs
