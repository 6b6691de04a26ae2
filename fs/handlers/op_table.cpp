// The operation table and the capabilities nfsguard asks the kernel for.
#include <spdlog/spdlog.h>

#include <array>
#include <cassert>
#include <tuple>

#include "fs/filesystem.hpp"
#include "fs/handlers/op_handlers.hpp"
#include "fs/handlers/request.hpp"
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
    // Not asked for: FUSE_CAP_HANDLE_KILLPRIV_V2, which libfuse 3.14 cannot
    // negotiate (README, Speed: the getxattr before every write).
    // Writes go through to the backing file at once: a page cache that holds
    // writes back would acknowledge mail the NFS server has not seen.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_write = 1U << 20;
    spdlog::debug("fuse: protocol {}.{}, capable {:#x}, want {:#x}", conn->proto_major,
                  conn->proto_minor, conn->capable, conn->want);
}

// What a handler needs before it runs: the caller's identity; for a call on
// the backing, a backing that is attached (a refused write is counted).
enum class Needs { nothing, caller, caller_reads, caller_writes };

// The objects a request of `op` with handler arguments `args` is about
// (Request::Target): its first node id, and a second for those with two.
template <RequestOp op, typename... Args>
std::array<Request::Target, 2> targets_of(const Args&... args) {
    const auto a = std::forward_as_tuple(args...);
    using T = Request::Target;
    if constexpr (op == RequestOp::symlink) {
        return {T{std::get<1>(a), std::get<2>(a)}, T{}};
    } else if constexpr (op == RequestOp::rename) {
        return {T{std::get<0>(a), std::get<1>(a)}, T{std::get<2>(a), std::get<3>(a)}};
    } else if constexpr (op == RequestOp::link) {
        return {T{std::get<0>(a), nullptr}, T{std::get<1>(a), std::get<2>(a)}};
    } else if constexpr (op == RequestOp::copy_file_range) {
        return {T{std::get<0>(a), nullptr}, T{std::get<3>(a), nullptr}};
    } else if constexpr (op == RequestOp::lookup || op == RequestOp::mknod ||
                         op == RequestOp::mkdir || op == RequestOp::unlink ||
                         op == RequestOp::rmdir || op == RequestOp::create) {
        return {T{std::get<0>(a), std::get<1>(a)}, T{}};
    } else {
        return {T{std::get<0>(a), nullptr}, T{}};
    }
}

// Requests that end what the kernel holds, served whoever owns the unit.
constexpr bool lets_go(RequestOp op) {
    return op == RequestOp::forget || op == RequestOp::batch_forget || op == RequestOp::release ||
           op == RequestOp::releasedir;
}

// `handler`, counted and timed as a request of `op` (fs/stats/request_stats.hpp),
// run once what it `needs` is in place, and answered exactly once.
template <RequestOp op, Needs needs, auto handler>
struct Served;
template <RequestOp op, Needs needs, typename... Args, void (*handler)(Request&, Args...)>
struct Served<op, needs, handler> {
    static void serve(fuse_req_t req, Args... args) {
        // Taken before the handler runs: its reply frees `req`.
        auto& fs = *static_cast<Filesystem*>(fuse_req_userdata(req));
        RequestTimer timer(fs.requests.of(op));
        set_serving(op);
        Request r(req);
        bool ready = needs == Needs::nothing ||
                     (r.act_as_caller() &&
                      !(needs == Needs::caller_reads && r.refused_while_detached(false)) &&
                      !(needs == Needs::caller_writes && r.refused_while_detached(true)));
        if constexpr (!lets_go(op)) ready = ready && r.claim_units(op, targets_of<op>(args...));
        try {
            if (ready) handler(r, args...);
        } catch (const UnknownId& unknown) {
            if (!r.replied()) r.reply_error(unknown.error);
        }
        assert(r.replied() && "every request is answered");
    }
};

