// A scratch directory for one test, removed with everything in it after.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ops/unique_fd.hpp"

namespace nfsguard::test {

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/nfsguard-unit-XXXXXX";
        path_ = ::mkdtemp(tmpl);
        ::chmod(path_.c_str(), 0755);
        fd_.reset(::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }
    int fd() const { return fd_.get(); }

    void write(const std::string& name, const std::string& content, mode_t mode = 0644) const {
        std::ofstream(*this / name) << content;
        ::chmod((*this / name).c_str(), mode);
    }
    std::string read(const std::string& name) const {
        std::ifstream in(*this / name);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    bool exists(const std::string& name) const {
        struct stat st;
        return ::lstat((*this / name).c_str(), &st) == 0;
    }

  private:
    std::string path_;
    ops::UniqueFd fd_;
};

}  // namespace nfsguard::test
