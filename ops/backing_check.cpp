#include "ops/backing_check.hpp"

#include <fcntl.h>
#include <sys/vfs.h>

#include <cstring>
#include <sstream>

#include "fmt/format.h"

namespace nfsguard::ops {
namespace {

struct NamedType {
    const char* name;
    long magic;
};
// statfs(2) f_type values (linux/magic.h).
constexpr NamedType kTypes[] = {
    {"nfs", 0x6969},       {"fuse", 0x65735546},  {"ext4", 0xEF53},        {"xfs", 0x58465342},
    {"btrfs", 0x9123683E}, {"tmpfs", 0x01021994}, {"overlay", 0x794C7630},
};

std::string type_name(long magic) {
    for (const auto& t : kTypes)
        if (t.magic == magic) return t.name;
    return fmt::format("{:#x}", static_cast<unsigned long>(magic));
}

}  // namespace

bool BackingPolicy::parse_types(const std::string& spec, std::vector<long>& out) {
    out.clear();
    if (spec == "any") return true;
    std::stringstream parts(spec);
    std::string part;
    while (std::getline(parts, part, '+')) {
        bool known = false;
        for (const auto& t : kTypes) {
            if (part == t.name) {
                out.push_back(t.magic);
                known = true;
            }
        }
        if (!known) {
            char* end = nullptr;
            long magic = std::strtol(part.c_str(), &end, 16);
            if (part.rfind("0x", 0) != 0 || end == nullptr || *end != '\0') return false;
            out.push_back(magic);
        }
    }
    return !out.empty();
}

std::string check_backing(Syscalls& sys, int rootfd, const BackingPolicy& policy) {
    auto sv = sys.fstatfs(rootfd);
    if (!sv)
        return fmt::format("statfs of the backing directory fails: {}", std::strerror(sv.error()));
    if (!policy.fs_types.empty()) {
        bool allowed = false;
        for (long t : policy.fs_types) allowed = allowed || t == static_cast<long>(sv->f_type);
        if (!allowed)
            return fmt::format("the backing directory is on {}, not on {}",
                               type_name(static_cast<long>(sv->f_type)),
                               type_name(policy.fs_types.front()));
    }
    if (!policy.sentinel.empty()) {
        auto st = sys.fstatat(rootfd, policy.sentinel.c_str(), AT_SYMLINK_NOFOLLOW);
        if (!st)
            return fmt::format("the sentinel {} is not in the backing directory: {}",
                               policy.sentinel, std::strerror(st.error()));
    }
    return {};
}

}  // namespace nfsguard::ops
