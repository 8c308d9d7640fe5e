// SPDX-License-Identifier: Apache-2.0
// cfg/parser.hpp: recursive-descent parser of the routing-script language.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cfg/ast.hpp"
#include "cfg/diagnostic.hpp"
#include "cfg/lexer.hpp"

namespace viaduct::cfg {

// How deeply statements, and expressions, may nest: blocks, if/else-if chains, while and
// switch bodies; parentheses, unary operators, call arguments, and chains of binary operators
// (1+1+...+1 is a tree as deep as the chain is long). Deeper input is an error at the point
// where it passes the limit. The parser, the compiler and the tree dump recurse, on the front
// end's own stack (deep_stack.hpp: ~3.6 KiB a level in the optimised build, the ASan -O0 one
// takes more); the tree's destructors do not. 10,000 is as deep as Kamailio's bison parser goes
// (its 10,000-entry stack: ~2,500 else-ifs).
inline constexpr uint32_t kMaxNesting = 10000;

// Parses the preprocessed token stream (ending in kEof). Syntax errors go to `diags`; the parser
// recovers at the next statement or top-level item and keeps going, so one run reports every
// error. The returned Script holds everything that parsed.
Script parse(const std::vector<Token>& tokens, Diagnostics& diags);

struct ParseOptions {
  // -A NAME[=VALUE] from the command line, in order.
  std::vector<std::pair<std::string, std::string>> defines;
};

// The syntax-only front end: preprocesses (defines, includes, substs) and parses the script at
// `path`, without checking modules, functions or core parameters against what viaduct
// implements (viaduct-check --syntax-only). Appends every diagnostic to `diags`, ordered by
// file (in order of first appearance) then position. Returns true when there is no error.
bool parse_file(const std::string& path, const ParseOptions& opts, Script& out, Diagnostics& diags);

// Same, from text in memory; `name` is the file name used in diagnostics and for resolving
// relative include paths.
bool parse_string(const std::string& text, const std::string& name, const ParseOptions& opts,
                  Script& out, Diagnostics& diags);

// A readable, stable rendering of the tree (tests, viaduct-check --dump-ast). Expressions are
// fully parenthesised: "((uri == myself) && (! f(1, \"a\")))".
std::string dump(const Expr& e);
std::string dump(const Script& s);

// True when `name` is one of Kamailio 5.6's core parameters (its lexer's keywords).
bool is_kamailio_core_param(std::string_view name);

}  // namespace viaduct::cfg
