// The JSON nfsguard's stats file holds (fs/stats/stats.hpp), read back: by
// `nfsguard stats` and `nfsguard doctor`. Just enough of the grammar for it.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace nfsguard::fs {

// A JSON value as the stats file has them: a scalar (its text as written),
// an object or an array.
struct JsonValue {
    enum Kind { scalar, object, array } kind = scalar;
    std::string text;
    std::vector<std::pair<std::string, JsonValue>> members;
    std::vector<JsonValue> items;

    const JsonValue* member(const std::string& name) const {
        for (const auto& [key, value] : members)
            if (key == name) return &value;
        return nullptr;
    }
    double number() const { return std::strtod(text.c_str(), nullptr); }
};

// Reads `text` into `out`; false if it is not such JSON.
bool parse_json(const std::string& text, JsonValue& out);

}  // namespace nfsguard::fs
