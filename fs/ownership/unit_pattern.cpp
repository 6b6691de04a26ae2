#include "fs/ownership/unit_pattern.hpp"

#include <fnmatch.h>

namespace nfsguard::fs {

std::optional<UnitPattern> UnitPattern::parse(std::string_view text) {
    UnitPattern p;
    p.text_ = text;
    while (!text.empty()) {
        const size_t slash = text.find('/');
        std::string part(text.substr(0, slash));
        if (part.empty() || part == "." || part == "..") return std::nullopt;
        p.parts_.push_back(std::move(part));
        if (slash == std::string_view::npos) break;
        text.remove_prefix(slash + 1);
        if (text.empty()) return std::nullopt;
    }
    if (p.parts_.empty()) return std::nullopt;
    return p;
}

std::optional<UnitPattern::Place> UnitPattern::place_of(std::string_view path) const {
    Place place;
    size_t depth = 0;
    while (depth < parts_.size()) {
        if (path.empty()) return std::nullopt;  // above the units
        const size_t slash = path.find('/');
        const std::string part(path.substr(0, slash));
        if (depth == 0 && part == kPrivateDir) return std::nullopt;
        if (fnmatch(parts_[depth].c_str(), part.c_str(), 0) != 0) return std::nullopt;
        place.unit += (depth == 0 ? "" : "/") + part;
        ++depth;
        path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
    }
    place.is_unit = path.empty();
    return place;
}

}  // namespace nfsguard::fs
