#include "fs/table_mirror.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace nfsguard::fs {

struct TableMirror::Header {
    uint64_t magic;
    std::atomic<uint64_t> node_slots_used;     // one past the highest slot written
    std::atomic<uint64_t> file_slots_used[2];  // files, directories
    std::atomic<uint32_t> overflowed;
};

struct TableMirror::NodeRecord {
    std::atomic<uint64_t> seq;  // 0: never written; odd: being written
    uint8_t used;
    uint8_t in_index;
    uint16_t name_len;
    uint32_t type;
    uint64_t dev, ino, nlookup, parent;
    char name[256];
};

struct TableMirror::FileRecord {
    std::atomic<uint64_t> seq;
    uint64_t node;
    int32_t flags;
    uint8_t used;
    uint8_t handle_len;
    char handle[136];  // a struct file_handle of MAX_HANDLE_SZ
};

struct TableMirror::ReplyRecord {
    std::atomic<uint64_t> seq;
    uint64_t unique;
    uint32_t len;
    char bytes[TableMirror::kMaxReply];
};

namespace {

constexpr uint64_t kMagic = 0x6e66'6d69'7272'0001ULL;  // "nfmirr" 1
constexpr size_t kHeaderSize = 4096;
constexpr uint64_t kSlotMask = 0xffffffffU;
// In a file record's flags, a bit no open flag uses: File::lock_lost.
constexpr int32_t kLockNotKept = 1 << 30;

size_t nodes_offset() {
    return kHeaderSize;
}
size_t files_offset(size_t node_size) {
    return kHeaderSize + TableMirror::kSlots * node_size;
}
size_t replies_offset(size_t node_size, size_t file_size) {
    return files_offset(node_size) + 2 * TableMirror::kSlots * file_size;
}

template <typename Record, typename Fill>
void write_record(Record& r, Fill fill) {
    // Odd first: the exchange's acquire keeps the record's writes after it.
    const uint64_t seq = r.seq.load(std::memory_order_relaxed);
    r.seq.exchange(seq | 1, std::memory_order_acq_rel);
    fill(r);
    r.seq.store((seq | 1) + 1, std::memory_order_release);
}

}  // namespace

size_t TableMirror::total_size() {
    return replies_offset(sizeof(NodeRecord), sizeof(FileRecord)) + kReplies * sizeof(ReplyRecord);
}

TableMirror::TableMirror(ops::UniqueFd fd, void* base)
    : fd_(std::move(fd)), base_(static_cast<char*>(base)) {}

TableMirror::~TableMirror() {
    ::munmap(base_, total_size());
}

std::unique_ptr<TableMirror> TableMirror::create() {
    ops::UniqueFd fd(::memfd_create("nfsguard-tables", MFD_CLOEXEC));
    const size_t size = total_size();
    if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return nullptr;
    auto mirror = open(std::move(fd));
    return mirror;
}

std::unique_ptr<TableMirror> TableMirror::open(ops::UniqueFd fd) {
    const size_t size = total_size();
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || static_cast<size_t>(st.st_size) != size)
        return nullptr;
    // Sparse: only the pages of slots in use take memory.
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) return nullptr;
    std::unique_ptr<TableMirror> mirror(new TableMirror(std::move(fd), base));
    Header& h = mirror->header();
    if (h.magic == 0) h.magic = kMagic;  // new
    if (h.magic != kMagic) return nullptr;
    return mirror;
}

TableMirror::Header& TableMirror::header() const {
    return *reinterpret_cast<Header*>(base_);
}

TableMirror::NodeRecord& TableMirror::node_at(uint64_t slot) const {
    return reinterpret_cast<NodeRecord*>(base_ + nodes_offset())[slot];
}

TableMirror::FileRecord& TableMirror::file_at(Kind kind, uint64_t slot) const {
    const size_t region = kind == Kind::file ? 0 : kSlots;
    return reinterpret_cast<FileRecord*>(base_ + files_offset(sizeof(NodeRecord)))[region + slot];
}

bool TableMirror::slot_of(uint64_t id, uint64_t& slot) {
    slot = id & kSlotMask;
    if (slot < kSlots) return true;
    header().overflowed.store(1);
    return false;
}

bool TableMirror::overflowed() const {
    return header().overflowed.load() != 0;
}

void TableMirror::put(const Node& node) {
    uint64_t slot;
    if (!slot_of(node.id, slot)) return;
    auto& used = header().node_slots_used;
    if (used.load(std::memory_order_relaxed) <= slot) used.store(slot + 1);
    write_record(node_at(slot), [&](NodeRecord& r) {
        r.used = 1;
        r.in_index = node.in_index ? 1 : 0;
        r.type = node.type;
        r.dev = node.dev;
        r.ino = node.ino;
        r.nlookup = node.nlookup;
        r.parent = node.parent;
        r.name_len = static_cast<uint16_t>(std::min(node.name.size(), sizeof r.name));
        std::memcpy(r.name, node.name.data(), r.name_len);
    });
}

void TableMirror::clear_node(uint64_t id) {
    uint64_t slot;
    if (!slot_of(id, slot)) return;
    write_record(node_at(slot), [](NodeRecord& r) { r.used = 0; });
}

void TableMirror::put(const File& file) {
    uint64_t slot;
    if (!slot_of(file.handle, slot)) return;
    auto& used = header().file_slots_used[file.kind == Kind::file ? 0 : 1];
    while (true) {  // files are put by many threads at once
        uint64_t now = used.load();
        if (now > slot || used.compare_exchange_weak(now, slot + 1)) break;
    }
    write_record(file_at(file.kind, slot), [&](FileRecord& r) {
        r.used = 1;
        r.node = file.node;
        r.flags = file.flags;
        r.handle_len = file.backing_handle.size() <= sizeof r.handle
                           ? static_cast<uint8_t>(file.backing_handle.size())
                           : 0;
        std::memcpy(r.handle, file.backing_handle.data(), r.handle_len);
    });
}

