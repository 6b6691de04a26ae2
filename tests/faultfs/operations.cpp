// The operation table, and the settings that make libfuse pass every call
// on to us.
#include <spdlog/spdlog.h>

#include <cstring>
#include <new>

#include "tests/faultfs/faultfs.hpp"
#include "tests/faultfs/handlers.hpp"

namespace nfsguard::faultfs {
namespace {

// Runs a handler so that no exception reaches libfuse's C code: the request
// gets an errno instead.
template <auto Handler>
struct NoThrow;

template <typename... Args, int (*Handler)(Args...)>
struct NoThrow<Handler> {
    static int call(Args... args) noexcept {
        try {
            return Handler(args...);
        } catch (const std::bad_alloc&) {
            return -ENOMEM;
        } catch (...) {
            return -EIO;
        }
    }
};

void* fs_init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
    // nfsguard checks a lost reply by comparing inode numbers: report the
    // backing's, not libfuse's node ids.
    cfg->use_ino = 1;
    cfg->readdir_ino = 0;
    // A file unlinked while open through this mount is renamed to
    // .fuse_hiddenXXXX until its last close, as an NFS client renames it to
    // .nfsXXXX ("silly rename"). libfuse's alternative, a real unlink, would
    // make every later fstat() of the open file fail with ESTALE: the kernel
    // sends no file handle with it, and the path API has no path left.
    cfg->hard_remove = 0;
    cfg->nullpath_ok = 1;
    // Every call must reach the fault plan: the kernel may cache nothing.
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    cfg->direct_io = 0;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;

    auto* fs = static_cast<FaultFs*>(fuse_get_context()->private_data);
    if (auto r = fs->control.start(); !r)
        spdlog::error("cannot start the control thread: {}", std::strerror(r.error()));
    return fs;
}

void fs_destroy(void* data) {
    static_cast<FaultFs*>(data)->control.stop();
}

struct fuse_operations make_operations() {
    struct fuse_operations o {};
    o.init = fs_init;
    o.destroy = fs_destroy;
    o.getattr = NoThrow<fs_getattr>::call;
    o.chmod = NoThrow<fs_chmod>::call;
    o.chown = NoThrow<fs_chown>::call;
    o.truncate = NoThrow<fs_truncate>::call;
    o.utimens = NoThrow<fs_utimens>::call;
    o.access = NoThrow<fs_access>::call;
    o.readlink = NoThrow<fs_readlink>::call;
    o.statfs = NoThrow<fs_statfs>::call;
    o.setxattr = NoThrow<fs_setxattr>::call;
    o.getxattr = NoThrow<fs_getxattr>::call;
    o.listxattr = NoThrow<fs_listxattr>::call;
    o.removexattr = NoThrow<fs_removexattr>::call;
    o.mknod = NoThrow<fs_mknod>::call;
    o.mkdir = NoThrow<fs_mkdir>::call;
    o.symlink = NoThrow<fs_symlink>::call;
    o.unlink = NoThrow<fs_unlink>::call;
    o.rmdir = NoThrow<fs_rmdir>::call;
    o.rename = NoThrow<fs_rename>::call;
    o.link = NoThrow<fs_link>::call;
    o.create = NoThrow<fs_create>::call;
    o.open = NoThrow<fs_open>::call;
    o.read = NoThrow<fs_read>::call;
    o.write = NoThrow<fs_write>::call;
    o.flush = NoThrow<fs_flush>::call;
    o.release = NoThrow<fs_release>::call;
    o.fsync = NoThrow<fs_fsync>::call;
    o.fallocate = NoThrow<fs_fallocate>::call;
    o.opendir = NoThrow<fs_opendir>::call;
    o.readdir = NoThrow<fs_readdir>::call;
    o.releasedir = NoThrow<fs_releasedir>::call;
    o.fsyncdir = NoThrow<fs_fsyncdir>::call;
    return o;
}

}  // namespace

const struct fuse_operations& operations() {
    static const struct fuse_operations table = make_operations();
    return table;
}

}  // namespace nfsguard::faultfs
