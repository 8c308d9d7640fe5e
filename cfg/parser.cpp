// SPDX-License-Identifier: Apache-2.0
#include "cfg/parser.hpp"

#include <string_view>
#include <utility>

namespace viaduct::cfg {
namespace {

// Thrown inside this file only, to unwind to the statement or top-level item that recovers.
struct SyntaxError {
  SourceLoc loc;
  std::string message;
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
      expect_string("a directory string");
      accept(";");
    } else if (w == "modparam") {
      modparam();
    } else if (w == "request_route" || w == "route" || w == "reply_route" || w == "onreply_route" ||
               w == "failure_route" || w == "branch_route" || w == "onsend_route" ||
               w == "event_route") {
      route_def();
    } else if (w == "include_file" || w == "import_file") {
      take();
      expect_string("a file name string");
      error(t.loc, w + " is not supported yet");
      accept(";");
    } else if (w == "cfgengine") {
      take();
      accept("=");
      const Token& eng = expect_string("an engine name string");
      if (eng.text != "native" && eng.text != "default") {
        error(eng.loc, "cfgengine \"" + eng.text + "\" is not supported (only \"native\")");
      }
      accept(";");
    } else if (w == "flags" || w == "avpflags") {
      take();
      error(t.loc, "'" + w + "' declarations are not supported yet; use #!define for flags");
      while (cur().kind != Tok::kEof && !cur().is(";")) {
        take();
      }
      accept(";");
    } else if (peek().is("=")) {
      core_param();
    } else if (peek().is(".") && !peek().space_before) {
      error(t.loc, "custom global parameters (group.name = value) are not supported yet");
      sync_top();
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
    while (cur().kind != Tok::kEof && !cur().is(";") && !cur().line_start) {
      p.value.push_back(take());
    }
    accept(";");
    if (p.value.empty()) {
      fail(eq, "missing value for '" + p.name + "'");
    }
    script_.params.push_back(std::move(p));
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
    } else {
      unexpected("a string or integer value");
    }
    expect(")");
    accept(";");
    script_.modparams.push_back(std::move(m));
  }

  // The name inside route[...]: identifiers, numbers, strings, and punctuation such as the ':'
  // and '-' of event_route[core:worker-one-init], concatenated.
  std::string route_name() {
    const Token& open = expect("[");
    std::string name;
    while (cur().kind != Tok::kEof && !cur().is("]") && !cur().is("{")) {
      name += take().text;
    }
    if (name.empty()) {
      fail(open, "empty route name");
    }
    expect("]");
    return name;
  }

  void route_def() {
    RouteDef r;
    const Token& kw = take();
    r.keyword = kw.text;
    r.loc = kw.loc;
    if (cur().is("[")) {
      r.name = route_name();
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
      if (named) {
        fail(kw, "onsend_route takes no name");
      }
      r.kind = RouteKind::kOnSend;
    } else {
      if (!named) {
        fail(kw, k + " needs a name: " + k + "[NAME] { ... }");
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
        sync_stmt(start);
      }
    }
    take();
    return b;
  }

  void end_stmt() {
    if (!cur().is(";")) {
      unexpected("';'");
    }
    take();
  }

  Stmt stmt() {
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
      s.exprs.push_back(paren_expr());
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
      s.exprs.push_back(paren_expr());
      const Breakable guard(breakable_);
      s.body.push_back(stmt());
      return s;
    }
    if (w == "switch") {
      return switch_stmt();
    }
    if (w == "exit" || w == "drop") {
      take();
      s.kind = w == "exit" ? Stmt::Kind::kExit : Stmt::Kind::kDrop;
      if (accept("(")) {
        if (!cur().is(")")) {
          fail(cur(), w + " takes no argument here; use return(N) to end a route with a value");
        }
        expect(")");
      }
      end_stmt();
      return s;
    }
    if (w == "return") {
      take();
      s.kind = Stmt::Kind::kReturn;
      if (!cur().is(";")) {
        s.exprs.push_back(expr());
      }
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
    s.kind = Stmt::Kind::kExpr;
    s.exprs.push_back(expr());
    if (cur().is("=") || cur().is("+=")) {
      fail(cur(), "only pseudo-variables can be assigned to");
    }
    end_stmt();
    return s;
  }

