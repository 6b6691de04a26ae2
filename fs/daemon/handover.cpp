#include "fs/daemon/handover.hpp"

#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "fs/filesystem.hpp"
#include "ops/lease_file.hpp"
#include "ops/object_ops.hpp"

namespace nfsguard::fs {
namespace {

// Bumped whenever the layout changes: a process never takes up a handover
// it cannot read (it starts afresh instead).
constexpr uint32_t kRecordMagic = 0x6e66'6701;    // "nfg" 1
constexpr uint32_t kHandoverMagic = 0x6e66'6801;  // "nfh" 1

class Writer {
  public:
    template <typename T>
    void put(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const char*>(&v);
        bytes_.insert(bytes_.end(), p, p + sizeof v);
    }
    void put_bytes(const void* data, size_t n) {
        put<uint64_t>(n);
        const auto* p = static_cast<const char*>(data);
        bytes_.insert(bytes_.end(), p, p + n);
    }
    void put_string(const std::string& s) { put_bytes(s.data(), s.size()); }
    const std::vector<char>& bytes() const { return bytes_; }

  private:
    std::vector<char> bytes_;
};

class Reader {
  public:
    explicit Reader(std::vector<char> bytes) : bytes_(std::move(bytes)) {}
    template <typename T>
    T get() {
        T v{};
        if (pos_ + sizeof v > bytes_.size()) {
            ok_ = false;
            return v;
        }
        std::memcpy(&v, bytes_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    std::vector<char> get_bytes() {
        const auto n = get<uint64_t>();
        if (!ok_ || n > bytes_.size() - pos_) {
            ok_ = false;
            return {};
        }
        std::vector<char> out(bytes_.begin() + static_cast<ptrdiff_t>(pos_),
                              bytes_.begin() + static_cast<ptrdiff_t>(pos_ + n));
        pos_ += n;
        return out;
    }
    std::string get_string() {
        auto b = get_bytes();
        return std::string(b.begin(), b.end());
    }
    // A count of items that each take at least `min_size` bytes.
    uint64_t get_count(size_t min_size) {
        const auto n = get<uint64_t>();
        if (n > (bytes_.size() - pos_) / std::max<size_t>(min_size, 1)) ok_ = false;
        return ok_ ? n : 0;
    }
    bool ok() const { return ok_; }
    bool more() const { return pos_ < bytes_.size(); }

  private:
    std::vector<char> bytes_;
    size_t pos_ = 0;
    bool ok_ = true;
};

void put_record(Writer& w, const ConnectionRecord& r) {
    w.put(kRecordMagic);
    w.put(r.epoch);
    w.put(r.planned_restarts);
    w.put(r.crashes);
    w.put_string(r.mountpoint);
    w.put_string(r.backing);
    w.put_bytes(r.init_request.data(), r.init_request.size());
}

std::optional<ConnectionRecord> get_record(Reader& in) {
    if (in.get<uint32_t>() != kRecordMagic) return std::nullopt;
    ConnectionRecord r;
    r.epoch = in.get<uint32_t>();
    r.planned_restarts = in.get<uint64_t>();
    r.crashes = in.get<uint64_t>();
    r.mountpoint = in.get_string();
    r.backing = in.get_string();
    r.init_request = in.get_bytes();
    if (!in.ok()) return std::nullopt;
    return r;
}

bool write_all(int fd, const std::vector<char>& bytes) {
    if (::ftruncate(fd, 0) != 0) return false;
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n =
            ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

std::optional<std::vector<char>> read_all(int fd) {
    std::vector<char> bytes;
    char chunk[65536];
    for (off_t off = 0;;) {
        const ssize_t n = ::pread(fd, chunk, sizeof chunk, off);
        if (n < 0) return std::nullopt;
        if (n == 0) return bytes;
        bytes.insert(bytes.end(), chunk, chunk + n);
        off += n;
    }
}

ops::UniqueFd new_memfd(const char* name, const std::vector<char>& bytes) {
    ops::UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd.valid() || !write_all(fd.get(), bytes)) return {};
    return fd;
}

}  // namespace

// The record file ends with left_drained, added after its first format: a
// reader of that format ignores it, and a file of that format reads as not
// left drained. (A handover holds no such byte: it is a restart in place.)
ops::UniqueFd new_record_file(const ConnectionRecord& record) {
    Writer w;
    put_record(w, record);
    w.put<uint8_t>(record.left_drained ? 1 : 0);
    return new_memfd("nfsguard-connection", w.bytes());
}

bool write_record(int fd, const ConnectionRecord& record) {
    Writer w;
    put_record(w, record);
    w.put<uint8_t>(record.left_drained ? 1 : 0);
    return write_all(fd, w.bytes());
}

std::optional<ConnectionRecord> read_record(int fd) {
    auto bytes = read_all(fd);
    if (!bytes) return std::nullopt;
    Reader in(std::move(*bytes));
    auto record = get_record(in);
    if (record && in.more()) record->left_drained = in.get<uint8_t>() != 0;
    return record;
}

namespace {

// Files open in a unit before the restart live on under its lease taken up
// (or answer EIO when it was not: another host may have the unit by now).
void tie_open_files_to_units(Filesystem& fs) {
    if (!fs.ownership) return;
    std::unordered_map<int, std::string> unit_of_fd;
    for (const auto& e : fs.inodes.entries()) {
        if (e.open_fds.empty()) continue;
        Inode* inode = fs.inodes.find(e.id);
        auto path = inode ? fs.inodes.path_of(*inode) : std::nullopt;
        auto place = path && !path->empty()
                         ? fs.ownership->config().pattern.place_of(path->substr(1))
                         : std::nullopt;
        if (!place) continue;
        for (int fd : e.open_fds) unit_of_fd[fd] = place->unit;
    }
    fs.files.for_each([&](uint64_t, OpenFile* f) {
        if (auto it = unit_of_fd.find(f->get()); it != unit_of_fd.end())
            f->tenure = fs.ownership->tenure_of(it->second);
    });
}

}  // namespace

Handover capture(const Filesystem& fs) {
    Handover h;
    h.inodes = fs.inodes.entries();
    fs.files.for_each([&](uint64_t handle, OpenFile* f) { h.files.push_back({handle, f->get()}); });
    fs.dirs.for_each([&](uint64_t handle, OpenDir* d) {
        h.dirs.push_back({handle, ::dirfd(d->dir), static_cast<int64_t>(d->offset)});
    });
    for (auto& held : fs.locks.held())
        h.locks.push_back({held.node_id, held.owner, static_cast<int32_t>(held.state.pid),
                           held.state.handles, held.state.fd->get(), held.state.kept_as});
    if (fs.ownership)
        for (const auto& lease : fs.ownership->leases()) h.leases.push_back({lease.unit, lease.fd});
    return h;
}

std::vector<int> descriptors(const Handover& h) {
    std::vector<int> fds{h.fuse_fd, h.record_fd, h.root_fd, h.mirror_fd};
    for (const auto& f : h.files) fds.push_back(f.fd);
    for (const auto& d : h.dirs) fds.push_back(d.fd);
    for (const auto& l : h.locks) fds.push_back(l.fd);
    for (const auto& l : h.leases) fds.push_back(l.fd);
    std::erase_if(fds, [](int fd) { return fd < 0; });  // a dead handle's
    return fds;
}

ops::UniqueFd write_handover(const Handover& h) {
    Writer w;
    w.put(kHandoverMagic);
    w.put<int32_t>(h.fuse_fd);
    w.put<int32_t>(h.record_fd);
    w.put<int32_t>(h.root_fd);
    w.put<int32_t>(h.mirror_fd);
    put_record(w, h.connection);
    w.put<uint64_t>(h.inodes.size());
    for (const auto& e : h.inodes) {
        w.put<uint64_t>(e.id);
        w.put<uint64_t>(e.dev);
        w.put<uint64_t>(e.ino);
        w.put<uint32_t>(e.type);
        w.put<uint64_t>(e.nlookup);
        w.put<uint8_t>(e.in_index ? 1 : 0);
        w.put<uint64_t>(e.aliases.size());
        for (const auto& [parent, name] : e.aliases) {
            w.put<uint64_t>(parent);
            w.put_string(name);
        }
        w.put<uint64_t>(e.open_fds.size());
        for (int fd : e.open_fds) w.put<int32_t>(fd);
    }
    w.put<uint64_t>(h.files.size());
    for (const auto& f : h.files) {
        w.put<uint64_t>(f.handle);
        w.put<int32_t>(f.fd);
    }
    w.put<uint64_t>(h.dirs.size());
    for (const auto& d : h.dirs) {
        w.put<uint64_t>(d.handle);
        w.put<int32_t>(d.fd);
        w.put<int64_t>(d.offset);
    }
    w.put<uint64_t>(h.locks.size());
    for (const auto& l : h.locks) {
        w.put<uint64_t>(l.node_id);
        w.put<uint64_t>(l.owner);
        w.put<int32_t>(l.pid);
        w.put<uint64_t>(l.handles.size());
        for (uint64_t handle : l.handles) w.put<uint64_t>(handle);
        w.put<int32_t>(l.fd);
        w.put_string(l.kept_as);
    }
    w.put<uint64_t>(h.leases.size());
    for (const auto& l : h.leases) {
        w.put_string(l.unit);
        w.put<int32_t>(l.fd);
    }
    return new_memfd("nfsguard-handover", w.bytes());
}

std::optional<Handover> read_handover(int fd) {
    auto bytes = read_all(fd);
    if (!bytes) return std::nullopt;
    Reader in(std::move(*bytes));
    Handover h;
    if (in.get<uint32_t>() != kHandoverMagic) return std::nullopt;
    h.fuse_fd = in.get<int32_t>();
    h.record_fd = in.get<int32_t>();
    h.root_fd = in.get<int32_t>();
    h.mirror_fd = in.get<int32_t>();
    auto record = get_record(in);
    if (!record) return std::nullopt;
    h.connection = std::move(*record);
    for (uint64_t n = in.get_count(41); n > 0; --n) {
        InodeTable::Entry e;
        e.id = in.get<uint64_t>();
        e.dev = in.get<uint64_t>();
        e.ino = in.get<uint64_t>();
        e.type = in.get<uint32_t>();
        e.nlookup = in.get<uint64_t>();
        e.in_index = in.get<uint8_t>() != 0;
        for (uint64_t a = in.get_count(16); a > 0; --a) {
            const auto parent = in.get<uint64_t>();
            e.aliases.emplace_back(parent, in.get_string());
        }
        for (uint64_t f = in.get_count(4); f > 0; --f) e.open_fds.push_back(in.get<int32_t>());
        h.inodes.push_back(std::move(e));
    }
    for (uint64_t n = in.get_count(12); n > 0; --n) {
        const auto handle = in.get<uint64_t>();
        h.files.push_back({handle, in.get<int32_t>()});
    }
    for (uint64_t n = in.get_count(20); n > 0; --n) {
        const auto handle = in.get<uint64_t>();
        const auto dfd = in.get<int32_t>();
        h.dirs.push_back({handle, dfd, in.get<int64_t>()});
    }
    for (uint64_t n = in.get_count(32); n > 0; --n) {
        Handover::Lock l{};
        l.node_id = in.get<uint64_t>();
        l.owner = in.get<uint64_t>();
        l.pid = in.get<int32_t>();
        for (uint64_t k = in.get_count(8); k > 0; --k) l.handles.push_back(in.get<uint64_t>());
        l.fd = in.get<int32_t>();
        l.kept_as = in.get_string();
        h.locks.push_back(std::move(l));
    }
    // Not in a handover of a version before ownership.
    for (uint64_t n = in.more() ? in.get_count(8) : 0; n > 0; --n) {
        std::string unit = in.get_string();
        h.leases.push_back({std::move(unit), in.get<int32_t>()});
    }
    if (!in.ok()) return std::nullopt;
    return h;
}

size_t restore(Filesystem& fs, const Handover& h) {
    size_t failed = fs.inodes.restore(h.inodes);
    std::unordered_map<int, ops::SharedFd> file_fds;
    for (const auto& f : h.files) {
        auto file = std::make_unique<OpenFile>(ops::UniqueFd(f.fd));
        file_fds[f.fd] = file->fd;
        if (!fs.files.place(f.handle, std::move(file))) ++failed;
    }
    fs.files.done_placing();
    for (const auto& e : h.inodes) {
        Inode* inode = fs.inodes.find(e.id);
        if (inode == nullptr) continue;
        for (int fd : e.open_fds)
            if (auto it = file_fds.find(fd); it != file_fds.end())
                fs.inodes.opened(*inode, it->second);
    }
    for (const auto& d : h.dirs) {
        DIR* stream = ::fdopendir(d.fd);
        if (stream == nullptr) {
            ::close(d.fd);
            ++failed;
            continue;
        }
        auto dir = std::make_unique<OpenDir>(stream);
        // The old stream read ahead of what it gave: its descriptor's
        // position is not the listing's.
        ::seekdir(stream, d.offset);
        dir->offset = d.offset;
        if (!fs.dirs.place(d.handle, std::move(dir))) ++failed;
    }
    fs.dirs.done_placing();
    for (const auto& l : h.locks) {
        Inode* inode = fs.inodes.find(l.node_id);
        if (inode == nullptr) {
            ::close(l.fd);  // its locks go: nothing could reach them now
            ++failed;
            continue;
        }
        fs.locks.adopt(
            *inode, l.owner,
            LockOwners::Owner{ops::share(ops::UniqueFd(l.fd)), l.pid, l.handles, l.kept_as});
    }
    for (const auto& l : h.leases) {
        if (fs.ownership)
            fs.ownership->adopt(l.unit, ops::UniqueFd(l.fd));
        else
            ::close(l.fd);  // ownership is off now: the units go
    }
    tie_open_files_to_units(fs);
    return failed;
}

size_t take_up_mirror(Filesystem& fs, const TableMirror::Contents& mirrored,
                      std::map<std::string, ops::UniqueFd>& kept_fds) {
    std::vector<InodeTable::Entry> entries;
    for (const auto& n : mirrored.nodes) {
        InodeTable::Entry e{n.id, n.dev, n.ino, n.type, n.nlookup, n.in_index, {}, {}};
        if (n.parent != 0) e.aliases.emplace_back(n.parent, n.name);
        entries.push_back(std::move(e));
    }
    // A torn record's id stays taken for good: nameless, never forgotten.
    for (uint64_t id : mirrored.torn_nodes)
        entries.push_back(InodeTable::Entry{id, 0, 0, 0, UINT64_MAX / 2, false, {}, {}});
    size_t failed = fs.inodes.restore(entries) + mirrored.torn_nodes.size();

    auto dead = [] { return std::make_unique<OpenFile>(ops::UniqueFd()); };
    // open_by_handle_at wants a descriptor on the filesystem that is not O_PATH.
    auto mount_fd =
        ops::reopen(fs.sys, ops::Located{fs.inodes.root_fd()->get(), S_IFDIR, -1, nullptr},
                    O_RDONLY | O_DIRECTORY);
    for (const auto& f : mirrored.files) {
        Inode* inode = fs.inodes.find(f.node);
        if (f.kind == TableMirror::Kind::dir) {
            // The kernel's next readdir names its position: a cookie of the
            // backing's, good in any stream of the directory.
            DIR* stream = nullptr;
            if (inode != nullptr) {
                auto dir = fs.inodes.directory_fd(*inode);
                auto fd =
                    dir ? ops::reopen(fs.sys, ops::Located{(*dir)->get(), S_IFDIR, -1, nullptr},
                                      O_RDONLY | O_DIRECTORY)
                        : ops::Result<ops::UniqueFd>(ops::Errno{dir.error()});
                if (fd && (stream = ::fdopendir(fd->get())) != nullptr) fd->release();
            }
            if (stream == nullptr) ++failed;  // lists as empty
            fs.dirs.place(f.handle, std::make_unique<OpenDir>(stream));
            continue;
        }
        if (f.lock_lost) {
            // Its lock owner was not in the store: the server let the lock
            // go with the dead process, and its holder must not write on.
            spdlog::warn(
                "an open file of the crashed process was locked by an owner the store did not "
                "keep: its lock is gone, and its handle answers EIO");
            fs.files.place(f.handle, std::make_unique<OpenFile>(ops::UniqueFd(), EIO));
            ++failed;
            continue;
        }
        std::unique_ptr<OpenFile> file;
        std::string why_not;
        if (inode != nullptr) {
            const int flags = f.flags & ~O_TRUNC;
            const auto path = fs.inodes.path_of(inode->dev, inode->ino);
            auto held = fs.inodes.locate(*inode, nullptr, InodeTable::Reach::by_name);
            auto fd = held ? ops::reopen(fs.sys, held->located(), flags)
                           : ops::Result<ops::UniqueFd>(ops::Errno{held.error()});
            if (!fd)
                why_not = fmt::format("{}: {}", path ? "/" + *path : "no name",
                                      std::strerror(fd.error()));
            // No name left: the descriptor kept for it (fs/kept_nameless.hpp).
            auto kept = kept_fds.find(KeptNameless::name_of(f.node));
            if (!fd && kept != kept_fds.end() && kept->second.valid()) {
                fd = ops::reopen(fs.sys, ops::Located{kept->second.get(), inode->type, -1, nullptr},
                                 flags);
                if (fd) fs.nameless.taken_up(f.node);
            }
            // Renamed since (a Maildir message whose flags changed): its handle.
            if (!fd && !f.backing_handle.empty() && mount_fd)
                fd = fs.sys.open_by_handle(mount_fd->get(), f.backing_handle, flags);
            if (fd) {
                file = std::make_unique<OpenFile>(std::move(*fd));
                fs.inodes.opened(*inode, file->fd);
            }
        }
        if (!file) {
            spdlog::warn(
                "an open file of the crashed process cannot be opened again ({}): its "
                "handle answers ESTALE",
                inode == nullptr ? std::string("node unknown") : why_not);
            file = dead();
            ++failed;
        }
        fs.files.place(f.handle, std::move(file));
    }
    for (const auto& torn : mirrored.torn_handles) {
        if (torn.kind == TableMirror::Kind::dir)
            fs.dirs.place(torn.handle, std::make_unique<OpenDir>(nullptr));
        else
            fs.files.place(torn.handle, dead());
    }
    failed += mirrored.torn_handles.size();
    fs.files.done_placing();
    fs.dirs.done_placing();

    for (auto& [name, fd] : kept_fds) {
        uint64_t node = 0, owner = 0, handle = 0;
        if (name.starts_with("nameless-")) {
            uint64_t id = 0;
            if (KeptNameless::parse(name, id) && fs.nameless.taken(id)) fd.reset();  // still stored
            continue;
        }
        if (name.starts_with(kKeptLeasePrefix)) {
            auto unit = ops::unit_of_lease_file(
                std::string_view(name).substr(std::string_view(kKeptLeasePrefix).size()));
            if (fs.ownership && unit && fd.valid()) fs.ownership->adopt(*unit, std::move(fd));
            continue;
        }
        if (!LockOwners::parse_kept_name(name, node, owner, handle) || !fd.valid()) continue;
        if (Inode* inode = fs.inodes.find(node))
            fs.locks.adopt(*inode, owner,
                           LockOwners::Owner{ops::share(std::move(fd)), 0, {handle}, name});
        else
            fs.locks.adopt_kept(name, std::move(fd));
    }
    tie_open_files_to_units(fs);
    return failed;
}

}  // namespace nfsguard::fs
