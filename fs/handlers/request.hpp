// Request: one FUSE request while a handler serves it.
//
// The op table (op_table.cpp) makes it, takes on the caller's identity and
// refuses what the detached backing cannot serve before the handler runs;
// every reply goes through it, so that each request is answered exactly
// once. Handlers are written as: look the inodes up, call ops/, reply with
// the result or its errno.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "cache/invalidations.hpp"
#include "fs/filesystem.hpp"
#include "fs/stats/request_stats.hpp"
#include "ops/result.hpp"

namespace nfsguard::fs {

// Thrown for a node id or handle this run cannot vouch for (another run's,
// or let go); the op table answers it ESTALE, never with another object's
// data (README, design: node ids). A handle a crash left with its lock gone
// answers EIO (OpenFile::dead_errno).
struct UnknownId {
    int error = ESTALE;
};

class Request {
  public:
    explicit Request(fuse_req_t req);
    // Drops what the request made stale in the kernel's caches: by now the
    // reply has been sent (cache/invalidations.hpp says why after it).
    ~Request();
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    // --- The request, its caller and its filesystem.
    Filesystem& fs() { return fs_; }
    fuse_req_t raw() { return req_; }
    // Takes on the caller's identity. False (and the request answered) when
    // it could not be taken on: then no backing call may be made for it.
    bool act_as_caller();
    // The inode of nodeid `id`; noted as one this request is about (an
    // ESTALE drops the cached descriptors above it, note_estale_retry).
    // Throws UnknownId for an id the table cannot vouch for.
    Inode& inode(fuse_ino_t id);
    // The open file or directory of a handle, kept alive until the request
    // is done (a release may come meanwhile); throws UnknownId likewise.
    OpenFile& open_file(const struct fuse_file_info* fi);
    OpenDir& open_dir(const struct fuse_file_info* fi);

    // --- Resolving its objects, again after ESTALE (README, design: ESTALE).
    // The descriptor of directory `dir`, as InodeTable::directory_fd; a
    // directory gone for good ends the request's ESTALE retries.
    ops::Result<ops::SharedFd> directory_fd(Inode& dir) {
        return fs_.inodes.directory_fd(dir, &moved_on_);
    }
    // Runs `call` (resolve, then call ops/) again after an ESTALE, with the
    // cached descriptors above the request's inodes dropped so names are
    // resolved afresh: another host replaced or removed a directory a cached
    // descriptor stood for. At most kEstaleRetries times (Dovecot's
    // NFS_ESTALE_RETRY_COUNT); not again once resolving by name found the
    // object gone for good (then ESTALE is the answer). Then the ESTALE is
    // passed on.
    static constexpr int kEstaleRetries = 10;
    template <typename Call>
    auto retry_stale(Call&& call) -> decltype(call()) {
        for (int attempt = 0;; ++attempt) {
            auto r = call();
            if (r || r.error() != ESTALE) return r;
            fs_.last_estale_ns.store(Filesystem::steady_ns(), std::memory_order_relaxed);
            if (moved_on_) {
                note_gone_for_good();
                return r;
            }
            if (attempt == kEstaleRetries) return r;
            note_estale_retry(attempt);
        }
    }

    // Locates inode `id` and runs `call(located object)`; again after ESTALE.
    template <typename Call>
    auto on_object(fuse_ino_t id, Call&& call) {
        return retry_stale([&]() -> decltype(call(std::declval<const ops::Located&>())) {
            auto target = fs_.inodes.locate(inode(id), &moved_on_);
            if (!target) return ops::Errno{target.error()};
            return call(target->located());
        });
    }

    // `first` came from reopening an open file of inode `id` through its
    // descriptor. The backing may reopen by the name its client last knew
    // (NFSv4.0 opens by name, and so do FUSE path filesystems): after a
    // rename whose reply was lost only nfsguard knows the new name (fs/
    // moved the inode there). So where `first` failed with ENOENT or ESTALE,
    // returns `open(object located by name)`; else, or if it has no name,
    // `first`.
    template <typename Open>
    ops::Result<ops::UniqueFd> or_reopen_by_name(ops::Result<ops::UniqueFd> first, fuse_ino_t id,
                                                 Open&& open) {
        if (first || (first.error() != ENOENT && first.error() != ESTALE)) return first;
        auto named = fs_.inodes.locate(inode(id), nullptr, InodeTable::Reach::by_name);
        if (!named) return first;
        return open(named->located());
    }

