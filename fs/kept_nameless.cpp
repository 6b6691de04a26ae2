#include "fs/kept_nameless.hpp"

#include <cinttypes>
#include <cstdio>

namespace nfsguard::fs {

std::string KeptNameless::name_of(uint64_t id) {
    char name[40];
    std::snprintf(name, sizeof name, "nameless-%" PRIx64, id);
    return name;
}

bool KeptNameless::parse(const std::string& name, uint64_t& id) {
    int end = 0;
    return std::sscanf(name.c_str(), "nameless-%" SCNx64 "%n", &id, &end) == 1 &&
           static_cast<size_t>(end) == name.size();
}

}  // namespace nfsguard::fs
