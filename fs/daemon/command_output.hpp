// What another program prints: systemctl (is a restart under way?), and for
// `nfsguard doctor` postconf, doveconf and systemctl.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace nfsguard::fs {

// What `argv` (argv[0] looked up in $PATH) prints on stdout within `limit`;
// nullopt if it could not be run, did not end in time (it is killed), or
// exited with a status other than 0. Its stderr goes to /dev/null.
std::optional<std::string> output_of(std::vector<std::string> argv,
                                     std::chrono::milliseconds limit);

}  // namespace nfsguard::fs
