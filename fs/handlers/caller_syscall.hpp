// What the caller is about to do with the name it has nfsguard look up.
//
// The kernel opens a FIFO, and connects to a UNIX socket, without asking
// the filesystem; without default_permissions (shared mode) it checks no
// mode bits either, so anyone could open a FIFO of mode 600. The lookup of
// the name, which shared mode gets for every walk, comes from the caller's
// thread while it waits in that very system call: its /proc/TID/syscall
// tells the access the call wants (README, design: special files).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace nfsguard::fs {

// The access (R_OK, W_OK) that the system call in `line` (a /proc/TID/syscall
// line: number, then arguments in hex) asks of the object it names: an open
// by its access mode, a connect or send by W_OK; 0 for any other call, or a
// line it cannot read. `read_u64(address)` reads the caller's memory (the
// flags of openat2's struct open_how).
int access_asked(std::string_view line,
                 const std::function<std::optional<uint64_t>(uint64_t)>& read_u64);

// access_asked for thread `tid`, as it is now.
int access_asked_by(pid_t tid);

}  // namespace nfsguard::fs
