// SPDX-License-Identifier: Apache-2.0
// cfg/parser.hpp: recursive-descent parser of the routing-script language.
#pragma once

#include <vector>

#include "cfg/ast.hpp"
#include "cfg/diagnostic.hpp"
#include "cfg/lexer.hpp"

namespace viaduct::cfg {

// Parses the preprocessed token stream (ending in kEof). Syntax errors go to `diags`; the parser
// recovers at the next statement or top-level item and keeps going, so one run reports every
// error. The returned Script holds everything that parsed.
Script parse(const std::vector<Token>& tokens, Diagnostics& diags);

}  // namespace viaduct::cfg
