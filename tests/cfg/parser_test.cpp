// SPDX-License-Identifier: Apache-2.0
// The parser: tree shape, operator precedence, the constructs parsed ahead of support, and
// syntax errors with recovery.
#include "cfg/parser.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/deep_stack.hpp"
#include "cfg/lexer.hpp"
#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

using test::brief;

struct Parsed {
  Script script;
  Diagnostics diags;
};

Parsed parse_text(const std::string& text) {
  Parsed p;
  Defines defines;
  const std::vector<Token> toks = preprocess(text, "t.cfg", defines, p.diags);
  p.script = parse(toks, p.diags);
  return p;
}

// A compact, fully parenthesised rendering of an expression.
std::string show(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kInt:
      return std::to_string(e.num);
    case Expr::Kind::kString:
      return "\"" + e.text + "\"";
    case Expr::Kind::kIdent:
    case Expr::Kind::kPvar:
    case Expr::Kind::kSelect:
      return e.text;
    case Expr::Kind::kAddress:
      return "addr:" + e.text;
    case Expr::Kind::kCall: {
      std::string s = e.text + "(";
      for (size_t i = 0; i < e.kids.size(); ++i) {
        s += (i == 0 ? "" : ", ") + show(e.kids[i]);
      }
      return s + ")";
    }
    case Expr::Kind::kUnary:
      return "(" + e.op + " " + show(e.kids[0]) + ")";
    case Expr::Kind::kBinary:
      return "(" + show(e.kids[0]) + " " + e.op + " " + show(e.kids[1]) + ")";
  }
  return "?";
}

struct ExprCase {
  const char* name;
  const char* cond;
  const char* tree;
};

const ExprCase kExprs[] = {
    {"Call", "f()", "f()"},
    {"CallArgs", "f(1, \"a\", X, -2)", "f(1, \"a\", X, -2)"},
    {"AndBindsTighter", "a() || b() && c()", "(a() || (b() && c()))"},
    {"LeftAssoc", "a() && b() && c()", "((a() && b()) && c())"},
    {"NotLooserThanCompare", "!uri == myself", "(! (uri == myself))"},
    {"NotOfCall", "!f() && g()", "((! f()) && g())"},
    {"Parens", "!(a() || b())", "(! (a() || b()))"},
    {"Arithmetic", "$a + 2 * 3 == 8", "(($a + (2 * 3)) == 8)"},
    {"Regex", "$ru =~ \"^sip:\" || $ru !~ \"x\"", "(($ru =~ \"^sip:\") || ($ru !~ \"x\"))"},
    {"AddressLiteral", "src_ip == 10.0.0.1", "(src_ip == addr:10.0.0.1)"},
    {"SocketLiteral", "f(udp:10.0.0.1:5060)", "f(addr:udp:10.0.0.1:5060)"},
    {"TestOperator", "[ $a & 4 ]", "($a & 4)"},
    {"Defined", "defined $v && !strempty($v)", "((defined $v) && (! (strempty $v)))"},
    {"StringOps", "$x eq \"a\"", "($x eq \"a\")"},
};

class ExprTest : public ::testing::TestWithParam<ExprCase> {};

TEST_P(ExprTest, Tree) {
  const ExprCase& c = GetParam();
  const Parsed p = parse_text(std::string("request_route { if (") + c.cond + ") exit; }");
  ASSERT_TRUE(p.diags.empty()) << test::joined(p.diags);
  ASSERT_EQ(p.script.routes.size(), 1u);
  const Stmt& s = p.script.routes[0].body.body.at(0);
  ASSERT_EQ(s.kind, Stmt::Kind::kIf);
  EXPECT_EQ(show(s.exprs[0]), c.tree);
}

