// Entry names: nfsguard itself never follows a symlink or "..".
//
// Every backing call names at most one component, relative to a directory
// descriptor nfsguard holds, and never follows a symlink in it. A name with a
// '/' or a "." / ".." would step out of that rule, so it is refused before any
// call is made.
#pragma once

#include "ops/result.hpp"

namespace nfsguard::ops {

// EINVAL for "", ".", ".." and names with '/'; ENAMETOOLONG past NAME_MAX.
Result<void> check_entry_name(const char* name);

}  // namespace nfsguard::ops
