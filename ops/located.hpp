// Located: an existing object of the backing tree, as fs/ has found it.
#pragma once

#include <sys/stat.h>

#include <string>

namespace nfsguard::ops {

struct Located {
    int fd = -1;                 // O_PATH|O_NOFOLLOW descriptor on the object itself
    mode_t type = 0;             // S_IFMT bits
    int parent_fd = -1;          // the directory it was found in; -1 for the backing root
    const char* name = nullptr;  // its name there; nullptr for the backing root

    bool is_symlink() const { return S_ISLNK(type); }
};

// An object as the caller already knows it, without asking the backing: for
// fs/, the (dev, ino) and type that the kernel's lookup of its name was
// answered with, as the inode table holds them.
struct ObjectId {
    dev_t dev = 0;
    ino_t ino = 0;
    mode_t type = 0;  // S_IFMT bits

    static ObjectId of(const struct stat& st) {
        return ObjectId{st.st_dev, st.st_ino, st.st_mode & S_IFMT};
    }
};

// What the caller's own lookup said of a name about to be made: free (the
// kernel asks for a mkdir, symlink or link only then), or nothing (the op
// then looks itself: an EEXIST can only be false for a name that was free).
enum class NameWas { unknown, free };

// "/proc/self/fd/N": reaches the very object an O_PATH descriptor holds,
// whatever happened to its name since, with the caller's permission checks.
// (A thread may walk its own process's fd directory under any fsuid.)
std::string proc_fd_path(int fd);

}  // namespace nfsguard::ops
