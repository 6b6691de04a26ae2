// nfsguard-faultfs: a passthrough FUSE filesystem that fails like NFS on
// demand. Command line, options and startup; README.md tells the rest.
#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "ops/identity.hpp"
#include "tests/faultfs/faultfs.hpp"
#include "tests/faultfs/handlers.hpp"

namespace {

using nfsguard::faultfs::FaultFs;

constexpr const char* kUsage =
    R"(usage: nfsguard-faultfs [-f] [-o control=SOCKET] [-o opt,...] BACKING MOUNTPOINT

Mounts on MOUNTPOINT a filesystem that passes every call through to the
directory BACKING and, when told so on the control socket, fails the way an
NFS mount does: lost replies, ESTALE, a skewed server clock, a vanished
export, errors at close, latency. Run as root it serves every user
(allow_other) with that user's own permissions.

  -o control=SOCKET   listen for commands on this Unix socket (without it no
                      fault can be armed)
  -f                  stay in the foreground
  -d                  foreground, with libfuse's request trace

libfuse's caching options are overridden: every call must reach faultfs.
)";

// What fuse_opt_parse fills in: plain C data, as it writes by offset.
struct CommandLine {
    char* control;
    char* backing;
    int help;
};

enum { kKeyHelp };

const struct fuse_opt kOptions[] = {{"control=%s", offsetof(CommandLine, control), 0},
                                    FUSE_OPT_KEY("-h", kKeyHelp),
                                    FUSE_OPT_KEY("--help", kKeyHelp),
                                    FUSE_OPT_END};

int take_argument(void* data, const char* arg, int key, struct fuse_args*) {
    auto* cl = static_cast<CommandLine*>(data);
    if (key == kKeyHelp) {
        cl->help = 1;
        return 1;  // kept: fuse_main lists its own options after ours
    }
    if (key == FUSE_OPT_KEY_NONOPT && cl->backing == nullptr) {
        cl->backing = ::strdup(arg);
        return 0;  // the first path is ours, the second (MOUNTPOINT) libfuse's
    }
    return 1;
}

// Every open file holds a backing descriptor: allow as many as we may.
void raise_fd_limit() {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// fuse_opt splits option lists at commas and reads backslashes as escapes.
std::string escape_option_value(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == ',' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "nfsguard-faultfs: %s\n", what.c_str());
    return 1;
}

}  // namespace

int main(int argc, char* argv[]) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    std::unique_ptr<struct fuse_args, decltype(&fuse_opt_free_args)> free_args(&args,
                                                                               fuse_opt_free_args);
    CommandLine cl{};
    if (fuse_opt_parse(&args, &cl, kOptions, take_argument) == -1) return 2;
    std::unique_ptr<char, decltype(&std::free)> free_control(cl.control, std::free);
    std::unique_ptr<char, decltype(&std::free)> free_backing(cl.backing, std::free);

    if (cl.help != 0) {
        std::fputs(kUsage, stdout);
        std::fputs("\n", stdout);
        args.argv[0][0] = '\0';  // no second usage line from fuse_main
        return fuse_main(args.argc, args.argv, &nfsguard::faultfs::operations(), nullptr);
    }
    if (cl.backing == nullptr) {
        std::fputs(kUsage, stderr);
        return 2;
    }

    spdlog::set_default_logger(spdlog::stderr_logger_mt("faultfs"));
    // New objects get exactly the mode asked for: the kernel applied the
    // caller's umask already.
    ::umask(0);
    raise_fd_limit();

    // Opened before mounting: the mount may hide BACKING (mounted over it).
    nfsguard::ops::UniqueFd root(::open(cl.backing, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid())
        return fail(std::string("cannot open ") + cl.backing + ": " + std::strerror(errno));
    const bool as_callers = nfsguard::ops::can_switch_identity();
    if (!as_callers)
        spdlog::warn("not running as root: every call is made as uid {}, no allow_other",
                     ::getuid());

    FaultFs fs(std::move(root), as_callers);
    if (cl.control != nullptr) {
        if (auto r = fs.control.listen(cl.control); !r)
            return fail(std::string("cannot listen on ") + cl.control + ": " +
                        std::strerror(r.error()));
    }

    std::string fsname = cl.backing;
    if (char* abs = ::realpath(cl.backing, nullptr)) {
        fsname = abs;
        std::free(abs);
    }
    const std::string mount_options = "-osubtype=faultfs,fsname=" + escape_option_value(fsname) +
                                      (as_callers ? ",allow_other" : "");
    if (fuse_opt_add_arg(&args, mount_options.c_str()) == -1) return fail("out of memory");
    // Before the caller's options, which may override them. Bounded threads;
    // and libfuse 3.14.0 warns about an invalid value unless max_idle_threads
    // is given (its default is -1).
    if (fuse_opt_insert_arg(&args, 1, "-omax_threads=16,max_idle_threads=10") == -1)
        return fail("out of memory");

    return fuse_main(args.argc, args.argv, &nfsguard::faultfs::operations(), &fs);
}
