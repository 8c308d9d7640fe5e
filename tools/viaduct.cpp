// SPDX-License-Identifier: Apache-2.0
// tools/viaduct.cpp: the viaduct binary.
//   viaduct -f ROUTING.cfg -s SETTINGS.toml [-A NAME[=VALUE]]... [-c [--explain] | --syntax-only]
#include <CLI/CLI.hpp>
#include <hs/hs.h>
#include <openssl/opensslv.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/disasm.hpp"
#include "cfg/parser.hpp"
#include "control/app.hpp"

int main(int argc, char** argv) {
  CLI::App app{"viaduct: a stateless, kernel-bypass SIP load balancer that runs Kamailio "
               "routing scripts"};
  viaduct::ctl::AppOptions o;
  std::vector<std::string> defines;
  app.add_option("-f,--file", o.script, "routing script (Kamailio configuration language)")
      ->required();
  app.add_option("-s,--settings", o.settings, "deployment settings (TOML)");
  app.add_option("-A,--define", defines, "define NAME[=VALUE] for the preprocessor (repeatable)")
      ->take_all();
  app.add_flag("-c,--check", o.check_only, "check the script (and settings) and exit");
  bool explain = false;
  app.add_flag("--explain", explain,
               "with -c: print, for each route, fast path or slow path and why");
  bool syntax_only = false;
  app.add_flag("--syntax-only", syntax_only,
               "check only the script's syntax (preprocessor and parser) and exit; implies -c");
  app.set_version_flag("-V,--version", std::string("viaduct ") + VD_VERSION + " (hyperscan " +
                                           hs_version() + ", " + OPENSSL_VERSION_TEXT + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any usage error 2, as the README says (CLI11's own codes
    // are 100 and up).
    const int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  for (const std::string& d : defines) {
    o.defines.push_back(viaduct::ctl::split_define(d));
  }
  if (syntax_only) {
    viaduct::cfg::ParseOptions po;
    po.defines = o.defines;
    viaduct::cfg::Script script;
    viaduct::cfg::Diagnostics diags;
    const bool ok = viaduct::cfg::parse_file(o.script, po, script, diags);
    for (const viaduct::cfg::Diagnostic& d : diags) {
      std::fprintf(stderr, "%s\n", d.str().c_str());
    }
    if (ok) {
      std::fprintf(stderr, "%s: syntax accepted\n", o.script.c_str());
    }
    return ok ? 0 : 1;
  }
  if (o.check_only) {
    const int rc = viaduct::ctl::run_check(o);
    if (rc == 0 && explain) {
      viaduct::cfg::CompileOptions co;
      co.defines = o.defines;
      viaduct::cfg::Program prog;
      viaduct::cfg::Diagnostics diags;
      if (viaduct::cfg::compile_file(o.script, co, prog, diags)) {
        std::fputs(viaduct::cfg::explain(prog).c_str(), stdout);
      }
    }
    return rc;
  }
  // Hyperscan needs SSSE3; the regex engine of the routing script is built on it.
  if (hs_valid_platform() != HS_SUCCESS) {
    std::fprintf(stderr, "viaduct: error: this CPU lacks the instructions Hyperscan needs\n");
    return 1;
  }
  return viaduct::ctl::run_daemon(o);
}
