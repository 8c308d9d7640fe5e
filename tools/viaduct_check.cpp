// SPDX-License-Identifier: Apache-2.0
// tools/viaduct-check: checks a routing script without starting anything.
//   viaduct-check -f ROUTING.cfg [-A NAME[=VALUE]]... [-s SETTINGS.toml]
//   viaduct-check -f ROUTING.cfg [-A NAME[=VALUE]]... --syntax-only [--dump-ast]
// The same check as `viaduct -c`; --syntax-only stops after preprocessing and parsing, for
// scripts that load modules viaduct does not implement. Exit status 0 when the script is
// accepted, 1 with file:line:col diagnostics on stderr when not, 2 on usage errors.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cfg/parser.hpp"
#include "control/app.hpp"

int main(int argc, char** argv) {
  CLI::App app{"viaduct-check: check a routing script (Kamailio configuration language)"};
  viaduct::ctl::AppOptions o;
  std::vector<std::string> defines;
  bool syntax_only = false;
  bool dump_ast = false;
  app.add_option("-f,--file", o.script, "routing script")->required();
  app.add_option("-s,--settings", o.settings, "deployment settings (TOML), checked too");
  app.add_option("-A,--define", defines, "define NAME[=VALUE] for the preprocessor (repeatable)")
      ->take_all();
  app.add_flag("--syntax-only", syntax_only,
               "stop after preprocessing and parsing (modules, functions and parameters are "
               "not checked against what viaduct implements)");
  app.add_flag("--dump-ast", dump_ast, "with --syntax-only: print the syntax tree to stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  for (const std::string& d : defines) {
    o.defines.push_back(viaduct::ctl::split_define(d));
  }
  if (!syntax_only) {
    o.check_only = true;
    return viaduct::ctl::run_check(o);
  }
  viaduct::cfg::ParseOptions po;
  po.defines = o.defines;
  viaduct::cfg::Script script;
  viaduct::cfg::Diagnostics diags;
  const bool ok = viaduct::cfg::parse_file(o.script, po, script, diags);
  for (const viaduct::cfg::Diagnostic& d : diags) {
    std::fprintf(stderr, "%s\n", d.str().c_str());
  }
  if (ok && dump_ast) {
    std::fputs(viaduct::cfg::dump(script).c_str(), stdout);
  }
  if (ok) {
    std::fprintf(stderr, "%s: syntax accepted\n", o.script.c_str());
  }
  return ok ? 0 : 1;
}
