// FaultFs: the state of one mounted faultfs, shared by every request thread.
#pragma once

#include <optional>

#include "tests/faultfs/backing.hpp"
#include "tests/faultfs/control_server.hpp"
#include "tests/faultfs/fault_plan.hpp"
#include "tests/faultfs/server_clock.hpp"

namespace nfsguard::faultfs {

struct FaultFs {
    FaultFs(ops::UniqueFd root, bool as_callers)
        : backing(std::move(root)),
          clock(plan, as_callers),
          control(plan),
          switch_identity(as_callers) {}

    Backing backing;
    FaultPlan plan;
    ServerClock clock;
    ControlServer control;
    // Off when not run as root: then every call is made as our own user.
    const bool switch_identity;
};

// The FaultFs of the request this thread is serving.
FaultFs& this_faultfs();

}  // namespace nfsguard::faultfs
