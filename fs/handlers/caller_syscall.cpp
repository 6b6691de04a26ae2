#include "fs/handlers/caller_syscall.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ops/identity.hpp"

namespace nfsguard::fs {
namespace {

int access_of_open_flags(uint64_t flags) {
    if (flags & O_PATH) return 0;  // an O_PATH descriptor reads and writes nothing
    switch (flags & O_ACCMODE) {
        case O_RDONLY:
            return R_OK;
        case O_WRONLY:
            return W_OK;
        default:
            return R_OK | W_OK;
    }
}

}  // namespace

int access_asked(std::string_view line,
                 const std::function<std::optional<uint64_t>(uint64_t)>& read_u64) {
    // "NR ARG0 ARG1 ... SP PC"; "running" or "-1 SP PC" outside a call.
    std::vector<uint64_t> words;
    std::string text(line);
    for (const char* p = text.c_str(); *p != '\0';) {
        char* end = nullptr;
        const uint64_t v = std::strtoull(p, &end, 0);
        if (end == p) break;
        words.push_back(v);
        p = end;
    }
    if (words.size() < 4) return 0;
    const long nr = static_cast<long>(words[0]);
    const auto arg = [&](size_t i) { return words[1 + i]; };
    switch (nr) {
#ifdef SYS_open
        case SYS_open:
            return access_of_open_flags(arg(1));
#endif
#ifdef SYS_creat
        case SYS_creat:
            return W_OK;
#endif
        case SYS_openat:
            return access_of_open_flags(arg(2));
#ifdef SYS_openat2
        case SYS_openat2: {
            const auto flags = read_u64(arg(2));  // struct open_how starts with its flags
            return flags ? access_of_open_flags(*flags) : R_OK | W_OK;
        }
#endif
        // A UNIX socket is connected to (and sent to) with write permission.
        case SYS_connect:
        case SYS_sendto:
        case SYS_sendmsg:
        case SYS_sendmmsg:
            return W_OK;
        default:
            return 0;
    }
}

int access_asked_by(pid_t tid) {
    // As root: the file is the caller's (or root's, for a process that is
    // not dumpable), and the thread acts as the caller.
    ops::ScopedIdentity root(ops::Identity::root());
    std::string line;
    std::getline(std::ifstream("/proc/" + std::to_string(tid) + "/syscall"), line);
    return access_asked(line, [tid](uint64_t address) -> std::optional<uint64_t> {
        uint64_t value = 0;
        struct iovec local {
            &value, sizeof value
        };
        struct iovec remote {
            reinterpret_cast<void*>(address), sizeof value
        };
        if (::process_vm_readv(tid, &local, 1, &remote, 1, 0) != sizeof value) return std::nullopt;
        return value;
    });
}

}  // namespace nfsguard::fs
