#include "fs/doctor/findings.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace nfsguard::fs::doctor {
namespace {

const char* level_name(Level level) {
    switch (level) {
        case Level::ok:
            return "ok";
        case Level::warn:
            return "warn";
        case Level::fail:
            return "fail";
    }
    return "?";
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += {'\\', c};
        else if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
            out += c;
    }
    return out + "\"";
}

}  // namespace

const Finding* Report::find(const std::string& check) const {
    for (const auto& f : findings_)
        if (f.check == check) return &f;
    return nullptr;
}

int Report::exit_status() const {
    int status = 0;
    for (const auto& f : findings_)
        status = std::max(status, f.level == Level::fail ? 2 : f.level == Level::warn ? 1 : 0);
    return status;
}

std::string Report::text() const {
    std::string out;
    for (const auto& f : findings_) {
        out += fmt::format("{:<5} {:<26} {}", level_name(f.level), f.check, f.reason);
        if (!f.fix.empty()) out += " -- fix: " + f.fix;
        out += '\n';
    }
    return out;
}

std::string Report::json(const std::string& path) const {
    std::string out = "{\"path\":" + json_string(path) + ",\"findings\":[";
    for (size_t i = 0; i < findings_.size(); ++i) {
        const Finding& f = findings_[i];
        out += fmt::format("{}{{\"level\":\"{}\",\"check\":{},\"reason\":{},\"fix\":{}}}",
                           i ? "," : "", level_name(f.level), json_string(f.check),
                           json_string(f.reason), json_string(f.fix));
    }
    return out + fmt::format("],\"status\":{}}}\n", exit_status());
}

}  // namespace nfsguard::fs::doctor
