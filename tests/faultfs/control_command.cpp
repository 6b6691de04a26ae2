#include "tests/faultfs/control_command.hpp"

#include <charconv>
#include <cstring>
#include <vector>

namespace nfsguard::faultfs {
namespace {

// errno values are small; this bounds the search by name.
constexpr int kLargestErrno = 4095;
// A clock more than a century off is a typo, not a test.
constexpr std::int64_t kMaxClockOffset = 100LL * 366 * 24 * 3600;

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    size_t pos = 0;
    while (pos < line.size()) {
        size_t start = line.find_first_not_of(" \t\r", pos);
        if (start == std::string_view::npos) break;
        size_t end = line.find_first_of(" \t\r", start);
        if (end == std::string_view::npos) end = line.size();
        words.push_back(line.substr(start, end - start));
        pos = end;
    }
    return words;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<std::int64_t> parse_count(std::string_view text) {
    auto count = parse_int(text);
    if (!count || *count < FaultPlan::kForever) return std::nullopt;
    return count;
}

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (auto w : words) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

std::string armed(const ops::Result<void>& r, const std::vector<std::string_view>& words) {
    if (r) return "ok " + join(words);
    if (r.error() == ENOSPC)
        return "error too many armed faults (at most " + std::to_string(FaultPlan::kMaxRules) +
               "; clear some)";
    return "error invalid arguments";
}

std::string lost_reply(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 4) return "error usage: lost_reply OP GLOB COUNT";
    std::optional<NameOp> op;
    if (w[1] != "any") {
        op = parse_op(w[1]);
        if (!op)
            return "error unknown op '" + std::string(w[1]) +
                   "' (rename, link, mkdir, symlink, unlink, rmdir, create_excl, rename_closed, "
                   "any)";
    }
    auto count = parse_count(w[3]);
    if (!count) return "error bad COUNT '" + std::string(w[3]) + "' (-1, 0 or more)";
    return armed(plan.arm_lost_reply(op, std::string(w[2]), *count), w);
}

std::string estale(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 3) return "error usage: estale GLOB COUNT";
    auto count = parse_count(w[2]);
    if (!count) return "error bad COUNT '" + std::string(w[2]) + "' (-1, 0 or more)";
    return armed(plan.arm_estale(std::string(w[1]), *count), w);
}

std::string close_error(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 4) return "error usage: close_error ERRNO GLOB COUNT";
    auto err = parse_errno(w[1]);
    if (!err) return "error unknown errno '" + std::string(w[1]) + "'";
    auto count = parse_count(w[3]);
    if (!count) return "error bad COUNT '" + std::string(w[3]) + "' (-1, 0 or more)";
    return armed(plan.arm_close_error(*err, std::string(w[2]), *count), w);
}

std::string clock_offset(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 2) return "error usage: clock_offset SECONDS";
    auto seconds = parse_int(w[1]);
    if (!seconds || *seconds > kMaxClockOffset || *seconds < -kMaxClockOffset)
        return "error bad SECONDS '" + std::string(w[1]) + "'";
    plan.set_clock_offset(std::chrono::seconds(*seconds));
    return "ok clock_offset " + std::to_string(*seconds);
}

std::string vanish(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 2) return "error usage: vanish ERRNO";
    auto err = parse_errno(w[1]);
    if (!err) return "error unknown errno '" + std::string(w[1]) + "'";
    plan.vanish(*err);
    return "ok vanish " + errno_name(*err);
}

std::string latency(FaultPlan& plan, const std::vector<std::string_view>& w) {
    if (w.size() != 2) return "error usage: latency MICROSECONDS";
    auto us = parse_int(w[1]);
    if (!us || !plan.set_latency(std::chrono::microseconds(*us)))
        return "error bad MICROSECONDS '" + std::string(w[1]) + "' (0 to " +
               std::to_string(FaultPlan::kMaxLatency.count()) + ")";
    return "ok latency " + std::to_string(*us);
}

}  // namespace

std::optional<int> parse_errno(std::string_view text) {
    if (auto n = parse_int(text)) {
        if (*n <= 0 || *n > kLargestErrno) return std::nullopt;
        return static_cast<int>(*n);
    }
    for (int err = 1; err <= kLargestErrno; ++err) {
        const char* name = ::strerrorname_np(err);
        if (name != nullptr && text == name) return err;
    }
    return std::nullopt;
}

std::string errno_name(int err) {
    const char* name = ::strerrorname_np(err);
    return name != nullptr ? name : std::to_string(err);
}

std::string execute_command(FaultPlan& plan, std::string_view line) {
    const auto words = split_words(line);
    if (words.empty()) return "error empty command";
    const std::string_view cmd = words[0];
    auto no_arguments = [&](std::string_view answer) -> std::string {
        if (words.size() != 1) return "error usage: " + std::string(cmd);
        return std::string(answer);
    };
    if (cmd == "lost_reply") return lost_reply(plan, words);
    if (cmd == "estale") return estale(plan, words);
    if (cmd == "close_error") return close_error(plan, words);
    if (cmd == "clock_offset") return clock_offset(plan, words);
    if (cmd == "vanish") return vanish(plan, words);
    if (cmd == "latency") return latency(plan, words);
    if (cmd == "return") {
        if (words.size() == 1) plan.restore();
        return no_arguments("ok return");
    }
    if (cmd == "clear") {
        if (words.size() == 1) plan.clear();
        return no_arguments("ok clear");
    }
    if (cmd == "stats") return no_arguments("ok " + plan.stats().to_json());
    return "error unknown command '" + std::string(cmd) +
           "' (lost_reply, estale, close_error, clock_offset, vanish, return, latency, clear, "
           "stats)";
}

}  // namespace nfsguard::faultfs
