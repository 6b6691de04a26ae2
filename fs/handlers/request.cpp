#include "fs/handlers/request.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "fs/kernel_cache.hpp"
#include "fs/stats/request_stats.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace nfsguard::fs {
namespace {

// The kernel sends a request that uses what another's reply made (the handle
// an open made, a nodeid a lookup gave) only after that reply: an order
// through /dev/fuse that ThreadSanitizer cannot see. Told to it here, from
// every reply to every request that starts after it; requests in flight at
// once stay unordered, so their races still show.
#if defined(__SANITIZE_THREAD__)
char kernel_order;
void after_earlier_replies() {
    __tsan_acquire(&kernel_order);
}
#else
void after_earlier_replies() {}
#endif

}  // namespace

Request::Request(fuse_req_t req)
    : req_(req), fs_(*static_cast<Filesystem*>(fuse_req_userdata(req))) {
    after_earlier_replies();
}

void Request::replied_to_kernel() {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(&kernel_order);
#endif
}

bool Request::act_as_caller() {
    if (!fs_.switch_identity) return true;
    const fuse_ctx* ctx = fuse_req_ctx(req_);
    auto who = fs_.callers.identify(ctx->pid, ctx->uid, ctx->gid, [&] {
        return ops::read_groups(
            [&](int n, gid_t* list) { return fuse_req_getgroups(req_, n, list); });
    });
    if (auto r = ops::act_as(who); !r) {
        spdlog::error("cannot act as uid {} gid {}: {}", who.uid, who.gid,
                      std::strerror(r.error()));
        reply_error(EPERM);
        return false;
    }
    return true;
}

Inode& Request::inode(fuse_ino_t id) {
    Inode* i = fs_.inodes.find(id);
    if (i == nullptr) throw UnknownId{};
    if (std::find(inodes_.begin(), inodes_.end(), i) == inodes_.end()) inodes_.push_back(i);
    return *i;
}

OpenFile& Request::open_file(const struct fuse_file_info* fi) {
    auto file = fs_.files.find(fi->fh);
    // No descriptor: a handle of a crashed process that could not be opened
    // again, kept from reuse (fs/table_mirror.hpp).
    if (file == nullptr) throw UnknownId{};
    if (!file->fd->valid()) throw UnknownId{file->dead_errno};
    // Opened while this host held its unit, which it has let go since: the
    // caller may go on from what another host has changed meanwhile.
    if (file->tenure && !file->tenure->valid()) throw UnknownId{EIO};
    handles_held_.push_back(file);
    return *file;
}

OpenDir& Request::open_dir(const struct fuse_file_info* fi) {
    auto dir = fs_.dirs.find(fi->fh);
    if (dir == nullptr) throw UnknownId{};
    if (dir->tenure && !dir->tenure->valid()) throw UnknownId{EIO};
    handles_held_.push_back(dir);
    return *dir;
}

Request::~Request() {
    // Let go first: a release may be waiting for it (wait_for_other_holders),
    // and this may have been the last of a file whose name is gone.
    if (!handles_held_.empty()) {
        handles_held_.clear();
        fs_.nameless_closed();
    }
    if (!stale_.empty()) drop_from_kernel(fs_, stale_);
}

namespace {

// Requests that may look at a unit itself (its entry and attributes) without
// claiming it: `ls -l` of the mount, a stat of an mbox, a Postfix lookup.
bool free_at_unit(RequestOp op) {
    switch (op) {
        case RequestOp::lookup:
        case RequestOp::getattr:
        case RequestOp::access:
        case RequestOp::readlink:
        case RequestOp::statfs:
        case RequestOp::getxattr:
        case RequestOp::listxattr:
            return true;
        default:
            return false;
    }
}

}  // namespace

