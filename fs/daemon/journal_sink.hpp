// JournalSink: log lines on stderr as systemd's journal reads them.
//
// A service's stderr goes to the journal, which takes a "<N>" prefix on a
// line as its syslog priority: with it, nfsguard's warnings and errors show
// as such in `journalctl -p warning`. Used when systemd runs nfsguard (it
// sets $JOURNAL_STREAM); otherwise stderr gets the usual readable lines.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>

namespace nfsguard::fs {

class JournalSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    static int priority(spdlog::level::level_enum level) {
        switch (level) {
            case spdlog::level::critical:
                return 2;  // LOG_CRIT
            case spdlog::level::err:
                return 3;  // LOG_ERR
            case spdlog::level::warn:
                return 4;  // LOG_WARNING
            case spdlog::level::info:
                return 6;  // LOG_INFO
            default:
                return 7;  // LOG_DEBUG
        }
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::fprintf(stderr, "<%d>%.*s\n", priority(msg.level),
                     static_cast<int>(msg.payload.size()), msg.payload.data());
    }
    void flush_() override { std::fflush(stderr); }
};

}  // namespace nfsguard::fs