INSTANTIATE_TEST_SUITE_P(Cases, ExprTest, ::testing::ValuesIn(kExprs),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Parser, TopLevelItems) {
  const Parsed p = parse_text(
      "listen=udp:10.0.0.2:5060 advertise 1.2.3.4:5060\n"
      "children=2; debug=-1\n"
      "loadmodule \"sl.so\"\n"
      "modparam(\"dispatcher\", \"flags\", 2);\n"
      "modparam(\"dispatcher\", \"list_file\", \"d.list\")\n"
      "request_route { }\n"
      "route[A] { }\nroute[\"B\"] { }\nroute[2] { }\nroute[0] { }\n"
      "onreply_route { }\nonreply_route[R] { }\nfailure_route[F] { }\nbranch_route[B] { }\n"
      "onsend_route { }\nreply_route { }\nevent_route[core:worker-one-init] { }\n");
  ASSERT_TRUE(p.diags.empty()) << test::joined(p.diags);
  ASSERT_EQ(p.script.params.size(), 3u);
  EXPECT_EQ(p.script.params[0].name, "listen");
  EXPECT_EQ(p.script.params[0].value.size(),
            21u);  // udp : 10 . 0 . 0 . 2 : 5060 advertise 1 . 2 ...
  EXPECT_EQ(p.script.params[1].name, "children");
  EXPECT_EQ(p.script.params[2].name, "debug");
  EXPECT_EQ(p.script.params[2].loc.line, 2u);
  EXPECT_EQ(p.script.params[2].loc.col, 13u);
  ASSERT_EQ(p.script.modules.size(), 1u);
  EXPECT_EQ(p.script.modules[0].path, "sl.so");
  ASSERT_EQ(p.script.modparams.size(), 2u);
  EXPECT_EQ(p.script.modparams[0].value.kind, Expr::Kind::kInt);
  EXPECT_EQ(p.script.modparams[1].value.text, "d.list");
  std::vector<std::pair<RouteKind, std::string>> got;
  for (const RouteDef& r : p.script.routes) {
    got.emplace_back(r.kind, r.name);
  }
  EXPECT_EQ(got, (std::vector<std::pair<RouteKind, std::string>>{
                     {RouteKind::kRequest, ""},
                     {RouteKind::kSub, "A"},
                     {RouteKind::kSub, "B"},
                     {RouteKind::kSub, "2"},
                     {RouteKind::kRequest, ""},
                     {RouteKind::kReply, ""},
                     {RouteKind::kOnReply, "R"},
                     {RouteKind::kFailure, "F"},
                     {RouteKind::kBranch, "B"},
                     {RouteKind::kOnSend, ""},
                     {RouteKind::kReply, ""},
                     {RouteKind::kEvent, "core:worker-one-init"},
                 }));
}

TEST(Parser, Statements) {
  const Parsed p = parse_text(
      "request_route {\n"
      "  if (a()) b(); else if (c()) { d(); } else e();\n"
      "  exit; exit(); drop; drop(); return; return(1); return -1;\n"
      "  $var(x) = 1; $var(y) = 2;\n"
      "  switch ($rU) { case 1: case -2: f(); break; case 3: break; default: g(); }\n"
      "  while ($var(i) < 3) { break; }\n"
      "  break;\n"
      "  route(X);;\n"
      "};\n");
  ASSERT_TRUE(p.diags.empty()) << test::joined(p.diags);
  const std::vector<Stmt>& b = p.script.routes.at(0).body.body;
  std::vector<Stmt::Kind> kinds;
  for (const Stmt& s : b) {
    kinds.push_back(s.kind);
  }
  using K = Stmt::Kind;
  EXPECT_EQ(kinds, (std::vector<K>{K::kIf, K::kExit, K::kExit, K::kDrop, K::kDrop, K::kReturn,
                                   K::kReturn, K::kReturn, K::kAssign, K::kAssign, K::kSwitch,
                                   K::kWhile, K::kBreak, K::kExpr, K::kEmpty}));
  ASSERT_EQ(b[0].body.size(), 2u);
  EXPECT_EQ(b[0].body[1].kind, K::kIf);  // else if
  EXPECT_EQ(b[0].body[1].body.size(), 2u);
  EXPECT_TRUE(b[5].exprs.empty());
  EXPECT_EQ(b[7].exprs.at(0).num, -1);
  EXPECT_EQ(b[9].op, "=");
  ASSERT_EQ(b[10].body.size(), 4u);  // one body per label; "case 1:" has an empty one
  EXPECT_TRUE(b[10].body[0].body.empty());
  EXPECT_TRUE(b[10].body[1].body.at(1).inside_breakable);
  EXPECT_TRUE(b[11].body[0].body.at(0).inside_breakable);
  EXPECT_FALSE(b[12].inside_breakable);
  EXPECT_EQ(b[12].loc.line, 7u);
  EXPECT_EQ(b[12].loc.col, 3u);
}

struct SyntaxCase {
  const char* name;
  const char* text;
  std::vector<std::string> errors;
};

