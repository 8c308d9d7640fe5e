// SPDX-License-Identifier: Apache-2.0
// cfg/lexer.hpp: the preprocessor (#!define, #!ifdef, ...) and the lexer of the routing-script
// language, in one pass: directives are line-based and decide which lines are lexed at all.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/diagnostic.hpp"
#include "cfg/program.hpp"

namespace viaduct::cfg {

enum class Tok : uint8_t {
  kEof,
  kIdent,   // request_route, sl_send_reply, myself, udp, ...
  kInt,     // 10, 0x1f (value in Token::num)
  kString,  // "..." or '...', escapes resolved (Token::text holds the value)
  kPvar,    // $ru, $var(x), $(hdr(Via)[0]) as one token
  kSelect,  // @ruri.host
  kPunct,   // operators and punctuation ("==", "(", ";", ...)
};

struct Token {
  Tok kind = Tok::kEof;
  bool space_before = false;  // whitespace or a comment separates it from the previous token
  bool line_start = false;    // first token of its line
  int64_t num = 0;
  std::string text;
  SourceLoc loc;

  bool is(std::string_view punct) const { return kind == Tok::kPunct && text == punct; }
  bool is_ident(std::string_view name) const { return kind == Tok::kIdent && text == name; }
};

struct Define {
  std::string value;  // replacement text, may be empty
  SourceLoc where;    // "" file for command-line (-A) defines
};
using Defines = std::map<std::string, Define, std::less<>>;

inline constexpr size_t kMaxDefines = 256;  // Kamailio's limit

// Preprocesses and lexes `text`. `defines` holds the -A defines on entry and every define seen
// on return. Identifiers that name a define are replaced by the tokens of its value (recursively;
// never inside strings); the replacement tokens carry the location of the identifier. The result
// always ends with a kEof token. Errors go to `diags`; lexing continues after them.
std::vector<Token> preprocess(std::string_view text, const std::string& file, Defines& defines,
                              Diagnostics& diags);

// Text of a token as written in the source (strings re-quoted), for messages.
std::string token_spelling(const Token& t);

}  // namespace viaduct::cfg
