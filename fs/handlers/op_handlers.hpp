// The FUSE low-level handlers, one group of operations per op_*.cpp file,
// and the table that hands them to libfuse.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

namespace nfsguard::fs {

class Request;

// op_entry.cpp
void op_lookup(Request& r, fuse_ino_t parent, const char* name);
void op_forget(Request& r, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(Request& r, size_t count, struct fuse_forget_data* forgets);
// op_attr.cpp
void op_getattr(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_setattr(Request& r, fuse_ino_t ino, struct stat* attr, int to_set,
                struct fuse_file_info* fi);
void op_readlink(Request& r, fuse_ino_t ino);
void op_access(Request& r, fuse_ino_t ino, int mask);
void op_statfs(Request& r, fuse_ino_t ino);
// op_namespace.cpp
void op_mknod(Request& r, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void op_mkdir(Request& r, fuse_ino_t parent, const char* name, mode_t mode);
void op_symlink(Request& r, const char* link, fuse_ino_t parent, const char* name);
void op_link(Request& r, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void op_unlink(Request& r, fuse_ino_t parent, const char* name);
void op_rmdir(Request& r, fuse_ino_t parent, const char* name);
void op_rename(Request& r, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags);
// op_file.cpp
void op_open(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_create(Request& r, fuse_ino_t parent, const char* name, mode_t mode,
               struct fuse_file_info* fi);
void op_read(Request& r, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi);
void op_write_buf(Request& r, fuse_ino_t ino, struct fuse_bufvec* bufv, off_t off,
                  struct fuse_file_info* fi);
void op_flush(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_release(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_fsync(Request& r, fuse_ino_t ino, int datasync, struct fuse_file_info* fi);
void op_fallocate(Request& r, fuse_ino_t ino, int mode, off_t offset, off_t length,
                  struct fuse_file_info* fi);
void op_lseek(Request& r, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info* fi);
void op_copy_file_range(Request& r, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info* fi_in,
                        fuse_ino_t ino_out, off_t off_out, struct fuse_file_info* fi_out,
                        size_t len, int flags);
// op_dir.cpp
void op_opendir(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_readdir(Request& r, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi);
void op_readdirplus(Request& r, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi);
void op_releasedir(Request& r, fuse_ino_t ino, struct fuse_file_info* fi);
void op_fsyncdir(Request& r, fuse_ino_t ino, int datasync, struct fuse_file_info* fi);
// op_xattr.cpp
void op_getxattr(Request& r, fuse_ino_t ino, const char* name, size_t size);
void op_listxattr(Request& r, fuse_ino_t ino, size_t size);
void op_setxattr(Request& r, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags);
void op_removexattr(Request& r, fuse_ino_t ino, const char* name);

// op_lock.cpp
void op_getlk(Request& r, fuse_ino_t ino, struct fuse_file_info* fi, struct flock* lock);
void op_setlk(Request& r, fuse_ino_t ino, struct fuse_file_info* fi, struct flock* lock, int sleep);
void op_flock(Request& r, fuse_ino_t ino, struct fuse_file_info* fi, int op);

// op_table.cpp
const struct fuse_lowlevel_ops& op_table();

}  // namespace nfsguard::fs