const SyntaxCase kSyntax[] = {
    {"MissingSemicolon", "request_route {\n  exit\n}", {"3:1: expected ';', found '}'"}},
    {"MissingParen", "request_route {\n  if (a() exit;\n}", {"2:11: expected ')', found 'exit'"}},
    {"ElseWithoutIf", "request_route {\n  else exit;\n}", {"2:3: 'else' without 'if'"}},
    {"MissingBrace", "request_route {\n  exit;\n", {"1:15: missing '}' for the block opened here"}},
    {"NamelessEventRoute",
     "event_route { }",
     {"1:1: event_route needs a name: event_route[group:name] { ... }"}},
    {"EmptyRouteName", "route[] { }", {"1:6: empty route name"}},
    {"ModparamValue",
     "modparam(\"a\", \"b\", x)",
     {"1:20: expected a string or integer value, found 'x'"}},
    {"LoadmoduleWithoutString",
     "loadmodule sl",
     {"1:12: expected a module path string, found 'sl'"}},
    {"CoreParamWithoutValue",
     "children=\nrequest_route { }",
     {"1:9: missing value for 'children'"}},
    {"StrayToken",
     "}\nrequest_route { }",
     {"1:1: expected a core parameter, loadmodule, modparam or a route block, found '}'"}},
    {"CustomGlobalWithoutValue",
     "pstn.gw_ip = desc \"x\"\nrequest_route { }",
     {"1:14: expected a string or integer value for 'pstn.gw_ip', found 'desc'"}},
    {"ChainedCompare",
     "request_route { if ($a == $b == $c) exit; }",
     {"1:30: comparisons cannot be chained; use parentheses and && or ||"}},
    {"AssignToNonPvar",
     "request_route { x = 1; }",
     {"1:19: only pseudo-variables can be assigned to"}},
    {"PlusAssign",
     "request_route { $x += 1; }",
     {"1:20: '+=' is not a Kamailio operator; write $x = $x + value"}},
    {"ColonAssign",
     "request_route { $x := 1; }",
     {"1:20: ':=' is not a Kamailio operator since 3.0; '=' on $(avp(name)[*]) replaces all "
      "values"}},
    {"BadCase",
     "request_route { switch ($x) { foo: break; } }",
     {"1:31: expected 'case' or 'default', found 'foo'"}},
    {"RecoversAndContinues",
     "request_route {\n  if (a() { b(); } else { c(); }\n  d(;\n  e();\n}\nroute[X] { f( }\n",
     {"2:11: expected ')', found '{'", "3:5: expected an expression, found ';'",
      "6:15: expected an expression, found '}'"}},
};

class SyntaxTest : public ::testing::TestWithParam<SyntaxCase> {};

TEST_P(SyntaxTest, Errors) {
  const SyntaxCase& c = GetParam();
  EXPECT_EQ(brief(parse_text(c.text).diags), c.errors);
}

INSTANTIATE_TEST_SUITE_P(Cases, SyntaxTest, ::testing::ValuesIn(kSyntax),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Parser, RecoveryKeepsLaterRoutes) {
  const Parsed p =
      parse_text("request_route {\n  if (a() { b(); }\n  c();\n}\nroute[X] { d(); }\n");
  EXPECT_EQ(p.diags.size(), 1u) << test::joined(p.diags);
  ASSERT_EQ(p.script.routes.size(), 2u);
  EXPECT_EQ(p.script.routes[0].body.body.size(), 1u);  // c();
  EXPECT_EQ(p.script.routes[1].name, "X");
}


// Nesting past kMaxNesting is one error where the input passes the limit, never a stack overflow
// (in the parser, the compiler, the tree dump or the tree's destructor): each kind of nesting at
// `levels` levels, through the whole front end (compile_string), the syntax-only one and dump().
struct DeepCase {
  const char* name;
  std::string text;
  // Where the limit's error points at kDeep levels, "line:col: what": the token of the level
  // past kMaxNesting (in a chain of "+1"s, the 2 * kMaxNesting-th column after "= 1").
  std::string error;
};

