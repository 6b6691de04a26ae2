#include "fs/stats/stats.hpp"

#include "fs/daemon/paths.hpp"
#include "fs/stats/stats_text.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

namespace nfsguard::fs {
namespace {

std::string escape_json(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

// Writes `content` to `path` by way of a temporary name and a rename.
void write_atomically(const std::string& path, const std::string& content) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << content;
        if (!out) return;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        spdlog::debug("cannot write {}: {}", path, std::strerror(errno));
}

// When process `pid` started, in clock ticks since boot (/proc/PID/stat's
// 22nd field): with the pid, it names one process for good.
std::optional<uint64_t> process_start_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto after_name = text.rfind(')');  // the command name may hold spaces
    if (after_name == std::string::npos) return std::nullopt;
    std::istringstream fields(text.substr(after_name + 2));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
        if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
    }
    return std::nullopt;
}

// The number after `"key":` in a JSON text of ours; 0 when absent.
uint64_t json_number(const std::string& json, const std::string& key) {
    const auto at = json.find("\"" + key + "\":");
    return at == std::string::npos ? 0
                                   : std::strtoull(json.c_str() + at + key.size() + 3, nullptr, 10);
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

// {"count":N,"seconds":S,"buckets":[cumulative counts, the last for +Inf]}
// with `extra` members first.
std::string histogram_json(const LatencyHistogram::Snapshot& h, const std::string& extra) {
    std::string buckets;
    for (size_t i = 0; i < h.cumulative.size(); ++i)
        buckets += fmt::format("{}{}", i ? "," : "", h.cumulative[i]);
    return fmt::format("{{{}\"count\":{},\"seconds\":{:.9f},\"buckets\":[{}]}}", extra, h.count,
                       seconds(h.sum), buckets);
}

// The samples of one Prometheus histogram: cumulative buckets with their
// `le` bounds, then _sum and _count (equal to the +Inf bucket).
std::string histogram_samples(const std::string& name, const std::string& labels,
                              const LatencyHistogram::Snapshot& h) {
    std::string out;
    for (size_t i = 0; i < h.cumulative.size(); ++i) {
        const std::string le = i < LatencyHistogram::kBounds.size()
                                   ? fmt::format("{}", seconds(LatencyHistogram::kBounds[i]))
                                   : "+Inf";
        out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le, h.cumulative[i]);
    }
    out += fmt::format("{}_sum{{{}}} {:.9f}\n", name, labels, seconds(h.sum));
    out += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count);
    return out;
}

}  // namespace

std::string stats_path(const std::string& run_dir, const std::string& mountpoint,
                       const char* suffix) {
    return run_dir + "/mount" + path_as_name(mountpoint) + suffix;
}

StatsWriter::StatsWriter(const Filesystem& fs, std::string mountpoint, std::string json_path,
                         std::string prom_path, std::chrono::milliseconds interval)
    : fs_(fs),
      mountpoint_(std::move(mountpoint)),
      json_path_(std::move(json_path)),
      prom_path_(std::move(prom_path)),
      interval_(interval),
      pid_(::getpid()),
      start_ticks_(process_start_ticks(pid_).value_or(0)) {}

StatsWriter::~StatsWriter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // Stopped cleanly: nothing of this instance stays published (a textfile
    // collector would go on exporting its last values).
    for (const auto* path : {&json_path_, &prom_path_}) {
        if (!path->empty() && ::unlink(path->c_str()) != 0 && errno != ENOENT)
            spdlog::warn("cannot remove {}: {}", *path, std::strerror(errno));
    }
}

void StatsWriter::start() {
    write_now();
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
            lock.unlock();
            write_now();
            lock.lock();
        }
    });
}

void StatsWriter::write_now() const {
    if (!json_path_.empty()) write_atomically(json_path_, json());
    if (!prom_path_.empty()) write_atomically(prom_path_, prometheus());
}

