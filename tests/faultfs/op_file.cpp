// create, open, read, write, flush, release, fsync, fallocate: the life of
// an open file. NFS reports many write errors (quota, space) only when the
// data reaches the server, at close or fsync: that is where close_error
// faults strike, after the real flush or sync.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <memory>

#include "tests/faultfs/call.hpp"
#include "tests/faultfs/control_command.hpp"
#include "tests/faultfs/handlers.hpp"
#include "tests/faultfs/open_file.hpp"

namespace nfsguard::faultfs {
OpenInodes& open_inodes() {
    static OpenInodes inodes;
    return inodes;
}

namespace {

// O_DIRECT would make the backing demand aligned buffers, which libfuse's
// are not; the kernel has already decided about caching on its side.
constexpr int kNotPassedOn = O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT;

void hand_out(struct fuse_file_info* fi, ops::UniqueFd fd, const char* path) {
    auto file = std::make_unique<OpenFile>();
    file->fd = std::move(fd);
    file->name = entry_name(path);
    file->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
    struct stat st;
    if (::fstat(file->fd.get(), &st) == 0) {
        file->ino = st.st_ino;
        open_inodes().add(st.st_ino);
    }
    fi->fh = reinterpret_cast<std::uintptr_t>(file.release());
    // Another host may have changed the file: never trust cached pages.
    fi->keep_cache = 0;
}

// The real result of a flush or sync, or else the one the plan imposes.
// Only a file opened for writing has data a server could refuse.
int after_sync(Call& call, const OpenFile& file, int rc, const char* what) {
    if (rc == -1) return -errno;
    if (!file.writable) return 0;
    const int err = call.fs().plan.take_close_error(file.name);
    if (err == 0) return 0;
    spdlog::info("fault: close_error {} '{}' -> {}", what, file.name, errno_name(err));
    return -err;
}

}  // namespace

int fs_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    const int flags = (fi->flags & ~kNotPassedOn) | O_CREAT | (fi->flags & O_EXCL);
    ops::UniqueFd fd(::openat(at->dir, at->c_name(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd.valid()) return -errno;
    call.fs().clock.created(at->dir, at->c_name());
    if ((fi->flags & O_EXCL) != 0) {
        const int err = call.fs().plan.take_lost_reply(NameOp::create_excl, at->name);
        if (err != 0) {
            spdlog::info("fault: lost_reply create_excl '{}' -> {}", at->name, errno_name(err));
            return -err;  // the file stays created, as on the server
        }
    }
    hand_out(fi, std::move(fd), path);
    return 0;
}

int fs_open(const char* path, struct fuse_file_info* fi) {
    Call call{entry_name(path)};
    if (call.refusal()) return call.refusal();
    auto at = call.fs().backing.locate(path);
    if (!at) return -at.error();
    const int flags = fi->flags & ~kNotPassedOn;
    ops::UniqueFd fd(::openat(at->dir, at->c_name(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return -errno;
    if ((flags & O_TRUNC) != 0) call.fs().clock.data_changed(fd.get());
    hand_out(fi, std::move(fd), path);
    return 0;
}

int fs_read(const char*, char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
    const OpenFile& file = OpenFile::of(fi);
    Call call{file.name};
    if (call.refusal()) return call.refusal();
    // A short read means end of file to the kernel, which would fill the
    // rest of the page with zeros: read on until the file really ends.
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(file.fd.get(), buf + done, size - done, off + static_cast<off_t>(done));
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return done > 0 ? static_cast<int>(done) : -errno;
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    return static_cast<int>(done);
}

int fs_write(const char*, const char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
    const OpenFile& file = OpenFile::of(fi);
    Call call{file.name};
    if (call.refusal()) return call.refusal();
    size_t done = 0;
    while (done < size) {
        ssize_t n =
            ::pwrite(file.fd.get(), buf + done, size - done, off + static_cast<off_t>(done));
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            if (done == 0) return -errno;
            break;
        }
        done += static_cast<size_t>(n);
    }
    call.fs().clock.data_changed(file.fd.get());
    return static_cast<int>(done);
}

int fs_flush(const char*, struct fuse_file_info* fi) {
    const OpenFile& file = OpenFile::of(fi);
    Call call{file.name};
    if (call.refusal()) return call.refusal();
    // Closing a duplicate makes the backing filesystem do what a close does
    // (an NFS client writes back and reports the server's error) while the
    // handle stays open for the release to come.
    const int dup = ::dup(file.fd.get());
    if (dup == -1) return -errno;
    return after_sync(call, file, ::close(dup), "flush");
}

int fs_release(const char*, struct fuse_file_info* fi) {
    wait_latency(this_faultfs());
    delete &OpenFile::of(fi);
    return 0;
}

int fs_fsync(const char*, int datasync, struct fuse_file_info* fi) {
    const OpenFile& file = OpenFile::of(fi);
    Call call{file.name};
    if (call.refusal()) return call.refusal();
    const int fd = file.fd.get();
    return after_sync(call, file, datasync != 0 ? ::fdatasync(fd) : ::fsync(fd), "fsync");
}

int fs_fallocate(const char*, int mode, off_t off, off_t len, struct fuse_file_info* fi) {
    if (fi == nullptr) return -EOPNOTSUPP;
    const OpenFile& file = OpenFile::of(fi);
    Call call{file.name};
    if (call.refusal()) return call.refusal();
    if (::fallocate(file.fd.get(), mode, off, len) == -1) return -errno;
    call.fs().clock.data_changed(file.fd.get());
    return 0;
}

}  // namespace nfsguard::faultfs
