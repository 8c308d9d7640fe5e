// SPDX-License-Identifier: Apache-2.0
#include "cfg/parser.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <map>
#include <string_view>
#include <tuple>
#include <utility>

#include "cfg/deep_stack.hpp"

namespace viaduct::cfg {
namespace {

// Thrown inside this file only, to unwind to the statement or top-level item that recovers.
struct SyntaxError {
  SourceLoc loc;
  std::string message;
  bool too_deep = false;  // past kMaxNesting: the enclosing block is skipped, not resynced
};

// Counts the enclosing switch/while statements for the duration of a scope.
class Breakable {
 public:
  explicit Breakable(int& depth) : depth_(depth) { ++depth_; }
  ~Breakable() { --depth_; }
  Breakable(const Breakable&) = delete;
  Breakable& operator=(const Breakable&) = delete;

 private:
  int& depth_;
};

// Sets a flag for the duration of a scope.
class FlagScope {
 public:
  FlagScope(bool& flag, bool value) : flag_(flag), old_(flag) { flag_ = value; }
  ~FlagScope() { flag_ = old_; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;

 private:
  bool& flag_;
  bool old_;
};

// Binary operator levels, loosest first (Kamailio's cfg.y: "C like precedence", except that
// | & ^ bind looser than comparisons and << / >> have a level each).
enum Level : int {
  kLOr = 0,   // || or
  kLAnd,      // && and
  kBOr,       // |
  kBAnd,      // &
  kBXor,      // ^
  kShl,       // <<
  kShr,       // >>
  kEquality,  // == != =~ !~ eq ne ieq ine
  kRelation,  // < > <= >=
  kAdd,       // + -
  kMul,       // * / % mod
  kUnaryLevel,
};

// Core keywords that Kamailio parses as "KEYWORD op value" units (exp_elem in cfg.y), so that
// "!uri == myself" is "!(uri == myself)".
bool is_core_keyword(std::string_view w) {
  static constexpr std::array<std::string_view, 21> kWords = {
      "method", "uri",      "status",  "from_uri", "to_uri",    "src_ip",   "src_port",
      "dst_ip", "dst_port", "snd_ip",  "snd_port", "snd_proto", "to_proto", "snd_af",
      "to_af",  "to_ip",    "to_port", "proto",    "af",        "msg:len",  "myself"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

// Core actions that Kamailio also accepts without parentheses ("force_rport;").
bool is_paren_optional_action(std::string_view w) {
  static constexpr std::array<std::string_view, 10> kWords = {
      "force_rport",       "add_rport",      "add_local_rport",        "force_tcp_alias",
      "add_tcp_alias",     "revert_uri",     "set_forward_no_connect", "set_reply_no_connect",
      "set_forward_close", "set_reply_close"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

// yes/no/... are numbers to Kamailio's lexer.
bool bool_word(std::string_view w, int64_t& v) {
  if (w == "yes" || w == "true" || w == "on" || w == "enable") {
    v = 1;
    return true;
  }
  if (w == "no" || w == "false" || w == "off" || w == "disable") {
    v = 0;
    return true;
  }
  return false;
}

// Splits a pseudo-variable token into its parts; false (with `err`) when it is malformed.
bool parse_pvar(const std::string& text, PvarRef& pv, std::string& err) {
  // Scans from s[i] (an opening bracket) to its closing bracket, counting all bracket kinds.
  auto close_of = [](const std::string& s, size_t i) -> size_t {
    int depth = 0;
    for (size_t k = i; k < s.size(); ++k) {
      const char c = s[k];
      if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']' || c == '}') {
        if (--depth == 0) {
          return k;
        }
      }
    }
    return std::string::npos;
  };
  auto split_params = [](const std::string& s) {
    std::vector<std::string> parts;
    int depth = 0;
    std::string cur;
    for (char c : s) {
      if (c == '(' || c == '[' || c == '{') {
        ++depth;
      } else if (c == ')' || c == ']' || c == '}') {
        --depth;
      }
      if (c == ',' && depth == 0) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts.push_back(cur);
    return parts;
  };
  if (text.size() < 2 || text[0] != '$') {
    err = "not a pseudo-variable";
    return false;
  }
  if (text == "$?") {
    pv.name = "?";
    return true;
  }
  const bool bracketed = text[1] == '(';
  std::string s = bracketed ? text.substr(2) : text.substr(1);
  if (bracketed) {
    if (s.empty() || s.back() != ')') {
      err = "missing ')'";
      return false;
    }
    s.pop_back();
  }
  size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
    ++i;
  }
  pv.name = s.substr(0, i);
  if (pv.name.empty()) {
    err = "missing the pseudo-variable name";
    return false;
  }
  if (i < s.size() && s[i] == '(') {
    const size_t e = close_of(s, i);
    if (e == std::string::npos) {
      err = "missing ')'";
      return false;
    }
    pv.has_inner = true;
    pv.inner = s.substr(i + 1, e - i - 1);
    i = e + 1;
  }
  if (i < s.size() && s[i] == '[') {
    const size_t e = close_of(s, i);
    if (e == std::string::npos) {
      err = "missing ']'";
      return false;
    }
    pv.index = s.substr(i + 1, e - i - 1);
    if (pv.index.empty()) {
      err = "empty index";
      return false;
    }
    i = e + 1;
  }
  while (i < s.size() && s[i] == '{') {
    const size_t e = close_of(s, i);
    if (e == std::string::npos) {
      err = "missing '}' in a transformation";
      return false;
    }
    std::vector<std::string> parts = split_params(s.substr(i + 1, e - i - 1));
    Transform t;
    t.name = parts[0];
    if (t.name.empty()) {
      err = "empty transformation";
      return false;
    }
    t.params.assign(parts.begin() + 1, parts.end());
    pv.transforms.push_back(std::move(t));
    i = e + 1;
  }
  if (i != s.size()) {
    err = "unexpected '" + s.substr(i, 1) + "'";
    return false;
  }
  return true;
}

class Parser {
 public:
  Parser(const std::vector<Token>& toks, Diagnostics& diags) : toks_(toks), diags_(diags) {}

  Script run() {
    while (cur().kind != Tok::kEof) {
      try {
        top_item();
      } catch (const SyntaxError& e) {
        report(e);
        sync_top();
      }
    }
    return std::move(script_);
  }

 private:
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t k = 1) const {
    return toks_[pos_ + k < toks_.size() ? pos_ + k : toks_.size() - 1];
  }
  const Token& take() {
    const Token& t = toks_[pos_];
    if (t.kind != Tok::kEof) {
      ++pos_;
    }
    return t;
  }
  bool accept(std::string_view punct) {
    if (cur().is(punct)) {
      take();
      return true;
    }
    return false;
  }

  [[noreturn]] void fail(const Token& at, std::string msg) const {
    before_throw();
    throw SyntaxError{at.loc, std::move(msg)};
  }
  [[noreturn]] void unexpected(std::string_view wanted) const {
    fail(cur(), "expected " + std::string(wanted) + ", found " + quoted(cur()));
  }
  static std::string quoted(const Token& t) {
    return t.kind == Tok::kEof ? token_spelling(t) : "'" + token_spelling(t) + "'";
  }

  const Token& expect(std::string_view punct) {
    if (!cur().is(punct)) {
      unexpected("'" + std::string(punct) + "'");
    }
    return take();
  }
  const Token& expect_string(std::string_view what) {
    if (cur().kind != Tok::kString) {
      unexpected(what);
    }
    return take();
  }

  void report(const SyntaxError& e) {
    diags_.push_back(
        Diagnostic{Diagnostic::Severity::kError, e.loc.file, e.loc.line, e.loc.col, e.message});
  }
  void error(const SourceLoc& loc, std::string msg) { report(SyntaxError{loc, std::move(msg)}); }

  // Skips a balanced {...} starting at the current '{'.
  void skip_braces() {
    int depth = 0;
    while (cur().kind != Tok::kEof) {
      if (cur().is("{")) {
        ++depth;
      } else if (cur().is("}") && --depth == 0) {
        take();
        return;
      }
      take();
    }
  }

  // After a top-level error: on to the next line that starts with an identifier.
  void sync_top() {
    const size_t start = pos_;
    while (cur().kind != Tok::kEof) {
      if (pos_ != start && cur().line_start && cur().kind == Tok::kIdent) {
        return;
      }
      if (cur().is("{")) {
        skip_braces();
        continue;
      }
      take();
    }
  }

  // After a statement error, from the statement's first token `start`: on past its ';' or
  // its closing '}' (and an 'else' part), or up to the '}' that closes the enclosing block.
  void sync_stmt(size_t start) {
    pos_ = start;
    int depth = 0;
    while (cur().kind != Tok::kEof) {
      if (cur().is("{")) {
        ++depth;
      } else if (cur().is("}")) {
        if (depth == 0) {
          return;
        }
        take();
        if (--depth == 0 && !cur().is_ident("else")) {
          return;
        }
        continue;
      } else if (cur().is(";") && depth == 0) {
        take();
        return;
      }
      take();
    }
  }

  // ---- top level ----

  void top_item() {
    const Token& t = cur();
    if (t.is(";")) {  // a null statement
      take();
      return;
    }
    if (t.kind != Tok::kIdent) {
      fail(t,
           "expected a core parameter, loadmodule, modparam or a route block, found " + quoted(t));
    }
    const std::string& w = t.text;
    if (w == "loadmodule") {
      take();
      const Token& path = expect_string("a module path string");
      script_.modules.push_back(LoadModuleDef{path.text, t.loc});
      accept(";");
    } else if (w == "loadpath" || w == "mpath") {
      take();
      accept("=");
      script_.load_paths.push_back(expect_string("a directory string").text);
      accept(";");
    } else if (w == "modparam") {
      modparam();
    } else if (w == "request_route" || w == "route" || w == "reply_route" || w == "onreply_route" ||
               w == "failure_route" || w == "branch_route" || w == "onsend_route" ||
               w == "event_route") {
      route_def();
    } else if (w == "cfgengine") {
      take();
      accept("=");
      script_.cfgengine_loc = cur().loc;
      script_.cfgengine = expect_string("an engine name string").text;
      accept(";");
    } else if (w == "flags" || w == "bool" || w == "avpflags") {
      flags_decl();
    } else if (peek().is("=")) {
      core_param();
    } else if (peek().is(".") && !peek().space_before) {
      dotted_param();
    } else {
      fail(t, "unexpected " + quoted(t) +
                  ": expected a core parameter (name = value), loadmodule, modparam or a route "
                  "block");
    }
  }

  void core_param() {
    CoreParamDef p;
    p.name = cur().text;
    p.loc = cur().loc;
    take();
    const Token& eq = expect("=");
    core_param_value(p, eq);
  }

  void core_param_value(CoreParamDef& p, const Token& eq) {
    while (cur().kind != Tok::kEof && !cur().is(";") && !cur().line_start) {
      p.value.push_back(take());
    }
    accept(";");
    if (p.value.empty()) {
      fail(eq, "missing value for '" + p.name + "'");
    }
    script_.params.push_back(std::move(p));
  }

  // kemi.name = value (a core parameter) or group.name = value [desc "text"] (a custom one).
  void dotted_param() {
    const Token& group = take();
    take();  // '.'
    if (cur().kind != Tok::kIdent || cur().space_before) {
      unexpected("a parameter name after '" + group.text + ".'");
    }
    const Token& name = take();
    const Token& eq = expect("=");
    if (group.text == "kemi") {
      CoreParamDef p;
      p.name = "kemi." + name.text;
      p.loc = group.loc;
      core_param_value(p, eq);
      return;
    }
    CustomParamDef c;
    c.group = group.text;
    c.name = name.text;
    c.loc = group.loc;
    c.value.loc = cur().loc;
    if (cur().kind == Tok::kString) {
      c.value.kind = Expr::Kind::kString;
      c.value.text = take().text;
    } else if (cur().kind == Tok::kInt) {
      c.value.kind = Expr::Kind::kInt;
      c.value.num = take().num;
    } else if (cur().is("-") && peek().kind == Tok::kInt) {
      take();
      c.value.kind = Expr::Kind::kInt;
      c.value.num = -take().num;
    } else if (int64_t b = 0; cur().kind == Tok::kIdent && bool_word(cur().text, b)) {
      take();
      c.value.kind = Expr::Kind::kInt;
      c.value.num = b;
    } else {
      unexpected("a string or integer value for '" + c.group + "." + c.name + "'");
    }
    if (cur().is_ident("desc") || cur().is_ident("descr") || cur().is_ident("description")) {
      take();
      c.desc = expect_string("a description string").text;
    }
    accept(";");
    script_.custom_params.push_back(std::move(c));
  }

  // flags NAME[:BIT], ... / avpflags NAME, ...  (names are identifiers or strings)
  void flags_decl() {
    const bool avp = cur().text == "avpflags";
    take();
    do {
      FlagDecl f;
      f.avp = avp;
      f.loc = cur().loc;
      if (cur().kind != Tok::kIdent && cur().kind != Tok::kString) {
        unexpected("a flag name");
      }
      f.name = take().text;
      if (!avp && accept(":")) {
        if (cur().kind != Tok::kInt) {
          unexpected("a flag bit number");
        }
        f.bit = take().num;
      }
      script_.flags.push_back(std::move(f));
    } while (accept(","));
    accept(";");
  }

  void modparam() {
    ModParamDef m;
    m.loc = cur().loc;
    take();
    expect("(");
    m.module_loc = cur().loc;
    m.module = expect_string("the module name string").text;
    expect(",");
    m.name_loc = cur().loc;
    m.name = expect_string("the parameter name string").text;
    expect(",");
    const Token& v = cur();
    m.value.loc = v.loc;
    int64_t b = 0;
    if (v.kind == Tok::kString) {
      m.value.kind = Expr::Kind::kString;
      m.value.text = take().text;
    } else if (v.kind == Tok::kInt) {
      m.value.kind = Expr::Kind::kInt;
      m.value.num = take().num;
    } else if (v.is("-") && peek().kind == Tok::kInt) {
      take();
      m.value.kind = Expr::Kind::kInt;
      m.value.num = -take().num;
    } else if (v.kind == Tok::kIdent && bool_word(v.text, b)) {
      take();
      m.value.kind = Expr::Kind::kInt;
      m.value.num = b;
    } else {
      unexpected("a string or integer value");
    }
    expect(")");
    accept(";");
    script_.modparams.push_back(std::move(m));
  }

  // The name inside route[...]: one identifier, number or string; for event_route a
  // "group:name" written without spaces (core:worker-one-init, tm:branch-failure:x).
  std::string route_name(bool event) {
    const Token& open = expect("[");
    if (cur().is("]")) {
      fail(open, "empty route name");
    }
    std::string name;
    if (!event) {
      if (cur().kind != Tok::kIdent && cur().kind != Tok::kInt && cur().kind != Tok::kString) {
        unexpected("a route name");
      }
      name = take().text;
    } else {
      const Token& first = cur();
      if (cur().kind == Tok::kString) {
        name = take().text;
      } else {
        while (cur().kind != Tok::kEof && !cur().is("]") && !cur().is("{") &&
               (name.empty() || !cur().space_before)) {
          name += take().text;
        }
      }
      const size_t colon = name.find(':');
      bool valid = colon != std::string::npos && colon > 0 && colon + 1 < name.size();
      for (char c : name) {
        valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' ||
                          c == '_' || c == '.');
      }
      if (!valid) {
        fail(first, "an event_route name is group:name (core:worker-one-init), not '" + name + "'");
      }
    }
    if (!cur().is("]")) {
      unexpected("']' after the route name");
    }
    take();
    return name;
  }

  void route_def() {
    RouteDef r;
    const Token& kw = take();
    r.keyword = kw.text;
    r.loc = kw.loc;
    if (cur().is("[")) {
      r.name = route_name(kw.text == "event_route");
    }
    const std::string& k = r.keyword;
    const bool named = !r.name.empty();
    if (k == "request_route" || (k == "route" && (!named || r.name == "0"))) {
      if (k == "request_route" && named) {
        fail(kw, "request_route takes no name");
      }
      r.kind = RouteKind::kRequest;
      r.name.clear();
    } else if (k == "route") {
      r.kind = RouteKind::kSub;
    } else if (k == "reply_route" || (k == "onreply_route" && (!named || r.name == "0"))) {
      if (k == "reply_route" && named) {
        fail(kw, "reply_route takes no name");
      }
      r.kind = RouteKind::kReply;
      r.name.clear();
    } else if (k == "onreply_route") {
      r.kind = RouteKind::kOnReply;
    } else if (k == "onsend_route") {
      r.kind = RouteKind::kOnSend;  // Kamailio accepts and ignores a name
    } else {
      if (!named && k == "event_route") {
        fail(kw, k + " needs a name: " + k + "[group:name] { ... }");
      }
      r.kind = k == "failure_route"  ? RouteKind::kFailure
               : k == "branch_route" ? RouteKind::kBranch
                                     : RouteKind::kEvent;
    }
    if (!cur().is("{")) {
      unexpected("'{' to open the " + k + " block");
    }
    // The route is recorded even when its body has errors, so that calls to it resolve.
    script_.routes.push_back(std::move(r));
    const size_t idx = script_.routes.size() - 1;
    Stmt body = block();
    script_.routes[idx].body = std::move(body);
    accept(";");
  }

  // ---- statements ----

  // '{' stmt* '}'. Statement errors are reported and skipped here.
  Stmt block() {
    Stmt b;
    b.kind = Stmt::Kind::kBlock;
    b.loc = expect("{").loc;
    while (!cur().is("}")) {
      if (cur().kind == Tok::kEof) {
        error(b.loc, "missing '}' for the block opened here");
        return b;
      }
      const size_t start = pos_;
      try {
        b.body.push_back(stmt());
      } catch (const SyntaxError& e) {
        report(e);
        recover(e, start);
      }
    }
    take();
    return b;
  }

  // After a statement error: resync at the next statement, or after nesting past the limit skip
  // to the '}' that closes the enclosing block (one error, not one per level or per "else").
  void recover(const SyntaxError& e, size_t start) {
    if (!e.too_deep) {
      sync_stmt(start);
      return;
    }
    int depth = 0;
    for (; cur().kind != Tok::kEof; take()) {
      if (cur().is("{")) {
        ++depth;
      } else if (cur().is("}") && --depth < 0) {
        return;
      }
    }
  }

  void end_stmt() {
    if (!cur().is(";")) {
      unexpected("';'");
    }
    take();
  }

  // The value of exit / drop / return: none, "()", or an expression.
  void optional_value(Stmt& s) {
    if (cur().is(";") || cur().is("}") || cur().kind == Tok::kEof) {
      return;  // a missing ';' is reported by the caller
    }
    if (cur().is("(") && peek().is(")")) {
      take();
      take();
      return;
    }
    s.exprs.push_back(expr());
  }

  Stmt stmt() {
    const Nested nested(*this, stmt_nesting_, "statement");
    const Token& t = cur();
    Stmt s;
    s.loc = t.loc;
    if (t.is(";")) {
      take();
      s.kind = Stmt::Kind::kEmpty;
      return s;
    }
    if (t.is("{")) {
      return block();
    }
    if (t.kind == Tok::kPvar) {
      return assignment();
    }
    if (t.kind != Tok::kIdent) {
      fail(t, "expected a statement, found " + quoted(t));
    }
    const std::string& w = t.text;
    if (w == "if") {
      take();
      s.kind = Stmt::Kind::kIf;
      s.exprs.push_back(condition("if"));
      s.body.push_back(stmt());
      if (cur().is_ident("else")) {
        take();
        s.body.push_back(stmt());
      }
      return s;
    }
    if (w == "while") {
      take();
      s.kind = Stmt::Kind::kWhile;
      s.exprs.push_back(condition("while"));
      const Breakable guard(breakable_);
      s.body.push_back(stmt());
      return s;
    }
    if (w == "switch") {
      return switch_stmt();
    }
    if (w == "exit" || w == "drop" || w == "return") {
      take();
      s.kind = w == "exit"   ? Stmt::Kind::kExit
               : w == "drop" ? Stmt::Kind::kDrop
                             : Stmt::Kind::kReturn;
      optional_value(s);
      end_stmt();
      return s;
    }
    if (w == "break") {
      take();
      s.kind = Stmt::Kind::kBreak;
      s.inside_breakable = breakable_ > 0;
      end_stmt();
      return s;
    }
    if (w == "else") {
      fail(t, "'else' without 'if'");
    }
    if (w == "case" || w == "default") {
      fail(t, "'" + w + "' outside switch");
    }
    s.kind = Stmt::Kind::kExpr;
    if (peek().is("=") || peek().is("+=") || peek().is(":=")) {
      fail(peek(), "only pseudo-variables can be assigned to");
    }
    if (is_paren_optional_action(w) && peek().is(";")) {
      Expr e;
      e.kind = Expr::Kind::kCall;
      e.loc = t.loc;
      e.text = take().text;
      e.no_parens = true;
      s.exprs.push_back(std::move(e));
      end_stmt();
      return s;
    }
    if (peek().is(";")) {
      fail(t, "'" + t.text + "' is not a statement (a function call needs '()')");
    }
    s.exprs.push_back(expr());
    if (cur().is("=") || cur().is("+=") || cur().is(":=")) {
      fail(cur(), "only pseudo-variables can be assigned to");
    }
    end_stmt();
    return s;
  }

  // The condition of if / while / switch: an expression, usually in parentheses (which
  // Kamailio does not require).
  Expr condition(std::string_view what) {
    if (cur().is("{") || cur().is(";")) {
      unexpected("a condition after '" + std::string(what) + "'");
    }
    return expr();
  }

  Stmt assignment() {
    Stmt s;
    s.kind = Stmt::Kind::kAssign;
    s.loc = cur().loc;
    s.exprs.push_back(primary());
    if (cur().is("+=")) {
      fail(cur(), "'+=' is not a Kamailio operator; write $x = $x + value");
    }
    if (cur().is(":=")) {
      fail(cur(),
           "':=' is not a Kamailio operator since 3.0; '=' on $(avp(name)[*]) replaces "
           "all values");
    }
    if (!cur().is("=")) {
      unexpected("'=' after the pseudo-variable");
    }
    s.op = take().text;
    s.exprs.push_back(expr());
    end_stmt();
    return s;
  }

  Stmt switch_stmt() {
    Stmt s;
    s.kind = Stmt::Kind::kSwitch;
    s.loc = take().loc;
    s.exprs.push_back(condition("switch"));
    expect("{");
    const Breakable guard(breakable_);
    bool seen_default = false;
    bool has_int = false;
    bool has_str = false;
    while (!cur().is("}")) {
      Stmt body;
      body.kind = Stmt::Kind::kBlock;
      body.loc = cur().loc;
      if (cur().is_ident("case")) {
        take();
        body.op = "case";
        if (accept("/")) {
          body.op = "case /";
        }
        body.exprs.push_back(case_label());
      } else if (cur().is_ident("default")) {
        if (seen_default) {
          error(cur().loc, "second 'default' in a switch");
        }
        seen_default = true;
        take();
        body.op = "default";
      } else {
        unexpected("'case' or 'default'");
      }
      expect(":");
      while (!cur().is("}") && !cur().is_ident("case") && !cur().is_ident("default")) {
        if (cur().kind == Tok::kEof) {
          unexpected("'}' to close the switch");
        }
        const size_t start = pos_;
        try {
          body.body.push_back(stmt());
        } catch (const SyntaxError& e) {
          report(e);
          recover(e, start);
        }
      }
      if (!body.exprs.empty()) {
        const bool is_int = body.op == "case" && body.exprs[0].kind == Expr::Kind::kInt;
        const bool is_str = body.op == "case /" || body.exprs[0].kind == Expr::Kind::kString;
        if ((is_int && has_str) || (is_str && has_int)) {
          error(body.loc, "integer and string cases mixed in one switch");
        }
        has_int = has_int || is_int;
        has_str = has_str || is_str;
      }
      s.body.push_back(std::move(body));
    }
    take();
    return s;
  }

  // case 1: / case -1: / case "101": / case /"^1": (constants; '1:' is not an address here)
  Expr case_label() {
    const FlagScope no_addr(no_address_, true);
    if (cur().is(":")) {
      unexpected("a value after 'case'");
    }
    Expr e = binary_level(kAdd);
    if (e.kind != Expr::Kind::kInt && e.kind != Expr::Kind::kString &&
        e.kind != Expr::Kind::kBinary && e.kind != Expr::Kind::kUnary) {
      fail(cur(), "a case label must be an integer or a string constant");
    }
    return e;
  }

  // ---- expressions ----

  Expr binary(const Token& op, std::string name, Expr l, Expr r) const {
    Expr e;
    e.kind = Expr::Kind::kBinary;
    e.loc = op.loc;
    e.op = std::move(name);
    e.kids.push_back(std::move(l));
    e.kids.push_back(std::move(r));
    set_depth(e, op);
    return e;
  }

  // e.depth from its kids'; an error past kMaxNesting (at `at`).
  void set_depth(Expr& e, const Token& at) const {
    uint32_t d = 0;
    for (const Expr& k : e.kids) {
      d = std::max(d, k.depth);
    }
    e.depth = d + 1;
    if (e.depth > kMaxNesting) {
      too_deep(at, "expression");
    }
  }

  [[noreturn]] void too_deep(const Token& at, std::string_view what) const {
    before_throw();
    throw SyntaxError{at.loc,
                      std::string(what) + " nested too deeply (the limit is " +
                          std::to_string(kMaxNesting) +
                          " levels: blocks, else-if chains, parentheses and chains of operators)",
                      true};
  }

  // One level of statement or expression nesting for the duration of a scope (parsing them
  // recurses); an error past kMaxNesting.
  class Nested {
   public:
    Nested(Parser& p, uint32_t& level, std::string_view what) : level_(level) {
      if (++level_ > kMaxNesting) {
        --level_;
        p.too_deep(p.cur(), what);
      }
    }
    ~Nested() { --level_; }
    Nested(const Nested&) = delete;
    Nested& operator=(const Nested&) = delete;

   private:
    uint32_t& level_;
  };

  // The operator at the current token for `level`, or "" (words are normalised).
  std::string op_at(int level) const {
    const Token& t = cur();
    switch (level) {
      case kLOr:
        return t.is("||") || t.is_ident("or") ? "||" : "";
      case kLAnd:
        return t.is("&&") || t.is_ident("and") ? "&&" : "";
      case kBOr:
        return t.is("|") ? "|" : "";
      case kBAnd:
        return t.is("&") ? "&" : "";
      case kBXor:
        return t.is("^") ? "^" : "";
      case kShl:
        return t.is("<<") ? "<<" : "";
      case kShr:
        return t.is(">>") ? ">>" : "";
      case kEquality:
        if (t.is("==") || t.is("!=") || t.is("=~") || t.is("!~")) {
          return t.text;
        }
        if (t.is_ident("eq") || t.is_ident("ne") || t.is_ident("ieq") || t.is_ident("ine")) {
          return t.text;
        }
        return "";
      case kRelation:
        return t.is("<") || t.is(">") || t.is("<=") || t.is(">=") ? t.text : "";
      case kAdd:
        return t.is("+") || t.is("-") ? t.text : "";
      case kMul:
        if (t.is("*") || t.is("/") || t.is("%")) {
          return t.text;
        }
        return t.is_ident("mod") ? "%" : "";
      default:
        return "";
    }
  }

  Expr expr() { return binary_level(kLOr); }

  // The level of the binary operator at the current token (kUnaryLevel when there is none),
  // its name in `name`.
  int op_level(std::string& name) const {
    for (int level = kLOr; level < kUnaryLevel; ++level) {
      name = op_at(level);
      if (!name.empty()) {
        return level;
      }
    }
    return kUnaryLevel;
  }

  // The operators of `level` and tighter ones, left-associative. Precedence climbing: the right
  // operand of an operator takes only tighter operators. One call per operand rather than one
  // per level, so that nesting (parentheses) costs little stack.
  Expr binary_level(int level) {
    Expr l = unary_expr();
    std::string op;
    for (int at = op_level(op); at >= level && at < kUnaryLevel; at = op_level(op)) {
      const Token& t = take();
      Expr r = binary_level(at + 1);
      l = binary(t, op, std::move(l), std::move(r));
      if ((at == kEquality || at == kRelation) && op_level(op) == at) {
        fail(cur(), "comparisons cannot be chained; use parentheses and && or ||");
      }
    }
    return l;
  }

  static bool adjacent(const Token& t) { return !t.space_before; }

  Expr unary(const Token& op, std::string name, Expr kid) const {
    Expr e;
    e.kind = Expr::Kind::kUnary;
    e.loc = op.loc;
    e.op = std::move(name);
    e.kids.push_back(std::move(kid));
    set_depth(e, op);
    return e;
  }

  Expr unary_expr() {
    const Nested nested(*this, expr_nesting_, "expression");
    const Token& t = cur();
    if (t.is("!") || t.is_ident("not")) {
      take();
      return unary(t, "!", unary_expr());
    }
    if (t.is("-") && peek().kind == Tok::kInt) {
      take();
      Expr e;
      e.kind = Expr::Kind::kInt;
      e.loc = t.loc;
      e.num = -take().num;
      return e;
    }
    if (t.is("-") || t.is("~")) {
      take();
      return unary(t, t.text, unary_expr());
    }
    if (t.is_ident("defined")) {
      take();
      return unary(t, "defined", unary_expr());
    }
    if (t.is("(") && (peek().is_ident("int") || peek().is_ident("str")) && adjacent(peek()) &&
        peek(2).is(")") && adjacent(peek(2))) {
      take();
      const std::string name = "(" + take().text + ")";
      take();
      return unary(t, name, unary_expr());
    }
    if ((t.is_ident("strlen") || t.is_ident("strempty")) && peek().is("(")) {
      take();
      expect("(");
      Expr kid = expr();
      expect(")");
      return unary(t, t.text, std::move(kid));
    }
    return primary();
  }

  // An unquoted address: IPv4 / IPv6 / host name / proto:host:port pieces written without
  // spaces, with an optional /bits or /netmask.
  static bool address_piece(const Token& t) {
    return !t.space_before && (t.kind == Tok::kIdent || t.kind == Tok::kInt || t.is(".") ||
                               t.is(":") || t.is("::") || t.is("[") || t.is("]"));
  }

  Expr address(const Token& first) {
    Expr e;
    e.kind = Expr::Kind::kAddress;
    e.loc = first.loc;
    e.text = take().text;
    while (address_piece(cur())) {
      e.text += take().text;
    }
    if (cur().is("/") && adjacent(cur()) && peek().kind == Tok::kInt && adjacent(peek())) {
      e.text += take().text;
      while (address_piece(cur()) && !cur().is("[") && !cur().is("]")) {
        e.text += take().text;
      }
    }
    return e;
  }

  // "[" starts an IPv6 literal ([::1], [2001:db8::1]) when a ':' comes before the "]";
  // otherwise the test operator "[ expr ]".
  bool bracketed_ipv6() const {
    if (!cur().is("[")) {
      return false;
    }
    for (size_t k = 1; k < 40; ++k) {
      const Token& t = peek(k);
      if (t.is("]")) {
        return true;
      }
      if (!(t.is(":") || t.is("::") || t.kind == Tok::kInt || t.kind == Tok::kIdent || t.is(".")) ||
          t.space_before) {
        return false;
      }
    }
    return false;
  }

  // KEYWORD op value as one unit (Kamailio's exp_elem); the value binds like the right side
  // of a comparison.
  Expr keyword_comparison(Expr kw) {
    const std::string eq = op_at(kEquality);
    const std::string rel = op_at(kRelation);
    const Token& op = take();
    const FlagScope bare(bare_ok_, true);  // method == INVITE, proto == UDP, uri == myself
    Expr r = binary_level(eq.empty() ? kAdd : kRelation);
    return binary(op, eq.empty() ? rel : eq, std::move(kw), std::move(r));
  }

  Expr primary() {
    const Token& t = cur();
    Expr e;
    e.loc = t.loc;
    switch (t.kind) {
      case Tok::kEof:
        unexpected("an expression");
      case Tok::kString:
        e.kind = Expr::Kind::kString;
        e.text = take().text;
        return e;
      case Tok::kPvar: {
        e.kind = Expr::Kind::kPvar;
        e.text = take().text;
        std::string err;
        if (!parse_pvar(e.text, e.pv, err)) {
          error(e.loc, "bad pseudo-variable '" + e.text + "': " + err);
        }
        return e;
      }
      case Tok::kSelect:
        e.kind = Expr::Kind::kSelect;
        e.text = take().text;
        return e;
      case Tok::kPunct:
        if (t.is("(")) {
          take();
          if (cur().kind == Tok::kPvar && peek().is("=")) {  // (lval = value): Kamailio's rval
            Expr target = primary();
            const Token& eq = take();
            Expr value = expr();
            expect(")");
            return binary(eq, "=", std::move(target), std::move(value));
          }
          Expr inner = expr();
          expect(")");
          return inner;
        }
        if (bracketed_ipv6()) {
          return address(t);
        }
        if (t.is("::") && address_piece(peek())) {
          return address(t);
        }
        if (t.is("%") && peek().kind == Tok::kIdent && adjacent(peek())) {
          fail(t, "SER-style attribute '%" + peek().text + "' is not supported; use $avp(" +
                      peek().text + ")");
        }
        if (t.is("[")) {  // the test operator [ expr ]
          take();
          Expr inner = expr();
          expect("]");
          return inner;
        }
        fail(t, "expected an expression, found " + quoted(t));
      case Tok::kInt:
      case Tok::kIdent:
        break;
    }
    if (t.is_ident("msg") && peek().is(":") && adjacent(peek()) && peek(2).is_ident("len") &&
        adjacent(peek(2))) {
      take();
      take();
      take();
      e.kind = Expr::Kind::kIdent;
      e.text = "msg:len";
      if (!op_at(kEquality).empty() || !op_at(kRelation).empty()) {
        return keyword_comparison(std::move(e));
      }
      return e;
    }
    // Unquoted address literals: 10.0.0.1, udp:10.0.0.1:5060, fe80::1, sip.example.com.
    if (!no_address_ && (peek().is(".") || peek().is(":") || peek().is("::")) && adjacent(peek())) {
      return address(t);
    }
    if (t.kind == Tok::kInt) {
      e.kind = Expr::Kind::kInt;
      e.num = take().num;
      return e;
    }
    if (int64_t b = 0; bool_word(t.text, b)) {
      take();
      e.kind = Expr::Kind::kInt;
      e.num = b;
      return e;
    }
    e.text = take().text;
    if (!cur().is("(")) {
      e.kind = Expr::Kind::kIdent;
      if (is_core_keyword(e.text) && (!op_at(kEquality).empty() || !op_at(kRelation).empty())) {
        return keyword_comparison(std::move(e));
      }
      // Kamailio takes a bare name only where a core action or keyword expects one (INET and
      // INET6 are numbers to its lexer).
      if (!bare_ok_ && e.text != "INET" && e.text != "INET6") {
        fail(t,
             "'" + e.text + "' is not a value here (an undefined #!define? a string needs quotes)");
      }
      return e;
    }
    e.kind = Expr::Kind::kCall;
    take();
    if (!cur().is(")")) {
      const FlagScope addr(no_address_, false);
      const FlagScope bare(bare_ok_, true);
      e.kids.push_back(expr());
      while (accept(",")) {
        e.kids.push_back(expr());
      }
    }
    expect(")");
    set_depth(e, t);
    return e;
  }

  const std::vector<Token>& toks_;
  Diagnostics& diags_;
  size_t pos_ = 0;
  int breakable_ = 0;
  uint32_t stmt_nesting_ = 0;  // statements being parsed inside each other (Nested)
  uint32_t expr_nesting_ = 0;  // same for unary_expr(): parentheses, unary operators, calls
  bool no_address_ = false;  // inside a case label: "1:" is a number and a colon
  bool bare_ok_ = false;     // a bare name is a value (function arguments, keyword compares)
  Script script_;
};

// Kamailio 5.6's core parameters (keywords of its lexer, cfg.lex) and the value each takes:
// 'n' a number (yes/no/on/off count: Kamailio's lexer reads them as 1/0), 's' a string,
// 'w' a string or an identifier, 'a' anything (listen, alias, tos, ... have their own forms).
// Used by the syntax-only check; the compiler checks against what viaduct implements.
struct KamailioParam {
  std::string_view name;
  char kind;
};
constexpr KamailioParam kKamailioParams[] = {
    {"debug", 'n'},
    {"fork", 'n'},
    {"fork_delay", 'n'},
    {"modinit_delay", 'n'},
    {"log_stderror", 'n'},
    {"log_stderr", 'n'},
    {"log_facility", 'w'},
    {"log_name", 's'},
    {"log_color", 'n'},
    {"log_prefix", 's'},
    {"log_prefix_mode", 'n'},
    {"log_engine_type", 's'},
    {"log_engine_data", 's'},
    {"xavp_via_params", 's'},
    {"xavp_via_fields", 's'},
    {"listen", 'a'},
    {"alias", 'a'},
    {"auto_aliases", 'n'},
    {"dns", 'n'},
    {"rev_dns", 'n'},
    {"dns_try_ipv6", 'n'},
    {"dns_try_naptr", 'n'},
    {"dns_srv_lb", 'n'},
    {"dns_srv_loadbalancing", 'n'},
    {"dns_udp_pref", 'n'},
    {"dns_udp_preference", 'n'},
    {"dns_tcp_pref", 'n'},
    {"dns_tcp_preference", 'n'},
    {"dns_tls_pref", 'n'},
    {"dns_tls_preference", 'n'},
    {"dns_sctp_pref", 'n'},
    {"dns_sctp_preference", 'n'},
    {"dns_retr_time", 'n'},
    {"dns_slow_query_ms", 'n'},
    {"dns_retr_no", 'n'},
    {"dns_servers_no", 'n'},
    {"dns_use_search_list", 'n'},
    {"dns_search_full_match", 'n'},
    {"dns_naptr_ignore_rfc", 'n'},
    {"dns_cache_init", 'n'},
    {"use_dns_cache", 'n'},
    {"use_dns_failover", 'n'},
    {"dns_cache_flags", 'n'},
    {"dns_cache_negative_ttl", 'n'},
    {"dns_cache_min_ttl", 'n'},
    {"dns_cache_max_ttl", 'n'},
    {"dns_cache_mem", 'n'},
    {"dns_cache_gc_interval", 'n'},
    {"dns_cache_del_nonexp", 'n'},
    {"dns_cache_delete_nonexpired", 'n'},
    {"dns_cache_rec_pref", 'n'},
    {"auto_bind_ipv6", 'n'},
    {"bind_ipv6_link_local", 'n'},
    {"dst_blacklist_init", 'n'},
    {"dst_blocklist_init", 'n'},
    {"use_dst_blacklist", 'n'},
    {"use_dst_blocklist", 'n'},
    {"dst_blacklist_mem", 'n'},
    {"dst_blocklist_mem", 'n'},
    {"dst_blacklist_expire", 'n'},
    {"dst_blocklist_expire", 'n'},
    {"dst_blacklist_ttl", 'n'},
    {"dst_blocklist_ttl", 'n'},
    {"dst_blacklist_gc_interval", 'n'},
    {"dst_blocklist_gc_interval", 'n'},
    {"dst_blacklist_udp_imask", 'n'},
    {"dst_blocklist_udp_imask", 'n'},
    {"dst_blacklist_tcp_imask", 'n'},
    {"dst_blocklist_tcp_imask", 'n'},
    {"dst_blacklist_tls_imask", 'n'},
    {"dst_blocklist_tls_imask", 'n'},
    {"dst_blacklist_sctp_imask", 'n'},
    {"dst_blocklist_sctp_imask", 'n'},
    {"ip_free_bind", 'n'},
    {"ipfreebind", 'n'},
    {"ip_nonlocal_bind", 'n'},
    {"port", 'n'},
    {"maxbuffer", 'n'},
    {"sql_buffer_size", 'n'},
    {"children", 'n'},
    {"socket_workers", 'n'},
    {"async_workers", 'n'},
    {"async_usleep", 'n'},
    {"async_nonblock", 'n'},
    {"check_via", 'n'},
    {"phone2tel", 'n'},
    {"memlog", 'n'},
    {"mem_log", 'n'},
    {"memdbg", 'n'},
    {"mem_dbg", 'n'},
    {"mem_summary", 'n'},
    {"mem_safety", 'n'},
    {"mem_join", 'n'},
    {"mem_status_mode", 'n'},
    {"corelog", 'n'},
    {"core_log", 'n'},
    {"sip_warning", 'n'},
    {"server_signature", 'n'},
    {"server_header", 's'},
    {"user_agent_header", 's'},
    {"reply_to_via", 'n'},
    {"user", 'w'},
    {"uid", 'w'},
    {"group", 'w'},
    {"gid", 'w'},
    {"chroot", 'w'},
    {"workdir", 'w'},
    {"wdir", 'w'},
    {"rundir", 'w'},
    {"run_dir", 'w'},
    {"mhomed", 'n'},
    {"disable_tcp", 'n'},
    {"tcp_children", 'n'},
    {"tcp_accept_aliases", 'n'},
    {"tcp_accept_unique", 'n'},
    {"tcp_send_timeout", 'n'},
    {"tcp_connect_timeout", 'n'},
    {"tcp_connection_lifetime", 'n'},
    {"tcp_connection_match", 'n'},
    {"tcp_poll_method", 'w'},
    {"tcp_max_connections", 'n'},
    {"tls_max_connections", 'n'},
    {"tcp_no_connect", 'n'},
    {"tcp_source_ipv4", 'a'},
    {"tcp_source_ipv6", 'a'},
    {"tcp_fd_cache", 'n'},
    {"tcp_buf_write", 'n'},
    {"tcp_async", 'n'},
    {"tcp_conn_wq_max", 'n'},
    {"tcp_wq_max", 'n'},
    {"tcp_rd_buf_size", 'n'},
    {"tcp_wq_blk_size", 'n'},
    {"tcp_defer_accept", 'n'},
    {"tcp_delayed_ack", 'n'},
    {"tcp_syncnt", 'n'},
    {"tcp_linger2", 'n'},
    {"tcp_keepalive", 'n'},
    {"tcp_keepidle", 'n'},
    {"tcp_keepintvl", 'n'},
    {"tcp_keepcnt", 'n'},
    {"tcp_crlf_ping", 'n'},
    {"tcp_accept_no_cl", 'n'},
    {"tcp_accept_hep3", 'n'},
    {"tcp_accept_haproxy", 'n'},
    {"tcp_clone_rcvbuf", 'n'},
    {"tcp_reuse_port", 'n'},
    {"disable_tls", 'n'},
    {"tls_disable", 'n'},
    {"enable_tls", 'n'},
    {"tls_enable", 'n'},
    {"tlslog", 'n'},
    {"tls_log", 'n'},
    {"tls_port_no", 'n'},
    {"tls_method", 'a'},
    {"tls_verify", 'n'},
    {"tls_require_certificate", 'n'},
    {"tls_certificate", 's'},
    {"tls_private_key", 's'},
    {"tls_ca_list", 's'},
    {"tls_handshake_timeout", 'n'},
    {"tls_send_timeout", 'n'},
    {"disable_sctp", 'n'},
    {"enable_sctp", 'n'},
    {"sctp_children", 'n'},
    {"sctp_socket_rcvbuf", 'n'},
    {"sctp_socket_receive_buffer", 'n'},
    {"sctp_socket_sndbuf", 'n'},
    {"sctp_socket_send_buffer", 'n'},
    {"sctp_autoclose", 'n'},
    {"sctp_send_ttl", 'n'},
    {"sctp_send_retries", 'n'},
    {"sctp_assoc_tracking", 'n'},
    {"sctp_assoc_reuse", 'n'},
    {"sctp_max_assocs", 'n'},
    {"sctp_srto_initial", 'n'},
    {"sctp_srto_max", 'n'},
    {"sctp_srto_min", 'n'},
    {"sctp_asocmaxrxt", 'n'},
    {"sctp_init_max_attempts", 'n'},
    {"sctp_init_max_timeo", 'n'},
    {"sctp_hbinterval", 'n'},
    {"sctp_pathmaxrxt", 'n'},
    {"sctp_sack_delay", 'n'},
    {"sctp_sack_freq", 'n'},
    {"sctp_max_burst", 'n'},
    {"advertised_address", 'a'},
    {"advertised_port", 'n'},
    {"disable_core_dump", 'n'},
    {"open_files_limit", 'n'},
    {"shm", 'n'},
    {"shm_mem", 'n'},
    {"shm_mem_size", 'n'},
    {"shm_force_alloc", 'n'},
    {"mlock_pages", 'n'},
    {"real_time", 'n'},
    {"rt_prio", 'n'},
    {"rt_policy", 'n'},
    {"rt_timer1_prio", 'n'},
    {"rt_fast_timer_prio", 'n'},
    {"rt_ftimer_prio", 'n'},
    {"rt_timer1_policy", 'n'},
    {"rt_ftimer_policy", 'n'},
    {"rt_timer2_prio", 'n'},
    {"rt_stimer_prio", 'n'},
    {"rt_timer2_policy", 'n'},
    {"rt_stimer_policy", 'n'},
    {"mcast_loopback", 'n'},
    {"mcast_ttl", 'n'},
    {"mcast", 'w'},
    {"tos", 'a'},
    {"pmtu_discovery", 'n'},
    {"exit_timeout", 'n'},
    {"ser_kill_timeout", 'n'},
    {"max_while_loops", 'n'},
    {"pv_buffer_size", 'n'},
    {"pv_buffer_slots", 'n'},
    {"pv_cache_limit", 'n'},
    {"pv_cache_action", 'n'},
    {"http_reply_hack", 'n'},
    {"http_reply_parse", 'n'},
    {"version_table", 's'},
    {"verbose_startup", 'n'},
    {"server_id", 'n'},
    {"route_locks_size", 'n'},
    {"kemi.onsend_route_callback", 's'},
    {"kemi.reply_route_callback", 's'},
    {"kemi.event_route_callback", 's'},
    {"kemi.received_route_callback", 's'},
    {"received_route_mode", 'n'},
    {"max_recursive_level", 'n'},
    {"max_branches", 'n'},
    {"latency_cfg_log", 'n'},
    {"latency_log", 'n'},
    {"latency_limit_db", 'n'},
    {"latency_limit_action", 'n'},
    {"latency_limit_cfg", 'n'},
    {"uri_host_extra_chars", 's'},
    {"msg_time", 'n'},
    {"onsend_route_reply", 'n'},
    {"udp_mtu", 'n'},
    {"udp_mtu_try_proto", 'a'},
    {"udp4_raw", 'n'},
    {"udp4_raw_mtu", 'n'},
    {"udp4_raw_ttl", 'n'},
};

}  // namespace

bool is_kamailio_core_param(std::string_view name) {
  for (const KamailioParam& k : kKamailioParams) {
    if (k.name == name) {
      return true;
    }
  }
  return false;
}

namespace {

// Unknown core parameter names and values of the wrong shape, as Kamailio's parser reports
// them (its lexer knows each parameter by name).
void check_kamailio_core_params(const Script& script, Diagnostics& diags) {
  for (const CoreParamDef& p : script.params) {
    const KamailioParam* info = nullptr;
    for (const KamailioParam& k : kKamailioParams) {
      if (k.name == p.name) {
        info = &k;
        break;
      }
    }
    auto err = [&diags](const SourceLoc& loc, std::string msg) {
      diags.push_back(
          Diagnostic{Diagnostic::Severity::kError, loc.file, loc.line, loc.col, std::move(msg)});
    };
    if (info == nullptr) {
      err(p.loc, "unknown core parameter '" + p.name + "'");
      continue;
    }
    const std::vector<Token>& v = p.value;
    const Token& first = v.front();
    int64_t b = 0;
    const bool number =
        (v.size() == 1 &&
         (first.kind == Tok::kInt || (first.kind == Tok::kIdent && bool_word(first.text, b)))) ||
        (v.size() == 2 && first.is("-") && v[1].kind == Tok::kInt);
    const bool string = v.size() == 1 && first.kind == Tok::kString;
    const bool word = v.size() == 1 && first.kind == Tok::kIdent;
    switch (info->kind) {
      case 'n':
        if (!number) {
          err(first.loc, "'" + p.name + "' expects a number (or yes/no)");
        }
        break;
      case 's':
        if (!string) {
          err(first.loc, "'" + p.name + "' expects a quoted string");
        }
        break;
      case 'w':
        if (!string && !word) {
          err(first.loc, "'" + p.name + "' expects a string or a name");
        }
        break;
      default:
        break;
    }
  }
}

// Diagnostics in file order (files in order of first appearance), then by position; messages
// about a whole file last within it.
void sort_diagnostics(Diagnostics& diags, size_t first) {
  std::map<std::string, size_t> file_order;
  for (size_t i = first; i < diags.size(); ++i) {
    file_order.emplace(diags[i].file, file_order.size());
  }
  std::stable_sort(diags.begin() + static_cast<std::ptrdiff_t>(first), diags.end(),
                   [&file_order](const Diagnostic& a, const Diagnostic& b) {
                     const auto key = [&file_order](const Diagnostic& d) {
                       return std::tuple<size_t, uint64_t, uint32_t>(
                           file_order.at(d.file),
                           d.line == 0 ? UINT64_MAX : static_cast<uint64_t>(d.line), d.col);
                     };
                     return key(a) < key(b);
                   });
}

Script parse_tokens(const std::vector<Token>& tokens, Diagnostics& diags);

bool finish_parse(const std::vector<Token>& toks, Script& out, Diagnostics& diags, size_t first) {
  out = parse_tokens(toks, diags);
  check_kamailio_core_params(out, diags);
  sort_diagnostics(diags, first);
  for (size_t i = first; i < diags.size(); ++i) {
    if (diags[i].severity == Diagnostic::Severity::kError) {
      return false;
    }
  }
  return true;
}

Script parse_tokens(const std::vector<Token>& tokens, Diagnostics& diags) {
  if (tokens.empty()) {
    return {};
  }
  return Parser(tokens, diags).run();
}

}  // namespace

Script parse(const std::vector<Token>& tokens, Diagnostics& diags) {
  Script script;
  run_on_deep_stack("parser", diags, [&] {
    script = parse_tokens(tokens, diags);
    return true;
  });
  return script;
}

bool parse_file(const std::string& path, const ParseOptions& opts, Script& out,
                Diagnostics& diags) {
  return run_on_deep_stack("parser", diags, [&] {
    const size_t first = diags.size();
    Defines defines;
    add_command_line_defines(opts.defines, defines, diags);
    const std::vector<Token> toks = preprocess_file(path, defines, diags);
    return finish_parse(toks, out, diags, first);
  });
}

bool parse_string(const std::string& text, const std::string& name, const ParseOptions& opts,
                  Script& out, Diagnostics& diags) {
  return run_on_deep_stack("parser", diags, [&] {
    const size_t first = diags.size();
    Defines defines;
    add_command_line_defines(opts.defines, defines, diags);
    const std::vector<Token> toks = preprocess(text, name, defines, diags);
    return finish_parse(toks, out, diags, first);
  });
}

}  // namespace viaduct::cfg
