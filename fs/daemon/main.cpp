// nfsguard: a FUSE filesystem mounted over an NFS path that hardens every
// call mail software makes on it. See nfsguard --help and README.md.
#include <cstdio>
#include <string>

#include "fs/daemon/options.hpp"
#include "fs/daemon/session.hpp"
#include "fs/doctor/doctor.hpp"
#include "fs/ownership/owners_command.hpp"
#include "fs/stats/stats.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "stats") return nfsguard::fs::print_stats(argc, argv);
    if (argc > 1 && std::string(argv[1]) == "doctor")
        return nfsguard::fs::doctor::run_doctor(argc, argv);
    if (argc > 1 && std::string(argv[1]) == "owners") return nfsguard::fs::run_owners(argc, argv);
    nfsguard::fs::Options opts;
    std::string err = nfsguard::fs::parse_options(argc, argv, opts);
    if (!err.empty()) {
        std::fprintf(stderr, "nfsguard: %s\n", err.c_str());
        return 2;
    }
    if (opts.help) {
        std::fputs(nfsguard::fs::usage().c_str(), stdout);
        return 0;
    }
    if (opts.version) {
        std::printf("nfsguard %s\n", NFSGUARD_VERSION);
        return 0;
    }
    return nfsguard::fs::run_session(opts, argv);
}
