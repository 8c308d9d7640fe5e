// SPDX-License-Identifier: Apache-2.0
#include "cfg/lexer.hpp"

#include <array>
#include <utility>

namespace viaduct::cfg {
namespace {

constexpr int kMaxExpansionDepth = 32;

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool valid_define_name(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) {
    return false;
  }
  for (char c : s) {
    if (!is_ident_char(c)) {
      return false;
    }
  }
  return true;
}

// Parses decimal or 0x hex digits; false when not a number or when it overflows 64 bits.
bool parse_number(std::string_view s, int64_t& out) {
  uint64_t v = 0;
  size_t i = 0;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  }
  if (i >= s.size()) {
    return false;
  }
  for (; i < s.size(); ++i) {
    const char c = s[i];
    int d = 0;
    if (is_digit(c)) {
      d = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (v > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) / base) {
      return false;
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  out = static_cast<int64_t>(v);
  return true;
}

constexpr std::array<std::string_view, 15> kTwoCharPuncts = {
    "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "<<", ">>", "+=", "=>", "::", "++", "--"};
constexpr std::string_view kOneCharPuncts = "=(){}[],;:./<>+-*%&|^~!?";

struct CondFrame {
  bool parent_active = true;
  bool cond = false;
  bool in_else = false;
  SourceLoc loc;
  std::string directive;  // "ifdef" / "ifndef"
};

class Lexer {
 public:
  // Whole-file mode.
  Lexer(std::string_view text, const std::string& file, Defines& defines, Diagnostics& diags)
      : src_(text), file_(file), defines_(defines), diags_(diags) {}

  // Fragment mode (a define's value): no directives; every token gets `fixed_loc`.
  Lexer(std::string_view text, const SourceLoc& fixed_loc, Defines& defines, Diagnostics& diags)
      : src_(text),
        file_(fixed_loc.file),
        defines_(defines),
        diags_(diags),
        fragment_(true),
        fixed_loc_(fixed_loc) {}

  std::vector<Token> run() {
    while (true) {
      if (!active()) {
        if (!skip_inactive_line()) {
          break;
        }
        continue;
      }
      skip_space_and_comments();
      if (eof()) {
        break;
      }
      if (!fragment_ && at_directive()) {
        directive();
        continue;
      }
      lex_token();
    }
    for (const CondFrame& f : conds_) {
      error(f.loc, "unterminated #!" + f.directive + " (missing #!endif)");
    }
    return std::move(out_);
  }

  // Appends the expansion of `ident` (a defined name) to `out`.
  void expand_into(const Token& ident, std::vector<Token>& out, std::vector<std::string>& stack);

 private:
  bool eof() const { return pos_ >= src_.size(); }
  char peek(size_t k = 0) const { return pos_ + k < src_.size() ? src_[pos_ + k] : '\0'; }
  bool starts_with(std::string_view s) const { return src_.substr(pos_).starts_with(s); }

  void advance() {
    if (src_[pos_] == '\n') {
      ++line_;
      col_ = 1;
      bol_ = true;
      pending_line_start_ = true;
    } else {
      ++col_;
    }
    ++pos_;
  }

  SourceLoc here() const {
    if (fragment_) {
      return fixed_loc_;
    }
    return SourceLoc{file_, line_, col_};
  }

  void error(const SourceLoc& loc, std::string msg) {
    diags_.push_back(
        Diagnostic{Diagnostic::Severity::kError, loc.file, loc.line, loc.col, std::move(msg)});
  }

  bool active() const {
    for (const CondFrame& f : conds_) {
      if (!(f.in_else ? !f.cond : f.cond)) {
        return false;
      }
    }
    return true;
  }

  bool at_directive() const { return starts_with("#!") || (bol_ && starts_with("!!")); }

  // Inside a false #!ifdef region: lines are not lexed, only directives are looked at.
  bool skip_inactive_line() {
    while (!eof() && is_space(peek())) {
      advance();
    }
    if (eof()) {
      return false;
    }
    if (starts_with("#!") || starts_with("!!")) {
      directive();
      return true;
    }
    while (!eof() && peek() != '\n') {
      advance();
    }
    if (!eof()) {
      advance();
    }
    return true;
  }

  void skip_space_and_comments() {
    while (!eof()) {
      const char c = peek();
      if (is_space(c) || c == '\n') {
        pending_space_ = true;
        advance();
      } else if (c == '#' && peek(1) != '!') {
        pending_space_ = true;
        while (!eof() && peek() != '\n') {
          advance();
        }
      } else if (c == '/' && peek(1) == '/') {
        pending_space_ = true;
        while (!eof() && peek() != '\n') {
          advance();
        }
      } else if (c == '/' && peek(1) == '*') {
        const SourceLoc start = here();
        pending_space_ = true;
        advance();
        advance();
        while (!eof() && !(peek() == '*' && peek(1) == '/')) {
          advance();
        }
        if (eof()) {
          error(start, "unterminated comment");
          return;
        }
        advance();
        advance();
      } else {
        return;
      }
    }
  }

  // Reads a directive line ("#!name args"), joining "\<newline>" continuations.
  void directive() {
    const SourceLoc loc = here();
    advance();
    advance();
    std::string line;
    while (!eof() && peek() != '\n') {
      if (peek() == '\\' && (peek(1) == '\n' || (peek(1) == '\r' && peek(2) == '\n'))) {
        advance();
        while (peek() != '\n') {
          advance();
        }
        advance();
        line += ' ';
        continue;
      }
      line += peek();
      advance();
    }
    if (!eof()) {
      advance();
    }
    bol_ = true;
    pending_space_ = true;

    size_t i = 0;
    while (i < line.size() && is_ident_char(line[i])) {
      ++i;
    }
    const std::string name = line.substr(0, i);
    std::string rest = line.substr(i);
    const auto b = rest.find_first_not_of(" \t\r");
    rest = b == std::string::npos ? std::string() : rest.substr(b);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t' || rest.back() == '\r')) {
      rest.pop_back();
    }
    run_directive(loc, name, rest);
  }

  // Splits "NAME [VALUE]".
  static std::pair<std::string, std::string> split_name(const std::string& rest) {
    size_t i = 0;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\t') {
      ++i;
    }
    std::string value = rest.substr(i);
    const auto b = value.find_first_not_of(" \t");
    value = b == std::string::npos ? std::string() : value.substr(b);
    return {rest.substr(0, i), value};
  }

  void run_directive(const SourceLoc& loc, const std::string& name, const std::string& rest) {
    const bool is_active = active();
    if (name == "ifdef" || name == "ifndef") {
      auto [sym, extra] = split_name(rest);
      if (is_active && !valid_define_name(sym)) {
        error(loc, "#!" + name + " needs a name");
      } else if (is_active && !extra.empty()) {
        error(loc, "unexpected text after #!" + name + " " + sym);
      }
      const bool defined = defines_.find(sym) != defines_.end();
      conds_.push_back(
          CondFrame{is_active, name == "ifdef" ? defined : !defined, false, loc, name});
      return;
    }
    if (name == "else" || name == "endif") {
      if (conds_.empty()) {
        error(loc, "#!" + name + " without #!ifdef or #!ifndef");
        return;
      }
      if (!rest.empty() && conds_.back().parent_active) {
        error(loc, "unexpected text after #!" + name);
      }
      if (name == "endif") {
        conds_.pop_back();
      } else if (conds_.back().in_else) {
        error(loc, "second #!else for the #!" + conds_.back().directive + " at line " +
                       std::to_string(conds_.back().loc.line));
      } else {
        conds_.back().in_else = true;
      }
      return;
    }
    if (!is_active) {
      return;  // everything else in a skipped region is ignored, as Kamailio does
    }
    if (name == "define" || name == "trydef" || name == "redefine") {
      auto [sym, value] = split_name(rest);
      if (!valid_define_name(sym)) {
        error(loc, "#!" + name + " needs a name (letters, digits, '_')");
        return;
      }
      auto it = defines_.find(sym);
      if (it != defines_.end()) {
        if (name == "trydef") {
          return;
        }
        if (name == "define") {
          error(loc,
                "'" + sym + "' is already defined" +
                    (it->second.where.file.empty() ? std::string(" on the command line")
                                                   : " at " + it->second.where.file + ":" +
                                                         std::to_string(it->second.where.line)) +
                    " (use #!redefine or #!trydef)");
          return;
        }
        it->second = Define{value, loc};
        return;
      }
      if (defines_.size() >= kMaxDefines) {
        error(loc, "too many defines (the limit is " + std::to_string(kMaxDefines) + ")");
        return;
      }
      defines_.emplace(sym, Define{value, loc});
      return;
    }
    if (name == "KAMAILIO" || name == "SER" || name == "OPENSER" || name == "ALL" ||
        name == "MAXCOMPAT") {
      if (!rest.empty()) {
        error(loc, "unexpected text after #!" + name);
      }
      return;
    }
    if (name == "include_file" || name == "import_file" || name == "subst" || name == "substdef" ||
        name == "substdefs") {
      error(loc, "#!" + name + " is not supported yet");
      return;
    }
    error(loc, "unknown preprocessor directive '#!" + name + "'");
  }

  void lex_token() {
    Token t;
    t.loc = here();
    t.space_before = pending_space_;
    t.line_start = pending_line_start_;
    pending_space_ = false;
    pending_line_start_ = false;
    bol_ = false;
    const char c = peek();
    const size_t start = pos_;
    if (is_ident_start(c)) {
      while (!eof() && is_ident_char(peek())) {
        advance();
      }
      t.kind = Tok::kIdent;
      t.text = std::string(src_.substr(start, pos_ - start));
    } else if (is_digit(c)) {
      while (!eof() && is_ident_char(peek())) {
        advance();
      }
      t.text = std::string(src_.substr(start, pos_ - start));
      if (parse_number(t.text, t.num)) {
        t.kind = Tok::kInt;
      } else {
        // Not a number: a piece of an address ("2a02" in an IPv6 literal) or junk the parser
        // rejects in context.
        t.kind = Tok::kIdent;
      }
    } else if (c == '"' || c == '\'') {
      lex_string(t);
    } else if (c == '$') {
      lex_pvar(t);
    } else if (c == '@') {
      advance();
      while (!eof() && (is_ident_char(peek()) || peek() == '.')) {
        advance();
      }
      t.kind = Tok::kSelect;
      t.text = std::string(src_.substr(start, pos_ - start));
    } else {
      t.kind = Tok::kPunct;
      if (starts_with("~=")) {
        error(t.loc, "'~=' is not an operator; use '=~' for regular expression matching");
        advance();
        advance();
        t.text = "=~";
      } else {
        for (std::string_view p : kTwoCharPuncts) {
          if (starts_with(p)) {
            t.text = std::string(p);
            break;
          }
        }
        if (t.text.empty() && kOneCharPuncts.find(c) != std::string_view::npos) {
          t.text = std::string(1, c);
        }
        if (t.text.empty()) {
          error(t.loc, std::string("unexpected character '") + c + "'");
          advance();
          return;
        }
        for (size_t i = 0; i < t.text.size(); ++i) {
          advance();
        }
      }
    }
    push(std::move(t));
  }

  void lex_string(Token& t) {
    const char quote = peek();
    advance();
    t.kind = Tok::kString;
    while (true) {
      if (eof()) {
        error(t.loc, "unterminated string");
        return;
      }
      const char c = peek();
      if (c == quote) {
        advance();
        return;
      }
      if (c == '\\') {
        advance();
        if (eof()) {
          continue;
        }
        const char e = peek();
        switch (e) {
          case 'n':
            t.text += '\n';
            break;
          case 't':
            t.text += '\t';
            break;
          case 'r':
            t.text += '\r';
            break;
          case '\\':
            t.text += '\\';
            break;
          case '"':
            t.text += '"';
            break;
          case '\'':
            t.text += '\'';
            break;
          case '\n':
            break;  // line continuation
          default:
            // Unknown escapes stay as written, so regular expressions keep "\.".
            t.text += '\\';
            t.text += e;
            break;
        }
        advance();
        continue;
      }
      t.text += c;
      advance();
    }
  }

  // $name, $name(...), $name(...)[...], $(...) and $? as one token.
  void lex_pvar(Token& t) {
    const size_t start = pos_;
    advance();
    t.kind = Tok::kPvar;
    auto balanced = [this, &t](char open, char close) {
      int depth = 0;
      while (!eof()) {
        const char c = peek();
        advance();
        if (c == open) {
          ++depth;
        } else if (c == close && --depth == 0) {
          return;
        }
      }
      error(t.loc, std::string("missing '") + close + "' in pseudo-variable");
    };
    if (peek() == '?') {
      advance();
    } else if (peek() == '(') {
      balanced('(', ')');
    } else if (is_ident_char(peek())) {
      while (!eof() && is_ident_char(peek())) {
        advance();
      }
      if (peek() == '(') {
        balanced('(', ')');
      }
      if (peek() == '[') {
        balanced('[', ']');
      }
    } else {
      error(t.loc, "'$' must start a pseudo-variable ($name)");
    }
    t.text = std::string(src_.substr(start, pos_ - start));
  }

  void push(Token t) {
    if (t.kind == Tok::kIdent && defines_.find(t.text) != defines_.end()) {
      std::vector<std::string> stack;
      expand_into(t, out_, stack);
      return;
    }
    out_.push_back(std::move(t));
  }

  std::string_view src_;
  std::string file_;
  Defines& defines_;
  Diagnostics& diags_;
  bool fragment_ = false;
  SourceLoc fixed_loc_;

  size_t pos_ = 0;
  uint32_t line_ = 1;
  uint32_t col_ = 1;
  bool bol_ = true;
  bool pending_space_ = true;
  bool pending_line_start_ = true;
  std::vector<CondFrame> conds_;
  std::vector<Token> out_;
};

void Lexer::expand_into(const Token& ident, std::vector<Token>& out,
                        std::vector<std::string>& stack) {
  const auto it = defines_.find(ident.text);
  if (static_cast<int>(stack.size()) >= kMaxExpansionDepth) {
    error(ident.loc, "define '" + stack.front() + "' expands too deeply (recursive define?)");
    return;
  }
  stack.push_back(ident.text);
  // Lexed without defines: expansion happens here, where the recursion guard is.
  Defines none;
  std::vector<Token> raw = Lexer(it->second.value, ident.loc, none, diags_).run();
  bool first = true;
  for (Token& t : raw) {
    t.loc = ident.loc;
    if (first) {
      t.space_before = ident.space_before;
      t.line_start = ident.line_start;
      first = false;
    } else {
      t.line_start = false;
    }
    bool recursive = false;
    for (const std::string& s : stack) {
      recursive = recursive || s == t.text;
    }
    if (t.kind == Tok::kIdent && !recursive && defines_.find(t.text) != defines_.end()) {
      expand_into(t, out, stack);
    } else {
      out.push_back(std::move(t));
    }
  }
  stack.pop_back();
}

}  // namespace

std::vector<Token> preprocess(std::string_view text, const std::string& file, Defines& defines,
                              Diagnostics& diags) {
  Lexer lx(text, file, defines, diags);
  std::vector<Token> toks = lx.run();
  Token eof;
  eof.kind = Tok::kEof;
  eof.space_before = true;
  eof.line_start = true;
  eof.loc = SourceLoc{file, 0, 0};
  if (!toks.empty()) {
    eof.loc = toks.back().loc;
  }
  toks.push_back(std::move(eof));
  return toks;
}

std::string token_spelling(const Token& t) {
  switch (t.kind) {
    case Tok::kEof:
      return "end of file";
    case Tok::kString:
      return "\"" + t.text + "\"";
    default:
      return t.text;
  }
}

}  // namespace viaduct::cfg
