// The control language: one command line in, one answer line out.
//
//   lost_reply OP GLOB COUNT      estale GLOB COUNT      close_error ERRNO GLOB COUNT
//   clock_offset SECONDS          vanish ERRNO           return
//   latency MICROSECONDS          clear                  stats
//
// The answer starts with "ok" or "error" (README.md has the details). Kept
// apart from the socket so that the language can be tested without one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tests/faultfs/fault_plan.hpp"

namespace nfsguard::faultfs {

// Applies one command (without its newline) to `plan`; returns the answer
// line without a newline.
std::string execute_command(FaultPlan& plan, std::string_view line);

// "EIO" or "5" -> 5; empty for anything else (including 0 and negatives).
std::optional<int> parse_errno(std::string_view text);

// 5 -> "EIO"; a number when the C library knows no name.
std::string errno_name(int err);

}  // namespace nfsguard::faultfs
