#include "cache/invalidations.hpp"

#include <algorithm>

namespace nfsguard::cache {

void Invalidations::name_changed(uint64_t parent, std::string_view name) {
    Entry e{parent, std::string(name)};
    if (std::find(entries.begin(), entries.end(), e) == entries.end())
        entries.push_back(std::move(e));
    attributes_changed(parent);
    if (std::find(listings.begin(), listings.end(), parent) == listings.end())
        listings.push_back(parent);
}

void Invalidations::name_dropped(uint64_t parent, std::string name) {
    Entry e{parent, std::move(name)};
    if (std::find(entries.begin(), entries.end(), e) == entries.end())
        entries.push_back(std::move(e));
}

void Invalidations::subtree_changed(std::vector<std::pair<uint64_t, std::string>> names,
                                    std::vector<uint64_t> ids) {
    for (auto& [parent, name] : names) entries.push_back(Entry{parent, std::move(name)});
    contents.insert(contents.end(), ids.begin(), ids.end());
}

void Invalidations::attributes_changed(uint64_t id) {
    if (std::find(inodes.begin(), inodes.end(), id) == inodes.end()) inodes.push_back(id);
}

}  // namespace nfsguard::cache
