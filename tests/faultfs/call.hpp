// Call: what every request does before it touches the backing tree.
//
// In this order: wait out the imitated network round trip; fail if the
// export has vanished; fail with ESTALE if one of the names the call uses is
// armed for it; then take on the caller's identity, so that the backing
// filesystem checks the caller's permissions and new files belong to the
// caller. When any step refuses, the call must return refusal() at once,
// without touching the backing tree.
#pragma once

#include <initializer_list>
#include <string_view>

#include "tests/faultfs/faultfs.hpp"

namespace nfsguard::faultfs {

class Call {
  public:
    // `names`: the entry names the call is about (see entry_name()).
    Call(std::initializer_list<std::string_view> names);

    // 0 when the call may go on; otherwise the negative errno to return.
    int refusal() const { return refusal_; }
    FaultFs& fs() { return fs_; }

  private:
    FaultFs& fs_;
    int refusal_ = 0;
};

// The imitated round trip alone, for release: it is never refused (the
// kernel ignores its result) and needs no identity.
void wait_latency(const FaultFs& fs);

}  // namespace nfsguard::faultfs
