// LocatedObjects: Located values for names in a test directory, as fs/ would
// hand them to ops/ (an O_PATH descriptor verified against the name), kept
// valid for the life of the test.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <deque>
#include <string>

#include "ops/located.hpp"
#include "ops/namespace_ops.hpp"
#include "ops/unique_fd.hpp"

namespace nfsguard::test {

class LocatedObjects {
  public:
    ops::Located locate(ops::Syscalls& sys, int dirfd, const std::string& name) {
        auto st = ops::lookup_entry(sys, dirfd, name.c_str());
        EXPECT_TRUE(st) << name;
        auto o = ops::open_entry(sys, dirfd, name.c_str(), st->st_dev, st->st_ino);
        EXPECT_TRUE(o) << name;
        fds_.push_back(std::move(o->fd));
        names_.push_back(name);
        return ops::Located{fds_.back().get(), st->st_mode & S_IFMT, dirfd, names_.back().c_str()};
    }

  private:
    std::deque<ops::UniqueFd> fds_;
    std::deque<std::string> names_;  // deque: the c_str() handed out stay put
};

}  // namespace nfsguard::test
