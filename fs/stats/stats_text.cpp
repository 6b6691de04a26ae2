#include "fs/stats/stats_text.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "fs/stats/stats_json.hpp"

namespace nfsguard::fs {
namespace {

std::string seconds_text(double s) {
    if (s < 0.001) return fmt::format("{:.0f} us", s * 1e6);
    if (s < 1) return fmt::format("{:.3g} ms", s * 1e3);
    return fmt::format("{:.3g} s", s);
}

// The scalars of `v`, named by their path; arrays and the request table
// are left to their own lines.
void flatten(const JsonValue& v, const std::string& path, std::string& out) {
    if (v.kind == JsonValue::scalar) {
        out += fmt::format("{:<32} {}\n", path, v.text);
        return;
    }
    if (v.kind == JsonValue::array) return;
    for (const auto& [key, member] : v.members) {
        if (path.empty() && key == "requests") continue;
        flatten(member, path.empty() ? key : path + "." + key, out);
    }
}

// The smallest bucket bound that holds `share` of a histogram's count.
std::string bound_holding(const JsonValue& op, const JsonValue* bounds, double share) {
    const JsonValue* buckets = op.member("buckets");
    const JsonValue* count = op.member("count");
    if (!buckets || !bounds || !count) return "?";
    const double want = share * count->number();
    for (size_t i = 0; i < buckets->items.size(); ++i) {
        if (buckets->items[i].number() < want) continue;
        if (i >= bounds->items.size())
            return "> " + seconds_text(bounds->items.empty() ? 0 : bounds->items.back().number());
        return "<= " + seconds_text(bounds->items[i].number());
    }
    return "?";
}

void request_table(const JsonValue& root, std::string& out) {
    const JsonValue* requests = root.member("requests");
    if (!requests) return;
    const JsonValue* bounds = root.member("latency_buckets_seconds");
    out += fmt::format("\n{:<16} {:>12} {:>10} {:>10} {:>12}\n", "operation", "requests", "errors",
                       "mean", "99% took");
    for (const auto& [name, op] : requests->members) {
        const JsonValue* count = op.member("count");
        const JsonValue* errors = op.member("errors");
        const JsonValue* seconds = op.member("seconds");
        if (!count || !errors || !seconds || count->number() == 0) continue;
        out += fmt::format("{:<16} {:>12} {:>10} {:>10} {:>12}\n", name, count->text, errors->text,
                           seconds_text(seconds->number() / count->number()),
                           bound_holding(op, bounds, 0.99));
    }
}

}  // namespace

std::string stats_as_text(const std::string& json) {
    JsonValue root;
    if (!parse_json(json, root) || root.kind != JsonValue::object) return {};
    std::string out;
    flatten(root, "", out);
    request_table(root, out);
    return out;
}

}  // namespace nfsguard::fs
