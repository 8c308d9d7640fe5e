// SPDX-License-Identifier: Apache-2.0
// tools/tool_parse.cpp: placeholder until the subcommand lands.
#include "tools/tool.hpp"

namespace viaduct::tool {

void register_parse(CLI::App& app, int& rc) {
  (void)app;
  (void)rc;
}

}  // namespace viaduct::tool
