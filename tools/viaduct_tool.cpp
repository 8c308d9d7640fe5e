// SPDX-License-Identifier: Apache-2.0
// tools/viaduct_tool.cpp: viaduct-tool, offline helpers that run the dataplane's own code.
// Exit status: what the subcommand says; 2 on usage errors.
#include <CLI/CLI.hpp>

#include "tools/tool.hpp"

int main(int argc, char** argv) {
  CLI::App app{"viaduct-tool: offline helpers over viaduct's SIP and dispatcher code"};
  app.require_subcommand(1);
  int rc = 0;
  viaduct::tool::register_parse(app, rc);
  viaduct::tool::register_ds_select(app, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  return rc;
}