void TableMirror::clear_file(uint64_t handle, Kind kind) {
    uint64_t slot;
    if (!slot_of(handle, slot)) return;
    write_record(file_at(kind, slot), [](FileRecord& r) { r.used = 0; });
}

void TableMirror::lock_not_kept(uint64_t handle) {
    uint64_t slot;
    if (!slot_of(handle, slot)) return;
    write_record(file_at(Kind::file, slot), [](FileRecord& r) { r.flags |= kLockNotKept; });
}

TableMirror::ReplyRecord& TableMirror::reply_at(uint64_t unique) const {
    // Uniques go up by two (the odd ones are interrupts').
    auto* replies = reinterpret_cast<ReplyRecord*>(
        base_ + replies_offset(sizeof(NodeRecord), sizeof(FileRecord)));
    return replies[(unique >> 1) % kReplies];
}

void TableMirror::replied(uint64_t unique, const std::vector<char>& reply) {
    if (reply.size() > kMaxReply) return;
    write_record(reply_at(unique), [&](ReplyRecord& r) {
        r.unique = unique;
        r.len = static_cast<uint32_t>(reply.size());
        std::memcpy(r.bytes, reply.data(), reply.size());
    });
}

// A started record is one of no reply (len 0, which no reply is) holding
// the time of the start, then what it makes once known.
namespace {
struct StartedBytes {
    struct timespec at;
    uint64_t dev, ino;
    uint32_t type;  // 0: not known yet
};
static_assert(sizeof(StartedBytes) <= TableMirror::kMaxReply);
}  // namespace

void TableMirror::started(uint64_t unique, const struct timespec& at) {
    write_record(reply_at(unique), [&](ReplyRecord& r) {
        r.unique = unique;
        r.len = 0;
        const StartedBytes b{at, 0, 0, 0};
        std::memcpy(r.bytes, &b, sizeof b);
    });
}

void TableMirror::making(uint64_t unique, const ops::ObjectId& object) {
    ReplyRecord& r = reply_at(unique);
    if (r.unique != unique || r.len != 0) return;  // not started, or answered
    write_record(r, [&](ReplyRecord& record) {
        StartedBytes b;
        std::memcpy(&b, record.bytes, sizeof b);
        b.dev = object.dev;
        b.ino = object.ino;
        b.type = object.type;
        std::memcpy(record.bytes, &b, sizeof b);
    });
}

std::optional<TableMirror::Started> TableMirror::started_at(uint64_t unique) const {
    const ReplyRecord& r = reply_at(unique);
    const uint64_t seq = r.seq.load(std::memory_order_acquire);
    if (seq == 0 || (seq & 1) || r.unique != unique || r.len != 0) return std::nullopt;
    StartedBytes b;
    std::memcpy(&b, r.bytes, sizeof b);
    Started started{b.at, std::nullopt};
    if (b.type != 0)
        started.making = ops::ObjectId{static_cast<dev_t>(b.dev), static_cast<ino_t>(b.ino),
                                       static_cast<mode_t>(b.type)};
    return started;
}

std::optional<std::vector<char>> TableMirror::reply_to(uint64_t unique) const {
    const ReplyRecord& r = reply_at(unique);
    const uint64_t seq = r.seq.load(std::memory_order_acquire);
    if (seq == 0 || (seq & 1) || r.unique != unique || r.len == 0 || r.len > kMaxReply)
        return std::nullopt;
    return std::vector<char>(r.bytes, r.bytes + r.len);
}

TableMirror::Contents TableMirror::read(uint32_t epoch) const {
    Contents c;
    const uint64_t epoch_bits = uint64_t{epoch} << 32;
    const uint64_t nodes = std::min(header().node_slots_used.load(), kSlots);
    for (uint64_t slot = 0; slot < nodes; ++slot) {
        const NodeRecord& r = node_at(slot);
        const uint64_t seq = r.seq.load(std::memory_order_acquire);
        if (seq == 0) continue;
        if (seq & 1) {
            c.torn_nodes.push_back(epoch_bits | slot);
            continue;
        }
        if (!r.used) continue;
        Node n;
        n.id = epoch_bits | slot;
        n.dev = static_cast<dev_t>(r.dev);
        n.ino = static_cast<ino_t>(r.ino);
        n.type = r.type;
        n.nlookup = r.nlookup;
        n.in_index = r.in_index != 0;
        n.parent = r.parent;
        n.name.assign(r.name, std::min<size_t>(r.name_len, sizeof r.name));
        c.nodes.push_back(std::move(n));
    }
    for (Kind kind : {Kind::file, Kind::dir}) {
        const uint64_t used = header().file_slots_used[kind == Kind::file ? 0 : 1].load();
        for (uint64_t slot = 0; slot < std::min(used, kSlots); ++slot) {
            const FileRecord& r = file_at(kind, slot);
            const uint64_t seq = r.seq.load(std::memory_order_acquire);
            if (seq == 0) continue;
            if (seq & 1)
                c.torn_handles.push_back(File{epoch_bits | slot, 0, 0, kind, {}});
            else if (r.used)
                c.files.push_back(
                    File{epoch_bits | slot, r.node, r.flags & ~kLockNotKept, kind,
                         std::string(r.handle, std::min<size_t>(r.handle_len, sizeof r.handle)),
                         (r.flags & kLockNotKept) != 0});
        }
    }
    return c;
}

}  // namespace nfsguard::fs
