// opendir, readdir, releasedir, fsyncdir: listing a directory. The listing
// is a stream with positions (telldir) that the kernel hands back as
// offsets, so a listing bigger than one reply resumes where it stopped.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <memory>

#include "tests/faultfs/call.hpp"
#include "tests/faultfs/handlers.hpp"
#include "tests/faultfs/open_file.hpp"

namespace nfsguard::faultfs {

int fs_opendir(const char* path, struct fuse_file_info* fi) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    ops::UniqueFd fd(
        ::openat(at->dir, at->c_name(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return -errno;
    DIR* dir = ::fdopendir(fd.get());
    if (dir == nullptr) return -errno;
    fd.release();  // the stream owns it now
    auto open_dir = std::make_unique<OpenDir>(dir, std::string(entry_name(path)));
    fi->fh = reinterpret_cast<std::uintptr_t>(open_dir.release());
    return 0;
}

int fs_readdir(const char*, void* buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info* fi,
               enum fuse_readdir_flags) {
    OpenDir& d = OpenDir::of(fi);
    Call call{d.name};
    if (call.refusal()) return call.refusal();
    std::lock_guard lock(d.mutex);
    if (off != d.offset) {
        ::seekdir(d.dir, off);
        d.pending = nullptr;
        d.offset = off;
    }
    for (;;) {
        if (d.pending == nullptr) {
            errno = 0;
            d.pending = ::readdir(d.dir);
            if (d.pending == nullptr) return errno != 0 ? -errno : 0;
        }
        struct stat st {};
        st.st_ino = d.pending->d_ino;
        st.st_mode = static_cast<mode_t>(DTTOIF(d.pending->d_type));
        const off_t next = ::telldir(d.dir);
        if (filler(buf, d.pending->d_name, &st, next, static_cast<fuse_fill_dir_flags>(0)) != 0)
            return 0;  // the reply is full; this entry goes first next time
        d.pending = nullptr;
        d.offset = next;
    }
}

int fs_releasedir(const char*, struct fuse_file_info* fi) {
    wait_latency(this_faultfs());
    delete &OpenDir::of(fi);
    return 0;
}

int fs_fsyncdir(const char*, int datasync, struct fuse_file_info* fi) {
    OpenDir& d = OpenDir::of(fi);
    Call call{d.name};
    if (call.refusal()) return call.refusal();
    const int fd = ::dirfd(d.dir);
    return result_of(datasync != 0 ? ::fdatasync(fd) : ::fsync(fd));
}

}  // namespace nfsguard::faultfs
