// SPDX-License-Identifier: Apache-2.0
// tests/cfg/test_util.hpp: helpers shared by the cfg tests.
#pragma once

#include <string>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/diagnostic.hpp"

namespace viaduct::cfg::test {

// "line:col: message" for each diagnostic, the form the tests compare against.
inline std::vector<std::string> brief(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const Diagnostic& x : d) {
    out.push_back(std::to_string(x.line) + ":" + std::to_string(x.col) + ": " + x.message);
  }
  return out;
}

inline std::string joined(const Diagnostics& d) {
  std::string s;
  for (const Diagnostic& x : d) {
    s += x.str() + "\n";
  }
  return s;
}

struct Compiled {
  bool ok = false;
  Program prog;
  Diagnostics diags;
};

inline Compiled compile(const std::string& text, const CompileOptions& opts = {}) {
  Compiled c;
  c.ok = compile_string(text, "t.cfg", "/etc/viaduct", opts, c.prog, c.diags);
  return c;
}

}  // namespace viaduct::cfg::test
