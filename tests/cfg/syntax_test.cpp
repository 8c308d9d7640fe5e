// SPDX-License-Identifier: Apache-2.0
// The syntax-only front end (parse_string / parse_file): every construct of the language at the
// tree level, Kamailio's operator precedence, pseudo-variable parts, top-level declarations,
// and the Kamailio core-parameter check. Expected trees are dump() renderings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cfg/parser.hpp"
#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

using test::brief;

struct Parsed {
  bool ok = false;
  Script script;
  Diagnostics diags;
};

Parsed parse_text(const std::string& text, const ParseOptions& opts = {}) {
  Parsed p;
  p.ok = parse_string(text, "t.cfg", opts, p.script, p.diags);
  return p;
}

// ---- expressions: "if (COND) exit;" and the dump of COND ----

struct ExprCase {
  const char* name;
  const char* cond;
  const char* tree;
};

const ExprCase kExprs[] = {
    // Kamailio's levels, loosest first: || && | & ^ << >> (== != =~ !~ eq ne ieq ine)
    // (< > <= >=) (+ -) (* / mod) then unary ! - ~, defined, casts.
    {"OrAnd", "a() || b() && c()", "(a() || (b() && c()))"},
    {"WordOperators", "not a() and b() or c()", "(((! a()) && b()) || c())"},
    {"BitOrLooserThanCompare", "$a | 4 == 4", "($a | (4 == 4))"},
    {"BitAndLooserThanCompare", "$a & 4 == 4", "($a & (4 == 4))"},
    {"XorTighterThanAnd", "$a & $b ^ $c", "($a & ($b ^ $c))"},
    {"OrLooserThanAnd", "$a | $b & $c", "($a | ($b & $c))"},
    {"Shifts", "1 << 2 >> 1", "(1 << (2 >> 1))"},
    {"RelationTighterThanEquality", "$a == $b < 3", "($a == ($b < 3))"},
    {"Arithmetic", "$a + 2 * 3 - 4 / 2 mod 3 == 8", "((($a + (2 * 3)) - ((4 / 2) % 3)) == 8)"},
    {"PercentIsMod", "$a % 2 == 1", "(($a % 2) == 1)"},
    {"UnaryNotBindsTight", "!$a == 1", "((! $a) == 1)"},
    {"NotKeywordComparison", "!uri == myself", "(! (uri == myself))"},
    {"KeywordComparisonThenAnd", "uri == myself && method == \"INVITE\"",
     "((uri == myself) && (method == \"INVITE\"))"},
    {"UnquotedMethod", "method == INVITE", "(method == INVITE)"},
    {"MsgLen", "msg:len > 2048 + 10", "(msg:len > (2048 + 10))"},
    {"NotMsgLen", "!msg:len >= 100", "(! (msg:len >= 100))"},
    {"StatusRegex", "status =~ \"^18[0-9]\"", "(status =~ \"^18[0-9]\")"},
    {"RegexNotMatch", "$ru !~ \"x\"", "($ru !~ \"x\")"},
    {"TypedCompare", "$x ieq 1 || $y ne \"a\"", "(($x ieq 1) || ($y ne \"a\"))"},
    {"Casts", "(int)$var(x) + (str)1 == \"21\"", "((((int) $var(x)) + ((str) 1)) == \"21\")"},
    {"DefinedStrlenStrempty", "defined $v && strlen($v) > 2 && !strempty($v)",
     "(((defined $v) && ((strlen $v) > 2)) && (! (strempty $v)))"},
    {"UnaryMinusAndBitNot", "-$a + ~$b", "((- $a) + (~ $b))"},
    {"NegativeLiteral", "$a == -5", "($a == -5)"},
    {"OctalHexBinary", "010 + 0x10 + 101b == 29", "(((8 + 16) + 5) == 29)"},
    {"Booleans", "$a == yes || $b == off", "(($a == 1) || ($b == 0))"},
    {"Myself", "src_ip != myself", "(src_ip != myself)"},
    {"Ipv4", "src_ip == 10.0.0.1", "(src_ip == addr:10.0.0.1)"},
    {"CidrBits", "src_ip == 10.0.0.0/8", "(src_ip == addr:10.0.0.0/8)"},
    {"CidrMask", "dst_ip == 192.168.0.0/255.255.0.0", "(dst_ip == addr:192.168.0.0/255.255.0.0)"},
    {"Ipv6Bracketed", "dst_ip == [2001:db8::1]", "(dst_ip == addr:[2001:db8::1])"},
    {"Ipv6Bare", "src_ip == fe80::1", "(src_ip == addr:fe80::1)"},
    {"Ipv6Leading", "src_ip == ::1", "(src_ip == addr:::1)"},
    {"Ipv6Cidr", "src_ip == 2001:db8::/32", "(src_ip == addr:2001:db8::/32)"},
    {"HostName", "to_ip == sip.example.com", "(to_ip == addr:sip.example.com)"},
    {"ProtoAf", "proto == UDP && af == INET6", "((proto == UDP) && (af == INET6))"},
    {"PortKeywords", "src_port == 5060 || dst_port > 5000",
     "((src_port == 5060) || (dst_port > 5000))"},
    {"OtherKeywords", "from_uri =~ \"@a\" && to_uri != \"x\" && snd_port == 1 && to_port == 2",
     "((((from_uri =~ \"@a\") && (to_uri != \"x\")) && (snd_port == 1)) && (to_port == 2))"},
    {"StringConcat", "$var(a) + \"@\" + $fd == \"x\"", "((($var(a) + \"@\") + $fd) == \"x\")"},
    {"AdjacentStringsJoin", "$a == \"ab\" \"cd\"", "($a == \"abcd\")"},
    {"Selects", "@ruri.host == \"x\" && @via[1].host != \"y\"",
     "((@ruri.host == \"x\") && (@via[1].host != \"y\"))"},
    {"CallArgsOfEveryKind",
     "f(1, -2, \"s\", $var(x), BARE, udp:10.0.0.1:5060, $(ru{uri.user}), g(1))",
     "f(1, -2, \"s\", $var(x), BARE, addr:udp:10.0.0.1:5060, $(ru{uri.user}), g(1))"},
    {"NoParensAroundCondition", "$a", "$a"},
    {"TestOperator", "[ $a & 4 ]", "($a & 4)"},
};

