// SPDX-License-Identifier: Apache-2.0
// include_file / import_file (all prefixes, path resolution, depth limit, cycles), #!subst /
// #!substdef / #!substdefs, and diagnostics that point into included files and defines.
// The files are written into a fresh temporary directory per test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cfg/lexer.hpp"
#include "cfg/parser.hpp"
#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

namespace fs = std::filesystem;

class IncludeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vd-include-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::current_path(old_cwd_, ec);
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& rel, const std::string& text) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string path(const std::string& rel) const { return (dir_ / rel).string(); }

  struct Parsed {
    bool ok = false;
    Script script;
    Diagnostics diags;
  };
  Parsed parse(const std::string& file) {
    Parsed p;
    p.ok = parse_file(file, {}, p.script, p.diags);
    return p;
  }
  // "file:line:col: message" with the temporary directory cut off.
  std::vector<std::string> messages(const Diagnostics& d) const {
    std::vector<std::string> out;
    for (const Diagnostic& x : d) {
      std::string s = x.str();
      for (size_t at; (at = s.find(dir_.string() + "/")) != std::string::npos;) {
        s.erase(at, dir_.string().size() + 1);
      }
      out.push_back(s);
    }
    return out;
  }

  fs::path dir_;
  fs::path old_cwd_ = fs::current_path();
};

TEST_F(IncludeTest, AllFormsSpliceTokensInPlace) {
  write("sub/params.cfg", "children=4\n");
  write("sub/check.cfg", "if (!f()) { exit; }\n");
  write("sub/bang.cfg", "route[B] { exit; }\n");
  write("sub/route.cfg", "route[A] { exit; }\n");
  const std::string main = write("main.cfg",
                                 "include_file \"sub/params.cfg\"\n"
                                 "#!include_file \"sub/route.cfg\"\n"
                                 "!!include_file \"sub/bang.cfg\"\n"
                                 "import_file \"sub/missing.cfg\"\n"
                                 "#!import_file \"sub/missing.cfg\"\n"
                                 "request_route {\n"
                                 "  include_file \"sub/check.cfg\"\n"
                                 "  exit;\n"
                                 "}\n");
  const Parsed p = parse(main);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script),
            "param children = 4 @1:1\n"
            "route_route route[A] @1:1\n"
            "  exit @1:12\n"
            "route_route route[B] @1:1\n"
            "  exit @1:12\n"
            "request_route request_route @6:1\n"
            "  if (! f()) @1:1\n"
            "    block @1:11\n"
            "      exit @1:13\n"
            "  exit @8:3\n");
  EXPECT_EQ(p.script.routes[0].loc.file, path("sub/route.cfg"));
  EXPECT_EQ(p.script.routes[2].body.body[0].loc.file, path("sub/check.cfg"));
  EXPECT_EQ(p.script.routes[2].body.body[1].loc.file, main);
}

TEST_F(IncludeTest, MissingIncludeIsAnErrorMissingImportIsNot) {
  const std::string main = write("main.cfg",
                                 "import_file \"nope.cfg\"\n"
                                 "include_file \"nope.cfg\"\n"
                                 "request_route { exit; }\n");
  const Parsed p = parse(main);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(messages(p.diags),
            std::vector<std::string>{
                "main.cfg:2:1: error: cannot open included file 'nope.cfg' (nor 'nope.cfg')"});
}

TEST_F(IncludeTest, RelativePathsTryTheCurrentDirectoryFirst) {
  write("inc.cfg", "route[FROM_CWD] { exit; }\n");
  write("dir/inc.cfg", "route[FROM_DIR] { exit; }\n");
  const std::string main = write("dir/main.cfg", "include_file \"inc.cfg\"\nrequest_route { }\n");

  fs::current_path(dir_);  // Kamailio: the current directory first ...
  Parsed p = parse(main);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(p.script.routes.at(0).name, "FROM_CWD");

  fs::current_path(fs::temp_directory_path());  // ... then the including file's directory
  p = parse(main);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(p.script.routes.at(0).name, "FROM_DIR");
}

TEST_F(IncludeTest, NestedIncludesResolveAgainstTheirOwnDirectory) {
  write("a/b/leaf.cfg", "route[LEAF] { exit; }\n");
  write("a/mid.cfg", "include_file \"b/leaf.cfg\"\n");
  const std::string main = write("main.cfg", "include_file \"a/mid.cfg\"\nrequest_route { }\n");
  fs::current_path(fs::temp_directory_path());
  const Parsed p = parse(main);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(p.script.routes.at(0).name, "LEAF");
}