std::string StatsWriter::json() const {
    std::string false_errors;
    for (size_t i = 0; i < ops::kFalseErrorOps; ++i) {
        auto op = static_cast<ops::FalseErrorOp>(i);
        false_errors +=
            fmt::format("{}\"{}\":{}", i ? "," : "", ops::op_name(op), fs_.false_errors.count(op));
    }
    std::string bounds;
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i)
        bounds += fmt::format("{}{}", i ? "," : "", seconds(LatencyHistogram::kBounds[i]));
    std::string requests;
    for (size_t i = 0; i < kRequestOps; ++i) {
        const auto op = static_cast<RequestOp>(i);
        const OpStats& o = fs_.requests.of(op);
        requests += fmt::format(
            "{}\"{}\":{}", i ? "," : "", request_op_name(op),
            histogram_json(
                o.latency.snapshot(),
                fmt::format("\"errors\":{},", o.errors.load(std::memory_order_relaxed))));
    }
    const std::string lock_waits =
        histogram_json(fs_.waits.waited(), fmt::format("\"failed\":{},", fs_.waits.failed()));
    std::string ownership = "null";
    if (const Ownership* own = fs_.ownership.get()) {
        const auto& c = own->counts;
        std::string refused;
        for (size_t i = 0; i < Ownership::kRefusals; ++i)
            refused += fmt::format("{}\"{}\":{}", i ? "," : "",
                                   Ownership::refusal_name(static_cast<Ownership::Refusal>(i)),
                                   c.refused[i].load());
        ownership = fmt::format(
            "{{\"host\":\"{}\",\"confirmed\":{},\"units_owned\":{},\"acquired\":{},"
            "\"takeovers\":{},\"released\":{},\"fenced\":{},\"waits\":{},\"refused\":{{{}}}}}",
            escape_json(own->config().host), own->confirmed() ? "true" : "false", own->owned(),
            c.acquired.load(), c.takeovers.load(), c.released.load(), c.fenced.load(),
            c.waits.load(), refused);
    }
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_)
                            .count();
    return fmt::format(
        "{{\"mountpoint\":\"{}\",\"pid\":{},\"process_start_ticks\":{},\"written_unix\":{},"
        "\"uptime_seconds\":{},\"backing_attached\":{},"
        "\"writes_refused\":{},\"false_errors_hidden\":{{{}}},\"estale_retries\":{},"
        "\"clock_skew_seconds\":{},\"lock_waits_now\":{},\"lock_owners_now\":{},"
        "\"inodes_known\":{},\"directory_descriptors\":{},\"lock_waits\":{},"
        "\"restarts\":{{\"planned\":{},\"crashes\":{},\"requests_resent\":{},"
        "\"lock_owners_kept\":{},\"handover_lost\":{}}},\"ownership\":{},"
        "\"latency_buckets_seconds\":[{}],\"requests\":{{{}}}}}\n",
        escape_json(mountpoint_), pid_, start_ticks_, unix_now(), uptime,
        fs_.attached.load() ? "true" : "false", fs_.refused_writes.load(), false_errors,
        fs_.estale_retries.load(),
        fs_.times.skew().measured() ? fmt::format("{:.3f}", fs_.times.skew().seconds()) : "null",
        fs_.waits.waiting(), fs_.locks.size(), fs_.inodes.size(), fs_.inodes.cached_dir_fds(),
        lock_waits, fs_.restarts.planned, fs_.restarts.crashes, fs_.restarts.resent.load(),
        fs_.restarts.locks_kept, fs_.restarts.lost, ownership, bounds, requests);
}

