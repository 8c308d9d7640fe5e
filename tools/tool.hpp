// SPDX-License-Identifier: Apache-2.0
// tools/tool.hpp: viaduct-tool subcommands. Each lives in its own tool_*.cpp and registers a
// CLI11 subcommand; the callback it sets stores the exit status in `rc`.
#pragma once

#include <CLI/CLI.hpp>

namespace viaduct::tool {

// viaduct-tool parse FILE|-: one SIP message in, one JSON object out (tool_parse.cpp).
void register_parse(CLI::App& app, int& rc);

// viaduct-tool ds-select --list FILE --set N --alg A [--down URI]...: keys on stdin, one chosen
// destination URI per key out, through the dataplane's selection code (tool_ds_select.cpp).
void register_ds_select(CLI::App& app, int& rc);

}  // namespace viaduct::tool
