// Stats: every counter of one mount, written where administrators look.
//
// Every `interval` the writer puts a JSON file (read by `nfsguard stats
// MOUNTPOINT`) and a Prometheus text file (for node_exporter's textfile
// collector) in the run directory, each written to a temporary name and
// renamed, so a reader never sees half a file. A clean stop removes both;
// a crashed instance's files name its pid and when they were written, so
// that a reader can tell them stale.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "fs/filesystem.hpp"

namespace nfsguard::fs {

// The files of a mount point (an absolute path, fs/daemon/paths.hpp):
// RUN_DIR/mount<mount point with '/' as '-'>.json or .prom.
std::string stats_path(const std::string& run_dir, const std::string& mountpoint,
                       const char* suffix);

class StatsWriter {
  public:
    StatsWriter(const Filesystem& fs, std::string mountpoint, std::string json_path,
                std::string prom_path, std::chrono::milliseconds interval);
    ~StatsWriter();  // stops, and removes the files
    StatsWriter(const StatsWriter&) = delete;
    StatsWriter& operator=(const StatsWriter&) = delete;

    void start();
    void write_now() const;

    std::string json() const;
    std::string prometheus() const;

  private:
    const Filesystem& fs_;
    const std::string mountpoint_;
    const std::string json_path_;
    const std::string prom_path_;
    const std::chrono::milliseconds interval_;
    const pid_t pid_;
    const uint64_t start_ticks_;  // with the pid, names this process for good
    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

// `nfsguard stats [--json] [--run-dir DIR] MOUNTPOINT`: prints the stats file
// of a mount, as is (--json) or in human form. Returns the exit status: 1
// also for the stale file of an instance that is gone.
int print_stats(int argc, const char* const* argv);

}  // namespace nfsguard::fs
