#include "tests/faultfs/control_server.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tests/faultfs/control_command.hpp"

namespace nfsguard::faultfs {
namespace {

// The whole of `text`, unless the peer goes away.
bool send_all(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// Removes `path` only if it is a socket nobody answers on: never someone
// else's file, never a running faultfs's socket.
void remove_stale_socket(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
    ops::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return;
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == -1 &&
        errno == ECONNREFUSED)
        ::unlink(path.c_str());
}

}  // namespace

ControlServer::~ControlServer() {
    stop();
}

ops::Result<void> ControlServer::listen(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return ops::Errno{ENAMETOOLONG};
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    ops::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return ops::last_errno();
    remove_stale_socket(path, addr);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == -1)
        return ops::last_errno();
    path_ = path;
    if (::chmod(path.c_str(), 0600) == -1 || ::listen(fd.get(), 8) == -1) {
        auto err = ops::last_errno();
        ::unlink(path.c_str());
        path_.clear();
        return err;
    }
    ops::UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop.valid()) return ops::last_errno();
    listen_fd_ = std::move(fd);
    stop_fd_ = std::move(stop);
    return {};
}

ops::Result<void> ControlServer::start() {
    if (!listen_fd_.valid() || thread_.joinable()) return {};
    try {
        thread_ = std::thread([this] { serve(); });
    } catch (const std::system_error& e) {
        return ops::Errno{e.code().value()};
    }
    return {};
}

void ControlServer::stop() {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        if (::write(stop_fd_.get(), &one, sizeof one) != sizeof one)
            spdlog::error("cannot stop the control thread: {}", std::strerror(errno));
        thread_.join();
    }
    if (!path_.empty()) {
        ::unlink(path_.c_str());
        path_.clear();
    }
    listen_fd_.reset();
}

bool ControlServer::wait_readable(int fd, std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    for (;;) {
        int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return false;
        if (fds[1].revents != 0) return false;
        return true;  // readable, hung up, or timed out: the read tells which
    }
}

void ControlServer::serve() {
    for (;;) {
        if (!wait_readable(listen_fd_.get(), std::chrono::milliseconds(-1))) return;
        int client = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client == -1) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                spdlog::warn("control socket: accept: {}", std::strerror(errno));
            continue;
        }
        serve_client(client);
        ::close(client);
    }
}

void ControlServer::serve_client(int fd) {
    std::string pending;
    char buf[512];
    for (;;) {
        if (!wait_readable(fd, kIdleTimeout)) return;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
            // EAGAIN after poll said "ready" means the wait timed out.
            if (errno == EAGAIN) return;
            continue;
        }
        if (n <= 0) return;
        pending.append(buf, static_cast<size_t>(n));
        for (size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
            std::string line = pending.substr(0, eol);
            pending.erase(0, eol + 1);
            std::string answer = execute_command(plan_, line);
            spdlog::info("control: {} -> {}", line, answer);
            if (!send_all(fd, answer + "\n")) return;
        }
        if (pending.size() > kMaxLine) {
            send_all(fd, "error line too long\n");
            return;
        }
    }
}

}  // namespace nfsguard::faultfs
