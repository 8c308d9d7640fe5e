// SPDX-License-Identifier: Apache-2.0
// control/app.hpp: the viaduct process: load, check, run.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace viaduct::ctl {

struct AppOptions {
  std::string script;    // -f
  std::string settings;  // -s
  std::vector<std::pair<std::string, std::string>> defines;  // -A NAME[=VALUE]
  bool check_only = false;  // -c
};

// -c: compiles the script, reads the dispatcher list and the settings (when given), prints
// file:line:col diagnostics to stderr. Returns 0 when everything is accepted.
int run_check(const AppOptions& o);

// Runs the dispatcher until SIGTERM/SIGINT. SIGHUP reloads the script and the dispatcher list.
// Returns the process exit code.
int run_daemon(const AppOptions& o);

// "NAME=VALUE" / "NAME" -> pair.
std::pair<std::string, std::string> split_define(const std::string& arg);

}  // namespace viaduct::ctl
