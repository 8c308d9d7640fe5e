// SPDX-License-Identifier: Apache-2.0
// cfg/compile.hpp: routing script (Kamailio configuration language) -> Program.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cfg/diagnostic.hpp"
#include "cfg/program.hpp"

namespace viaduct::cfg {

struct CompileOptions {
  // -A NAME[=VALUE] from the command line, in order.
  std::vector<std::pair<std::string, std::string>> defines;
};

// Preprocesses, parses, checks and compiles the script at `path`. Appends every diagnostic
// found (all errors of the file, not only the first) to `diags`. Returns true and fills `out`
// when there are no errors. Control thread / tools only; allocates; never throws.
bool compile_file(const std::string& path, const CompileOptions& opts, Program& out,
                  Diagnostics& diags);

// Same, from text in memory; `name` is the file name used in diagnostics and the directory
// relative paths (include files, dispatcher list) are resolved against is `base_dir`.
bool compile_string(const std::string& text, const std::string& name, const std::string& base_dir,
                    const CompileOptions& opts, Program& out, Diagnostics& diags);

}  // namespace viaduct::cfg
