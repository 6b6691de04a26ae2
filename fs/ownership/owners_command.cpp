// nfsguard owners [--json] MOUNTPOINT: which host serves each unit, read
// from the lease files on the export, so that any host answers for all.
#include "fs/ownership/owners_command.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <sstream>
#include <vector>

#include "fs/daemon/paths.hpp"
#include "fs/doctor/mount_table.hpp"
#include "fs/ownership/unit_pattern.hpp"
#include "ops/lease_file.hpp"
#include "ops/syscalls.hpp"

namespace nfsguard::fs {
namespace {

constexpr const char* kUsage = "usage: nfsguard owners [--json] MOUNTPOINT\n";

struct Owner {
    std::string unit;
    ops::LeaseRecord holder;
    std::optional<int64_t> idle;  // seconds, as the holder's last heartbeat said
};

std::string json_text(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out;
}

std::vector<std::string> names_in(ops::Syscalls& sys, int dir) {
    std::vector<std::string> names;
    (void)sys.read_directory(dir, [&](const char* name) {
        names.emplace_back(name);
        return true;
    });
    std::sort(names.begin(), names.end());
    return names;
}

// The value of word "key=value" in `line`.
std::optional<std::string> word(const std::string& line, const std::string& key) {
    std::istringstream words(line);
    std::string w;
    while (words >> w)
        if (w.starts_with(key + "=")) return w.substr(key.size() + 1);
    return std::nullopt;
}

// Every held unit below the backing root `root`, with the idle times the
// hosts' heartbeats report; prints them, returns the exit status.
int print_owners(int root, bool json) {
    ops::Syscalls sys;
    const std::string base = std::string(kPrivateDir);
    auto owners_dir = sys.openat(root, (base + "/owners").c_str(), O_RDONLY | O_DIRECTORY);
    if (!owners_dir) {
        if (owners_dir.error() != ENOENT) {
            std::fprintf(stderr, "nfsguard: cannot read %s/owners: %s\n", base.c_str(),
                         std::strerror(owners_dir.error()));
            return 1;
        }
    }
    const int64_t now = static_cast<int64_t>(::time(nullptr));
    // (host, unit) -> idle seconds now, from each live host's heartbeat.
    std::map<std::pair<std::string, std::string>, int64_t> idle;
    std::vector<ops::LeaseRecord> hosts;
    if (auto hosts_dir = sys.openat(root, (base + "/hosts").c_str(), O_RDONLY | O_DIRECTORY)) {
        for (const auto& name : names_in(sys, hosts_dir->get())) {
            auto held = ops::lease_holder(sys, hosts_dir->get(), name);
            if (!held || !*held) continue;
            hosts.push_back((*held)->holder);
            const int64_t beat = std::stoll(word((*held)->holder.rest, "beat").value_or("0"));
            std::istringstream lines((*held)->text);
            std::string line;
            std::getline(lines, line);
            while (std::getline(lines, line)) {
                auto unit = word(line, "unit");
                auto idle_s = word(line, "idle");
                auto unit_name = unit ? ops::unit_of_lease_file(*unit) : std::nullopt;
                if (!unit_name || !idle_s) continue;
                const int64_t i = std::stoll(*idle_s);
                idle[{(*held)->holder.host, *unit_name}] = i == 0 ? 0 : i + (now - beat);
            }
        }
    }
    std::vector<Owner> owners;
    if (owners_dir) {
        for (const auto& name : names_in(sys, owners_dir->get())) {
            auto unit = ops::unit_of_lease_file(name);
            auto held = ops::lease_holder(sys, owners_dir->get(), name);
            if (!unit || !held || !*held) continue;
            Owner o{*unit, (*held)->holder, std::nullopt};
            if (auto it = idle.find({o.holder.host, o.unit}); it != idle.end()) o.idle = it->second;
            owners.push_back(std::move(o));
        }
    }
    if (json) {
        std::string out = "{\"units\":[";
        for (size_t i = 0; i < owners.size(); ++i) {
            const Owner& o = owners[i];
            out += fmt::format(
                "{}{{\"unit\":\"{}\",\"host\":\"{}\",\"pid\":{},\"since_unix\":{},"
                "\"idle_seconds\":{}}}",
                i ? "," : "", json_text(o.unit), json_text(o.holder.host), o.holder.pid,
                o.holder.since, o.idle ? std::to_string(*o.idle) : "null");
        }
        out += "],\"hosts\":[";
        for (size_t i = 0; i < hosts.size(); ++i)
            out += fmt::format("{}{{\"host\":\"{}\",\"pid\":{},\"heartbeat_unix\":{}}}",
                               i ? "," : "", json_text(hosts[i].host), hosts[i].pid,
                               word(hosts[i].rest, "beat").value_or("null"));
        out += "]}\n";
        std::fputs(out.c_str(), stdout);
        return 0;
    }
    std::printf("%-32s %-20s %8s %-20s %8s\n", "unit", "host", "pid", "since", "idle");
    for (const Owner& o : owners) {
        char since[32] = "?";
        const time_t t = static_cast<time_t>(o.holder.since);
        struct tm tm {};
        if (::localtime_r(&t, &tm) != nullptr) std::strftime(since, sizeof since, "%F %T", &tm);
        std::printf("%-32s %-20s %8lld %-20s %8s\n", o.unit.c_str(), o.holder.host.c_str(),
                    static_cast<long long>(o.holder.pid), since,
                    o.idle ? fmt::format("{} s", *o.idle).c_str() : "?");
    }
    std::printf("%zu unit(s) held by %zu host(s) with a live heartbeat\n", owners.size(),
                hosts.size());
    return 0;
}

}  // namespace

int run_owners(int argc, const char* const* argv) {
    bool json = false;
    std::string mountpoint;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--json") {
            json = true;
        } else if (mountpoint.empty() && !arg.starts_with("-")) {
            mountpoint = arg;
        } else {
            std::fputs(kUsage, stderr);
            return 2;
        }
    }
    if (mountpoint.empty()) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    mountpoint = absolute_path(mountpoint);
    const auto mounts = doctor::current_mounts();
    const doctor::MountEntry* top = doctor::mount_of(mounts, mountpoint);
    if (top == nullptr || !top->is_nfsguard() || top->mount_point != mountpoint) {
        std::fprintf(stderr, "nfsguard: %s is no nfsguard mount\n", mountpoint.c_str());
        return 1;
    }
    // Read in a child of its own mount namespace, where the nfsguard
    // mounts that cover the backing (mounted over it) are taken off: nobody
    // else's view changes.
    const std::string backing = top->source;
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        const bool own_view = ::unshare(CLONE_NEWNS) == 0 &&
                              ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
        for (int i = 0; own_view && i < 8; ++i) {
            const auto now_mounts = doctor::current_mounts();
            const doctor::MountEntry* over = doctor::mount_of(now_mounts, backing);
            if (over == nullptr || !over->is_nfsguard() || over->mount_point != backing) break;
            if (::umount2(backing.c_str(), MNT_DETACH) != 0) break;
        }
        ops::UniqueFd root(::open(backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root.valid()) {
            std::fprintf(stderr, "nfsguard: cannot open the backing %s: %s\n", backing.c_str(),
                         std::strerror(errno));
            ::_exit(1);
        }
        const int status = print_owners(root.get(), json);
        std::fflush(stdout);
        ::_exit(status);
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 1;
    return WEXITSTATUS(status);
}

}  // namespace nfsguard::fs
