// SPDX-License-Identifier: Apache-2.0
// tools/tool_ds_select.cpp: placeholder until the subcommand lands.
#include "tools/tool.hpp"

namespace viaduct::tool {

void register_ds_select(CLI::App& app, int& rc) {
  (void)app;
  (void)rc;
}

}  // namespace viaduct::tool
