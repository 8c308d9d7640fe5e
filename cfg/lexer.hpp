// SPDX-License-Identifier: Apache-2.0
// cfg/lexer.hpp: the preprocessor (#!define, #!ifdef, ...) and the lexer of the routing-script
// language, in one pass: directives are line-based and decide which lines are lexed at all.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
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

inline constexpr size_t kMaxDefines = 256;      // Kamailio 5.3's documented limit
inline constexpr size_t kMaxIncludeDepth = 10;  // Kamailio's MAX_INCLUDE_DEPTH
// Bounds on the work of one preprocess() run (the script and its includes), so that a runaway
// script is an error, not a hang. kMaxExpandedTokens: the tokens #!define expansion produces,
// plus one per expansion (defines whose values use the previous define twice double at each
// level: 30 levels make a billion tokens, or as many expansions when the first is empty).
// kMaxSubstWork: bytes #!subst rules scan and write (each regexec() counts the text it scans
// plus 64, once more per 32 atoms of the rule's pattern; each rewrite counts its result;
// doubling rules in a row grow a string exponentially, and their patterns too).
inline constexpr size_t kMaxExpandedTokens = 100000;
inline constexpr size_t kMaxSubstWork = size_t{16} << 20;

// Preprocesses and lexes `text`, the contents of `file`. `defines` holds the -A defines on entry
// and every define seen on return (plus the predefined KAMAILIO_5 and KAMAILIO_5_6). Identifiers
// that name a define are replaced by the tokens of its value (recursively; never inside
// strings); the replacement tokens carry the location of the identifier. `#!subst` rules rewrite
// string literals and pseudo-variable names lexed after them. `include_file` / `import_file`
// (also with a "#!" or "!!" prefix) splice the tokens of another file in place; a relative path
// is tried against the current directory first, then against the directory of the including
// file (Kamailio's order); tokens from an included file carry that file's name. The result
// always ends with a kEof token. Errors go to `diags`; lexing continues after them.
std::vector<Token> preprocess(std::string_view text, const std::string& file, Defines& defines,
                              Diagnostics& diags);

// Reads `path` and preprocesses it (a missing file is an error in `diags`).
std::vector<Token> preprocess_file(const std::string& path, Defines& defines, Diagnostics& diags);

// Adds the -A NAME[=VALUE] defines to `defines`, in order; a bad or repeated name is an error
// ("-A X: ...") in `diags`.
void add_command_line_defines(const std::vector<std::pair<std::string, std::string>>& in,
                              Defines& defines, Diagnostics& diags);

// Text of a token as written in the source (strings re-quoted), for messages.
std::string token_spelling(const Token& t);

}  // namespace viaduct::cfg
