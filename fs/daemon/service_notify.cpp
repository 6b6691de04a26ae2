#include "fs/daemon/service_notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "fs/daemon/command_output.hpp"

namespace nfsguard::fs {
namespace {

// A socket connected to $NOTIFY_SOCKET, or -1. Connected once, by the first
// message (at start, as root) and kept: a request thread acting as a mail
// user (ops::act_as) keeps descriptors in the store too, and may have no
// right to reach the socket's path itself.
int manager_socket() {
    static std::mutex mutex;
    static ops::UniqueFd sock;
    std::lock_guard lock(mutex);
    if (sock.valid()) return sock.get();
    const char* path = std::getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    const size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path) return -1;
    std::memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
    ops::UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s.valid() ||
        ::connect(s.get(), reinterpret_cast<const struct sockaddr*>(&addr),
                  static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + len)) != 0)
        return -1;
    sock = std::move(s);
    return sock.get();
}

// One datagram to $NOTIFY_SOCKET, with `fd` attached if it is not -1.
bool send_to_manager(const std::string& message, int fd) {
    if (!service_manager_present()) return true;
    const int sock = manager_socket();
    if (sock < 0) return false;

    struct iovec iov {
        const_cast<char*>(message.data()), message.size()
    };
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    return ::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(message.size());
}

}  // namespace

bool notify_service(const std::string& message) {
    return send_to_manager(message, -1);
}

bool service_manager_present() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    return path != nullptr && path[0] != '\0';
}

namespace {

// The names in the store now. It takes $FDSTORE descriptors at most (its
// FileDescriptorStoreMax=: set by systemd 254 and later, and by the unit)
// and drops any beyond without a word, so the count is kept here.
std::mutex stored_mutex;
std::set<std::string> stored_names;

size_t store_limit() {
    const char* limit = std::getenv("FDSTORE");
    return limit != nullptr && *limit != '\0' ? std::strtoul(limit, nullptr, 10) : SIZE_MAX;
}

}  // namespace

bool store_descriptor(const std::string& name, int fd) {
    if (!service_manager_present()) return false;
    {
        std::lock_guard lock(stored_mutex);
        if (stored_names.count(name) == 0 && stored_names.size() >= store_limit()) return false;
    }
    if (!send_to_manager("FDSTORE=1\nFDNAME=" + name, fd)) return false;
    std::lock_guard lock(stored_mutex);
    stored_names.insert(name);
    return true;
}

bool unstore_descriptor(const std::string& name) {
    {
        std::lock_guard lock(stored_mutex);
        stored_names.erase(name);
    }
    return service_manager_present() && send_to_manager("FDSTOREREMOVE=1\nFDNAME=" + name, -1);
}

bool restart_queued() {
    const char* unit = std::getenv("NFSGUARD_UNIT");
    if (!service_manager_present() || unit == nullptr || unit[0] == '\0') return false;
    auto jobs = output_of({"systemctl", "list-jobs", "--no-legend", "--no-pager", unit},
                          std::chrono::seconds(5));
    if (!jobs) return false;
    // Lines of: JOB UNIT TYPE STATE
    std::istringstream lines(*jobs);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string id, name, type;
        if ((fields >> id >> name >> type) && name == unit &&
            (type == "restart" || type == "try-restart"))
            return true;
    }
    return false;
}

std::map<std::string, ops::UniqueFd> take_passed_descriptors() {
    std::map<std::string, ops::UniqueFd> passed;
    const char* pid = std::getenv("LISTEN_PID");
    const char* count = std::getenv("LISTEN_FDS");
    const char* names = std::getenv("LISTEN_FDNAMES");
    const bool ours = pid != nullptr && count != nullptr && std::atol(pid) == getpid();
    std::vector<std::string> name_list;
    for (const char* p = names ? names : ""; *p != '\0';) {
        const char* colon = std::strchr(p, ':');
        name_list.emplace_back(p, colon ? colon - p : std::strlen(p));
        p = colon ? colon + 1 : p + std::strlen(p);
    }
    const int n = ours ? std::atoi(count) : 0;
    for (int i = 0; i < n; ++i) {
        const int fd = 3 + i;  // SD_LISTEN_FDS_START
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        std::string name = i < static_cast<int>(name_list.size()) ? name_list[i] : "unknown";
        passed[name] = ops::UniqueFd(fd);  // a name twice: the later one stays
        std::lock_guard lock(stored_mutex);
        stored_names.insert(name);  // still in the store
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return passed;
}

}  // namespace nfsguard::fs
