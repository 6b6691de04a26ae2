#include "fs/doctor/doctor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fs/daemon/command_output.hpp"
#include "fs/daemon/paths.hpp"
#include "fs/doctor/rules.hpp"
#include "fs/stats/stats.hpp"
#include "fs/stats/stats_json.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::fs::doctor {
namespace {

constexpr auto kCommandLimit = std::chrono::seconds(10);

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

double seconds_of(const struct timespec& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// A file made in `dir` and removed again: the server's clock (the new
// file's ctime, which no client sets) against ours, and an fcntl lock on it.
struct Probe {
    std::optional<double> server_ahead;
    int lock_error = EACCES;
};
Probe probe_in(const std::string& dir) {
    Probe p;
    const std::string name = dir + "/.nfsguard-doctor." + std::to_string(::getpid());
    struct timespec before, after;
    ::clock_gettime(CLOCK_REALTIME, &before);
    ops::UniqueFd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ::clock_gettime(CLOCK_REALTIME, &after);
    if (!fd.valid()) {
        p.lock_error = errno;
        return p;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0)
        p.server_ahead = seconds_of(st.st_ctim) - (seconds_of(before) + seconds_of(after)) / 2;
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    p.lock_error = ::fcntl(fd.get(), F_SETLK, &lock) == 0 ? 0 : errno;
    ::unlink(name.c_str());
    return p;
}

// The mount point as it is with `stacked` mounts taken off it, in a mount
// namespace of a child of its own (nothing is unmounted for anyone else).
std::optional<BareMountPoint> bare_mount_point(const std::string& mount_point, int stacked) {
    int fds[2];
    if (mount_point == "/" || ::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    ops::UniqueFd read_end(fds[0]), write_end(fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            ::_exit(1);
        for (int i = 0; i < stacked; ++i)
            if (::umount2(mount_point.c_str(), MNT_DETACH) != 0) ::_exit(1);
        BareMountPoint bare;
        struct stat st {};
        if (::stat(mount_point.c_str(), &st) != 0) ::_exit(1);
        bare.mode = st.st_mode;
        bare.uid = st.st_uid;
        if (DIR* d = ::opendir(mount_point.c_str())) {
            while (struct dirent* e = ::readdir(d))
                if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
                    ++bare.entries;
            ::closedir(d);
        }
        const bool sent = ::write(write_end.get(), &bare, sizeof bare) == sizeof bare;
        ::_exit(sent ? 0 : 1);
    }
    write_end.reset();
    BareMountPoint bare;
    const bool got = ::read(read_end.get(), &bare, sizeof bare) == sizeof bare;
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!got) return std::nullopt;
    return bare;
}

// What nfsguard's stats file and command line say of it.
void read_guard_state(const std::string& run_dir, const std::string& mount_point, Guard& guard,
                      std::optional<double>& skew) {
    JsonValue stats;
    if (!parse_json(read_file(stats_path(run_dir, mount_point, ".json")), stats)) return;
    if (const JsonValue* a = stats.member("backing_attached")) guard.attached = a->text == "true";
    if (const JsonValue* s = stats.member("clock_skew_seconds"); s && s->text != "null")
        skew = s->number();
    const JsonValue* pid = stats.member("pid");
    if (pid == nullptr) return;
    std::string cmdline = read_file("/proc/" + pid->text + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ',');
    std::istringstream options(cmdline);
    for (std::string o; std::getline(options, o, ',');)
        if (o.rfind("cache=", 0) == 0) guard.cache_mode = o.substr(6);
    if (guard.cache_mode.empty()) guard.cache_mode = "shared";  // the default
}

// Its systemd unit, if systemd runs this host; `nfs`: the NFS mount below.
void read_unit_state(const std::string& mount_point, const MountEntry* nfs, Guard& guard) {
    struct stat st {};
    if (::stat("/run/systemd/system", &st) != 0) return;
    auto escaped = output_of({"systemd-escape", "--path", mount_point}, kCommandLimit);
    if (!escaped) return;
    guard.unit = "nfsguard@" + trimmed(*escaped) + ".service";
    auto enabled = output_of({"systemctl", "is-enabled", *guard.unit}, kCommandLimit);
    guard.unit_enabled = enabled && trimmed(*enabled) == "enabled";
    auto units = [&](const char* property, std::vector<std::string>& into) {
        if (auto v = output_of({"systemctl", "show", "-p", property, "--value", *guard.unit},
                               kCommandLimit)) {
            std::istringstream words(*v);
            for (std::string w; words >> w;) into.push_back(w);
        }
    };
    units("Before", guard.unit_before);
    units("After", guard.unit_after);
    if (nfs != nullptr)
        if (auto unit = output_of({"systemd-escape", "--path", "--suffix=mount", nfs->mount_point},
                                  kCommandLimit))
            guard.nfs_mount_unit = trimmed(*unit);
    auto instance = output_of(
        {"systemctl", "show", "-p", "LoadState", "--value", "postfix@-.service"}, kCommandLimit);
    guard.postfix_instance_unit = instance && trimmed(*instance) == "loaded";
}

std::string usage() {
    return "usage: nfsguard doctor [--json] [--run-dir DIR] [PATH]\n"
           "Checks the NFS mount, nfsguard, and Postfix and Dovecot on PATH (default\n"
           "/var/mail): one line per finding, ok, warn or fail, with the fix. Exit status\n"
           "0: all ok; 1: warnings; 2: failures. Makes one file in PATH and removes it.\n";
}

}  // namespace

int run_doctor(int argc, const char* const* argv) {
    bool json = false;
    std::string run_dir = "/run/nfsguard", path = "/var/mail";
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") {
            json = true;
        } else if (a == "--run-dir" && i + 1 < argc) {
            run_dir = argv[++i];
        } else if (a == "-h" || a == "--help") {
            std::fputs(usage().c_str(), stdout);
            return 0;
        } else if (!a.empty() && a[0] != '-') {
            path = a;
        } else {
            std::fputs(usage().c_str(), stderr);
            return 2;
        }
    }
    path = absolute_path(path);
    Report report;
    const auto mounts = current_mounts();
    const MountEntry* top = mount_of(mounts, path);
    Guard guard;
    guard.mounted = top != nullptr && top->is_nfsguard();
    // The NFS mount below nfsguard: on the same path (the one nfsguard is
    // mounted on) or on its backing path.
    const MountEntry* nfs = top;
    if (guard.mounted)
        nfs = top->source == top->mount_point ? parent_of(mounts, *top)
                                              : mount_of(mounts, absolute_path(top->source));
    if (nfs != nullptr && !nfs->is_nfs()) nfs = nullptr;
    check_nfs_mount(nfs, path, report);

    std::optional<double> skew;
    if (guard.mounted) read_guard_state(run_dir, top->mount_point, guard, skew);
    const Probe probe = probe_in(path);
    if (!skew) skew = probe.server_ahead;
    check_clock_skew(skew, report);
    check_lock(probe.lock_error, report);

    if (top != nullptr && (top->is_nfsguard() || top->is_nfs())) {
        int stacked = 0;
        for (const auto& m : mounts)
            if (m.mount_point == top->mount_point && (m.is_nfs() || m.is_nfsguard())) ++stacked;
        check_bare_mount_point(top->mount_point, bare_mount_point(top->mount_point, stacked),
                               report);
        read_unit_state(top->mount_point, nfs, guard);
    }
    guard.postfix_installed =
        output_of({"postconf", "-h", "mail_version"}, kCommandLimit).has_value();
    guard.dovecot_installed =
        output_of({"doveconf", "-h", "mail_location"}, kCommandLimit).has_value();
    check_nfsguard(guard, report);

    if (auto postconf = output_of(
            {"postconf", "queue_directory", "mailbox_delivery_lock", "virtual_mailbox_lock"},
            kCommandLimit)) {
        Settings settings = parse_settings(*postconf);
        const MountEntry* queue = mount_of(mounts, absolute_path(settings["queue_directory"]));
        check_postfix(settings, queue ? queue->fstype : "", report);
    }
    if (guard.dovecot_installed) {
        Settings settings;
        for (const char* name :
             {"mmap_disable", "mail_fsync", "mail_nfs_storage", "mail_nfs_index", "lock_method"})
            if (auto v = output_of({"doveconf", name}, kCommandLimit))
                settings.merge(parse_settings(*v));
        check_dovecot(settings, report);
    }
    std::fputs((json ? report.json(path) : report.text()).c_str(), stdout);
    return report.exit_status();
}

}  // namespace nfsguard::fs::doctor