class ExprTest : public ::testing::TestWithParam<ExprCase> {};

TEST_P(ExprTest, Tree) {
  const ExprCase& c = GetParam();
  const Parsed p = parse_text(std::string("request_route {\n  if (") + c.cond + ") exit;\n}\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  ASSERT_EQ(p.script.routes.size(), 1u);
  const Stmt& s = p.script.routes[0].body.body.at(0);
  ASSERT_EQ(s.kind, Stmt::Kind::kIf);
  EXPECT_EQ(dump(s.exprs[0]), c.tree);
}

INSTANTIATE_TEST_SUITE_P(Cases, ExprTest, ::testing::ValuesIn(kExprs),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- pseudo-variables of every shape ----

struct PvCase {
  const char* text;
  const char* name;
  const char* inner;
  const char* index;
  std::vector<std::string> transforms;  // "name,param,param"
};

const PvCase kPvs[] = {
    {"$ru", "ru", "", "", {}},
    {"$rU", "rU", "", "", {}},
    {"$?", "?", "", "", {}},
    {"$rc", "rc", "", "", {}},
    {"$hdr(Name)", "hdr", "Name", "", {}},
    {"$var(x)", "var", "x", "", {}},
    {"$avp(x)", "avp", "x", "", {}},
    {"$avp(s:x)", "avp", "s:x", "", {}},
    {"$avp(i:3)", "avp", "i:3", "", {}},
    {"$xavp(a=>b)", "xavp", "a=>b", "", {}},
    {"$xavp(a[0]=>b)", "xavp", "a[0]=>b", "", {}},
    {"$sht(ipban=>$si)", "sht", "ipban=>$si", "", {}},
    {"$shv(x)", "shv", "x", "", {}},
    {"$sel(cfg_get.pstn.gw_ip)", "sel", "cfg_get.pstn.gw_ip", "", {}},
    {"$T(reply_code)", "T", "reply_code", "", {}},
    {"$T_branch_idx", "T_branch_idx", "", "", {}},
    {"$(avp(x)[0])", "avp", "x", "0", {}},
    {"$(avp(i:3)[*])", "avp", "i:3", "*", {}},
    {"$(hdr(Via)[-1])", "hdr", "Via", "-1", {}},
    {"$(ru{uri.user})", "ru", "", "", {"uri.user"}},
    {"$(var(x){s.len}{s.int}{s.substr,1,2})", "var", "x", "", {"s.len", "s.int", "s.substr,1,2"}},
    {"$(hdr(X)[0]{s.select,$var(i),,})", "hdr", "X", "0", {"s.select,$var(i),,"}},
    {"$(avp(x)[$var(i)])", "avp", "x", "$var(i)", {}},
};

TEST(Syntax, PseudoVariableParts) {
  for (const PvCase& c : kPvs) {
    const Parsed p = parse_text(std::string("request_route { $var(z) = ") + c.text + "; }");
    ASSERT_TRUE(p.ok) << c.text << "\n" << test::joined(p.diags);
    const Expr& e = p.script.routes.at(0).body.body.at(0).exprs.at(1);
    ASSERT_EQ(e.kind, Expr::Kind::kPvar) << c.text;
    EXPECT_EQ(e.text, c.text);
    EXPECT_EQ(e.pv.name, c.name) << c.text;
    EXPECT_EQ(e.pv.inner, c.inner) << c.text;
    EXPECT_EQ(e.pv.index, c.index) << c.text;
    std::vector<std::string> trs;
    for (const Transform& t : e.pv.transforms) {
      std::string s = t.name;
      for (const std::string& param : t.params) {
        s += "," + param;
      }
      trs.push_back(s);
    }
    EXPECT_EQ(trs, c.transforms) << c.text;
  }
}

// ---- statements and blocks: the dump of a whole script ----

TEST(Syntax, EveryRouteKindAndStatement) {
  const Parsed p = parse_text(
      "#!KAMAILIO\n"
      "request_route {\n"
      "  if ($a) { b(); } else if ($c) d(); else { e(); }\n"
      "  while ($var(i) < 3) { $var(i) = $var(i) + 1; if ($x) break; }\n"
      "  switch ($rU) {\n"
      "    case 1: case -2: f(); break;\n"
      "    case 3: g(); break;\n"
      "    case 4: h();\n"
      "    default: exit;\n"
      "  }\n"
      "  exit; exit(); exit(0); drop; drop(); drop(1); return; return(1); return -1;\n"
      "  return $var(x) + 1;\n"
      "  force_rport; force_rport(); revert_uri;\n"
      "  route(NAMED); route(\"quoted\");\n"
      "  $(avp(x)[*]) = $null;\n"
      "  ;\n"
      "}\n"
      "route[NAMED] { return 1; }\n"
      "route[\"quoted\"] { return; }\n"
      "route[2] { return; }\n"
      "reply_route { if (status == \"200\") drop; }\n"
      "onreply_route[MANAGE_REPLY] { exit; }\n"
      "failure_route[MANAGE_FAILURE] { exit; }\n"
      "branch_route[MANAGE_BRANCH] { exit; }\n"
      "onsend_route { if (to_ip == 1.2.3.4 && !isflagset(12)) { drop; } }\n"
      "event_route[core:worker-one-init] { exit; }\n"
      "event_route[tm:branch-failure:myroute] { exit; }\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script),
            "request_route request_route @2:1\n"
            "  if $a @3:3\n"
            "    block @3:11\n"
            "      expr b() @3:13\n"
            "  else\n"
            "    if $c @3:25\n"
            "      expr d() @3:33\n"
            "    else\n"
            "      block @3:43\n"
            "        expr e() @3:45\n"
            "  while ($var(i) < 3) @4:3\n"
            "    block @4:23\n"
            "      assign $var(i) = ($var(i) + 1) @4:25\n"
            "      if $x @4:48\n"
            "        break @4:56\n"
            "  switch $rU @5:3\n"
            "    case 1 @6:5\n"
            "    case -2 @6:13\n"
            "      expr f() @6:22\n"
            "      break @6:27\n"
            "    case 3 @7:5\n"
            "      expr g() @7:13\n"
            "      break @7:18\n"
            "    case 4 @8:5\n"
            "      expr h() @8:13\n"
            "    default @9:5\n"
            "      exit @9:14\n"
            "  exit @11:3\n"
            "  exit @11:9\n"
            "  exit 0 @11:17\n"
            "  drop @11:26\n"
            "  drop @11:32\n"
            "  drop 1 @11:40\n"
            "  return @11:49\n"
            "  return 1 @11:57\n"
            "  return -1 @11:68\n"
            "  return ($var(x) + 1) @12:3\n"
            "  expr force_rport @13:3\n"
            "  expr force_rport() @13:16\n"
            "  expr revert_uri @13:31\n"
            "  expr route(NAMED) @14:3\n"
            "  expr route(\"quoted\") @14:17\n"
            "  assign $(avp(x)[*]) = $null @15:3\n"
            "  empty @16:3\n"
            "route_route route[NAMED] @18:1\n"
            "  return 1 @18:16\n"
            "route_route route[quoted] @19:1\n"
            "  return @19:19\n"
            "route_route route[2] @20:1\n"
            "  return @20:12\n"
            "reply_route reply_route @21:1\n"
            "  if (status == \"200\") @21:15\n"
            "    drop @21:36\n"
            "onreply_route onreply_route[MANAGE_REPLY] @22:1\n"
            "  exit @22:31\n"
            "failure_route failure_route[MANAGE_FAILURE] @23:1\n"
            "  exit @23:33\n"
            "branch_route branch_route[MANAGE_BRANCH] @24:1\n"
            "  exit @24:31\n"
            "onsend_route onsend_route @25:1\n"
            "  if ((to_ip == addr:1.2.3.4) && (! isflagset(12))) @25:16\n"
            "    block @25:56\n"
            "      drop @25:58\n"
            "event_route event_route[core:worker-one-init] @26:1\n"
            "  exit @26:37\n"
            "event_route event_route[tm:branch-failure:myroute] @27:1\n"
            "  exit @27:42\n");
}

TEST(Syntax, StringAndRegexCases) {
  const Parsed p = parse_text(
      "request_route {\n"
      "  switch ($rU) {\n"
      "    case \"100\": case \"1\" + \"01\": exit;\n"
      "    case /\"^9[0-9]+$\": drop;\n"
      "    default: break;\n"
      "  }\n"
      "}\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script),
            "request_route request_route @1:1\n"
            "  switch $rU @2:3\n"
            "    case \"100\" @3:5\n"
            "    case (\"1\" + \"01\") @3:17\n"
            "      exit @3:34\n"
            "    case / \"^9[0-9]+$\" @4:5\n"
            "      drop @4:24\n"
            "    default @5:5\n"
            "      break @5:14\n");
}

TEST(Syntax, BranchFailureAndOnsendRouteNames) {
  // Kamailio accepts these without a name (branch / failure) or with one (onsend).
  const Parsed p = parse_text(
      "request_route { exit; }\n"
      "failure_route { exit; }\n"
      "branch_route { exit; }\n"
      "onsend_route[0] { exit; }\n"
      "event_route[\"core:worker-one-init\"] { exit; }\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  ASSERT_EQ(p.script.routes.size(), 5u);
  EXPECT_EQ(p.script.routes[1].kind, RouteKind::kFailure);
  EXPECT_EQ(p.script.routes[2].kind, RouteKind::kBranch);
  EXPECT_EQ(p.script.routes[3].kind, RouteKind::kOnSend);
  EXPECT_EQ(p.script.routes[4].name, "core:worker-one-init");
}

TEST(Syntax, AssignmentInParenthesesIsAValue) {
  const Parsed p = parse_text("request_route { if ($var(x) = f()) exit; }");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script.routes[0].body.body[0].exprs[0]), "($var(x) = f())");
}

TEST(Syntax, RequestRouteSpellings) {
  for (const char* text : {"request_route { exit; }", "route { exit; }", "route[0] { exit; }"}) {
    const Parsed p = parse_text(text);
    ASSERT_TRUE(p.ok) << text << "\n" << test::joined(p.diags);
    EXPECT_EQ(p.script.routes.at(0).kind, RouteKind::kRequest) << text;
  }
  for (const char* text :
       {"reply_route { exit; }", "onreply_route { exit; }", "onreply_route[0] { exit; }"}) {
    const Parsed p = parse_text(text);
    ASSERT_TRUE(p.ok) << text << "\n" << test::joined(p.diags);
    EXPECT_EQ(p.script.routes.at(0).kind, RouteKind::kReply) << text;
  }
}

TEST(Syntax, ParenthesesAroundConditionsAreOptional) {
  const Parsed p = parse_text(
      "request_route {\n"
      "  if $var(x) == 1 { exit; }\n"
      "  while $var(i) < 3 { $var(i) = $var(i) + 1; }\n"
      "  switch $rU { default: exit; }\n"
      "}\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script.routes[0].body.body[0].exprs[0]), "($var(x) == 1)");
}

TEST(Syntax, TopLevelDeclarations) {
  const Parsed p = parse_text(
      "#!KAMAILIO\n"
      "debug=3 # a comment\n"
      "log_stderror=no\n"
      "listen=udp:10.0.0.1:5060 advertise 1.2.3.4:5060\n"
      "alias=\"sip.example.com\";\n"
      "use_dst_blocklist=yes\n"
      "use_dst_blacklist=no\n"
      "kemi.onsend_route_callback=\"none\"\n"
      "pstn.gw_ip = \"1.2.3.4\" desc \"PSTN GW Address\"\n"
      "pstn.gw_port = 5060\n"
      "flags FLAG_ONE :1, FLAG_TWO :2, other;\n"
      "avpflags dialog_cookie;\n"
      "mpath=\"/usr/lib/kamailio/modules/\"\n"
      "loadpath \"/opt/modules\"\n"
      "cfgengine \"native\"\n"
      "loadmodule \"tm.so\"\n"
      "modparam(\"tm\", \"fr_timer\", 30000)\n"
      "modparam(\"acc|auth_db\", \"db_url\", \"mysql://x\")\n"
      "modparam(\"x\", \"y\", -1)\n"
      "modparam(\"x\", \"z\", yes)\n"
      ";\n"
      "request_route { exit; }\n");
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script),
            "param debug = 3 @2:1\n"
            "param log_stderror = no @3:1\n"
            "param listen = udp:10.0.0.1:5060 advertise 1.2.3.4:5060 @4:1\n"
            "param alias = \"sip.example.com\" @5:1\n"
            "param use_dst_blocklist = yes @6:1\n"
            "param use_dst_blacklist = no @7:1\n"
            "param kemi.onsend_route_callback = \"none\" @8:1\n"
            "custom pstn.gw_ip = \"1.2.3.4\" desc \"PSTN GW Address\" @9:1\n"
            "custom pstn.gw_port = 5060 @10:1\n"
            "flag FLAG_ONE:1 @11:7\n"
            "flag FLAG_TWO:2 @11:20\n"
            "flag other @11:33\n"
            "avpflag dialog_cookie @12:10\n"
            "loadpath \"/usr/lib/kamailio/modules/\"\n"
            "loadpath \"/opt/modules\"\n"
            "cfgengine \"native\"\n"
            "loadmodule \"tm.so\" @16:1\n"
            "modparam \"tm\" \"fr_timer\" 30000 @17:1\n"
            "modparam \"acc|auth_db\" \"db_url\" \"mysql://x\" @18:1\n"
            "modparam \"x\" \"y\" -1 @19:1\n"
            "modparam \"x\" \"z\" 1 @20:1\n"
            "request_route request_route @22:1\n"
            "  exit @22:17\n");
}

