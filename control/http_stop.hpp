// SPDX-License-Identifier: Apache-2.0
// control/http_stop.hpp: stopping a civetweb HTTP server (the management API's, and the one
// inside prometheus-cpp's Exposer) at once. civetweb's listener thread polls its listening
// sockets with a 2 s timeout compiled into the library (SOCKET_TIMEOUT_QUANTUM) and reads its
// stop flag only between polls, so mg_stop() took up to 2 s (1 s on average): viaduct took
// ~1.06 s to exit on SIGTERM. While the stop runs, a helper thread connects to the listening
// ports every 10 ms; the first connection after the flag is set ends the poll.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace viaduct::ctl {

// The address a local connection reaches a listener on, for civetweb's `listening_ports`
// syntax ("port", "+port", "host:port", "[v6]:port", with an optional 's' or 'r' suffix): the
// listen host, or loopback when it binds every address (none given, 0.0.0.0, [::]).
std::string wake_address(std::string_view listen);

// Runs `stop` (which must return once the server is stopped) while connecting to
// wake_address(listen) on every port in `ports`, every 10 ms, until it returns.
void stop_listener(std::string_view listen, const std::vector<int>& ports,
                   const std::function<void()>& stop);

}  // namespace viaduct::ctl
