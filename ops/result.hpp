// Result<T>: a value or an errno.
//
// A backing syscall's failure is a value that the caller must look at: every
// function in ops/ returns Result, and fs/ turns an error into exactly one
// fuse_reply_err. No exception crosses the FUSE boundary.
#pragma once

#include <cerrno>
#include <utility>
#include <variant>

namespace nfsguard::ops {

struct Errno {
    int value;
};

// The errno of the syscall that just failed, as an Errno.
inline Errno last_errno() {
    return Errno{errno != 0 ? errno : EIO};
}

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Errno e) : v_(e) {}                 // NOLINT(google-explicit-constructor)

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    int error() const { return ok() ? 0 : std::get<Errno>(v_).value; }

    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

  private:
    std::variant<T, Errno> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Errno e) : err_(e.value) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return err_ == 0; }
    explicit operator bool() const { return ok(); }
    int error() const { return err_; }

  private:
    int err_ = 0;
};

// The common shape of a syscall wrapper: -1 means "look at errno".
inline Result<void> check(int rc) {
    if (rc == -1) return last_errno();
    return {};
}

}  // namespace nfsguard::ops