std::string StatsWriter::prometheus() const {
    const std::string m = fmt::format("mount=\"{}\"", escape_json(mountpoint_));
    std::string out;
    // HELP and TYPE once per metric, then its samples.
    auto metric = [&](const char* name, const char* type, const char* help) {
        out +=
            fmt::format("# HELP nfsguard_{} {}\n# TYPE nfsguard_{} {}\n", name, help, name, type);
    };
    // A metric of one sample, labelled with the mount (and `labels`).
    auto single = [&](const char* name, const char* type, const char* help, const auto& value,
                      const std::string& labels = {}) {
        metric(name, type, help);
        out += fmt::format("nfsguard_{}{{{}{}}} {}\n", name, m, labels, value);
    };
    // A counter with a sample per operation.
    auto per_op = [&](const char* name, const char* help, size_t ops, auto op_name, auto count) {
        metric(name, "counter", help);
        for (size_t i = 0; i < ops; ++i)
            out += fmt::format("nfsguard_{}{{{},op=\"{}\"}} {}\n", name, m, op_name(i), count(i));
    };
    single("info", "gauge", "1 for the nfsguard process that serves the mount (its pid).", 1,
           fmt::format(",pid=\"{}\"", pid_));
    single("stats_written_timestamp_seconds", "gauge",
           "When these figures were written (Unix time): old means the instance is gone.",
           unix_now());
    per_op(
        "false_errors_hidden_total", "NFS lost-reply false errors hidden, by operation.",
        ops::kFalseErrorOps,
        [](size_t i) { return ops::op_name(static_cast<ops::FalseErrorOp>(i)); },
        [&](size_t i) { return fs_.false_errors.count(static_cast<ops::FalseErrorOp>(i)); });
    single("backing_attached", "gauge", "1 when the backing can be vouched for, else 0.",
           fs_.attached.load() ? 1 : 0);
    single("writes_refused_total", "counter", "Writes refused while the backing was not attached.",
           fs_.refused_writes.load());
    single("estale_retries_total", "counter", "Calls retried after ESTALE.",
           fs_.estale_retries.load());
    single("clock_skew_seconds", "gauge", "Seconds the NFS server's clock is ahead of this host's.",
           fmt::format("{:.3f}", fs_.times.skew().seconds()));
    single("lock_waits", "gauge", "Lock requests waiting now.", fs_.waits.waiting());
    metric("lock_wait_seconds", "histogram",
           "Lock requests that had to wait for another holder, by how long they waited.");
    out += histogram_samples("nfsguard_lock_wait_seconds", m, fs_.waits.waited());
    single("lock_waits_failed_total", "counter",
           "Lock waits that ended without the lock (interrupted by a signal, or an error).",
           fs_.waits.failed());
    single("inodes", "gauge", "Inodes the kernel knows through this mount.", fs_.inodes.size());
    metric("restarts_total", "counter",
           "Restarts that kept the mount since it was made: planned (in place) and after a crash.");
    out +=
        fmt::format("nfsguard_restarts_total{{{},kind=\"planned\"}} {}\n", m, fs_.restarts.planned);
    out +=
        fmt::format("nfsguard_restarts_total{{{},kind=\"crash\"}} {}\n", m, fs_.restarts.crashes);
    single("requests_resent_total", "counter",
           "Requests a crashed process had read that the kernel sent again to this one.",
           fs_.restarts.resent.load());
    single("lock_owners_kept", "gauge", "Lock owners taken up at the last restart.",
           fs_.restarts.locks_kept);
    single("handover_lost", "gauge",
           "Entries of the last planned restart's handover that could not be taken up.",
           fs_.restarts.lost);
    if (const Ownership* own = fs_.ownership.get()) {
        const auto& c = own->counts;
        single("units_owned", "gauge", "Units this host owns now (ownership=).", own->owned());
        single("ownership_confirmed", "gauge",
               "1 while this host's leases are confirmed with the NFS server.",
               own->confirmed() ? 1 : 0);
        single("units_acquired_total", "counter", "Units whose lease this host took.",
               c.acquired.load());
        single("unit_takeovers_total", "counter",
               "Units taken over from another host (caches of them dropped).", c.takeovers.load());
        single("units_released_total", "counter", "Units let go after their idle time.",
               c.released.load());
        single("units_fenced_total", "counter",
               "Units ended because this host could not confirm its leases.", c.fenced.load());
        single("unit_waits_total", "counter", "Requests that waited for another host's unit.",
               c.waits.load());
        metric("unit_refusals_total", "counter",
               "Requests refused for want of their unit, by reason: held (by another host), "
               "unconfirmed (this host's leases), error.");
        for (size_t i = 0; i < Ownership::kRefusals; ++i)
            out += fmt::format("nfsguard_unit_refusals_total{{{},reason=\"{}\"}} {}\n", m,
                               Ownership::refusal_name(static_cast<Ownership::Refusal>(i)),
                               c.refused[i].load());
    }
    metric("request_duration_seconds", "histogram",
           "FUSE requests served, by operation and how long nfsguard took to answer.");
    for (size_t i = 0; i < kRequestOps; ++i) {
        const auto op = static_cast<RequestOp>(i);
        out += histogram_samples("nfsguard_request_duration_seconds",
                                 fmt::format("{},op=\"{}\"", m, request_op_name(op)),
                                 fs_.requests.of(op).latency.snapshot());
    }
    per_op(
        "request_errors_total", "FUSE requests answered with an error, by operation.", kRequestOps,
        [](size_t i) { return request_op_name(static_cast<RequestOp>(i)); },
        [&](size_t i) {
            return fs_.requests.of(static_cast<RequestOp>(i))
                .errors.load(std::memory_order_relaxed);
        });
    return out;
}

int print_stats(int argc, const char* const* argv) {
    bool json = false;
    std::string run_dir = "/run/nfsguard";
    std::string mountpoint;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--json") {
            json = true;
        } else if (arg == "--run-dir" && i + 1 < argc) {
            run_dir = argv[++i];
        } else if (mountpoint.empty() && arg[0] != '-') {
            mountpoint = arg;
        } else {
            std::fprintf(stderr, "usage: nfsguard stats [--json] [--run-dir DIR] MOUNTPOINT\n");
            return 2;
        }
    }
    if (mountpoint.empty()) {
        std::fprintf(stderr, "usage: nfsguard stats [--json] [--run-dir DIR] MOUNTPOINT\n");
        return 2;
    }
    const std::string path = stats_path(run_dir, absolute_path(mountpoint), ".json");
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    if (!in || content.str().empty()) {
        std::fprintf(stderr, "nfsguard: no stats for %s (%s): is nfsguard mounted there?\n",
                     mountpoint.c_str(), path.c_str());
        return 1;
    }
    // The file of an instance that crashed stays: its writer is gone, or
    // the pid now names another process.
    const auto pid = static_cast<pid_t>(json_number(content.str(), "pid"));
    const bool stale =
        pid > 0 && process_start_ticks(pid) != json_number(content.str(), "process_start_ticks");
    if (stale)
        std::fprintf(stderr,
                     "nfsguard: the stats in %s are stale: pid %d that wrote them is gone "
                     "(crashed?), %lld s ago\n",
                     path.c_str(), pid,
                     static_cast<long long>(unix_now() - static_cast<int64_t>(json_number(
                                                             content.str(), "written_unix"))));
    const int status = stale ? 1 : 0;
    if (json) {
        std::fputs(content.str().c_str(), stdout);
        return status;
    }
    const std::string text = stats_as_text(content.str());
    if (text.empty()) {
        std::fprintf(stderr, "nfsguard: cannot read the stats in %s\n", path.c_str());
        return 1;
    }
    std::fputs(text.c_str(), stdout);
    return status;
}

}  // namespace nfsguard::fs
