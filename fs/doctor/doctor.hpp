// nfsguard doctor [--json] [--run-dir DIR] [PATH]: checks an administrator's
// setup on a mail path (README, "nfsguard doctor"; rules in
// fs/doctor/rules.hpp) and prints one line per finding. Returns the exit
// status: 0 all ok, 1 warnings, 2 failures (or a bad command line).
#pragma once

namespace nfsguard::fs::doctor {

int run_doctor(int argc, const char* const* argv);

}  // namespace nfsguard::fs::doctor
