// SPDX-License-Identifier: Apache-2.0
#include "cfg/diagnostic.hpp"

namespace viaduct::cfg {

std::string Diagnostic::str() const {
  std::string s = file;
  if (line != 0) {
    s += ':' + std::to_string(line);
    if (col != 0) {
      s += ':' + std::to_string(col);
    }
  }
  if (!s.empty()) {
    s += ": ";
  }
  s += severity == Severity::kError ? "error: " : "warning: ";
  s += message;
  return s;
}

}  // namespace viaduct::cfg
