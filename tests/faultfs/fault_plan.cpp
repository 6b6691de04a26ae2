#include "tests/faultfs/fault_plan.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cerrno>

namespace nfsguard::faultfs {
namespace {

constexpr std::array<std::string_view, kNameOpCount> kOpNames = {
    "rename", "link", "mkdir", "symlink", "unlink", "rmdir", "create_excl", "rename_closed"};

size_t index_of(NameOp op) {
    return static_cast<size_t>(op);
}

bool glob_matches(const std::string& glob, std::string_view name) {
    // No FNM_PERIOD: "*" matches dot names too; lock files and NFS silly
    // renames start with a dot and are exactly what tests aim at.
    return ::fnmatch(glob.c_str(), std::string(name).c_str(), 0) == 0;
}

}  // namespace

std::string_view op_name(NameOp op) {
    return kOpNames[index_of(op)];
}

std::optional<NameOp> parse_op(std::string_view name) {
    for (NameOp op : kNameOps)
        if (op_name(op) == name) return op;
    return std::nullopt;
}

int lost_reply_errno(NameOp op) {
    switch (op) {
        case NameOp::rename:
        case NameOp::rename_closed:
        case NameOp::unlink:
        case NameOp::rmdir:
            return ENOENT;
        case NameOp::link:
        case NameOp::mkdir:
        case NameOp::symlink:
        case NameOp::create_excl:
            return EEXIST;
    }
    return EIO;
}

std::string FaultStats::to_json() const {
    std::string json = "{\"lost_reply\":{";
    for (NameOp op : kNameOps) {
        if (op != kNameOps.front()) json += ',';
        json += '"';
        json += op_name(op);
        json += "\":" + std::to_string(lost_reply[index_of(op)]);
    }
    json += "},\"estale\":" + std::to_string(estale);
    json += ",\"close_error\":" + std::to_string(close_error);
    json += ",\"vanished_calls\":" + std::to_string(vanished_calls) + "}";
    return json;
}

ops::Result<void> FaultPlan::arm_lost_reply(std::optional<NameOp> op, std::string glob,
                                            std::int64_t count) {
    const int err = op ? lost_reply_errno(*op) : 0;  // any: decided per call
    return arm(Rule{Kind::lost_reply, op, std::move(glob), err, count});
}

ops::Result<void> FaultPlan::arm_estale(std::string glob, std::int64_t count) {
    return arm(Rule{Kind::estale, std::nullopt, std::move(glob), ESTALE, count});
}

ops::Result<void> FaultPlan::arm_close_error(int err, std::string glob, std::int64_t count) {
    if (err <= 0) return ops::Errno{EINVAL};
    return arm(Rule{Kind::close_error, std::nullopt, std::move(glob), err, count});
}

ops::Result<void> FaultPlan::arm(Rule rule) {
    if (rule.glob.empty() || rule.remaining < kForever) return ops::Errno{EINVAL};
    std::lock_guard lock(mutex_);
    auto same = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) {
        return r.kind == rule.kind && r.op == rule.op && r.glob == rule.glob;
    });
    if (rule.remaining == 0) {
        if (same != rules_.end()) rules_.erase(same);
    } else if (same != rules_.end()) {
        *same = std::move(rule);
    } else if (rules_.size() >= kMaxRules) {
        return ops::Errno{ENOSPC};
    } else {
        rules_.push_back(std::move(rule));
    }
    rule_count_ = rules_.size();
    return {};
}

ops::Result<void> FaultPlan::set_latency(std::chrono::microseconds latency) {
    if (latency.count() < 0 || latency > kMaxLatency) return ops::Errno{EINVAL};
    latency_us_ = latency.count();
    return {};
}

void FaultPlan::clear() {
    std::lock_guard lock(mutex_);
    rules_.clear();
    rule_count_ = 0;
    latency_us_ = 0;
    clock_offset_ = 0;
    vanished_errno_ = 0;
}

int FaultPlan::take(Kind kind, std::optional<NameOp> op, std::string_view name) {
    if (rule_count_.load(std::memory_order_relaxed) == 0) return 0;
    std::lock_guard lock(mutex_);
    for (auto it = rules_.begin(); it != rules_.end(); ++it) {
        if (it->kind != kind) continue;
        if (it->op && it->op != op) continue;
        if (!glob_matches(it->glob, name)) continue;
        int err = it->err != 0 ? it->err : lost_reply_errno(*op);
        if (it->remaining != kForever && --it->remaining == 0) {
            rules_.erase(it);
            rule_count_ = rules_.size();
        }
        switch (kind) {
            case Kind::lost_reply:
                ++stats_.lost_reply[index_of(*op)];
                break;
            case Kind::estale:
                ++stats_.estale;
                break;
            case Kind::close_error:
                ++stats_.close_error;
                break;
        }
        return err;
    }
    return 0;
}

int FaultPlan::take_lost_reply(NameOp op, std::string_view name) {
    return take(Kind::lost_reply, op, name);
}

int FaultPlan::take_estale(std::string_view name) {
    return take(Kind::estale, std::nullopt, name);
}

int FaultPlan::take_close_error(std::string_view name) {
    return take(Kind::close_error, std::nullopt, name);
}

int FaultPlan::take_vanished() {
    const int err = vanished_errno_.load(std::memory_order_relaxed);
    if (err == 0) return 0;
    std::lock_guard lock(mutex_);
    ++stats_.vanished_calls;
    return err;
}

FaultStats FaultPlan::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace nfsguard::faultfs
