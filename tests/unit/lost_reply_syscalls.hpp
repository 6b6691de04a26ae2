// LostReplySyscalls: the real calls, except that an armed call is performed
// and then answered with the error its retransmission would get from an NFS
// server that forgot the first request: "the call happened, then the error
// came". Other tests use `instead` to fail a call without performing it, or
// to change the tree before answering, as another host would. Every call
// on the backing that the ops make is also noted by name in `calls`, so that
// a test can say how many round trips an operation cost.
#pragma once

#include <fcntl.h>

#include <functional>
#include <string>
#include <vector>

#include "ops/syscalls.hpp"

namespace nfsguard::test {

class LostReplySyscalls : public ops::Syscalls {
  public:
    enum class Op { none, rename, link, mkdir, symlink, unlink, rmdir, create_excl };

    // The next call of `op` is performed, then answered with `err`.
    void lose_reply(Op op, int err) {
        armed_ = op;
        err_ = err;
    }
    // The next call of `op` runs `fn` instead and answers `err`.
    void instead(Op op, int err, std::function<void()> fn) {
        lose_reply(op, err);
        instead_ = std::move(fn);
    }
    int faults = 0;
    std::vector<std::string> calls;

    ops::Result<struct stat> fstatat(int d, const char* p, int flags) override {
        calls.emplace_back("fstatat");
        return Syscalls::fstatat(d, p, flags);
    }
    ops::Result<struct stat> fstat(int fd) override {
        calls.emplace_back("fstat");
        return Syscalls::fstat(fd);
    }
    ops::Result<void> refresh_attributes(int fd) override {
        calls.emplace_back("refresh_attributes");
        return Syscalls::refresh_attributes(fd);
    }
    ops::Result<std::string> readlinkat(int d, const char* p) override {
        calls.emplace_back("readlinkat");
        return Syscalls::readlinkat(d, p);
    }
    ops::Result<void> read_directory(int fd,
                                     const std::function<bool(const char*)>& visit) override {
        calls.emplace_back("read_directory");
        return Syscalls::read_directory(fd, visit);
    }
    ops::Result<void> renameat2(int od, const char* on, int nd, const char* nn,
                                unsigned flags) override {
        calls.emplace_back("renameat2");
        return fault(Op::rename, [&] { return Syscalls::renameat2(od, on, nd, nn, flags); });
    }
    ops::Result<void> linkat(int od, const char* op, int nd, const char* nn, int flags) override {
        calls.emplace_back("linkat");
        return fault(Op::link, [&] { return Syscalls::linkat(od, op, nd, nn, flags); });
    }
    ops::Result<void> mkdirat(int d, const char* n, mode_t m) override {
        calls.emplace_back("mkdirat");
        return fault(Op::mkdir, [&] { return Syscalls::mkdirat(d, n, m); });
    }
    ops::Result<void> symlinkat(const char* t, int d, const char* n) override {
        calls.emplace_back("symlinkat");
        return fault(Op::symlink, [&] { return Syscalls::symlinkat(t, d, n); });
    }
    ops::Result<void> unlinkat(int d, const char* n, int flags) override {
        calls.emplace_back("unlinkat");
        return fault(flags & AT_REMOVEDIR ? Op::rmdir : Op::unlink,
                     [&] { return Syscalls::unlinkat(d, n, flags); });
    }
    ops::Result<ops::UniqueFd> openat(int d, const char* p, int flags, mode_t mode) override {
        calls.emplace_back("openat");
        if (armed_ != Op::create_excl || (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL))
            return Syscalls::openat(d, p, flags, mode);
        auto r = fault(Op::create_excl, [&]() -> ops::Result<void> {
            auto fd = Syscalls::openat(d, p, flags, mode);  // created, and closed again
            if (!fd) return ops::Errno{fd.error()};
            return {};
        });
        return ops::Errno{r.error()};
    }

  private:
    template <typename Call>
    ops::Result<void> fault(Op op, Call call) {
        if (armed_ != op) return call();
        armed_ = Op::none;
        ++faults;
        if (instead_) {
            auto fn = std::move(instead_);
            instead_ = nullptr;
            fn();
        } else if (auto r = call(); !r) {
            return r;  // it failed for real: that error is the answer
        }
        return ops::Errno{err_};
    }

    Op armed_ = Op::none;
    int err_ = 0;
    std::function<void()> instead_;
};

}  // namespace nfsguard::test