std::string times(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

constexpr size_t kDeep = 30000;  // three times the limit
const std::string kLimit = " nested too deeply (the limit is " + std::to_string(kMaxNesting) +
                          " levels: blocks, else-if chains, parentheses and chains of operators)";

std::string at(size_t col, const char* what) {
  return "2:" + std::to_string(col) + ": " + what;
}

// Each kind of nesting, `levels` deep (the route's own block is one more for the statements).
std::vector<DeepCase> deep_cases(size_t levels) {
  const std::string pv = "loadmodule \"pv.so\"\n";
  const size_t n = kMaxNesting;
  return {
      {"Parentheses",
       pv + "request_route { if (" + times("(", levels) + "1" + times(")", levels) +
           ") { drop; } }\n",
       at(20 + n, "expression")},
      {"Blocks", pv + "request_route " + times("{", levels) + times("}", levels) + "\n",
       at(15 + n + 1, "statement")},
      {"UnclosedBlocks", pv + "request_route " + times("{", levels), at(15 + n + 1, "statement")},
      {"OperatorChain", pv + "request_route { $var(x) = 1" + times("+1", levels) + "; }\n",
       at(26 + 2 * n, "expression")},
      {"Nots", pv + "request_route { if (" + times("!", levels) + "$var(x)) { drop; } }\n",
       at(20 + n, "expression")},
      {"Calls",
       pv + "request_route { $var(x) = " + times("strlen(", levels) + "$var(y)" +
           times(")", levels) + "; }\n",
       at(27 + 7 * n, "expression")},
      {"ElseIfChain",
       pv + "request_route { if ($var(a) == 0) drop;" +
           times(" else if ($var(a) == 1) drop;", levels) + " }\n",
       at(29 * n + 6, "statement")},
      {"Whiles",
       pv + "request_route { " + times("while ($var(a) < 3) ", levels) + "break; }\n",
       at(17 + 20 * n, "statement")},
  };
}

TEST(Parser, NestingPastTheLimitIsAnError) {
  for (const DeepCase& c : deep_cases(kDeep)) {
    SCOPED_TRACE(c.name);
    const test::Compiled compiled = test::compile(c.text);
    EXPECT_FALSE(compiled.ok);
    Script script;
    Diagnostics diags;
    EXPECT_FALSE(parse_string(c.text, "t.cfg", {}, script, diags));
    EXPECT_FALSE(dump(script).empty());
    for (const Diagnostics* d : {&compiled.diags, static_cast<const Diagnostics*>(&diags)}) {
      size_t found = 0;
      for (const std::string& b : brief(*d)) {
        found += b == c.error + kLimit ? 1 : 0;
      }
      EXPECT_EQ(found, 1u) << test::joined(*d).substr(0, 2000);
      // and one per unclosed block
      EXPECT_LE(d->size(), kMaxNesting + 2) << test::joined(*d).substr(0, 2000);
    }
  }
}

// Up to the limit everything compiles (but nested whiles, which the compiler bounds at 16), dumps
// and is freed, on the front end's own stack (deep_stack.hpp), with room to spare: at most half
// of it used in this build (the ASan -O0 build's frames are the largest). The limit is as deep as
// Kamailio's parser goes (its bison stack of 10,000 entries: ~2,500 else-ifs, thousands of
// parentheses); kMaxNesting - 2 levels leave one for the route's block and one for the if's.
TEST(Parser, NestingUpToTheLimitCompiles) {
  for (DeepCase& c : deep_cases(kMaxNesting - 2)) {
    if (std::string_view(c.name) == "UnclosedBlocks") {
      continue;
    }
    SCOPED_TRACE(c.name);
    if (std::string_view(c.name) != "Whiles") {
      const test::Compiled compiled = test::compile(c.text);
      EXPECT_TRUE(compiled.ok) << test::joined(compiled.diags).substr(0, 2000);
    }
    Script script;
    Diagnostics diags;
    EXPECT_TRUE(parse_string(c.text, "t.cfg", {}, script, diags))
        << test::joined(diags).substr(0, 2000);
    EXPECT_FALSE(dump(script).empty());
  }
  std::printf("front-end stack used: %zu KiB of %zu\n", deep_stack_peak_bytes() / 1024,
              kDeepStackBytes / 1024);
  EXPECT_LT(deep_stack_peak_bytes(), kDeepStackBytes / 2);
  EXPECT_GT(deep_stack_peak_bytes(), 0u);
}

// Where the front end's stack cannot be had (an address-space limit below 1 GiB more), a compile
// or a parse is an error that says so, not a crash. In a child process with RLIMIT_AS set just
// above what it uses. Not under ASan, whose shadow memory such a limit breaks.
TEST(Parser, NoRoomForTheStackIsAnError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RLIMIT_AS and ASan do not mix";
#else
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    size_t vm_kib = 0;
    std::FILE* f = std::fopen("/proc/self/status", "r");
    char line[256];
    while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
      std::sscanf(line, "VmSize: %zu kB", &vm_kib);
    }
    if (f != nullptr) {
      std::fclose(f);
    }
    const rlim_t limit = (vm_kib + 256 * 1024) * 1024;  // 256 MiB more than now
    const rlimit rl{limit, limit};
    if (vm_kib == 0 || setrlimit(RLIMIT_AS, &rl) != 0) {
      _exit(2);
    }
    const test::Compiled c = test::compile("loadmodule \"pv.so\"\nrequest_route { drop; }\n");
    Script script;
    Diagnostics diags;
    const bool parsed = parse_string("request_route { drop; }\n", "t.cfg", {}, script, diags);
    const bool said = !c.ok && !c.diags.empty() &&
                      c.diags[0].message.rfind("cannot run the compiler: ", 0) == 0 && !parsed &&
                      !diags.empty() && diags[0].message.rfind("cannot run the parser: ", 0) == 0;
    _exit(said ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed: status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
#endif
}

}  // namespace
}  // namespace viaduct::cfg
