#include "fs/handlers/request.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "fs/kernel_cache.hpp"
#include "fs/stats/request_stats.hpp"

namespace nfsguard::fs {
Request::Request(fuse_req_t req)
    : req_(req), fs_(*static_cast<Filesystem*>(fuse_req_userdata(req))) {}

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
    Inode& i = fs_.inodes.from_id(id);
    if (std::find(inodes_.begin(), inodes_.end(), &i) == inodes_.end()) inodes_.push_back(&i);
    return i;
}

Request::~Request() {
    if (!stale_.empty()) drop_from_kernel(fs_, stale_);
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

bool Request::measure_skew(const struct stat& st, const struct timespec& before) {
    fs_.skew.observe(st.st_ctim, before, ops::client_now());
    return fs_.stamping();
}

void Request::stamp_new_object(struct stat& st, const struct timespec& before, int dirfd,
                               const char* name) {
    if (!measure_skew(st, before)) return;
    if (auto t = ops::stamp_new(fs_.sys, dirfd, name)) {
        st.st_atim = *t;
        st.st_mtim = *t;
    } else {
        spdlog::debug("cannot stamp {}: {}", name, std::strerror(t.error()));
    }
}

bool Request::stamp_if_changed(fuse_ino_t id, const ops::Located& obj, struct stat* st) {
    if (!fs_.stamping()) return false;
    Inode& i = inode(id);
    if (!i.owes_mtime_stamp()) return false;
    std::lock_guard lock(fs_.stamp_locks[i.ino % fs_.stamp_locks.size()]);
    const uint64_t changes = i.mtime_changes.load(std::memory_order_acquire);
    if (i.mtime_stamped.load(std::memory_order_acquire) >= changes) return false;
    const int64_t made = i.made_ns.load(std::memory_order_acquire);
    const struct timespec made_at = {made / 1'000'000'000, made % 1'000'000'000};
    auto set = made != 0 ? ops::stamp_made(fs_.sys, obj, made_at,
                                           changes > i.made_changes.load(std::memory_order_relaxed))
                         : ops::stamp_modified(fs_.sys, obj);
    if (!set) {
        spdlog::debug("cannot stamp the mtime of inode {}: {}", i.ino, std::strerror(set.error()));
        return false;
    }
    i.mark_stamped(changes);
    if (made != 0) {
        i.made_ns.store(0, std::memory_order_release);
        if (st != nullptr) st->st_atim = made_at;
    }
    if (st != nullptr) st->st_mtim = *set;
    return true;
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

void Request::on_our_clock(struct stat& st) const {
    if (fs_.client_timestamps) st.st_ctim.tv_sec -= fs_.skew.ctime_correction();
}

void Request::reply_attr(const struct stat& st) {
    struct stat ours = st;
    on_our_clock(ours);
    reply<fuse_reply_attr>(&ours, fs_.cache.attr_timeout);
}

void Request::fill_entry(Inode& parent, const char* name, const struct stat& st,
                         struct fuse_entry_param& e, bool made) {
    std::memset(&e, 0, sizeof e);
    InodeTable::Names evicted;
    Inode& inode = fs_.inodes.remember(parent, name, st, made, &evicted);
    for (auto& [dir, old_name] : evicted) stale_.name_dropped(dir, std::move(old_name));
    e.ino = fs_.inodes.id_of(inode);
    e.attr = st;
    on_our_clock(e.attr);
    // A file written through this mount and not yet stamped (its writer has
    // not closed it): the kernel may answer a stat from this entry.
    if (fs_.stamping() && inode.owes_mtime_stamp()) {
        if (auto obj = fs_.inodes.locate(inode)) stamp_if_changed(e.ino, obj->located(), &e.attr);
    }
    e.attr_timeout = fs_.cache.attr_timeout;
    e.entry_timeout = fs_.cache.entry_timeout;
}

void Request::reply_entry(Inode& parent, const char* name, const struct stat& st, bool made) {
    struct fuse_entry_param e;
    fill_entry(parent, name, st, e, made);
    if (reply<fuse_reply_entry>(&e) != 0) {
        // The kernel did not take the entry (the caller was interrupted):
        // it will not forget what it never learned.
        fs_.inodes.forget(fs_.inodes.from_id(e.ino), 1);
    }
}

}  // namespace nfsguard::fs
