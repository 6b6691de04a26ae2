// Service notification: tells systemd (Type=notify) when the mount is up and
// what state it is in, by the sd_notify datagram protocol on $NOTIFY_SOCKET.
// A few lines of socket code instead of a dependency on libsystemd.
#pragma once

#include <string>

namespace nfsguard::fs {

// Sends `message` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET if it is set.
// Returns false when it is set but the message could not be sent.
bool notify_service(const std::string& message);

}  // namespace nfsguard::fs
