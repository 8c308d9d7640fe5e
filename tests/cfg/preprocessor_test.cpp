// SPDX-License-Identifier: Apache-2.0
// Preprocessor and lexer: directives, defines, comments, tokens and their locations.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cfg/lexer.hpp"
#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

using test::brief;

struct Lexed {
  std::vector<Token> toks;
  Diagnostics diags;
};

Lexed lex(const std::string& text, Defines defines = {}) {
  Lexed l;
  l.toks = preprocess(text, "t.cfg", defines, l.diags);
  return l;
}

// The token texts, space separated, strings quoted; without the final kEof.
std::string spelled(const std::vector<Token>& toks) {
  std::string s;
  for (const Token& t : toks) {
    if (t.kind == Tok::kEof) {
      break;
    }
    s += (s.empty() ? "" : " ") + token_spelling(t);
  }
  return s;
}

struct PpCase {
  const char* name;
  const char* text;
  const char* tokens;  // expected spelled() result
};

const PpCase kPpCases[] = {
    {"DefineReplacesIdentifier", "#!define X 10\na = X;", "a = 10 ;"},
    {"DefineWithoutValueIsEmpty", "#!define X\na X b", "a b"},
    {"DefineNotInsideStrings", "#!define X 10\nf(\"X\", 'X', X)", "f ( \"X\" , \"X\" , 10 )"},
    {"DefineWholeTokensOnly", "#!define X 10\nXY X_ aX X", "XY X_ aX 10"},
    {"DefineRecursive", "#!define A B\n#!define B 7\nA", "7"},
    {"DefineMultiToken", "#!define CALL f(1, \"a\")\nCALL;", "f ( 1 , \"a\" ) ;"},
    {"DefineContinuationLine", "#!define V 1 \\\n  + 2\nV", "1 + 2"},
    {"IfdefTaken", "#!define A\n#!ifdef A\nyes\n#!else\nno\n#!endif", "yes"},
    {"IfdefElse", "#!ifdef A\nyes\n#!else\nno\n#!endif", "no"},
    {"Ifndef", "#!ifndef A\nyes\n#!endif\nafter", "yes after"},
    {"Nested",
     "#!define A\n#!ifdef A\na1\n#!ifdef B\nb\n#!else\nnotb\n#!endif\na2\n#!else\nx\n#!endif",
     "a1 notb a2"},
    {"NestedInsideSkipped", "#!ifdef A\n#!ifdef B\nb\n#!else\nc\n#!endif\n#!else\nd\n#!endif", "d"},
    {"SkippedRegionNeedNotLex", "#!ifdef A\nit's \"not closed\n#!endif\nok", "ok"},
    {"DefineInSkippedRegionIgnored", "#!ifdef A\n#!define X 1\n#!endif\nX", "X"},
    {"Trydef", "#!define X 1\n#!trydef X 2\n#!trydef Y 3\nX Y", "1 3"},
    {"Redefine", "#!define X 1\n#!redefine X 2\nX", "2"},
    {"BangBangPrefix", "!!define X 5\n!!ifdef X\nX\n!!endif", "5"},
    {"CompatHeaders", "#!KAMAILIO\n#!SER\n#!OPENSER\n#!ALL\n#!MAXCOMPAT\nx", "x"},
    {"HashComment", "a # comment\nb", "a b"},
    {"SlashComments", "a // c\nb /* c\n c */ c", "a b c"},
    {"Operators", "== != =~ !~ <= >= && || ! = ( ) { } [ ] , ; : . / < > + -",
     "== != =~ !~ <= >= && || ! = ( ) { } [ ] , ; : . / < > + -"},
    {"Escapes", R"(f("a\"b\\c\n\t", 'it\'s', "re\.x"))",
     "f ( \"a\"b\\c\n\t\" , \"it's\" , \"re\\.x\" )"},
    {"Numbers", "10 0x1F 0", "10 0x1F 0"},
    {"Pvars", "$ru $var(x) $(hdr(Via)[0]) $? @ruri.host",
     "$ru $var(x) $(hdr(Via)[0]) $? @ruri.host"},
};

class PpTest : public ::testing::TestWithParam<PpCase> {};

