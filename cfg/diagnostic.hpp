// SPDX-License-Identifier: Apache-2.0
// cfg/diagnostic.hpp: a message about the user's input, with its location.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace viaduct::cfg {

struct Diagnostic {
  enum class Severity : uint8_t { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  uint32_t line = 0;  // 1-based; 0 when the message is about the whole file
  uint32_t col = 0;   // 1-based
  std::string message;

  // "file:line:col: error: message" (line/col left out when 0).
  std::string str() const;
};

using Diagnostics = std::vector<Diagnostic>;

inline bool has_errors(const Diagnostics& d) {
  for (const auto& x : d) {
    if (x.severity == Diagnostic::Severity::kError) {
      return true;
    }
  }
  return false;
}

// Reads a whole file into `out`; on failure appends "path: error: cannot open: <reason>".
bool read_file(const std::string& path, std::string& out, Diagnostics& diags);

}  // namespace viaduct::cfg