    // --- The backing guard (fs/daemon/backing_monitor.hpp).
    // While the backing is detached: answers guard_errno and returns true (a
    // refused write is counted). Handlers of calls that need the backing ask
    // first.
    bool refused_while_detached(bool write = true);
    bool detached() const { return !fs_.attached.load(std::memory_order_relaxed); }

    // --- One host per unit (fs/ownership/). The objects a request is
    // about: a node id, and the name of an entry in it for requests that
    // name one (lookup, create, rename...).
    struct Target {
        fuse_ino_t ino = 0;  // 0: none
        const char* name = nullptr;
    };
    // Claims for this host the units the targets lie in, before the handler
    // runs. False (and the request answered) when one is not to be had:
    // another host's (the guard's errno), or nfsguard's own lease files.
    bool claim_units(RequestOp op, const std::array<Target, 2>& targets);
    // The holding of the request's unit, under which the files and
    // directories it opens live (null: in no unit).
    std::shared_ptr<Tenure> tenure() const { return tenures_.empty() ? nullptr : tenures_.front(); }
    // The request's object is seen for the first time since another host
    // had its unit: no page the kernel kept of it may be served.
    bool first_since_takeover() const { return first_since_takeover_; }

    // --- Replies: exactly one per request (the op table asserts it).
    // Sends the reply `send` (a fuse_reply_* function) with `args`; returns
    // what libfuse returned (non-zero: the kernel did not take it, as when
    // the caller was interrupted).
    template <auto send, typename... Args>
    int reply(Args&&... args) {
        note_replied();
        int rc = 0;
        if constexpr (std::is_void_v<decltype(send(req_, std::forward<Args>(args)...))>)
            send(req_, std::forward<Args>(args)...);
        else
            rc = send(req_, std::forward<Args>(args)...);
        replied_to_kernel();
        return rc;
    }
    // The request is answered later, by whoever it is handed to (a lock wait).
    fuse_req_t hand_over() {
        note_replied();
        return req_;
    }
    // Whether the request was answered (or handed over): exactly once.
    bool replied() const { return replied_; }

    void reply_error(int err);
    template <typename T>
    void reply_error(const ops::Result<T>& r) {
        reply_error(r.error());
    }
    void reply_ok() { reply_error(0); }
    // Attributes as the caller gets them: the server's ctime on this host's
    // clock (ClientTimes::on_our_clock).
    void reply_attr(const struct stat& st);
    // Remembers the object in the inode table and replies with its entry.
    // Origin::made_here: the object was just made here (InodeTable::remember).
    void reply_entry(Inode& parent, const char* name, const struct stat& st,
                     Origin origin = Origin::looked_up);
    // Fills `e` for `st` under `parent`/`name` (counted as a lookup).
    void fill_entry(Inode& parent, const char* name, const struct stat& st,
                    struct fuse_entry_param& e, Origin origin = Origin::looked_up);

    // --- The kernel's caches (cache/invalidations.hpp).
    // What the kernel may hold that this request has made stale (pinned
    // mode; in shared mode the kernel holds nothing and this stays unused).
    cache::Invalidations& stale() { return stale_; }
    // Drops the kernel's attributes of `id` at once, before the reply: for
    // a change the caller's very next call must see.
    void drop_attributes_now(fuse_ino_t id);

  private:
    // Counts a retry after ESTALE and drops what may be stale.
    void note_estale_retry(int attempt);
    void note_gone_for_good();
    void note_replied() {
        assert(!replied_ && "a request answered twice");
        replied_ = true;
    }
    // The reply is with the kernel (a read's data too: it is copied in the
    // reply): told to ThreadSanitizer (request.cpp).
    static void replied_to_kernel();

    fuse_req_t req_;
    Filesystem& fs_;
    bool replied_ = false;
    // The object of the request has no name any more (InodeTable::locate):
    // an ESTALE then is the kernel's to retry, by looking the name up again.
    bool moved_on_ = false;
    std::vector<Inode*> inodes_;                       // the inodes the request is about
    std::vector<std::shared_ptr<void>> handles_held_;  // open_file, open_dir
    std::vector<std::shared_ptr<Tenure>> tenures_;     // claim_units
    bool first_since_takeover_ = false;
    cache::Invalidations stale_;
};

}  // namespace nfsguard::fs
