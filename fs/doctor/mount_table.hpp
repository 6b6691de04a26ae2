// The mounts a path is on, as /proc/self/mountinfo lists them: which one is
// nfsguard, which one NFS, and their options.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace nfsguard::fs::doctor {

struct MountEntry {
    int id = 0;
    int parent = 0;
    std::string mount_point;
    std::string fstype;  // "nfs", "nfs4", "fuse.nfsguard", ...
    std::string source;  // server:/export; nfsguard's backing path
    // The per-mount and the superblock options together; a flag maps to "".
    std::map<std::string, std::string> options;

    bool has(const std::string& option) const { return options.count(option) != 0; }
    std::string value(const std::string& option) const {
        auto it = options.find(option);
        return it == options.end() ? std::string() : it->second;
    }
    bool is_nfs() const { return fstype == "nfs" || fstype == "nfs4"; }
    bool is_nfsguard() const { return fstype == "fuse.nfsguard"; }
};

std::vector<MountEntry> parse_mountinfo(const std::string& text);
// This process's mounts now (/proc/self/mountinfo).
std::vector<MountEntry> current_mounts();
// The mount `path` (absolute, no symlinks) is on: the one whose mount point
// is the longest leading part of it, the top one of a stack.
const MountEntry* mount_of(const std::vector<MountEntry>& mounts, const std::string& path);
// The mount `top` is mounted on.
const MountEntry* parent_of(const std::vector<MountEntry>& mounts, const MountEntry& top);

}  // namespace nfsguard::fs::doctor
