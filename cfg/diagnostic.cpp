// SPDX-License-Identifier: Apache-2.0
#include "cfg/diagnostic.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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

bool read_file(const std::string& path, std::string& out, Diagnostics& diags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.push_back(Diagnostic{Diagnostic::Severity::kError, path, 0, 0,
                               std::string("cannot open: ") + std::strerror(errno)});
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace viaduct::cfg
