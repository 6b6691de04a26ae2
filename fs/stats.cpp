#include "fs/stats.hpp"

#include "fs/paths.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
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
      interval_(interval) {}

StatsWriter::~StatsWriter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    write_now();
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
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_)
                            .count();
    return fmt::format(
        "{{\"mountpoint\":\"{}\",\"uptime_seconds\":{},\"backing_attached\":{},"
        "\"writes_refused\":{},\"false_errors_hidden\":{{{}}},\"estale_retries\":{},"
        "\"clock_skew_seconds\":{},\"lock_waits_now\":{},\"lock_owners_now\":{},"
        "\"inodes_known\":{},\"directory_descriptors\":{}}}\n",
        escape_json(mountpoint_), uptime, fs_.attached.load() ? "true" : "false",
        fs_.refused_writes.load(), false_errors, fs_.estale_retries.load(),
        fs_.skew.measured() ? fmt::format("{:.3f}", fs_.skew.seconds()) : "null",
        fs_.waits.waiting(), fs_.locks.size(), fs_.inodes.size(), fs_.inodes.cached_dir_fds());
}

std::string StatsWriter::prometheus() const {
    const std::string m = fmt::format("mount=\"{}\"", escape_json(mountpoint_));
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help) {
        out +=
            fmt::format("# HELP nfsguard_{} {}\n# TYPE nfsguard_{} {}\n", name, help, name, type);
    };
    metric("false_errors_hidden_total", "counter",
           "NFS lost-reply false errors hidden, by operation.");
    for (size_t i = 0; i < ops::kFalseErrorOps; ++i) {
        auto op = static_cast<ops::FalseErrorOp>(i);
        out += fmt::format("nfsguard_false_errors_hidden_total{{{},op=\"{}\"}} {}\n", m,
                           ops::op_name(op), fs_.false_errors.count(op));
    }
    metric("backing_attached", "gauge", "1 when the backing can be vouched for, else 0.");
    out += fmt::format("nfsguard_backing_attached{{{}}} {}\n", m, fs_.attached.load() ? 1 : 0);
    metric("writes_refused_total", "counter", "Writes refused while the backing was not attached.");
    out += fmt::format("nfsguard_writes_refused_total{{{}}} {}\n", m, fs_.refused_writes.load());
    metric("estale_retries_total", "counter", "Calls retried after ESTALE.");
    out += fmt::format("nfsguard_estale_retries_total{{{}}} {}\n", m, fs_.estale_retries.load());
    metric("clock_skew_seconds", "gauge",
           "Seconds the NFS server's clock is ahead of this host's.");
    out += fmt::format("nfsguard_clock_skew_seconds{{{}}} {:.3f}\n", m, fs_.skew.seconds());
    metric("lock_waits", "gauge", "Lock requests waiting now.");
    out += fmt::format("nfsguard_lock_waits{{{}}} {}\n", m, fs_.waits.waiting());
    metric("inodes", "gauge", "Inodes the kernel knows through this mount.");
    out += fmt::format("nfsguard_inodes{{{}}} {}\n", m, fs_.inodes.size());
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
    if (json) {
        std::fputs(content.str().c_str(), stdout);
        return 0;
    }
    // Human form: one "key: value" line per field, nested objects flattened.
    std::string text = content.str();
    std::string key, out, prefix;
    bool in_string = false, reading_key = true;
    std::string token;
    auto flush_value = [&] {
        if (!token.empty()) out += fmt::format("{:<32} {}\n", prefix + key, token);
        token.clear();
    };
    for (char c : text) {
        if (in_string) {
            if (c == '"')
                in_string = false;
            else
                (reading_key ? key : token) += c;
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                if (reading_key) key.clear();
                break;
            case ':':
                reading_key = false;
                break;
            case '{':
                if (!key.empty()) prefix = key + ".";
                reading_key = true;
                key.clear();
                break;
            case '}':
                flush_value();
                prefix.clear();
                reading_key = true;
                break;
            case ',':
                flush_value();
                reading_key = true;
                break;
            case ' ':
            case '\n':
                break;
            default:
                token += c;
        }
    }
    std::fputs(out.c_str(), stdout);
    return 0;
}

}  // namespace nfsguard::fs
