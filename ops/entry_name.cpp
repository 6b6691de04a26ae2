#include "ops/entry_name.hpp"

#include <climits>
#include <cstring>

namespace nfsguard::ops {

Result<void> check_entry_name(const char* name) {
    if (name == nullptr || name[0] == '\0') return Errno{EINVAL};
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) return Errno{EINVAL};
    if (std::strchr(name, '/') != nullptr) return Errno{EINVAL};
    if (std::strlen(name) > NAME_MAX) return Errno{ENAMETOOLONG};
    return {};
}

}  // namespace nfsguard::ops
