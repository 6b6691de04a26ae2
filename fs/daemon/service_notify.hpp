// Service notification: tells systemd (Type=notify) when the mount is up and
// what state it is in, by the sd_notify datagram protocol on $NOTIFY_SOCKET,
// and keeps descriptors in its file descriptor store (FDSTORE=1), which hands
// them to the next start as $LISTEN_FDS. A few lines of socket code instead
// of a dependency on libsystemd.
#pragma once

#include <map>
#include <string>

#include "ops/unique_fd.hpp"

namespace nfsguard::fs {

// Sends `message` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET if it is set.
// Returns false when it is set but the message could not be sent.
bool notify_service(const std::string& message);

// Whether a service manager listens ($NOTIFY_SOCKET is set): only then is
// there a store to keep descriptors in.
bool service_manager_present();
// Keeps `fd` in the store under `name` (letters, digits, '-', '_', '.'),
// replacing nothing: a name is stored once. False if it could not be sent,
// or the store is full ($FDSTORE names in it).
bool store_descriptor(const std::string& name, int fd);
// Removes (and closes) what the store keeps under `name`.
bool unstore_descriptor(const std::string& name);

// Whether the service manager has a restart of this unit under way (a job
// "restart" or "try-restart" for $NFSGUARD_UNIT, which the unit sets to its
// own name), as `systemctl list-jobs` tells within a few seconds: then the
// SIGTERM that came is the restart's stop, not the unit's end.
bool restart_queued();

// The descriptors passed to this process ($LISTEN_PID, $LISTEN_FDS,
// $LISTEN_FDNAMES), by name, close-on-exec from now on; the variables are
// removed. Empty when none were passed to this pid.
std::map<std::string, ops::UniqueFd> take_passed_descriptors();

}  // namespace nfsguard::fs