TEST_P(PpTest, Tokens) {
  const PpCase& c = GetParam();
  const Lexed l = lex(c.text);
  EXPECT_TRUE(l.diags.empty()) << test::joined(l.diags);
  EXPECT_EQ(spelled(l.toks), c.tokens);
}

INSTANTIATE_TEST_SUITE_P(Cases, PpTest, ::testing::ValuesIn(kPpCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Preprocessor, CommandLineDefines) {
  Defines d;
  d["WITH_X"] = Define{"", {}};
  d["N"] = Define{"42", {}};
  const Lexed l = lex("#!ifdef WITH_X\nN\n#!endif", d);
  EXPECT_EQ(spelled(l.toks), "42");
}

TEST(Preprocessor, NumberValues) {
  const Lexed l = lex("10 0x1F");
  ASSERT_EQ(l.toks.size(), 3u);
  EXPECT_EQ(l.toks[0].kind, Tok::kInt);
  EXPECT_EQ(l.toks[0].num, 10);
  EXPECT_EQ(l.toks[1].num, 31);
}

TEST(Preprocessor, LocationsAreExact) {
  const Lexed l = lex("#!define X 10\n\n  a  /* c */ X\n\tb");
  ASSERT_EQ(l.toks.size(), 4u);
  EXPECT_EQ(l.toks[0].loc.line, 3u);
  EXPECT_EQ(l.toks[0].loc.col, 3u);
  EXPECT_EQ(l.toks[1].text, "10");  // an expansion carries the location of the name
  EXPECT_EQ(l.toks[1].loc.line, 3u);
  EXPECT_EQ(l.toks[1].loc.col, 14u);
  EXPECT_EQ(l.toks[2].loc.line, 4u);
  EXPECT_EQ(l.toks[2].loc.col, 2u);
  EXPECT_EQ(l.toks[2].loc.file, "t.cfg");
  EXPECT_TRUE(l.toks[2].line_start);
  EXPECT_FALSE(l.toks[1].line_start);
}

TEST(Preprocessor, LocationsAfterMultiLineComment) {
  const Lexed l = lex("/* a\nb\nc */ x \"s\ntr\" y");
  ASSERT_EQ(l.toks.size(), 4u);
  EXPECT_EQ(l.toks[0].loc.line, 3u);
  EXPECT_EQ(l.toks[0].loc.col, 6u);
  EXPECT_EQ(l.toks[2].loc.line, 4u);
  EXPECT_EQ(l.toks[2].loc.col, 5u);
}

TEST(Preprocessor, AdjacencyFlags) {
  const Lexed l = lex("udp:10.0.0.1 x");
  ASSERT_GE(l.toks.size(), 4u);
  EXPECT_FALSE(l.toks[1].space_before);
  EXPECT_TRUE(l.toks.back().space_before || l.toks.back().kind == Tok::kEof);
}

struct PpErrorCase {
  const char* name;
  const char* text;
  std::vector<std::string> errors;
};

const PpErrorCase kPpErrors[] = {
    {"UnterminatedIfdef", "a\n  #!ifdef X\nb\n", {"2:3: unterminated #!ifdef (missing #!endif)"}},
    {"UnterminatedNested",
     "#!ifdef A\n#!ifndef B\n#!endif\n",
     {"1:1: unterminated #!ifdef (missing #!endif)"}},
    {"ElseWithoutIf", "a\n#!else\n", {"2:1: #!else without #!ifdef or #!ifndef"}},
    {"EndifWithoutIf", "#!endif\n", {"1:1: #!endif without #!ifdef or #!ifndef"}},
    {"DoubleElse",
     "#!ifdef A\n#!else\n#!else\n#!endif",
     {"3:1: second #!else for the #!ifdef at line 1"}},
    {"Redefinition",
     "#!define X 1\n#!define X 2\n",
     {"2:1: 'X' is already defined at t.cfg:1 (use #!redefine or #!trydef)"}},
    {"UnknownDirective",
     "#!frobnicate\n",
     {"1:1: unknown preprocessor directive '#!frobnicate' (read as a comment)"}},
    {"TrailingTextAfterIfdef", "#!ifdef A junk\n#!endif", {"1:1: unexpected text after #!ifdef A"}},
    {"UnterminatedString", "x = \"abc\n", {"1:5: unterminated string"}},
    {"UnterminatedComment", "x /* abc\n", {"1:3: unterminated comment"}},
    {"TildeEquals",
     "a ~= b",
     {"1:3: '~=' is not an operator; use '=~' for regular expression matching"}},
    {"RecursiveDefine",
     "#!define A B\n#!define B A\nA",
     {}},  // A -> B -> A stops at the name already being expanded
    {"MissingInclude",
     "#!include_file \"no-such-file.cfg\"\n",
     {"1:1: cannot open included file 'no-such-file.cfg'"}},
    {"MissingImportIsSilent", "import_file \"no-such-file.cfg\"\n", {}},
};

class PpErrorTest : public ::testing::TestWithParam<PpErrorCase> {};

TEST_P(PpErrorTest, Diagnostics) {
  const PpErrorCase& c = GetParam();
  EXPECT_EQ(brief(lex(c.text).diags), c.errors);
}

INSTANTIATE_TEST_SUITE_P(Cases, PpErrorTest, ::testing::ValuesIn(kPpErrors),
                         [](const auto& info) { return std::string(info.param.name); });

// A NUL byte in an include's name: the system would open what comes before it (cfg_fuzz found
// diagnostics then named after the whole string, NULs and all).
TEST(Preprocessor, NulInIncludeName) {
  const std::string text("include_file \"t.cfg\0x\"\nimport_file \"\0\"\n", 39);
  EXPECT_EQ(brief(lex(text).diags),
            (std::vector<std::string>{"1:1: NUL byte in the file name of include_file",
                                      "2:1: NUL byte in the file name of import_file"}));
}

TEST(Preprocessor, RecursiveDefineKeepsTheName) {
  const Lexed l = lex("#!define A B\n#!define B A\nA");
  EXPECT_EQ(spelled(l.toks), "A");
}

TEST(Preprocessor, CommandLineRedefinitionIsAnError) {
  Defines d;
  d["X"] = Define{"1", {}};
  EXPECT_EQ(brief(lex("#!define X 2\n", d).diags),
            std::vector<std::string>{
                "1:1: 'X' is already defined on the command line (use #!redefine or #!trydef)"});
}


// A runaway define is one error, not a hang: A30 is A29 twice, ... 2^30 tokens without the limit.
// A chain of empty defines does no less work (2^30 expansions of nothing).
TEST(Preprocessor, DefineExpansionIsBounded) {
  for (const char* base : {"#!define A0 x\n", "#!define A0\n"}) {
    std::string text = base;
    for (int i = 1; i <= 30; ++i) {
      text += "#!define A" + std::to_string(i) + " A" + std::to_string(i - 1) + " A" +
              std::to_string(i - 1) + "\n";
    }
    text += "a A30 b A30\n";
    const Lexed l = lex(text);
    EXPECT_EQ(brief(l.diags),
              std::vector<std::string>{"32:3: define 'A30' expands too much (the limit is 100000 "
                                       "tokens and expansions for the whole script: defines that "
                                       "use each other twice?)"});
    EXPECT_LE(l.toks.size(), kMaxExpandedTokens + 4);
  }
  // Below the limit nothing changes: 2^14 tokens (and 2^15 - 1 expansions).
  std::string text = "#!define A0 x\n";
  for (int i = 1; i <= 14; ++i) {
    text += "#!define A" + std::to_string(i) + " A" + std::to_string(i - 1) + " A" +
            std::to_string(i - 1) + "\n";
  }
  const Lexed l = lex(text + "A14\n");
  EXPECT_TRUE(l.diags.empty()) << test::joined(l.diags);
  EXPECT_EQ(l.toks.size(), (size_t{1} << 14) + 1);
}

// A define's value is lexed once: its errors are reported at its first use, not at each of its
// 2,048 uses here (cfg_fuzz timed out on a value of 128 bad bytes used through doubling defines:
// millions of diagnostics, then sorted).
TEST(Preprocessor, DefineValueErrorsOnce) {
  std::string text = "#!define A0 x `\n";
  for (int i = 1; i <= 10; ++i) {
    text += "#!define A" + std::to_string(i) + " A" + std::to_string(i - 1) + " A" +
            std::to_string(i - 1) + "\n";
  }
  const Lexed l = lex(text + "A10 A10\n");
  EXPECT_EQ(brief(l.diags), std::vector<std::string>{"12:1: unexpected character '`'"});
  EXPECT_EQ(l.toks.size(), 2049u);  // 2,048 x and the end
  // A value lexed again when it changes (#!redefine) or when a #!subst rule came since.
  const Lexed r = lex("#!define V \"a\"\nV\n#!subst \"/a/b/\"\nV\n#!redefine V \"c\"\nV V\n");
  EXPECT_TRUE(r.diags.empty()) << test::joined(r.diags);
  EXPECT_EQ(spelled(r.toks), "\"a\" \"b\" \"c\" \"c\"");
}

// #!subst rules that grow what they rewrite are one error, not gigabytes: 25 doubling rules in a
// row (2^25 bytes from one), a 30,000-byte replacement of each of 30,000 characters (900 MB).
TEST(Preprocessor, SubstWorkIsBounded) {
  std::string doubling;  // A -> BB, B -> CC, ..., Y -> ZZ: "A" would be 2^25 Zs
  for (char c = 'A'; c < 'Z'; ++c) {
    doubling += "#!subst \"/" + std::string(1, c) + "/" + std::string(2, c + 1) + "/g\"\n";
  }
  const std::string limit =
      ": #!subst rules rewrite too much text (the limit is 16 MiB for the whole script: a rule "
      "that grows what it rewrites?)";
  EXPECT_EQ(brief(lex(doubling + "x(\"A\", \"A\")\n").diags),
            std::vector<std::string>{"26:3" + limit});
  const std::string wide = "#!subst \"/a/" + std::string(30000, 'b') + "/g\"\n\"" +
                           std::string(30000, 'a') + "\"\n";
  EXPECT_EQ(brief(lex(wide).diags), std::vector<std::string>{"2:1" + limit});
  // A large pattern's scans cost more (regexec() slows down with it; cfg_fuzz timed out on
  // doubling rules whose patterns doubled too): 1,600 atoms weigh 51, so the 160th of these
  // 2,000-byte strings passes the limit where the bytes alone would not.
  std::string big = "#!subst \"/" + std::string(1600, 'b') + "/x/\"\n";
  for (int i = 0; i < 200; ++i) {
    big += "\"" + std::string(2000, 'a') + "\";\n";  // ';': strings in a row would be joined
  }
  EXPECT_EQ(brief(lex(big).diags), std::vector<std::string>{"161:1" + limit});
  // What fits is rewritten as before.
  const Lexed l = lex("#!subst \"/a/aa/g\"\n#!subst \"/a/aa/g\"\n\"a\" $a\n");
  EXPECT_TRUE(l.diags.empty()) << test::joined(l.diags);
  EXPECT_EQ(spelled(l.toks), "\"aaaa\" $aaaa");
}

// A #!subst regular expression that glibc's regcomp() cannot take (stack, memory) or that
// regexec() could take exponential time on is an error before regcomp() sees it.
TEST(Preprocessor, SubstRegexLimits) {
  const std::string deep = std::string(100000, '(') + "a" + std::string(100000, ')');
  EXPECT_EQ(brief(lex("#!subst \"/" + deep + "/x/\"\n").diags),
            std::vector<std::string>{"1:1: #!subst: bad regular expression: parentheses nested "
                                     "too deeply (the limit is 100 levels)"});
  EXPECT_EQ(brief(lex("#!subst \"/a{255}{255}{255}/x/\"\n").diags),
            std::vector<std::string>{"1:1: #!subst: bad regular expression: too large once its "
                                     "repetitions are expanded (the limit is 2000 atoms)"});
  EXPECT_EQ(brief(lex("#!subst \"/(a*)*b\\\\1/x/\"\n").diags),
            std::vector<std::string>{"1:1: #!subst: bad regular expression: back-references "
                                     "(\\1) are not supported (matching them can take "
                                     "exponential time)"});
  // Back-references in the replacement are fine.
  const Lexed l = lex("#!subst \"/(b+)c/<\\\\1>/\"\n\"abbc\"\n");
  EXPECT_TRUE(l.diags.empty()) << test::joined(l.diags);
  EXPECT_EQ(spelled(l.toks), "\"a<bb>\"");
}

}  // namespace
}  // namespace viaduct::cfg
