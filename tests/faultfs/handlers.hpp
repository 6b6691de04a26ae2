// The passthrough handlers of libfuse's path API, one group per file:
// op_attr.cpp (attributes), op_xattr.cpp, op_names.cpp (directory entries,
// where replies get lost), op_file.cpp (open files, where close errors
// happen), op_dir.cpp (directory listing). operations.cpp puts them in the
// table. Each returns 0 (or a byte count) or a negative errno.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <cerrno>

namespace nfsguard::faultfs {

// The high-level API's convention: 0, or -errno of the call that failed.
inline int result_of(int rc) {
    return rc == -1 ? -errno : 0;
}

const struct fuse_operations& operations();

int fs_getattr(const char* path, struct stat* st, struct fuse_file_info* fi);
int fs_chmod(const char* path, mode_t mode, struct fuse_file_info* fi);
int fs_chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi);
int fs_truncate(const char* path, off_t size, struct fuse_file_info* fi);
int fs_utimens(const char* path, const struct timespec times[2], struct fuse_file_info* fi);
int fs_access(const char* path, int mask);
int fs_readlink(const char* path, char* buf, size_t size);
int fs_statfs(const char* path, struct statvfs* st);

int fs_setxattr(const char* path, const char* name, const char* value, size_t size, int flags);
int fs_getxattr(const char* path, const char* name, char* value, size_t size);
int fs_listxattr(const char* path, char* list, size_t size);
int fs_removexattr(const char* path, const char* name);

int fs_mknod(const char* path, mode_t mode, dev_t rdev);
int fs_mkdir(const char* path, mode_t mode);
int fs_symlink(const char* target, const char* path);
int fs_unlink(const char* path);
int fs_rmdir(const char* path);
int fs_rename(const char* from, const char* to, unsigned int flags);
int fs_link(const char* from, const char* to);

int fs_create(const char* path, mode_t mode, struct fuse_file_info* fi);
int fs_open(const char* path, struct fuse_file_info* fi);
int fs_read(const char* path, char* buf, size_t size, off_t off, struct fuse_file_info* fi);
int fs_write(const char* path, const char* buf, size_t size, off_t off, struct fuse_file_info* fi);
int fs_flush(const char* path, struct fuse_file_info* fi);
int fs_release(const char* path, struct fuse_file_info* fi);
int fs_fsync(const char* path, int datasync, struct fuse_file_info* fi);
int fs_fallocate(const char* path, int mode, off_t off, off_t len, struct fuse_file_info* fi);

int fs_opendir(const char* path, struct fuse_file_info* fi);
int fs_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t off,
               struct fuse_file_info* fi, enum fuse_readdir_flags flags);
int fs_releasedir(const char* path, struct fuse_file_info* fi);
int fs_fsyncdir(const char* path, int datasync, struct fuse_file_info* fi);

}  // namespace nfsguard::faultfs
