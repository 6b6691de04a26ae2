// Invalidations: what the kernel holds that nfsguard has just made stale, to
// be dropped once the request that made it stale has been answered.
//
// In pinned mode (cache_policy.hpp) the kernel keeps names, attributes and
// file data for a minute. It keeps them right by itself for what it asked
// for (a rename it sent moves its own dentry), but not for what changes
// behind its back: a namespace call whose outcome differs from what the
// caller is told (a lost reply, hidden or passed on, leaves the tree changed
// when the kernel thinks it is not, or the reverse), times nfsguard stamps at
// close, a directory another host replaced (ESTALE), and a backing that is
// detached or re-attached. Those are listed here and handed to the kernel
// with FUSE's notify calls (fs/kernel_cache.hpp) after the reply: the kernel
// holds the directory's lock while the request is served, and a notify for an
// entry in it would wait for that lock, that is for the reply itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nfsguard::cache {

struct Invalidations {
    struct Entry {
        uint64_t parent;  // nodeid of the directory
        std::string name;
        bool operator==(const Entry&) const = default;
    };
    std::vector<Entry> entries;      // names to look up afresh
    std::vector<uint64_t> inodes;    // attributes to fetch afresh
    std::vector<uint64_t> listings;  // directories to list afresh (and their attributes)
    std::vector<uint64_t> contents;  // attributes and every cached page or listing
    bool everything = false;         // every name, attribute and page the kernel holds

    // The name `name` in `parent` may now mean another object, or none; the
    // directory's attributes (size, mtime, link count) and its listing
    // changed with it.
    void name_changed(uint64_t parent, std::string_view name);
    // nfsguard forgot that `name` in `parent` is a name of an object (it
    // keeps a few per object): the kernel must ask again rather than send
    // requests for an object nfsguard could not find by that name.
    void name_dropped(uint64_t parent, std::string name);
    // The attributes of `id` changed (times stamped, link count).
    void attributes_changed(uint64_t id);
    // Whatever the kernel holds may be wrong (ESTALE, backing detached or
    // re-attached): nothing cached survives.
    void all_changed() { everything = true; }
    // Every name in `names`, and the attributes and data of every object in
    // `ids`, may have changed: a subtree another host held (no duplicates
    // looked for: a unit may hold 100,000 names).
    void subtree_changed(std::vector<std::pair<uint64_t, std::string>> names,
                         std::vector<uint64_t> ids);

    bool empty() const {
        return !everything && entries.empty() && inodes.empty() && listings.empty() &&
               contents.empty();
    }
    void clear() { *this = Invalidations{}; }
};

}  // namespace nfsguard::cache
