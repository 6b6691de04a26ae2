#include "ops/lease_file.hpp"

#include <fcntl.h>

#include <charconv>

#include "ops/locks.hpp"

namespace nfsguard::ops {
namespace {

std::optional<int64_t> number(std::optional<std::string_view> text) {
    if (!text) return std::nullopt;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return n;
}

Result<std::string> read_whole(Syscalls& sys, int fd) {
    std::string text;
    char buf[4096];
    for (off_t at = 0;;) {
        auto n = sys.pread(fd, buf, sizeof buf, at);
        if (!n) return Errno{n.error()};
        if (*n == 0) return text;
        text.append(buf, *n);
        at += static_cast<off_t>(*n);
    }
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

std::string LeaseRecord::line() const {
    std::string s =
        "host=" + host + " pid=" + std::to_string(pid) + " since=" + std::to_string(since);
    if (!rest.empty()) s += " " + rest;
    return s;
}

std::optional<LeaseRecord> LeaseRecord::parse(std::string_view line) {
    LeaseRecord r;
    std::optional<int64_t> pid, since;
    while (!line.empty()) {
        const size_t end = line.find(' ');
        const std::string_view word = line.substr(0, end);
        line = end == std::string_view::npos ? "" : line.substr(end + 1);
        if (word.starts_with("host="))
            r.host = word.substr(5);
        else if (word.starts_with("pid="))
            pid = number(word.substr(4));
        else if (word.starts_with("since="))
            since = number(word.substr(6));
        else if (!word.empty())
            r.rest += (r.rest.empty() ? "" : " ") + std::string(word);
    }
    if (r.host.empty() || !pid || !since) return std::nullopt;
    r.pid = *pid;
    r.since = *since;
    return r;
}

std::string lease_file_name(std::string_view unit) {
    std::string name;
    for (char c : unit) {
        if (c == '%')
            name += "%25";
        else if (c == '/')
            name += "%2F";
        else if (c == ':')
            name += "%3A";  // the service manager's store refuses it in names
        else
            name += c;
    }
    return name;
}

std::optional<std::string> unit_of_lease_file(std::string_view name) {
    std::string unit;
    for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] != '%') {
            unit += name[i];
            continue;
        }
        const std::string_view code = name.substr(i + 1, 2);
        if (code == "25")
            unit += '%';
        else if (code == "2F")
            unit += '/';
        else if (code == "3A")
            unit += ':';
        else
            return std::nullopt;
        i += 2;
    }
    if (unit.empty()) return std::nullopt;
    return unit;
}

Result<UniqueFd> open_private_dir(Syscalls& sys, int root, std::string_view path) {
    auto at = sys.openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!at) return at;
    UniqueFd dir = std::move(*at);
    while (!path.empty()) {
        const size_t slash = path.find('/');
        const std::string part(path.substr(0, slash));
        path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
        // EEXIST: there already, or made by another host just now.
        if (auto made = sys.mkdirat(dir.get(), part.c_str(), 0755); !made && made.error() != EEXIST)
            return Errno{made.error()};
        auto next = sys.openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!next) return next;
        dir = std::move(*next);
    }
    return dir;
}

Result<UniqueFd> take_lease(Syscalls& sys, int dir, const std::string& name, const LeaseRecord& me,
                            std::optional<LeaseRecord>* previous) {
    auto fd = sys.openat(dir, name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (!fd) return fd;
    struct flock whole {};
    whole.l_type = F_WRLCK;
    whole.l_whence = SEEK_SET;
    if (auto locked = set_range_lock(sys, fd->get(), whole, false); !locked)
        return Errno{locked.error()};
    if (previous != nullptr) *previous = read_lease(sys, fd->get());
    if (auto written = rewrite_lease(sys, fd->get(), me.line() + "\n"); !written)
        return Errno{written.error()};
    return fd;
}

std::optional<LeaseRecord> read_lease(Syscalls& sys, int fd) {
    auto text = read_whole(sys, fd);
    return text ? LeaseRecord::parse(first_line(*text)) : std::nullopt;
}

Result<void> rewrite_lease(Syscalls& sys, int fd, std::string_view text) {
    auto n = sys.pwrite(fd, text.data(), text.size(), 0);
    if (!n) return Errno{n.error()};
    if (*n != text.size()) return Errno{EIO};
    if (auto cut = sys.ftruncate(fd, static_cast<off_t>(text.size())); !cut) return cut;
    return sys.fsync(fd, true);
}

Result<std::optional<HeldLease>> lease_holder(Syscalls& sys, int dir, const std::string& name) {
    auto fd = sys.openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC);
    if (!fd) return Errno{fd.error()};
    struct flock want {};
    want.l_type = F_WRLCK;
    want.l_whence = SEEK_SET;
    auto conflict = find_conflicting_lock(sys, fd->get(), want);
    if (!conflict) return Errno{conflict.error()};
    if (conflict->l_type == F_UNLCK) return std::optional<HeldLease>();
    auto text = read_whole(sys, fd->get());
    if (!text) return Errno{text.error()};
    auto holder = LeaseRecord::parse(first_line(*text));
    if (!holder) return std::optional<HeldLease>(HeldLease{LeaseRecord{"?", 0, 0, {}}, *text});
    return std::optional<HeldLease>(HeldLease{*holder, *text});
}

}  // namespace nfsguard::ops
