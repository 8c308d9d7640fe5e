// SPDX-License-Identifier: Apache-2.0
#include "cfg/lexer.hpp"

#include <regex.h>

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

#include "cfg/regex.hpp"

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

// Kamailio's number forms: decimal, 0x hex, 0 octal (010 is 8), binary with a 'b' suffix (101b);
// false when `s` is none of them or overflows 63 bits.
bool parse_number(std::string_view s, int64_t& out) {
  int base = 10;
  size_t i = 0;
  size_t end = s.size();
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  } else if (s.size() > 1 && s.back() == 'b') {
    base = 2;
    end = s.size() - 1;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    i = 1;
  }
  if (i >= end) {
    return false;
  }
  uint64_t v = 0;
  for (; i < end; ++i) {
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
    if (d >= base) {
      return false;
    }
    if (v > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) /
                static_cast<uint64_t>(base)) {
      return false;
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  out = static_cast<int64_t>(v);
  return true;
}

constexpr std::array<std::string_view, 16> kTwoCharPuncts = {
    "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "<<", ">>", "+=", ":=", "=>", "::", "++", "--"};
constexpr std::string_view kOneCharPuncts = "=(){}[],;:./<>+-*%&|^~!?";

// One #!subst rule: "<sep>regex<sep>replacement<sep>flags", POSIX extended regex as Kamailio
// (flags: i ignore case, g every match, s '.' and '^'/'$' also across newlines).
class SubstRule {
 public:
  ~SubstRule() {
    if (compiled_) {
      regfree(&re_);
    }
  }
  SubstRule() = default;
  SubstRule(const SubstRule&) = delete;
  SubstRule& operator=(const SubstRule&) = delete;

  // Parses `expr`; on failure returns false and sets `err`. `name` / `repl` receive the raw
  // regex and replacement text (what #!substdef defines).
  bool init(const std::string& expr, std::string& name, std::string& repl, std::string& err) {
    if (expr.size() < 3) {
      err = "expected \"/regex/replacement/flags\"";
      return false;
    }
    const char sep = expr[0];
    if (sep == '\\' || is_ident_char(sep) || sep == ' ') {
      err = std::string("invalid separator '") + sep + "'";
      return false;
    }
    size_t p = 1;
    auto field = [&](std::string& out) {
      const size_t start = p;
      for (; p < expr.size(); ++p) {
        if (expr[p] == sep && expr[p - 1] != '\\') {
          out = expr.substr(start, p - start);
          ++p;
          return true;
        }
      }
      return false;
    };
    if (!field(name)) {
      err = std::string("missing '") + sep + "' after the regular expression";
      return false;
    }
    if (!field(repl)) {
      err = std::string("missing '") + sep + "' after the replacement";
      return false;
    }
    int cflags = REG_EXTENDED | REG_NEWLINE;
    for (; p < expr.size(); ++p) {
      switch (expr[p]) {
        case 'i':
          cflags |= REG_ICASE;
          break;
        case 'g':
          global_ = true;
          break;
        case 's':
          cflags &= ~REG_NEWLINE;
          break;
        default:
          err = std::string("unknown flag '") + expr[p] + "' (flags are i, g and s)";
          return false;
      }
    }
    if (name.empty()) {
      err = "empty regular expression";
      return false;
    }
    RegexCost cost;
    if (std::string why = regcomp_limits(name, false, &cost); !why.empty()) {
      err = "bad regular expression: " + why;
      return false;
    }
    weight_ = 1 + cost.atoms / 32;
    const int rc = regcomp(&re_, name.c_str(), cflags);
    if (rc != 0) {
      std::array<char, 128> buf{};
      regerror(rc, &re_, buf.data(), buf.size());
      err = std::string("bad regular expression: ") + buf.data();
      return false;
    }
    compiled_ = true;
    // The replacement: \0..\9 back references, \\ \n \r \t and an escaped separator.
    for (size_t i = 0; i < repl.size(); ++i) {
      if (repl[i] != '\\' || i + 1 == repl.size()) {
        parts_.push_back(Part{-1, std::string(1, repl[i])});
        continue;
      }
      const char e = repl[++i];
      if (is_digit(e)) {
        parts_.push_back(Part{e - '0', ""});
      } else if (e == 'n') {
        parts_.push_back(Part{-1, "\n"});
      } else if (e == 'r') {
        parts_.push_back(Part{-1, "\r"});
      } else if (e == 't') {
        parts_.push_back(Part{-1, "\t"});
      } else if (e == '\\' || e == sep) {
        parts_.push_back(Part{-1, std::string(1, e)});
      } else {
        parts_.push_back(Part{-1, std::string{'\\', e}});
      }
    }
    return true;
  }

  // Rewrites `s` in place. The work is paid out of `budget`: each regexec() call the length of
  // the text it scans plus 64, times weight_ (1, and 1 more per 32 atoms of the pattern), the
  // result its length. False (and `s` as it was) when the budget runs out.
  bool apply(std::string& s, size_t& budget) const {
    std::array<regmatch_t, 10> m{};
    std::string out;
    size_t pos = 0;
    bool matched = false;
    while (pos <= s.size()) {
      const size_t cost = (s.size() - pos + 64) * weight_;
      if (cost > budget) {
        return false;
      }
      budget -= cost;
      const int flags = pos == 0 ? 0 : REG_NOTBOL;
      if (regexec(&re_, s.c_str() + pos, m.size(), m.data(), flags) != 0) {
        break;
      }
      matched = true;
      out.append(s, pos, static_cast<size_t>(m[0].rm_so));
      for (const Part& part : parts_) {
        if (part.group < 0) {
          out += part.text;
        } else if (m[static_cast<size_t>(part.group)].rm_so >= 0) {
          const regmatch_t& g = m[static_cast<size_t>(part.group)];
          out.append(s, pos + static_cast<size_t>(g.rm_so), static_cast<size_t>(g.rm_eo - g.rm_so));
        }
      }
      if (out.size() > budget) {
        return false;
      }
      size_t next = pos + static_cast<size_t>(m[0].rm_eo);
      if (m[0].rm_eo == m[0].rm_so) {  // empty match: copy one char and move on
        if (next < s.size()) {
          out += s[next];
        }
        ++next;
      }
      pos = next;
      if (!global_) {
        break;
      }
    }
    if (!matched) {
      return true;
    }
    if (pos < s.size()) {
      out.append(s, pos, std::string::npos);
    }
    if (out.size() > budget) {
      return false;
    }
    budget -= out.size();
    s = std::move(out);
    return true;
  }

 private:
  struct Part {
    int group;  // -1: literal text
    std::string text;
  };
  regex_t re_{};
  bool compiled_ = false;
  bool global_ = false;
  size_t weight_ = 1;  // what a scanned byte costs: regexec() slows down as the pattern grows
  std::vector<Part> parts_;
};

// State shared by the lexer of the main file, the lexers of included files and the lexers of
// define values.
struct Context {
  Defines& defines;
  Diagnostics& diags;
  std::vector<std::unique_ptr<SubstRule>> substs;
  std::vector<std::string> include_stack;  // canonical paths of the files being lexed
  bool main_is_file = false;               // include_stack[0] is the main file (not nested)
  size_t expanded_tokens = 0;              // produced by define expansion (kMaxExpandedTokens)
  // Each define's value as last lexed, for the value and the #!subst rules then in force:
  // expansions copy it instead of lexing the value again (and repeating its errors).
  struct LexedValue {
    std::string value;
    size_t substs = 0;
    std::vector<Token> tokens;
  };
  std::map<std::string, LexedValue, std::less<>> lexed_values{};
  size_t subst_budget = kMaxSubstWork;     // what #!subst rules may still do (SubstRule::apply)
  bool over_budget = false;                // one of the two above was reported
};

std::string canonical(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
  return ec ? std::filesystem::path(path).lexically_normal().string() : p.string();
}

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
  Lexer(std::string_view text, const std::string& file, Context& ctx)
      : src_(text), file_(file), ctx_(ctx) {}

  // Fragment mode (a define's value or a directive's argument): no directives, no includes,
  // no define expansion (the caller expands); every token gets `fixed_loc`.
  Lexer(std::string_view text, const SourceLoc& fixed_loc, Context& ctx)
      : src_(text), file_(fixed_loc.file), ctx_(ctx), fragment_(true), fixed_loc_(fixed_loc) {}

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
    ctx_.diags.push_back(
        Diagnostic{Diagnostic::Severity::kError, loc.file, loc.line, loc.col, std::move(msg)});
  }
  void warning(const SourceLoc& loc, std::string msg) {
    ctx_.diags.push_back(
        Diagnostic{Diagnostic::Severity::kWarning, loc.file, loc.line, loc.col, std::move(msg)});
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
      } else if (c == '\\' && peek(1) == '\n') {  // an escaped newline is whitespace
        pending_space_ = true;
        advance();
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

  // Where a define was made, for "already defined" messages.
  static std::string origin(const Define& d) {
    if (d.where.file == "<builtin>") {
      return " (predefined, as in Kamailio 5.6)";
    }
    return d.where.file.empty() ? std::string(" on the command line")
                                : " at " + d.where.file + ":" + std::to_string(d.where.line);
  }

  // mode: 0 define, 1 trydef, 2 redefine.
  void define(const SourceLoc& loc, int mode, const std::string& sym, const std::string& value) {
    Defines& defs = ctx_.defines;
    auto it = defs.find(sym);
    if (it != defs.end()) {
      if (mode == 1) {
        return;
      }
      if (mode == 0) {
        error(loc, "'" + sym + "' is already defined" + origin(it->second) +
                       " (use #!redefine or #!trydef)");
        return;
      }
      it->second = Define{value, loc};
      return;
    }
    if (defs.size() >= kMaxDefines) {
      error(loc, "too many defines (the limit is " + std::to_string(kMaxDefines) + ")");
      return;
    }
    defs.emplace(sym, Define{value, loc});
  }

  // The quoted argument of #!subst / #!include_file, lexed like a string literal (escapes,
  // earlier subst rules). False (with an error) when it is not exactly one "..." string.
  bool string_arg(const SourceLoc& loc, const std::string& directive, const std::string& rest,
                  std::string& out) {
    if (rest.empty() || rest[0] != '"') {
      error(loc, "#!" + directive + " needs a double-quoted argument");
      return false;
    }
    const size_t before = ctx_.diags.size();
    std::vector<Token> toks = Lexer(rest, loc, ctx_).run();
    if (ctx_.diags.size() != before) {
      return false;
    }
    if (toks.size() != 1 || toks[0].kind != Tok::kString) {
      error(loc, "unexpected text after the argument of #!" + directive);
      return false;
    }
    out = std::move(toks[0].text);
    return true;
  }

  void subst(const SourceLoc& loc, const std::string& directive, const std::string& rest) {
    std::string expr;
    if (!string_arg(loc, directive, rest, expr)) {
      return;
    }
    auto rule = std::make_unique<SubstRule>();
    std::string name;
    std::string repl;
    std::string err;
    if (!rule->init(expr, name, repl, err)) {
      error(loc, "#!" + directive + ": " + err);
      return;
    }
    if (directive != "subst") {
      if (!valid_define_name(name)) {
        error(loc, "#!" + directive + ": '" + name +
                       "' is not a valid define name (letters, digits, '_')");
        return;
      }
      define(loc, 0, name, directive == "substdefs" ? "\"" + repl + "\"" : repl);
    }
    ctx_.substs.push_back(std::move(rule));
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
      const bool defined = ctx_.defines.find(sym) != ctx_.defines.end();
      conds_.push_back(
          CondFrame{is_active, name == "ifdef" ? defined : !defined, false, loc, name});
      return;
    }
    if (name == "ifexp") {
      if (is_active) {
        error(loc, "#!ifexp is not supported (Kamailio 5.7 and later); use #!ifdef");
      }
      conds_.push_back(CondFrame{is_active, false, false, loc, name});
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
    const int mode = name == "define" || name == "def"         ? 0
                     : name == "trydef" || name == "trydefine" ? 1
                     : name == "redefine" || name == "redef"   ? 2
                                                               : -1;
    if (mode >= 0) {
      auto [sym, value] = split_name(rest);
      if (!valid_define_name(sym)) {
        error(loc, "#!" + name + " needs a name (letters, digits, '_')");
        return;
      }
      define(loc, mode, sym, value);
      return;
    }
    if (name == "KAMAILIO" || name == "SER" || name == "OPENSER" || name == "ALL" ||
        name == "MAXCOMPAT") {
      if (!rest.empty()) {
        warning(loc, "text after #!" + name + ": Kamailio reads the line as a comment");
      }
      return;
    }
    if (name == "subst" || name == "substdef" || name == "substdefs") {
      subst(loc, name, rest);
      return;
    }
    if (name == "include_file" || name == "import_file") {
      std::string path;
      if (string_arg(loc, name, rest, path)) {
        include(loc, name == "import_file", path);
      }
      return;
    }
    if (name == "defexp" || name == "defexps") {
      error(loc, "#!" + name + " is not supported (Kamailio 5.7 and later); use #!define");
      return;
    }
    // Kamailio's lexer reads "#" as a line comment unless a directive follows.
    if (name.empty()) {
      return;  // "#!" followed by punctuation or nothing: a comment
    }
    warning(loc, "unknown preprocessor directive '#!" + name + "' (read as a comment)");
  }

  // Rewrites `s` with every #!subst rule, in order, within kMaxSubstWork.
  void apply_substs(std::string& s, const SourceLoc& loc) {
    for (const auto& rule : ctx_.substs) {
      if (!rule->apply(s, ctx_.subst_budget)) {
        ctx_.subst_budget = 0;
        over_budget(loc, "#!subst rules rewrite too much text (the limit is " +
                             std::to_string(kMaxSubstWork >> 20) +
                             " MiB for the whole script: a rule that grows what it rewrites?)");
        return;
      }
    }
  }

  // The first of the preprocessor's work limits to be reached is reported; the rest of the
  // script is lexed without that work (the result is an error anyway).
  void over_budget(const SourceLoc& loc, std::string msg) {
    if (!ctx_.over_budget) {
      ctx_.over_budget = true;
      error(loc, std::move(msg));
    }
  }

  // Lexes `path` (as written) in place. import: a missing file is not an error.
  void include(const SourceLoc& loc, bool import, std::string path) {
    const char* what = import ? "import_file" : "include_file";
    apply_substs(path, loc);
    if (path.empty()) {
      error(loc, std::string("empty file name in ") + what);
      return;
    }
    if (path.find('\0') != std::string::npos) {  // the system would read up to it only
      error(loc, std::string("NUL byte in the file name of ") + what);
      return;
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string found;
    if (fs::is_regular_file(path, ec)) {
      found = path;
    } else if (!fs::path(path).is_absolute()) {
      const fs::path dir = fs::path(file_).parent_path();
      if (!dir.empty()) {
        const std::string alt = (dir / path).lexically_normal().string();
        if (fs::is_regular_file(alt, ec)) {
          found = alt;
        }
      }
    }
    if (found.empty()) {
      if (!import) {
        const fs::path dir = fs::path(file_).parent_path();
        std::string tried = "'" + path + "'";
        if (!fs::path(path).is_absolute() && !dir.empty()) {
          tried += " (nor '" + (dir / path).lexically_normal().string() + "')";
        }
        error(loc, std::string("cannot open included file ") + tried);
      }
      return;
    }
    const std::string key = canonical(found);
    for (size_t i = 0; i < ctx_.include_stack.size(); ++i) {
      if (ctx_.include_stack[i] == key) {
        std::string chain;
        for (size_t j = i; j < ctx_.include_stack.size(); ++j) {
          chain += ctx_.include_stack[j] + " -> ";
        }
        error(loc, std::string(what) + " cycle: " + chain + key);
        return;
      }
    }
    // The main file is the stack's first entry (when it is a real file); includes nest below it.
    const size_t depth = ctx_.include_stack.size() - (ctx_.main_is_file ? 1 : 0);
    if (depth >= kMaxIncludeDepth) {
      error(loc, std::string(what) + " nested too deeply (the limit is " +
                     std::to_string(kMaxIncludeDepth) + " levels): '" + found + "'");
      return;
    }
    std::string text;
    Diagnostics read_diags;
    if (!read_file(found, text, read_diags)) {
      error(loc, "cannot read included file '" + found + "'");
      return;
    }
    ctx_.include_stack.push_back(key);
    std::vector<Token> toks = Lexer(text, found, ctx_).run();
    ctx_.include_stack.pop_back();
    for (Token& t : toks) {
      out_.push_back(std::move(t));
    }
    pending_space_ = true;
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
      if (!fragment_ && (t.text == "include_file" || t.text == "import_file")) {
        include_keyword(t);
        return;
      }
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
      lex_select(t);
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

  // include_file "path" / import_file "path" without a prefix: the name follows on the line.
  void include_keyword(const Token& kw) {
    while (!eof() && (peek() == ' ' || peek() == '\t')) {
      advance();
    }
    if (peek() != '"') {
      error(kw.loc, kw.text + " needs a double-quoted file name on the same line");
      return;
    }
    Token name;
    name.loc = here();
    lex_string(name);
    include(kw.loc, kw.text == "import_file", name.text);
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
        if (quote == '"' && join_next_string()) {
          continue;
        }
        break;
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
          case 'a':
            t.text += '\a';
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
    apply_substs(t.text, t.loc);
  }

  // After a closing '"': Kamailio joins "a" "b" (whitespace and newlines between) into one
  // string. Consumes the whitespace either way; true when another "..." follows.
  bool join_next_string() {
    size_t k = 0;
    while (pos_ + k < src_.size() && (is_space(src_[pos_ + k]) || src_[pos_ + k] == '\n')) {
      ++k;
    }
    if (pos_ + k >= src_.size() || src_[pos_ + k] != '"') {
      return false;
    }
    for (size_t i = 0; i <= k; ++i) {
      advance();
    }
    pending_space_ = true;
    return true;
  }

  // $name, $name(...), $(...) and $? as one token.
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
      const std::string_view cls = src_.substr(start + 1, pos_ - start - 1);
      if (peek() == '.' && is_ident_start(peek(1)) &&
          (cls == "f" || cls == "t" || cls == "fr" || cls == "tr" || cls == "fu" || cls == "tu" ||
           cls == "fd" || cls == "td" || cls == "g")) {
        error(t.loc, "SER-style AVP '$" + std::string(cls) +
                         ".name' is not supported; use $avp(name) or $xavp(...)");
      }
      if (peek() == '(') {
        balanced('(', ')');
      }
      if (peek() == '[' || peek() == '{') {
        const std::string name(src_.substr(start, pos_ - start));
        error(here(), std::string("an index or a transformation goes inside $( ): write $(") +
                          name.substr(1) + "[...]) or $(" + name.substr(1) + "{...})");
      }
    } else {
      error(t.loc, "'$' must start a pseudo-variable ($name)");
    }
    t.text = std::string(src_.substr(start, pos_ - start));
    apply_substs(t.text, t.loc);
  }

  // @name.name[index].name: a select.
  void lex_select(Token& t) {
    const size_t start = pos_;
    advance();
    t.kind = Tok::kSelect;
    while (!eof()) {
      if (is_ident_char(peek()) || peek() == '.') {
        advance();
      } else if (peek() == '[') {
        while (!eof() && peek() != ']' && peek() != '\n') {
          advance();
        }
        if (peek() != ']') {
          error(t.loc, "missing ']' in select");
          break;
        }
        advance();
      } else {
        break;
      }
    }
    t.text = std::string(src_.substr(start, pos_ - start));
    if (t.text.size() == 1) {
      error(t.loc, "'@' must start a select (@name.name)");
    }
  }

  void push(Token t) {
    if (!fragment_ && t.kind == Tok::kIdent && ctx_.defines.find(t.text) != ctx_.defines.end()) {
      std::vector<std::string> stack;
      expand_into(t, out_, stack);
      return;
    }
    out_.push_back(std::move(t));
  }

  std::string_view src_;
  std::string file_;
  Context& ctx_;
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
  const auto it = ctx_.defines.find(ident.text);
  if (static_cast<int>(stack.size()) >= kMaxExpansionDepth) {
    error(ident.loc, "define '" + stack.front() + "' expands too deeply (recursive define?)");
    return;
  }
  // Each expansion counts, the ones that produce nothing too (A is "B B", B is empty).
  ctx_.expanded_tokens += 1;
  if (ctx_.expanded_tokens > kMaxExpandedTokens) {
    over_budget(ident.loc, "define '" + (stack.empty() ? ident.text : stack.front()) +
                               "' expands too much (the limit is " +
                               std::to_string(kMaxExpandedTokens) +
                               " tokens and expansions for the whole script: defines that use "
                               "each other twice?)");
    return;
  }
  stack.push_back(ident.text);
  // Lexed in fragment mode (no expansion): expansion happens here, where the recursion guard is.
  // Once per value: a value's lexing errors are reported at its first use, not at every one (a
  // define used a million times through other defines would repeat each a million times).
  Context::LexedValue& lexed = ctx_.lexed_values[ident.text];
  if (lexed.value != it->second.value || lexed.substs != ctx_.substs.size()) {
    lexed.value = it->second.value;
    lexed.substs = ctx_.substs.size();
    lexed.tokens = Lexer(lexed.value, ident.loc, ctx_).run();
  }
  std::vector<Token> raw = lexed.tokens;
  ctx_.expanded_tokens += raw.size();
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
    if (t.kind == Tok::kIdent && !recursive && ctx_.defines.find(t.text) != ctx_.defines.end()) {
      expand_into(t, out, stack);
    } else {
      out.push_back(std::move(t));
    }
  }
  stack.pop_back();
}

