#include "fs/stats/stats_text.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

namespace nfsguard::fs {
namespace {

// A JSON value as the stats file has them: a scalar (its text as written),
// an object or an array.
struct Value {
    enum Kind { scalar, object, array } kind = scalar;
    std::string text;
    std::vector<std::pair<std::string, Value>> members;
    std::vector<Value> items;

    const Value* member(const std::string& name) const {
        for (const auto& [key, value] : members)
            if (key == name) return &value;
        return nullptr;
    }
    double number() const { return std::strtod(text.c_str(), nullptr); }
};

// Reads the JSON nfsguard writes; just enough of the grammar for that.
class Reader {
  public:
    static constexpr size_t npos = std::string_view::npos;

    explicit Reader(const std::string& s) : s_(s) {}

    bool read(Value& out) {
        out = value();
        skip_space();
        return ok_ && i_ == s_.size();
    }

  private:
    void skip_space() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
    }
    bool take(char c) {
        skip_space();
        if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
        return false;
    }
    std::string string() {
        std::string out;
        if (!take('"')) return ok_ = false, out;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
            out += s_[i_++];
        }
        if (!take('"')) ok_ = false;
        return out;
    }
    Value value() {
        Value v;
        skip_space();
        if (!ok_ || i_ >= s_.size()) return ok_ = false, v;
        if (take('{')) {
            v.kind = Value::object;
            if (take('}')) return v;
            do {
                std::string key = string();
                if (!take(':')) return ok_ = false, v;
                v.members.emplace_back(std::move(key), value());
            } while (ok_ && take(','));
            if (!take('}')) ok_ = false;
        } else if (take('[')) {
            v.kind = Value::array;
            if (take(']')) return v;
            do v.items.push_back(value());
            while (ok_ && take(','));
            if (!take(']')) ok_ = false;
        } else if (s_[i_] == '"') {
            v.text = string();
        } else {
            while (i_ < s_.size() && std::string_view(",}] \n\t").find(s_[i_]) == npos)
                v.text += s_[i_++];
            if (v.text.empty()) ok_ = false;
        }
        return v;
    }

    const std::string& s_;
    size_t i_ = 0;
    bool ok_ = true;
};

std::string seconds_text(double s) {
    if (s < 0.001) return fmt::format("{:.0f} us", s * 1e6);
    if (s < 1) return fmt::format("{:.3g} ms", s * 1e3);
    return fmt::format("{:.3g} s", s);
}

// The scalars of `v`, named by their path; arrays and the request table
// are left to their own lines.
void flatten(const Value& v, const std::string& path, std::string& out) {
    if (v.kind == Value::scalar) {
        out += fmt::format("{:<32} {}\n", path, v.text);
        return;
    }
    if (v.kind == Value::array) return;
    for (const auto& [key, member] : v.members) {
        if (path.empty() && key == "requests") continue;
        flatten(member, path.empty() ? key : path + "." + key, out);
    }
}

// The smallest bucket bound that holds `share` of a histogram's count.
std::string bound_holding(const Value& op, const Value* bounds, double share) {
    const Value* buckets = op.member("buckets");
    const Value* count = op.member("count");
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

void request_table(const Value& root, std::string& out) {
    const Value* requests = root.member("requests");
    if (!requests) return;
    const Value* bounds = root.member("latency_buckets_seconds");
    out += fmt::format("\n{:<16} {:>12} {:>10} {:>10} {:>12}\n", "operation", "requests", "errors",
                       "mean", "99% took");
    for (const auto& [name, op] : requests->members) {
        const Value* count = op.member("count");
        const Value* errors = op.member("errors");
        const Value* seconds = op.member("seconds");
        if (!count || !errors || !seconds || count->number() == 0) continue;
        out += fmt::format("{:<16} {:>12} {:>10} {:>10} {:>12}\n", name, count->text, errors->text,
                           seconds_text(seconds->number() / count->number()),
                           bound_holding(op, bounds, 0.99));
    }
}

}  // namespace

std::string stats_as_text(const std::string& json) {
    Value root;
    if (!Reader(json).read(root) || root.kind != Value::object) return {};
    std::string out;
    flatten(root, "", out);
    request_table(root, out);
    return out;
}

}  // namespace nfsguard::fs