TEST_F(IncludeTest, DepthTenIsAcceptedElevenIsNot) {
  // main -> f1 -> ... -> fN: N nested includes.
  auto chain = [this](int n) {
    for (int i = 1; i <= n; ++i) {
      write("d" + std::to_string(n) + "/f" + std::to_string(i) + ".cfg",
            i == n ? "route[DEEP] { exit; }\n"
                   : "include_file \"f" + std::to_string(i + 1) + ".cfg\"\n");
    }
    return write("d" + std::to_string(n) + "/main.cfg",
                 "include_file \"f1.cfg\"\nrequest_route { }\n");
  };
  fs::current_path(fs::temp_directory_path());
  const Parsed ok = parse(chain(10));
  EXPECT_TRUE(ok.ok) << test::joined(ok.diags);
  const Parsed bad = parse(chain(11));
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(messages(bad.diags),
            std::vector<std::string>{"d11/f10.cfg:1:1: error: include_file nested too deeply (the "
                                     "limit is 10 levels): 'd11/f11.cfg'"});
}

TEST_F(IncludeTest, CyclesAreDetected) {
  write("a.cfg", "include_file \"b.cfg\"\n");
  write("b.cfg", "include_file \"a.cfg\"\n");
  const std::string main = write("main.cfg", "include_file \"a.cfg\"\nrequest_route { }\n");
  fs::current_path(fs::temp_directory_path());
  const Parsed p = parse(main);
  EXPECT_FALSE(p.ok);
  const std::string a = fs::weakly_canonical(path("a.cfg")).string();
  const std::string b = fs::weakly_canonical(path("b.cfg")).string();
  ASSERT_EQ(p.diags.size(), 1u) << test::joined(p.diags);
  EXPECT_EQ(p.diags[0].message, "include_file cycle: " + a + " -> " + b + " -> " + a);
  EXPECT_EQ(p.diags[0].file, path("b.cfg"));

  const std::string self = write("self.cfg", "include_file \"self.cfg\"\nrequest_route { }\n");
  const Parsed q = parse(self);
  ASSERT_EQ(q.diags.size(), 1u) << test::joined(q.diags);
  EXPECT_EQ(q.diags[0].line, 1u);
}

TEST_F(IncludeTest, DiagnosticsPointIntoIncludedFilesAndDefines) {
  write("sub/bad.cfg",
        "# a comment\n"
        "route[X] {\n"
        "    if (a() { exit; }\n"
        "}\n");
  write("sub/defs.cfg", "#!define BROKEN f(;\n");
  const std::string main = write("main.cfg",
                                 "#!KAMAILIO\n"
                                 "include_file \"sub/bad.cfg\"\n"
                                 "include_file \"sub/defs.cfg\"\n"
                                 "request_route {\n"
                                 "  x();\n"
                                 "    BROKEN\n"
                                 "}\n"
                                 "children=many\n");
  fs::current_path(fs::temp_directory_path());
  const Parsed p = parse(main);
  EXPECT_EQ(messages(p.diags), (std::vector<std::string>{
                                   "sub/bad.cfg:3:13: error: expected ')', found '{'",
                                   "main.cfg:6:5: error: expected an expression, found ';'",
                                   "main.cfg:8:10: error: 'children' expects a number (or yes/no)",
                               }));
}

TEST_F(IncludeTest, IncludeInsideSkippedRegionIsIgnored) {
  const std::string main = write("main.cfg",
                                 "#!ifdef WITH_X\n"
                                 "include_file \"missing.cfg\"\n"
                                 "#!endif\n"
                                 "request_route { }\n");
  const Parsed p = parse(main);
  EXPECT_TRUE(p.ok) << test::joined(p.diags);
}

TEST_F(IncludeTest, DefinesCrossFiles) {
  write("defs.cfg", "#!define MAXHOPS 10\n#!substdef \"!MY_IP!10.0.0.1!g\"\n");
  const std::string main = write("main.cfg",
                                 "include_file \"defs.cfg\"\n"
                                 "listen=udp:MY_IP:5060\n"
                                 "request_route { f(\"MY_IP\", MAXHOPS); }\n");
  fs::current_path(fs::temp_directory_path());
  const Parsed p = parse(main);
  ASSERT_TRUE(p.ok) << test::joined(p.diags);
  EXPECT_EQ(dump(p.script),
            "param listen = udp:10.0.0.1:5060 @2:1\n"
            "request_route request_route @3:1\n"
            "  expr f(\"10.0.0.1\", 10) @3:17\n");
}

// ---- #!subst family (no files needed) ----

struct Lexed {
  std::vector<Token> toks;
  Diagnostics diags;
};

std::string spelled(const std::string& text) {
  Lexed l;
  Defines d;
  l.toks = preprocess(text, "t.cfg", d, l.diags);
  std::string s;
  for (const Token& t : l.toks) {
    if (t.kind == Tok::kEof) {
      break;
    }
    s += (s.empty() ? "" : " ") + token_spelling(t);
  }
  for (const Diagnostic& x : l.diags) {
    s += " [" + x.str() + "]";
  }
  return s;
}