std::vector<Token> finish(std::vector<Token> toks, const std::string& file) {
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

}  // namespace

std::vector<Token> preprocess(std::string_view text, const std::string& file, Defines& defines,
                              Diagnostics& diags) {
  // Kamailio 5.6 predefines KAMAILIO_5, KAMAILIO_5_6 and KAMAILIO_5_6_<patch>; scripts test the
  // first two to select syntax. viaduct reads the 5.6 language.
  for (const char* name : {"KAMAILIO_5", "KAMAILIO_5_6"}) {
    defines.emplace(name, Define{"", SourceLoc{"<builtin>", 0, 0}});
  }
  Context ctx{defines, diags, {}, {}};
  std::error_code ec;
  ctx.main_is_file = !file.empty() && std::filesystem::is_regular_file(file, ec);
  if (ctx.main_is_file) {
    ctx.include_stack.push_back(canonical(file));
  }
  return finish(Lexer(text, file, ctx).run(), file);
}

std::vector<Token> preprocess_file(const std::string& path, Defines& defines, Diagnostics& diags) {
  std::string text;
  if (!read_file(path, text, diags)) {
    return finish({}, path);
  }
  return preprocess(text, path, defines, diags);
}

void add_command_line_defines(const std::vector<std::pair<std::string, std::string>>& in,
                              Defines& defines, Diagnostics& diags) {
  for (const auto& entry : in) {
    const std::string& name = entry.first;
    const std::string& value = entry.second;
    auto bad = [&diags, &name](const std::string& why) {
      diags.push_back(
          Diagnostic{Diagnostic::Severity::kError, "", 0, 0, "-A " + name + ": " + why});
    };
    if (!valid_define_name(name)) {
      bad(name.empty() ? "empty define name" : "not a valid define name (letters, digits, '_')");
      continue;
    }
    if (defines.size() >= kMaxDefines && defines.find(name) == defines.end()) {
      bad("too many defines (the limit is " + std::to_string(kMaxDefines) + ")");
      continue;
    }
    defines[name] = Define{value, SourceLoc{}};
  }
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
