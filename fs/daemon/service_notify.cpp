#include "fs/daemon/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

bool notify_service(const std::string& message) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0') return true;
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    const size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
    ops::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return false;
    const auto addr_len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + len);
    return ::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const struct sockaddr*>(&addr),
                    addr_len) == static_cast<ssize_t>(message.size());
}

}  // namespace nfsguard::fs