struct fuse_lowlevel_ops make_table() {
    struct fuse_lowlevel_ops ops {};
    ops.init = op_init;
    ops.lookup = Served<RequestOp::lookup, Needs::caller, op_lookup>::serve;
    ops.forget = Served<RequestOp::forget, Needs::nothing, op_forget>::serve;
    ops.forget_multi = Served<RequestOp::batch_forget, Needs::nothing, op_forget_multi>::serve;
    ops.getattr = Served<RequestOp::getattr, Needs::caller, op_getattr>::serve;
    ops.setattr = Served<RequestOp::setattr, Needs::caller_writes, op_setattr>::serve;
    ops.readlink = Served<RequestOp::readlink, Needs::caller_reads, op_readlink>::serve;
    ops.access = Served<RequestOp::access, Needs::caller_reads, op_access>::serve;
    ops.statfs = Served<RequestOp::statfs, Needs::caller_reads, op_statfs>::serve;
    ops.mknod = Served<RequestOp::mknod, Needs::caller_writes, op_mknod>::serve;
    ops.mkdir = Served<RequestOp::mkdir, Needs::caller_writes, op_mkdir>::serve;
    ops.symlink = Served<RequestOp::symlink, Needs::caller_writes, op_symlink>::serve;
    ops.link = Served<RequestOp::link, Needs::caller_writes, op_link>::serve;
    ops.unlink = Served<RequestOp::unlink, Needs::caller_writes, op_unlink>::serve;
    ops.rmdir = Served<RequestOp::rmdir, Needs::caller_writes, op_rmdir>::serve;
    ops.rename = Served<RequestOp::rename, Needs::caller_writes, op_rename>::serve;
    ops.open = Served<RequestOp::open, Needs::caller, op_open>::serve;
    ops.create = Served<RequestOp::create, Needs::caller_writes, op_create>::serve;
    ops.read = Served<RequestOp::read, Needs::nothing, op_read>::serve;
    ops.write_buf = Served<RequestOp::write, Needs::caller_writes, op_write_buf>::serve;
    ops.flush = Served<RequestOp::flush, Needs::caller, op_flush>::serve;
    ops.release = Served<RequestOp::release, Needs::nothing, op_release>::serve;
    ops.fsync = Served<RequestOp::fsync, Needs::caller, op_fsync>::serve;
    ops.fallocate = Served<RequestOp::fallocate, Needs::caller_writes, op_fallocate>::serve;
    ops.lseek = Served<RequestOp::lseek, Needs::caller, op_lseek>::serve;
    ops.copy_file_range =
        Served<RequestOp::copy_file_range, Needs::caller_writes, op_copy_file_range>::serve;
    ops.opendir = Served<RequestOp::opendir, Needs::caller, op_opendir>::serve;
    ops.readdir = Served<RequestOp::readdir, Needs::caller, op_readdir>::serve;
    ops.readdirplus = Served<RequestOp::readdirplus, Needs::caller, op_readdirplus>::serve;
    ops.releasedir = Served<RequestOp::releasedir, Needs::nothing, op_releasedir>::serve;
    ops.fsyncdir = Served<RequestOp::fsyncdir, Needs::caller, op_fsyncdir>::serve;
    ops.getxattr = Served<RequestOp::getxattr, Needs::caller_reads, op_getxattr>::serve;
    ops.listxattr = Served<RequestOp::listxattr, Needs::caller_reads, op_listxattr>::serve;
    ops.setxattr = Served<RequestOp::setxattr, Needs::caller_writes, op_setxattr>::serve;
    ops.removexattr = Served<RequestOp::removexattr, Needs::caller_writes, op_removexattr>::serve;
    ops.getlk = Served<RequestOp::getlk, Needs::caller_reads, op_getlk>::serve;
    ops.setlk = Served<RequestOp::setlk, Needs::caller_writes, op_setlk>::serve;
    ops.flock = Served<RequestOp::flock, Needs::caller_writes, op_flock>::serve;
    return ops;
}

}  // namespace

const struct fuse_lowlevel_ops& op_table() {
    static const struct fuse_lowlevel_ops table = make_table();
    return table;
}

}  // namespace nfsguard::fs