  Stmt assignment() {
    Stmt s;
    s.kind = Stmt::Kind::kAssign;
    s.loc = cur().loc;
    s.exprs.push_back(primary());
    if (!cur().is("=") && !cur().is("+=")) {
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
    s.exprs.push_back(paren_expr());
    expect("{");
    const Breakable guard(breakable_);
    while (!cur().is("}")) {
      if (cur().is_ident("case")) {
        take();
        case_label();
      } else if (cur().is_ident("default")) {
        take();
      } else {
        unexpected("'case' or 'default'");
      }
      expect(":");
      Stmt body;
      body.kind = Stmt::Kind::kBlock;
      body.loc = cur().loc;
      while (!cur().is("}") && !cur().is_ident("case") && !cur().is_ident("default")) {
        if (cur().kind == Tok::kEof) {
          unexpected("'}' to close the switch");
        }
        const size_t start = pos_;
        try {
          body.body.push_back(stmt());
        } catch (const SyntaxError& e) {
          report(e);
          sync_stmt(start);
        }
      }
      s.body.push_back(std::move(body));
    }
    take();
    return s;
  }

  // case 1: / case -1: / case "101":
  void case_label() {
    if (cur().is("-") && peek().kind == Tok::kInt) {
      take();
    }
    if (cur().kind != Tok::kInt && cur().kind != Tok::kString) {
      unexpected("an integer or a string after 'case'");
    }
    take();
  }

  // ---- expressions ----

  Expr paren_expr() {
    expect("(");
    Expr e = expr();
    expect(")");
    return e;
  }

  static Expr binary(const Token& op, Expr l, Expr r) {
    Expr e;
    e.kind = Expr::Kind::kBinary;
    e.loc = op.loc;
    e.op = op.text;
    e.kids.push_back(std::move(l));
    e.kids.push_back(std::move(r));
    return e;
  }

  Expr expr() { return or_expr(); }

  Expr or_expr() {
    Expr l = and_expr();
    while (cur().is("||")) {
      const Token& op = take();
      l = binary(op, std::move(l), and_expr());
    }
    return l;
  }

  Expr and_expr() {
    Expr l = not_expr();
    while (cur().is("&&")) {
      const Token& op = take();
      l = binary(op, std::move(l), not_expr());
    }
    return l;
  }

  // '!' binds looser than comparisons: "!uri==myself" is "!(uri==myself)", as in Kamailio.
  Expr not_expr() {
    if (cur().is("!")) {
      Expr e;
      e.kind = Expr::Kind::kUnary;
      e.loc = take().loc;
      e.op = "!";
      e.kids.push_back(not_expr());
      return e;
    }
    return cmp_expr();
  }

  static bool is_cmp(const Token& t) {
    return t.is("==") || t.is("!=") || t.is("=~") || t.is("!~") || t.is("<") || t.is(">") ||
           t.is("<=") || t.is(">=") || t.is_ident("eq") || t.is_ident("ne") || t.is_ident("ieq") ||
           t.is_ident("ine");
  }

  Expr cmp_expr() {
    Expr l = bit_expr();
    if (is_cmp(cur())) {
      const Token& op = take();
      l = binary(op, std::move(l), bit_expr());
      if (is_cmp(cur())) {
        fail(cur(), "comparisons cannot be chained; use parentheses and && or ||");
      }
    }
    return l;
  }

  Expr bit_expr() {
    Expr l = add_expr();
    while (cur().is("|") || cur().is("&") || cur().is("^") || cur().is("<<") || cur().is(">>")) {
      const Token& op = take();
      l = binary(op, std::move(l), add_expr());
    }
    return l;
  }

  Expr add_expr() {
    Expr l = mul_expr();
    while (cur().is("+") || cur().is("-")) {
      const Token& op = take();
      l = binary(op, std::move(l), mul_expr());
    }
    return l;
  }

  Expr mul_expr() {
    Expr l = unary_expr();
    while (cur().is("*") || cur().is("/") || cur().is("%") || cur().is_ident("mod")) {
      const Token& op = take();
      l = binary(op, std::move(l), unary_expr());
    }
    return l;
  }

  Expr unary_expr() {
    if (cur().is("-") && peek().kind == Tok::kInt) {
      const Token& minus = take();
      Expr e;
      e.kind = Expr::Kind::kInt;
      e.loc = minus.loc;
      e.num = -take().num;
      return e;
    }
    if (cur().is("-") || cur().is("~") || cur().is_ident("defined")) {
      Expr e;
      e.kind = Expr::Kind::kUnary;
      e.loc = cur().loc;
      e.op = take().text;
      e.kids.push_back(unary_expr());
      return e;
    }
    return primary();
  }

  static bool address_piece(const Token& t) {
    return !t.space_before && (t.kind == Tok::kIdent || t.kind == Tok::kInt || t.is(".") ||
                               t.is(":") || t.is("::") || t.is("[") || t.is("]"));
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
      case Tok::kPvar:
        e.kind = Expr::Kind::kPvar;
        e.text = take().text;
        return e;
      case Tok::kSelect:
        e.kind = Expr::Kind::kSelect;
        e.text = take().text;
        return e;
      case Tok::kPunct:
        if (t.is("(")) {
          return paren_expr();
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
    // Unquoted address literals: 10.0.0.1, udp:10.0.0.1:5060.
    if ((peek().is(".") || peek().is(":") || peek().is("::")) && !peek().space_before) {
      e.kind = Expr::Kind::kAddress;
      e.text = take().text;
      while (address_piece(cur())) {
        e.text += take().text;
      }
      return e;
    }
    if (t.kind == Tok::kInt) {
      e.kind = Expr::Kind::kInt;
      e.num = take().num;
      return e;
    }
    e.text = take().text;
    if (!cur().is("(")) {
      e.kind = Expr::Kind::kIdent;
      return e;
    }
    e.kind = Expr::Kind::kCall;
    take();
    if (!cur().is(")")) {
      e.kids.push_back(expr());
      while (accept(",")) {
        e.kids.push_back(expr());
      }
    }
    expect(")");
    return e;
  }

  const std::vector<Token>& toks_;
  Diagnostics& diags_;
  size_t pos_ = 0;
  int breakable_ = 0;
  Script script_;
};

}  // namespace

Script parse(const std::vector<Token>& tokens, Diagnostics& diags) {
  if (tokens.empty()) {
    return {};
  }
  return Parser(tokens, diags).run();
}

}  // namespace viaduct::cfg
