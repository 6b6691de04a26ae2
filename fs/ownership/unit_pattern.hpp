// UnitPattern: which unit of ownership a path below the mount lies in
// (ownership=PATTERN; README, design: "One host per mailbox").
//
// A pattern is a fixed number of path components, each a glob: "*" makes
// every entry of the mount's root a unit (/var/mail/USER), "home/*" every
// entry of home/, "*/*" DOMAIN/USER. A path as deep as the pattern whose
// components match it is a unit; everything below it lies in it; what is
// shallower, or does not match, lies in none and is free to every host.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nfsguard::fs {

// nfsguard's own names at the mount's root (the lease files): in no unit,
// out of the callers' reach.
inline constexpr std::string_view kPrivateDir = ".nfsguard";

class UnitPattern {
  public:
    // Nothing when `text` is no pattern (empty, or a component empty, "."
    // or "..").
    static std::optional<UnitPattern> parse(std::string_view text);

    struct Place {
        std::string unit;      // the unit's path below the mount
        bool is_unit = false;  // the path is the unit itself, not below it
    };
    // Where `path` ("" for the root, "a/b" below it) lies; nothing when in
    // no unit.
    std::optional<Place> place_of(std::string_view path) const;
    const std::string& text() const { return text_; }

  private:
    std::vector<std::string> parts_;
    std::string text_;
};

}  // namespace nfsguard::fs
