// SPDX-License-Identifier: Apache-2.0
// tests/cfg/regex_test.cpp: cfg/regex (the script's POSIX regexes on Hyperscan). glibc's
// regcomp()/regexec() with Kamailio's flags is the oracle: every pattern x subject of the tables
// (and of a seeded random corpus) must match on Hyperscan exactly when regexec() says so.
#include "cfg/regex.hpp"

#include <gtest/gtest.h>
#include <hs/hs.h>
#include <regex.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace viaduct::cfg {
namespace {

// regexec() as Kamailio calls it. nullopt when regcomp() refuses the pattern.
std::optional<bool> posix_match(const std::string& pattern, RegexFlags flags,
                                const std::string& subject) {
  int cflags = REG_EXTENDED | REG_NOSUB;
  if (flags & kRegexIcase) {
    cflags |= REG_ICASE;
  }
  if (flags & kRegexNewline) {
    cflags |= REG_NEWLINE;
  }
  regex_t re;
  if (regcomp(&re, pattern.c_str(), cflags) != 0) {
    return std::nullopt;
  }
  const bool m = regexec(&re, subject.c_str(), 0, nullptr, 0) == 0;
  regfree(&re);
  return m;
}

// C-escaped, for failure messages.
std::string esc(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

struct Compiled {
  RegexSet set;
  RegexScratchPool pool;
};

Compiled compile_ok(const std::vector<RegexSpec>& specs) {
  std::vector<RegexError> errors;
  auto set = RegexSet::compile(specs, errors);
  std::string why;
  for (const auto& e : errors) {
    why += std::to_string(e.pattern) + ": " + e.message + "\n";
  }
  EXPECT_TRUE(set.has_value()) << why;
  if (!set) {
    return {};
  }
  const RegexSet* sets[] = {&*set};
  std::string err;
  auto pool = RegexScratchPool::create(sets, 1, err);
  EXPECT_TRUE(pool.has_value()) << err;
  return {std::move(*set), std::move(*pool)};
}

RegexMatches scan_ok(const Compiled& c, std::string_view subject) {
  RegexMatches m;
  EXPECT_TRUE(c.set.scan(subject, c.pool.get(0), m));
  return m;
}

// Checks every pattern of `patterns` (all compiled into one set with `flags`) against every
// subject, with regexec() as the oracle. Patterns glibc refuses must be refused too.
void check_against_posix(const std::vector<std::string>& patterns, RegexFlags flags,
                         const std::vector<std::string>& subjects) {
  std::vector<RegexSpec> specs;
  std::vector<std::string> kept;
  for (const std::string& p : patterns) {
    if (!posix_match(p, flags, "").has_value()) {
      std::vector<RegexError> errors;
      const RegexSpec one[] = {{p, flags}};
      EXPECT_FALSE(RegexSet::compile(one, errors).has_value()) << "glibc refuses /" << p << "/";
      continue;
    }
    kept.push_back(p);
  }
  for (const std::string& p : kept) {
    specs.push_back({p, flags});
  }
  const Compiled c = compile_ok(specs);
  if (c.set.size() != specs.size()) {
    return;
  }
  for (const std::string& s : subjects) {
    const RegexMatches m = scan_ok(c, s);
    for (size_t i = 0; i < kept.size(); ++i) {
      const bool want = *posix_match(kept[i], flags, s);
      EXPECT_EQ(m.test(static_cast<uint32_t>(i)), want)
          << "/" << esc(kept[i]) << "/ flags " << int(flags) << " on \"" << esc(s)
          << "\" (regexec says "
          << want << ")";
    }
  }
}

const std::vector<std::string> kSubjects = {
    "",
    "friendly-scanner",
    "Friendly-Scanner 1.0",
    "sipvicious",
    "SIPVicious/0.3",
    "sip:alice@example.com",
    "sips:+4930123456@kamailio.org;user=phone",
    "sip:10.10.10.10:5060",
    "sip:10a10b10c10:5060",
    "00491701234567",
    "+491701234567",
    "183",
    "200",
    "2xx",
    "a.b",
    "a\\b",
    "a]b",
    "a-b",
    "x{2}y",
    "aaa",
    "ab",
    "abab",
    "a\nb",
    "line1\nline2\n",
    "\n",
    "tab\there",
    "word boundary",
    "UPPER lower 123",
    "a*b+c?",
    "(paren)",
    "d5",
    "dd",
    "ddd",
    "a_b",
    "\xe9t\xe9",
    "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n\r\n",
};

// Kamailio-style patterns and the places where POSIX and PCRE read the same text differently.
const std::vector<std::string> kPatterns = {
    "friendly-scanner",
    "sipvicious|sipcli|sip-scan",
    "^sips?:\\+?[0-9]{3,18}@.*",
    "^(\\+|00)[1-9][0-9]{3,20}$",
    "10\\.10\\.10\\.10",
    "10.10.10.10",
    "(183)|(2[0-9][0-9])",
    "1[0-9][0-9]",
    ".*@kamailio.org",
    "sip:.*@example.com",
    "",
    "a*",
    "^$",
    "^",
    "$",
    "^a",
    "b$",
    "^a.b$",
    "a.b",
    "a[^x]b",
    "[[:alpha:]]+[[:digit:]]",
    "^[[:upper:]]+$",
    "[[:space:]]",
    "[[:punct:]]",
    "[[:xdigit:]]{3}",
    "[\\.]",   // POSIX: backslash or dot
    "a[\\]b",  // POSIX: a, backslash, then "b"? no: [\] is the bracket, then b
    "[]a]",
    "[^]a]b",
    "a[]-]b",
    "[a-]",
    "[.]",
    "\\d",     // glibc: the letter d
    "\\d+",
    "\\n",     // glibc: the letter n
    "\\t",
    "\\.",
    "\\w+\\s\\w+",
    "\\W",
    "\\S+",
    "\\bword\\b",
    "\\Bor",
    "x{2}y",
    "x\\{2\\}y",
    "a{2}",
    "a{1,}b",
    "(ab){2}",
    "a{,2}b",
    "a{",
    "a{x}",
    "a{1",
    "a**",
    "a*?b",
    "a+*",
    "a?+",
    "(a|b)*c?",
    "()",
    "(a|)b",
    "a|",
    "*a",
    "+a",
    "^*a",
    "a|*b",
    "(*a)",
    "a)",
    "\\`a",
    "b\\'",
    "[[=a=]]b",
    "[[.-.]]",
    "[[.a.]-c]",
    "UPPER",
    "[A-Z]+ [a-z]+",
    "[[:lower:]]{5}",
    "\xe9",
    "a\\|b",
    "\\(paren\\)",
    "\\^",
    "\\$",
    "#",
    " ",
    "~",
    "/",
    "1\n2",
    "(^sip|^tel):",
    "^(INVITE|ACK)$",
    "(a$|^b)",
    "^a|b$",
    "\\D",
    "a\\Zb",
};

TEST(RegexPosixTable, CfgMatchFlags) {
  check_against_posix(kPatterns, kRegexCfgMatch, kSubjects);
}

TEST(RegexPosixTable, TextopsFlags) {
  check_against_posix(kPatterns, kRegexTextops, kSubjects);
}

TEST(RegexPosixTable, NoFlags) {
  check_against_posix(kPatterns, kRegexNone, kSubjects);
}

TEST(RegexPosixTable, NewlineOnly) {
  check_against_posix(kPatterns, kRegexNewline, kSubjects);
}

// Anchors and newlines, where REG_NEWLINE and PCRE's `$` differ.
TEST(RegexPosixTable, AnchorsAndNewlines) {
  const std::vector<std::string> patterns = {"^b", "a$", "^$", "a.b", "a[^x]b", "a\\Wb",
                                             "b$",  "^line2$", "^", "$", "1$", "\r$", "^\r",
                                             "\\`$", "^\\'", "\\b$", "^\\B", "^a*$",
                                             "(^|x)$"};
  const std::vector<std::string> subjects = {"a\nb", "b\na", "a\n", "\na", "line1\nline2\n",
                                             "ab\n", "a\r\nb", "x\r\n", "\r\n\r\n", "",
                                             "\n", "\n\n", "b"};
  for (RegexFlags f : {kRegexNone, kRegexNewline, kRegexCfgMatch, kRegexTextops}) {
    check_against_posix(patterns, f, subjects);
  }
}

// A seeded random corpus over a small alphabet of POSIX syntax, against regexec().
TEST(RegexPosixTable, RandomDifferential) {
  std::mt19937 rng(20261122);
  static const char* kPieces[] = {"a", "b", "A", ".", "*", "+", "?", "|", "(", ")", "^", "$",
                                  "[ab]", "[^a]", "[[:upper:]]", "{2}", "{1,2}", "\\.", "\\w",
                                  "\\b", "\n", "[a-c]", "-", "\\B", "\\W", "x"};
  std::vector<std::string> subjects;
  static const char kAlpha[] = "abAB.\nx-c";
  for (int i = 0; i < 40; ++i) {
    std::string s;
    const int len = static_cast<int>(rng() % 8);
    for (int j = 0; j < len; ++j) {
      s.push_back(kAlpha[rng() % (sizeof kAlpha - 1)]);
    }
    subjects.push_back(s);
  }
  size_t embedded = 0;
  for (RegexFlags f : {kRegexCfgMatch, kRegexTextops, kRegexNone}) {
    std::vector<std::string> patterns;
    while (patterns.size() < 200) {
      std::string p;
      const int n = 1 + static_cast<int>(rng() % 6);
      for (int j = 0; j < n; ++j) {
        p += kPieces[rng() % std::size(kPieces)];
      }
      std::string hs;
      unsigned hs_flags = 0;
      std::string err;
      if (!posix_match(p, f, "").has_value() ||
          !regex_translate(p, f, hs, hs_flags, err)) {
        continue;  // refused by glibc (checked elsewhere) or by design (e.g. nothing here)
      }
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* cerr = nullptr;
      if (hs_expression_info(hs.c_str(), hs_flags, &info, &cerr) != HS_SUCCESS) {
        const std::string msg = cerr->message;
        hs_free_compile_error(cerr);
        if (msg.starts_with("Embedded")) {
          ++embedded;  // `a^b`: refused with a clear error (RegexCompile tests)
          continue;
        }
        if (msg.starts_with("Pattern can never match")) {
          patterns.push_back(p);  // kept out of the database: its bit is never set
          continue;
        }
        ADD_FAILURE() << "glibc accepts /" << esc(p) << "/ but hyperscan refuses its translation /"
                      << esc(hs) << "/: " << msg;
        continue;
      }
      std::free(info);
      patterns.push_back(p);
    }
    // Sets of 50 (Hyperscan compiles a few small sets faster than one large one).
    for (size_t i = 0; i < patterns.size(); i += 50) {
      const size_t end = std::min(i + 50, patterns.size());
      check_against_posix({patterns.begin() + static_cast<ptrdiff_t>(i),
                           patterns.begin() + static_cast<ptrdiff_t>(end)},
                          f, subjects);
    }
  }
  // Most of the corpus runs; the anchors-inside-a-pattern refusals stay a minority.
  EXPECT_LT(embedded, 300u);
  RecordProperty("embedded_anchor_refusals", static_cast<int>(embedded));
}

// What Kamailio 5.6.3 answered, run on loopback with this message and these conditions (each
// condition appends its letter to the reply reason):
//   A $ua =~ "SCANNER"      B $ua =~ "\d"      C $ua =~ "\D"      D $ua =~ "scanner$"
//   E search("^$")          F search("^user-agent: FRIENDLY")      I search("call-id: [^\n]*x")
// ("\n" in a script string is a newline byte by the time regcomp() sees it.) Replies:
//   friendly-scanner -> ACDEFI, Friendly-SCANNER d -> ACEFI, dd 5 -> CEI, plain -> EI.
TEST(RegexKamailio, ObservedAnswers) {
  const Compiled ua = compile_ok({{"SCANNER", kRegexCfgMatch},
                                  {"\\d", kRegexCfgMatch},
                                  {"\\D", kRegexCfgMatch},
                                  {"scanner$", kRegexCfgMatch}});
  const Compiled msg = compile_ok({{"^$", kRegexTextops},
                                   {"^user-agent: FRIENDLY", kRegexTextops},
                                   {"call-id: [^\n]*x", kRegexTextops}});
  auto letters = [&](const std::string& agent) {
    const std::string m =
        "OPTIONS sip:x@127.0.0.1:25077 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:25078;branch=z9hG4bK1;rport\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: abcx1\r\n"
        "CSeq: 1 OPTIONS\r\nUser-Agent: " + agent + "\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n";
    const RegexMatches u = scan_ok(ua, agent);
    const RegexMatches b = scan_ok(msg, m);
    std::string r;
    for (uint32_t i = 0; i < 4; ++i) {
      if (u.test(i)) {
        r.push_back(static_cast<char>('A' + i));
      }
    }
    const char kMsgLetters[] = {'E', 'F', 'I'};
    for (uint32_t i = 0; i < 3; ++i) {
      if (b.test(i)) {
        r.push_back(kMsgLetters[i]);
      }
    }
    return r;
  };
  EXPECT_EQ(letters("friendly-scanner"), "ACDEFI");
  EXPECT_EQ(letters("Friendly-SCANNER d"), "ACEFI");
  EXPECT_EQ(letters("dd 5"), "CEI");
  EXPECT_EQ(letters("plain"), "EI");
}

TEST(RegexTranslate, FlagsFollowKamailio) {
  std::string hs;
  unsigned flags = 0;
  std::string err;
  ASSERT_TRUE(regex_translate("abc", kRegexCfgMatch, hs, flags, err));
  EXPECT_EQ(hs, "abc");
  EXPECT_EQ(flags, unsigned{HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | HS_FLAG_CASELESS |
                            HS_FLAG_DOTALL});
  ASSERT_TRUE(regex_translate("abc", kRegexTextops, hs, flags, err));
  EXPECT_EQ(flags, unsigned{HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | HS_FLAG_CASELESS |
                            HS_FLAG_MULTILINE});
  ASSERT_TRUE(regex_translate("a$", kRegexCfgMatch, hs, flags, err));
  EXPECT_EQ(hs, "a\\z");
  ASSERT_TRUE(regex_translate("[\\.]", kRegexCfgMatch, hs, flags, err));
  EXPECT_EQ(hs, "[\\x5c\\x2e]");
  ASSERT_TRUE(regex_translate("a*?", kRegexCfgMatch, hs, flags, err));
  EXPECT_EQ(hs, "(?:a*)?");
}

TEST(RegexCompile, BackReferenceIsAnError) {
  std::vector<RegexError> errors;
  const std::string_view pats[] = {"ok", "(a)\\1", "fine"};
  EXPECT_FALSE(RegexSet::compile(pats, kRegexCfgMatch, errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pattern, 1u);
  EXPECT_EQ(errors[0].message, "back-references (\\1) are not supported");
}

TEST(RegexCompile, EveryBadPatternIsReported) {
  std::vector<RegexError> errors;
  const std::string_view pats[] = {"(unclosed", "good", "[z-a]", "a\\<b", "x{3,1}", "\\"};
  EXPECT_FALSE(RegexSet::compile(pats, kRegexCfgMatch, errors).has_value());
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].pattern, 0u);
  EXPECT_NE(errors[0].message.find("invalid regular expression"), std::string::npos)
      << errors[0].message;
  EXPECT_EQ(errors[1].pattern, 2u);
  EXPECT_EQ(errors[2].pattern, 3u);
  EXPECT_NE(errors[2].message.find("\\<"), std::string::npos) << errors[2].message;
  EXPECT_EQ(errors[3].pattern, 4u);
  EXPECT_EQ(errors[4].pattern, 5u);
  for (const RegexError& e : errors) {
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(RegexCompile, EmbeddedAnchorIsAClearError) {
  std::vector<RegexError> errors;
  const std::string_view pats[] = {"a*^b", "a\n^b"};
  EXPECT_FALSE(RegexSet::compile(pats, kRegexTextops, errors).has_value());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].pattern, 0u);
  EXPECT_NE(errors[0].message.find("anchor"), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[1].pattern, 1u);
}

// A pattern regexec() can never match compiles (Kamailio accepts it) and never matches.
TEST(RegexCompile, NeverMatchingPatternCompiles) {
  const Compiled c = compile_ok({{"\\B\\b", kRegexNone}, {"x\\b\\By", kRegexNone}, {"y"}});
  ASSERT_EQ(c.set.size(), 3u);
  const RegexMatches m = scan_ok(c, "xy x y \\B\\b");
  EXPECT_FALSE(m.test(0));
  EXPECT_FALSE(m.test(1));
  EXPECT_TRUE(m.test(2));
  // Only never-matching patterns: a set without a database.
  const Compiled d = compile_ok({{"\\d"}});  // with REG_ICASE, glibc's `\d` matches nothing
  EXPECT_EQ(d.set.size(), 1u);
  EXPECT_EQ(d.set.database(), nullptr);
  EXPECT_FALSE(scan_ok(d, "dD").any());
}

TEST(RegexCompile, MultiCharacterCollatingElementIsAnError) {
  std::vector<RegexError> errors;
  const std::string_view pats[] = {"[[=ab=]]"};
  // glibc may refuse it itself; either way it is an error naming pattern 0.
  EXPECT_FALSE(RegexSet::compile(pats, kRegexCfgMatch, errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pattern, 0u);
}

TEST(RegexCompile, ZeroPatterns) {
  std::vector<RegexError> errors;
  auto set = RegexSet::compile(std::span<const RegexSpec>{}, errors);
  ASSERT_TRUE(set.has_value());
  EXPECT_TRUE(set->empty());
  EXPECT_EQ(set->database(), nullptr);
  EXPECT_EQ(set->database_bytes(), 0u);
  const RegexSet* sets[] = {&*set};
  std::string err;
  auto pool = RegexScratchPool::create(sets, 2, err);
  ASSERT_TRUE(pool.has_value());
  EXPECT_EQ(pool->workers(), 2u);
  EXPECT_EQ(pool->get(0), nullptr);
  RegexMatches m;
  m.set(3);
  EXPECT_TRUE(set->scan("anything", pool->get(1), m));
  EXPECT_FALSE(m.any());
}

TEST(RegexCompile, TooManyPatterns) {
  std::vector<std::string> storage(kRegexMaxPatterns + 1, "x");
  std::vector<std::string_view> pats(storage.begin(), storage.end());
  std::vector<RegexError> errors;
  EXPECT_FALSE(RegexSet::compile(pats, kRegexCfgMatch, errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pattern, kRegexNoPattern);
}

TEST(RegexScan, MultiPatternSetReportsEachMatch) {
  const Compiled c = compile_ok({{"friendly-scanner"}, {"sipvicious"}, {"^sip"}, {"cli$"}});
  ASSERT_EQ(c.set.size(), 4u);
  EXPECT_GT(c.set.database_bytes(), 0u);
  RegexMatches m = scan_ok(c, "sipvicious friendly-scanner sipcli");
  EXPECT_TRUE(m.test(0));
  EXPECT_TRUE(m.test(1));
  EXPECT_TRUE(m.test(2));
  EXPECT_TRUE(m.test(3));
  m = scan_ok(c, "Linphone/5.0");
  EXPECT_FALSE(m.any());
  m = scan_ok(c, "x sipcli y");
  EXPECT_FALSE(m.test(2));
  EXPECT_FALSE(m.test(3));
  m = scan_ok(c, "SIPcli");
  EXPECT_TRUE(m.test(2));
  EXPECT_TRUE(m.test(3));
  EXPECT_FALSE(m.test(0));
}

TEST(RegexScan, CaseFoldingPerFlags) {
  const Compiled c = compile_ok({{"Scanner", kRegexCfgMatch}, {"Scanner", kRegexNone},
                                 {"[a-c]x", kRegexCfgMatch}, {"[a-c]x", kRegexNone}});
  RegexMatches m = scan_ok(c, "friendly-SCANNER");
  EXPECT_TRUE(m.test(0));
  EXPECT_FALSE(m.test(1));
  m = scan_ok(c, "friendly-Scanner BX");
  EXPECT_TRUE(m.test(0));
  EXPECT_TRUE(m.test(1));
  EXPECT_TRUE(m.test(2));
  EXPECT_FALSE(m.test(3));
}

TEST(RegexScan, EmptySubject) {
  const Compiled c = compile_ok({{"^$"}, {"a"}, {""}, {"x*"}});
  const RegexMatches m = scan_ok(c, "");
  EXPECT_TRUE(m.test(0));
  EXPECT_FALSE(m.test(1));
  EXPECT_TRUE(m.test(2));
  EXPECT_TRUE(m.test(3));
}

TEST(RegexScan, SubjectIsNotNulTerminated) {
  const Compiled c = compile_ok({{"abc$"}});
  const std::string buf = "xabcdef";
  EXPECT_TRUE(scan_ok(c, std::string_view(buf).substr(0, 4)).test(0));
  EXPECT_FALSE(scan_ok(c, std::string_view(buf).substr(0, 5)).test(0));
}

// regexec() stops at a NUL byte (Kamailio passes C strings); so does the scan.
TEST(RegexScan, StopsAtNulLikeRegexec) {
  const Compiled c = compile_ok({{"body"}, {"head$"}, {"^head"}});
  const std::string subject("head\0body", 9);
  const RegexMatches m = scan_ok(c, subject);
  EXPECT_FALSE(m.test(0));
  EXPECT_TRUE(m.test(1));
  EXPECT_TRUE(m.test(2));
}

// More than 64 patterns: ids above 63 land in the right words of the bitset.
TEST(RegexScan, ManyPatterns) {
  std::vector<std::string> storage;
  for (uint32_t i = 0; i < kRegexMaxPatterns; ++i) {
    storage.push_back("^tok" + std::to_string(i) + "$");
  }
  std::vector<RegexSpec> specs;
  for (const std::string& s : storage) {
    specs.push_back({s});
  }
  const Compiled c = compile_ok(specs);
  ASSERT_EQ(c.set.size(), kRegexMaxPatterns);
  for (uint32_t i : {0u, 63u, 64u, 127u, 200u, kRegexMaxPatterns - 1}) {
    const RegexMatches m = scan_ok(c, "TOK" + std::to_string(i));
    for (uint32_t j = 0; j < kRegexMaxPatterns; ++j) {
      EXPECT_EQ(m.test(j), i == j) << i << " vs " << j;
    }
  }
}

// One scratch per worker, grown for every set of the snapshot; a scratch too small fails the
// scan (counted by the caller) instead of crashing.
TEST(RegexScratch, PoolCoversEverySet) {
  std::vector<RegexError> errors;
  const std::string_view small[] = {"a"};
  std::vector<std::string> storage;
  for (int i = 0; i < 100; ++i) {
    storage.push_back("(x|y)[0-9]{2,40}z" + std::to_string(i) + "(q|r)*w");
  }
  std::vector<std::string_view> big(storage.begin(), storage.end());
  auto s1 = RegexSet::compile(small, kRegexCfgMatch, errors);
  auto s2 = RegexSet::compile(big, kRegexTextops, errors);
  ASSERT_TRUE(s1 && s2);
  const RegexSet* sets[] = {&*s1, nullptr, &*s2};
  std::string err;
  auto pool = RegexScratchPool::create(sets, 3, err);
  ASSERT_TRUE(pool.has_value()) << err;
  ASSERT_EQ(pool->workers(), 3u);
  EXPECT_NE(pool->get(0), pool->get(1));
  for (unsigned w = 0; w < 3; ++w) {
    RegexMatches m;
    EXPECT_TRUE(s1->scan("bAnana", pool->get(w), m));
    EXPECT_TRUE(m.test(0));
    EXPECT_TRUE(s2->scan("..y1234z7rrw..", pool->get(w), m));
    EXPECT_TRUE(m.test(7));
    EXPECT_FALSE(m.test(8));
  }
  // A scratch built only for the small set.
  const RegexSet* only_small[] = {&*s1};
  auto small_pool = RegexScratchPool::create(only_small, 1, err);
  ASSERT_TRUE(small_pool.has_value());
  RegexMatches m;
  m.set(1);
  const bool ok = s2->scan("y1234z7w", small_pool->get(0), m);
  if (!ok) {
    EXPECT_FALSE(m.any());
  }
  // A null scratch on a non-empty set is a failed scan on Hyperscan, never a crash.
  m.set(1);
  EXPECT_FALSE(s1->scan_hyperscan("a", nullptr, m));
  EXPECT_FALSE(m.any());
}

TEST(RegexSetMove, MovedSetKeepsItsDatabase) {
  std::vector<RegexError> errors;
  const std::string_view pats[] = {"abc"};
  auto s = RegexSet::compile(pats, kRegexCfgMatch, errors);
  ASSERT_TRUE(s);
  RegexSet moved = std::move(*s);
  const RegexSet* sets[] = {&moved};
  std::string err;
  auto pool = RegexScratchPool::create(sets, 1, err);
  ASSERT_TRUE(pool);
  RegexMatches m;
  EXPECT_TRUE(moved.scan("xxABCxx", pool->get(0), m));
  EXPECT_TRUE(m.test(0));
}


// Patterns glibc's regcomp() cannot take (deep nesting overflows its stack; repetitions of
// repetitions take gigabytes; ((a+)+)+... doubles per level) and intervals that make Hyperscan's
// compile take seconds are errors before either sees them.
TEST(RegexCompile, RegcompLimits) {
  const std::string deep = std::string(100000, '(') + "a" + std::string(100000, ')');
  std::string plus = "a";
  for (int i = 0; i < 30; ++i) {
    plus = "(" + plus + "+)";
  }
  const std::string_view pats[] = {deep, "a{255}{255}{255}", plus, "(ab|cd){2000}", "ok"};
  std::vector<RegexError> errors;
  EXPECT_FALSE(RegexSet::compile(pats, kRegexCfgMatch, errors).has_value());
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].message,
            "invalid regular expression: parentheses nested too deeply (the limit is 100 levels)");
  EXPECT_EQ(errors[1].message,
            "invalid regular expression: too large once its repetitions are expanded (the limit "
            "is 2000 atoms)");
  EXPECT_EQ(errors[2].message, errors[1].message);
  EXPECT_EQ(errors[3].message,
            "invalid regular expression: repetition count above 255 (POSIX's RE_DUP_MAX) in "
            "'{2000}'");
}

TEST(RegexCompile, RegcompLimitsCountWhatRegcompCopies) {
  EXPECT_EQ(regcomp_limits("^sip:[0-9]{1,15}@(a|b)+\\.example\\.com$", false), "");
  EXPECT_EQ(regcomp_limits(std::string(100, '(') + std::string(100, ')'), true), "");
  EXPECT_NE(regcomp_limits(std::string(101, '(') + std::string(101, ')'), true), "");
  EXPECT_EQ(regcomp_limits("(a{99}){20}", true), "");  // (99 + the group) x 20 = 2000
  EXPECT_NE(regcomp_limits("(a{99}){21}", true), "");
  // Empty groups repeated inside each other: cfg_fuzz timed out in regcomp() on 11 levels.
  std::string empty = "()";
  for (int i = 0; i < 11; ++i) {
    empty = "(" + empty + "+)";
  }
  EXPECT_NE(regcomp_limits(empty, true), "");
  EXPECT_EQ(regcomp_limits("[{]{255}x{,255}y{2,}", true), "");  // '{' in brackets is literal
  EXPECT_NE(regcomp_limits("a{256}", true), "");
  EXPECT_EQ(regcomp_limits("a{256", true), "");   // not an interval: a literal '{'
  EXPECT_EQ(regcomp_limits("[]{(]{255}", true), "");  // ']' first in brackets is literal
  EXPECT_EQ(regcomp_limits("[[:digit:]]{255}", true), "");
  EXPECT_EQ(regcomp_limits("(a)\\1", true), "");
  EXPECT_NE(regcomp_limits("(a)\\1", false), "");
  EXPECT_EQ(regcomp_limits("[\\1]", false), "");  // a backslash and a 1 in brackets
}

}  // namespace
}  // namespace viaduct::cfg
