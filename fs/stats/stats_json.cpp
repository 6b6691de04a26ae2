#include "fs/stats/stats_json.hpp"

#include <string_view>

namespace nfsguard::fs {
namespace {

class Reader {
  public:
    static constexpr size_t npos = std::string_view::npos;

    explicit Reader(const std::string& s) : s_(s) {}

    bool read(JsonValue& out) {
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
    JsonValue value() {
        JsonValue v;
        skip_space();
        if (!ok_ || i_ >= s_.size()) return ok_ = false, v;
        if (take('{')) {
            v.kind = JsonValue::object;
            if (take('}')) return v;
            do {
                std::string key = string();
                if (!take(':')) return ok_ = false, v;
                v.members.emplace_back(std::move(key), value());
            } while (ok_ && take(','));
            if (!take('}')) ok_ = false;
        } else if (take('[')) {
            v.kind = JsonValue::array;
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

}  // namespace

bool parse_json(const std::string& text, JsonValue& out) {
    return Reader(text).read(out);
}

}  // namespace nfsguard::fs