TEST(Subst, ReplacesInsideStringsOnly) {
  EXPECT_EQ(spelled("#!subst \"/DBPASSWD/xyz/\"\n"
                    "f(\"mysql://u:DBPASSWD@h/db\", DBPASSWD)"),
            "f ( \"mysql://u:xyz@h/db\" , DBPASSWD )");
}

TEST(Subst, FlagsAndBackReferences) {
  EXPECT_EQ(spelled("#!subst \"/a/X/\"\nf(\"aaa\")"), "f ( \"Xaa\" )");
  EXPECT_EQ(spelled("#!subst \"/a/X/g\"\nf(\"aaa\")"), "f ( \"XXX\" )");
  EXPECT_EQ(spelled("#!subst \"/A/X/gi\"\nf(\"aAa\")"), "f ( \"XXX\" )");
  EXPECT_EQ(spelled("#!subst \"/(ab)(c)/\\\\2\\\\1/\"\nf(\"xabcx\")"), "f ( \"xcabx\" )");
  EXPECT_EQ(spelled("#!subst \"|/|-|g\"\nf(\"a/b/c\")"), "f ( \"a-b-c\" )");
}

TEST(Subst, AppliesOnlyAfterTheDirective) {
  EXPECT_EQ(spelled("f(\"a\")\n#!subst \"/a/b/\"\nf(\"a\")"), "f ( \"a\" ) f ( \"b\" )");
}

TEST(Subst, AppliesToPseudoVariableNames) {
  EXPECT_EQ(spelled("#!subst \"/TBL/ipban/\"\n$sht(TBL=>$si)"), "$sht(ipban=>$si)");
}

TEST(Subst, SubstdefAlsoDefines) {
  EXPECT_EQ(spelled("#!substdef \"!MY_DOMAIN!example.com!g\"\n"
                    "alias=MY_DOMAIN f(\"sip:MY_DOMAIN\")"),
            "alias = example . com f ( \"sip:example.com\" )");
}

TEST(Subst, SubstdefsDefinesAQuotedValue) {
  EXPECT_EQ(spelled("#!substdefs \"!MY_WS!8080!g\"\nx = MY_WS;"), "x = \"8080\" ;");
}

TEST(Subst, ChainedSubstdefs) {
  // The 4.3 default cfg idiom: later substdefs build on earlier defines.
  EXPECT_EQ(spelled("#!substdef \"!MY_IP_ADDR!10.0.0.1!g\"\n"
                    "#!substdef \"!MY_WS_PORT!8080!g\"\n"
                    "#!substdef \"!MY_WS_ADDR!tcp:MY_IP_ADDR:MY_WS_PORT!g\"\n"
                    "listen=MY_WS_ADDR"),
            "listen = tcp : 10 . 0 . 0 . 1 : 8080");
}

TEST(Subst, Errors) {
  EXPECT_EQ(spelled("#!subst \"/a(/b/\"\n"),
            " [t.cfg:1:1: error: #!subst: bad regular expression: Unmatched ( or \\(]");
  EXPECT_EQ(spelled("#!subst \"/a/b\"\n"),
            " [t.cfg:1:1: error: #!subst: missing '/' after the replacement]");
  EXPECT_EQ(spelled("#!subst \"/a/b/x\"\n"),
            " [t.cfg:1:1: error: #!subst: unknown flag 'x' (flags are i, g and s)]");
  EXPECT_EQ(spelled("#!subst /a/b/\n"),
            " [t.cfg:1:1: error: #!subst needs a double-quoted argument]");
  EXPECT_EQ(spelled("#!define X 1\n#!substdef \"/X/2/\"\n"),
            " [t.cfg:2:1: error: 'X' is already defined at t.cfg:1 (use #!redefine or "
            "#!trydef)]");
}

TEST(Preprocessor, KamailioVersionIsPredefined) {
  EXPECT_EQ(spelled("#!ifdef KAMAILIO_5\na\n#!endif\n#!ifdef KAMAILIO_5_6\nb\n#!endif\n"
                    "#!ifdef KAMAILIO_4\nc\n#!endif"),
            "a b");
}

TEST(Preprocessor, DirectiveAliases) {
  EXPECT_EQ(spelled("#!def A 1\n#!trydefine A 2\n#!trydefine B 3\n#!redef B 4\nA B"), "1 4");
}

TEST(Preprocessor, CommandLineDefinesAreChecked) {
  Defines d;
  Diagnostics diags;
  add_command_line_defines({{"WITH_X", ""}, {"N", "42"}, {"BAD-NAME", ""}, {"", "1"}}, d, diags);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.at("N").value, "42");
  ASSERT_EQ(diags.size(), 2u);
  EXPECT_EQ(diags[0].str(), "error: -A BAD-NAME: not a valid define name (letters, digits, '_')");
  EXPECT_EQ(diags[1].str(), "error: -A : empty define name");
}

}  // namespace
}  // namespace viaduct::cfg