TEST(Syntax, CommandLineDefinesWithValues) {
  ParseOptions o;
  o.defines = {{"WITH_X", ""}, {"MAXHOPS", "7"}};
  const Parsed p = parse_text(
      "request_route {\n#!ifdef WITH_X\n  return MAXHOPS;\n#!else\n  exit;\n#!endif\n}\n", o);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script), "request_route request_route @1:1\n  return 7 @3:3\n");
}

// ---- errors ----

struct ErrorCase {
  const char* name;
  const char* text;
  std::vector<std::string> errors;
};

const ErrorCase kErrors[] = {
    {"UnknownCoreParam",
     "fifo=\"/tmp/x\"\nrequest_route { exit; }",
     {"1:1: unknown core parameter 'fifo'"}},
    {"CoreParamNeedsNumber",
     "children=four\nrequest_route { exit; }",
     {"1:10: 'children' expects a number (or yes/no)"}},
    {"CoreParamNeedsString",
     "server_header=Server\nrequest_route { exit; }",
     {"1:15: 'server_header' expects a quoted string"}},
    {"CallWithoutParens",
     "request_route { t_relay; }",
     {"1:17: 't_relay' is not a statement (a function call needs '()')"}},
    {"PvarIndexOutsideParens",
     "request_route { if ($hdr(Via)[0]) exit; }",
     {"1:30: an index or a transformation goes inside $( ): write $(hdr(Via)[...]) or "
      "$(hdr(Via){...})",
      "1:30: expected ')', found '['"}},
    {"SerAttribute",
     "request_route { if (%x == 1) exit; }",
     {"1:21: SER-style attribute '%x' is not supported; use $avp(x)"}},
    {"CaseOutsideSwitch", "request_route { case 1: exit; }", {"1:17: 'case' outside switch"}},
    {"SecondDefault",
     "request_route { switch ($x) { default: exit; default: exit; } }",
     {"1:46: second 'default' in a switch"}},
    {"BadCaseLabel",
     "request_route { switch ($x) { case $y: exit; } }",
     {"1:38: a case label must be an integer or a string constant"}},
    {"BareNameAsValue",
     "request_route { if ($x == FOO) exit; }",
     {"1:27: 'FOO' is not a value here (an undefined #!define? a string needs quotes)"}},
    {"BareNameAsStatementValue",
     "request_route { return FOO; }",
     {"1:24: 'FOO' is not a value here (an undefined #!define? a string needs quotes)"}},
    {"MixedCases",
     "request_route { switch ($x) { case 1: exit; case \"a\": exit; } }",
     {"1:45: integer and string cases mixed in one switch"}},
    {"RouteNameWithDash",
     "route[A-B] { exit; }",
     {"1:8: expected ']' after the route name, found '-'"}},
    {"EventRouteWithoutGroup",
     "event_route[x] { exit; }",
     {"1:13: an event_route name is group:name (core:worker-one-init), not 'x'"}},
    {"BadTransform",
     "request_route { $var(a) = $(var(x){); }",
     {"1:27: bad pseudo-variable '$(var(x){)': missing '}' in a transformation"}},
};

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, Diagnostics) {
  const ErrorCase& c = GetParam();
  const Parsed p = parse_text(c.text);
  EXPECT_EQ(brief(p.diags), c.errors);
  EXPECT_EQ(p.ok, c.errors.empty());
}

INSTANTIATE_TEST_SUITE_P(Cases, ErrorTest, ::testing::ValuesIn(kErrors),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- the compiler rejects what it parses but does not implement ----

TEST(Syntax, CompilerRejectsParsedButUnsupportedDeclarations) {
  const test::Compiled c = test::compile(
      "pstn.gw_ip = \"1.2.3.4\" desc \"x\"\n"
      "avpflags FLAG_A;\n"
      "cfgengine \"lua\"\n"
      "request_route { exit(1); drop(2); t_relay(); }\n");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(brief(c.diags),
            (std::vector<std::string>{
                "1:1: custom global parameters (group.name = value) are not supported yet",
                "2:10: 'avpflags' declarations are not supported",
                "3:11: cfgengine \"lua\" is not supported (only \"native\")",
                "4:22: a value after exit or drop is not supported yet",
                "4:31: a value after exit or drop is not supported yet",
                "4:35: function 't_relay' is tm's: stateful processing runs on the slow path, which this "
      "release does not have (viaduct -c --explain)",
            }));
}

}  // namespace
}  // namespace viaduct::cfg
