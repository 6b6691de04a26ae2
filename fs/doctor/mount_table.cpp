#include "fs/doctor/mount_table.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nfsguard::fs::doctor {
namespace {

// mountinfo writes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            const std::string octal = s.substr(i + 1, 3);
            if (octal.find_first_not_of("01234567") == std::string::npos) {
                out += static_cast<char>(std::strtol(octal.c_str(), nullptr, 8));
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

void add_options(const std::string& list, std::map<std::string, std::string>& options) {
    std::istringstream items(list);
    for (std::string item; std::getline(items, item, ',');) {
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string::npos)
            options[item] = "";
        else
            options[item.substr(0, eq)] = item.substr(eq + 1);
    }
}

bool covers(const std::string& mount_point, const std::string& path) {
    if (mount_point == "/") return true;
    return path.compare(0, mount_point.size(), mount_point) == 0 &&
           (path.size() == mount_point.size() || path[mount_point.size()] == '/');
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
    std::vector<MountEntry> mounts;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string field; fields >> field;) f.push_back(field);
        // id parent dev root mount-point mount-options [optional...] - type source super-options
        size_t dash = 6;
        while (dash < f.size() && f[dash] != "-") ++dash;
        if (f.size() < 6 || dash + 3 > f.size()) continue;
        MountEntry m;
        m.id = std::atoi(f[0].c_str());
        m.parent = std::atoi(f[1].c_str());
        m.mount_point = unescape(f[4]);
        m.fstype = f[dash + 1];
        m.source = unescape(f[dash + 2]);
        add_options(f[5], m.options);
        if (dash + 3 < f.size()) add_options(f[dash + 3], m.options);
        mounts.push_back(std::move(m));
    }
    return mounts;
}

std::vector<MountEntry> current_mounts() {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream text;
    text << in.rdbuf();
    return parse_mountinfo(text.str());
}

const MountEntry* mount_of(const std::vector<MountEntry>& mounts, const std::string& path) {
    const MountEntry* best = nullptr;
    for (const auto& m : mounts)  // later lines are mounted later: on top
        if (covers(m.mount_point, path) &&
            (best == nullptr || m.mount_point.size() >= best->mount_point.size()))
            best = &m;
    return best;
}

const MountEntry* parent_of(const std::vector<MountEntry>& mounts, const MountEntry& top) {
    for (const auto& m : mounts)
        if (m.id == top.parent) return &m;
    return nullptr;
}

}  // namespace nfsguard::fs::doctor
