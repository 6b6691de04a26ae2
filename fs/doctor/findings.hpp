// What `nfsguard doctor` found: one line per check, ok, warn or fail, with
// the reason and, for the other two, the fix.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nfsguard::fs::doctor {

enum class Level { ok, warn, fail };

struct Finding {
    Level level;
    std::string check;  // a short dotted name: "nfs.hard", "dovecot.mmap_disable"
    std::string reason;
    std::string fix;  // empty for ok
};

class Report {
  public:
    void ok(std::string check, std::string reason) {
        add(Level::ok, std::move(check), std::move(reason), {});
    }
    void warn(std::string check, std::string reason, std::string fix) {
        add(Level::warn, std::move(check), std::move(reason), std::move(fix));
    }
    void fail(std::string check, std::string reason, std::string fix) {
        add(Level::fail, std::move(check), std::move(reason), std::move(fix));
    }
    void add(Level level, std::string check, std::string reason, std::string fix) {
        findings_.push_back(Finding{level, std::move(check), std::move(reason), std::move(fix)});
    }

    const std::vector<Finding>& findings() const { return findings_; }
    // The finding named `check`, or null.
    const Finding* find(const std::string& check) const;
    // 2 if anything failed, 1 if anything warns, else 0.
    int exit_status() const;
    // One line each: "ok    nfs.hard  /srv/mail is mounted hard", a fix after
    // " -- fix: ".
    std::string text() const;
    std::string json(const std::string& path) const;

  private:
    std::vector<Finding> findings_;
};

}  // namespace nfsguard::fs::doctor