bool Request::claim_units(RequestOp op, const std::array<Target, 2>& targets) {
    Ownership* ownership = fs_.ownership.get();
    if (ownership == nullptr) return true;
    for (const Target& t : targets) {
        Inode* inode = t.ino == 0 ? nullptr : fs_.inodes.find(t.ino);
        if (inode == nullptr) continue;  // the handler answers it
        auto path = fs_.inodes.path_of(*inode);
        if (!path) continue;  // no name left: its open file's tenure decides
        std::string full = path->empty() ? "" : path->substr(1);
        if (t.name != nullptr) {
            if (full.empty() && t.name == kPrivateDir) {
                reply_error(op == RequestOp::lookup ? ENOENT : EACCES);
                return false;
            }
            full += (full.empty() ? "" : "/") + std::string(t.name);
        }
        auto place = ownership->config().pattern.place_of(full);
        if (!place || (place->is_unit && free_at_unit(op))) continue;
        auto claim = ownership->claim(place->unit);
        if (!claim.tenure) {
            if (auto since = fs_.ownership_refused_log.due())
                spdlog::info(
                    "ownership: a {} in {} refused ({}): {} ({} more such refusals since the "
                    "last of these lines)",
                    request_op_name(op), place->unit, Ownership::refusal_name(claim.refusal),
                    claim.refusal == Ownership::Refusal::held ? "another host holds it"
                    : claim.refusal == Ownership::Refusal::unconfirmed
                        ? "this host's leases are not confirmed with the server"
                        : "its lease file cannot be taken",
                    *since);
            reply_error(fs_.guard_errno);
            return false;
        }
        if (claim.taken_now && claim.tenure->taken_over) {
            // Another host may have changed anything in it: what the kernel
            // holds goes, once this request is answered.
            auto known = fs_.inodes.known_under(place->unit);
            stale_.subtree_changed(std::move(known.names), std::move(known.ids));
        }
        // ... and what the NFS client below holds is checked with the server
        // at each object's first access (its attribute cache would serve a
        // minute-old size or mtime, and its name cache names gone).
        if (claim.tenure->taken_over && claim.tenure->first_sight(inode->dev, inode->ino)) {
            if (auto obj = fs_.inodes.locate(*inode))
                (void)fs_.sys.refresh_attributes(obj->object->get());
            first_since_takeover_ = true;
        }
        tenures_.push_back(std::move(claim.tenure));
    }
    return true;
}

void Request::drop_attributes_now(fuse_ino_t id) {
    cache::Invalidations now;
    now.attributes_changed(id);
    drop_from_kernel(fs_, now);
}

void Request::reply_error(int err) {
    RequestTimer::note_reply(err);
    reply<fuse_reply_err>(err);
}

bool Request::refused_while_detached(bool write) {
    const bool settling = write && Filesystem::steady_ns() <
                                       fs_.writes_refused_until_ns.load(std::memory_order_relaxed);
    if (!detached() && !settling) return false;
    if (write) fs_.refused_writes.fetch_add(1, std::memory_order_relaxed);
    reply_error(fs_.guard_errno);
    return true;
}

void Request::note_estale_retry(int attempt) {
    fs_.estale_retries.fetch_add(1, std::memory_order_relaxed);
    fs_.inodes.forget_directory_fds_above(inodes_);
    // A directory another host replaced: any name, attribute or page the
    // kernel holds from below it may be wrong, and which ones cannot be told.
    stale_.all_changed();
    if (attempt + 1 < kEstaleRetries) {
        spdlog::debug("ESTALE: directory descriptors above dropped, retry {}", attempt + 1);
    } else if (auto since = fs_.estale_persists_log.due()) {
        spdlog::warn(
            "ESTALE persists after {} retries of a {}; passing it on ({} more such "
            "requests since the last of these lines)",
            kEstaleRetries, request_op_name(serving()), *since);
    }
}

void Request::note_gone_for_good() {
    if (auto since = fs_.estale_gone_log.due())
        spdlog::info(
            "ESTALE passed on for a {}: another host removed or replaced its object ({} "
            "more such requests since the last of these lines)",
            request_op_name(serving()), *since);
}

void Request::reply_attr(const struct stat& st) {
    struct stat ours = st;
    fs_.times.on_our_clock(ours);
    reply<fuse_reply_attr>(&ours, fs_.cache.attr_timeout);
}

void Request::fill_entry(Inode& parent, const char* name, const struct stat& st,
                         struct fuse_entry_param& e, Origin origin) {
    std::memset(&e, 0, sizeof e);
    InodeTable::Names evicted;
    Inode& inode = fs_.inodes.remember(parent, name, st, origin, &evicted);
    for (auto& [dir, old_name] : evicted) stale_.name_dropped(dir, std::move(old_name));
    e.ino = fs_.inodes.id_of(inode);
    e.attr = st;
    fs_.times.on_our_clock(e.attr);
    // A file written through this mount and not yet stamped (its writer has
    // not closed it): the kernel may answer a stat from this entry.
    if (fs_.times.owes(inode.times)) {
        if (auto obj = fs_.inodes.locate(inode))
            fs_.times.pay(inode.times, obj->located(), &e.attr);
    }
    e.attr_timeout = fs_.cache.attr_timeout;
    e.entry_timeout = fs_.cache.entry_timeout;
}

void Request::reply_entry(Inode& parent, const char* name, const struct stat& st, Origin origin) {
    struct fuse_entry_param e;
    fill_entry(parent, name, st, e, origin);
    if (reply<fuse_reply_entry>(&e) != 0) {
        // The kernel did not take the entry (the caller was interrupted):
        // it will not forget what it never learned.
        fs_.inodes.forget(fs_.inodes.from_id(e.ino), 1);
    }
}

}  // namespace nfsguard::fs
