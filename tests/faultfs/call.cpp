#include "tests/faultfs/call.hpp"

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <thread>
#include <vector>

#include "ops/identity.hpp"

namespace nfsguard::faultfs {
FaultFs& this_faultfs() {
    return *static_cast<FaultFs*>(fuse_get_context()->private_data);
}

void wait_latency(const FaultFs& fs) {
    const auto latency = fs.plan.latency();
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
}

Call::Call(std::initializer_list<std::string_view> names) : fs_(this_faultfs()) {
    wait_latency(fs_);
    if (int err = fs_.plan.take_vanished(); err != 0) {
        refusal_ = -err;
        return;
    }
    for (auto name : names) {
        if (int err = fs_.plan.take_estale(name); err != 0) {
            spdlog::info("fault: estale on '{}'", name);
            refusal_ = -err;
            return;
        }
    }
    if (!fs_.switch_identity) return;
    const fuse_context* ctx = fuse_get_context();
    ops::Identity who{ctx->uid, ctx->gid, ops::read_groups(fuse_getgroups)};
    if (auto r = ops::act_as(who); !r) {
        spdlog::error("cannot act as uid {} gid {}: {}", who.uid, who.gid,
                      std::strerror(r.error()));
        refusal_ = -EPERM;
    }
}

}  // namespace nfsguard::faultfs
