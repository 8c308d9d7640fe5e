// SPDX-License-Identifier: Apache-2.0
// tests/cfg/regex_literal_test.cpp: the literal fast path of RegexSet (cfg/regex_literal.hpp).
// glibc's regexec() with Kamailio's flags is the oracle, and the set's own Hyperscan database
// (scan_hyperscan) must agree with both, for every pattern and subject.
#include <gtest/gtest.h>
#include <regex.h>

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/regex.hpp"
#include "cfg/regex_literal.hpp"

namespace viaduct::cfg {
namespace {

bool regexec_matches(const std::string& pattern, RegexFlags flags, const std::string& subject) {
  regex_t re;
  int cflags = REG_EXTENDED | REG_NOSUB;
  if (flags & kRegexIcase) {
    cflags |= REG_ICASE;
  }
  if (flags & kRegexNewline) {
    cflags |= REG_NEWLINE;
  }
  EXPECT_EQ(regcomp(&re, pattern.c_str(), cflags), 0) << pattern;
  const bool m = regexec(&re, subject.c_str(), 0, nullptr, 0) == 0;  // C string: stops at NUL
  regfree(&re);
  return m;
}

struct Compiled {
  std::optional<RegexSet> set;
  std::optional<RegexScratchPool> pool;
};

Compiled compile(const std::vector<std::string>& patterns, RegexFlags flags) {
  std::vector<RegexSpec> specs;
  for (const std::string& p : patterns) {
    specs.push_back({p, flags});
  }
  std::vector<RegexError> errors;
  Compiled c;
  c.set = RegexSet::compile(specs, errors);
  EXPECT_TRUE(c.set.has_value()) << (errors.empty() ? "" : errors[0].message);
  if (c.set) {
    const RegexSet* sets[] = {&*c.set};
    std::string err;
    c.pool = RegexScratchPool::create(sets, 1, err);
  }
  return c;
}

TEST(RegexLiteral, PlainAlternationsAreLiteralOthersAreNot) {
  struct Row {
    std::string pattern;
    std::optional<std::vector<std::string>> want;
  };
  using V = std::vector<std::string>;
  const Row rows[] = {
      {"friendly-scanner", V{"friendly-scanner"}},
      {"friendly-scanner|sipvicious|sipcli", V{"friendly-scanner", "sipvicious", "sipcli"}},
      {"VaxSIPUserAgent|eyeBeam release 3006o", V{"VaxSIPUserAgent", "eyeBeam release 3006o"}},
      {"10\\.0\\.0\\.1|a\\|b|x\\\\y|\\(\\)\\[\\]\\{\\}\\*\\+\\?\\^\\$",
       V{"10.0.0.1", "a|b", "x\\y", "()[]{}*+?^$"}},
      {"SipCLI/|@;=,:<>\"'!#%&~`_", V{"SipCLI/", "@;=,:<>\"'!#%&~`_"}},
      {"a", V{"a"}},
      {"", std::nullopt},          // matches every subject
      {"a||b", std::nullopt},      // an empty branch too
      {"|a", std::nullopt},
      {"a|", std::nullopt},
      {"a.b", std::nullopt},       // metacharacters
      {"[ab]", std::nullopt},
      {"^sipsak", std::nullopt},
      {"sipsak$", std::nullopt},
      {"sip ?vicious", std::nullopt},
      {"x{2}", std::nullopt},
      {"(a)", std::nullopt},
      {"\\d", std::nullopt},       // an escaped letter: matches nothing under REG_ICASE
      {"\\w", std::nullopt},
      {"a\\", std::nullopt},
      {std::string("a\tb"), std::nullopt},  // control bytes, NUL, non-ASCII
      {std::string("a\0b", 3), std::nullopt},
      {"caf\xc3\xa9", std::nullopt},
  };
  for (const Row& r : rows) {
    std::vector<std::string> got;
    const bool ok = LiteralSet::literals_of(r.pattern, got);
    EXPECT_EQ(ok, r.want.has_value()) << r.pattern;
    if (ok && r.want) {
      EXPECT_EQ(got, *r.want) << r.pattern;
    }
  }
}

TEST(RegexLiteral, SetsBeyondTheLimitsOrMixingCaseRulesUseHyperscan) {
  EXPECT_TRUE(compile({"sipcli|friendly-scanner"}, kRegexCfgMatch).set->literal());
  EXPECT_TRUE(compile({"sipcli", "friendly-scanner"}, kRegexTextops).set->literal());
  EXPECT_TRUE(compile({"abc"}, kRegexNone).set->literal());
  EXPECT_FALSE(compile({"sipcli|^friendly"}, kRegexCfgMatch).set->literal());
  EXPECT_FALSE(compile({"sipcli", "a.b"}, kRegexCfgMatch).set->literal());

  std::vector<RegexError> errors;
  const RegexSpec mixed[] = {{"abc", kRegexIcase}, {"def", kRegexNone}};
  auto m = RegexSet::compile(mixed, errors);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->literal());

  std::string sixteen;
  std::string seventeen;
  for (int i = 0; i < 17; ++i) {
    (i < 16 ? sixteen : seventeen) += (i ? "|w" : "w") + std::to_string(i);
  }
  seventeen = sixteen + "|w16";
  EXPECT_TRUE(compile({sixteen}, kRegexCfgMatch).set->literal());
  EXPECT_FALSE(compile({seventeen}, kRegexCfgMatch).set->literal());
  EXPECT_TRUE(compile({std::string(LiteralSet::kMaxLength, 'q')}, kRegexCfgMatch).set->literal());
  EXPECT_FALSE(
      compile({std::string(LiteralSet::kMaxLength + 1, 'q')}, kRegexCfgMatch).set->literal());
}

// Every literal length 1..32 at every offset of subjects around the 16-byte steps and the
// kMaxText limit: found where it is whole, not where the subject cuts it, not after a NUL.
TEST(RegexLiteral, FoundAtEveryOffsetAndCutAtTheEndOrANul) {
  for (const size_t len : {1, 2, 3, 4, 5, 15, 16, 17, 31, 32}) {
    std::string lit;
    for (size_t i = 0; i < len; ++i) {
      lit += static_cast<char>('a' + (i * 5) % 26);
    }
    const Compiled c = compile({"zz", lit}, kRegexCfgMatch);
    ASSERT_TRUE(c.set->literal());
    std::string upper = lit;
    for (char& ch : upper) {
      ch = static_cast<char>(ch - 0x20);
    }
    for (const size_t n : {len, len + 1, size_t{16}, size_t{17}, size_t{33}, size_t{64},
                           size_t{255}, LiteralSet::kMaxText, LiteralSet::kMaxText + 1}) {
      if (n < len) {
        continue;
      }
      for (size_t at = 0; at < n; ++at) {
        std::string s(n, '.');
        s.replace(at, std::min(len, n - at), (at % 2 ? upper : lit).substr(0, n - at));
        const bool whole = at + len <= n;
        RegexMatches m;
        ASSERT_TRUE(c.set->scan(s, c.pool->get(0), m));
        EXPECT_EQ(m.test(1), whole) << len << " " << n << " " << at;
        EXPECT_FALSE(m.test(0));
        if (at > 0) {
          std::string cut = s;
          cut[at - 1] = '\0';  // regexec() never reads past it
          ASSERT_TRUE(c.set->scan(cut, c.pool->get(0), m));
          EXPECT_FALSE(m.test(1)) << len << " " << n << " " << at;
        }
        if (whole && at + len < n) {
          std::string after = s;
          after[at + len] = '\0';  // a NUL after the literal cuts nothing off it
          ASSERT_TRUE(c.set->scan(after, c.pool->get(0), m));
          EXPECT_TRUE(m.test(1)) << len << " " << n << " " << at;
        }
      }
    }
  }
}

// Literals that share their first bytes (the 2-byte filter's buckets cannot tell them apart;
// settle()'s 4-byte heads and the whole compare must), from 1 to 16 of them (1 to 4 groups of
// heads), at every offset of a subject, whole, cut short, or one byte off at any position:
// each pattern's answer is regexec()'s and Hyperscan's.
TEST(RegexLiteral, LiteralsSharingAPrefixAreToldApart) {
  const std::vector<std::string> all = {
      "sipvicious", "sipcli", "sip-scan", "si", "sip", "sipp", "s", "sipvicious-x",
      "friendly-scanner", "iWar", "VaxSIPUserAgent", "sipsak", "sip/", "sIpV", "SIPX", "s i p"};
  for (const RegexFlags flags : {kRegexCfgMatch, kRegexNone}) {
    for (size_t count = 1; count <= all.size(); ++count) {
      std::vector<std::string> patterns;
      for (size_t i = 0; i < count; ++i) {  // one literal a pattern, the last one two
        patterns.push_back(all[i]);
      }
      if (count > 1) {
        patterns[count - 2] += "|" + patterns[count - 1];
        patterns.pop_back();
      }
      const Compiled c = compile(patterns, flags);
      ASSERT_TRUE(c.set && c.pool);
      ASSERT_TRUE(c.set->literal()) << count;
      std::vector<std::string> subjects;
      for (const std::string& lit : all) {
        for (size_t k = 0; k <= lit.size(); ++k) {
          std::string near = lit;
          if (k < lit.size()) {
            near[k] = static_cast<char>(near[k] ^ (k % 2 ? 0x20 : 0x01));  // case, or a miss
          }
          for (const size_t at : {size_t{0}, size_t{7}, size_t{14}, size_t{15}, size_t{16},
                                  size_t{29}, size_t{40}}) {
            std::string s = "Linphone-Desktop/5.2.4 (belle-sip/5.2.37) x";
            s = s.substr(0, at) + near + s.substr(std::min(at, s.size()));
            subjects.push_back(s);
            subjects.push_back(s.substr(0, at + near.size()));        // ends with it
            subjects.push_back(s.substr(0, at + near.size() - 1));    // cut short
          }
        }
      }
      for (const std::string& s : subjects) {
        RegexMatches lit_m;
        RegexMatches hs_m;
        ASSERT_TRUE(c.set->scan(s, c.pool->get(0), lit_m));
        ASSERT_TRUE(c.set->scan_hyperscan(s, c.pool->get(0), hs_m));
        for (size_t p = 0; p < patterns.size(); ++p) {
          const bool want = regexec_matches(patterns[p], flags, s);
          ASSERT_EQ(lit_m.test(static_cast<uint32_t>(p)), want)
              << "pattern " << patterns[p] << " subject '" << s << "' icase " << int{flags};
        }
        ASSERT_EQ(lit_m.words, hs_m.words) << s;
      }
    }
  }
}

// Random literal sets (one to sixteen literals over a small alphabet, so that first bytes,
// buckets and prefixes collide) against random subjects built to hold near misses: each
// pattern's answer is regexec()'s and Hyperscan's.
TEST(RegexLiteral, RandomSetsAnswerAsRegexecAndHyperscan) {
  std::mt19937 rng(20261123);
  const std::string alphabet = "aAbBzZ-. /\\|.*()";
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  size_t literal_sets = 0;
  size_t matches = 0;
  for (int round = 0; round < 300; ++round) {
    const RegexFlags flags = pick(2) ? kRegexCfgMatch : kRegexNone;
    std::vector<std::string> literals;
    std::vector<std::string> patterns;
    const size_t n_patterns = 1 + pick(6);
    for (size_t p = 0; p < n_patterns; ++p) {
      std::string pattern;
      const size_t n_lits = 1 + pick(3);
      for (size_t l = 0; l < n_lits; ++l) {
        std::string lit;
        const size_t len = 1 + (pick(4) ? pick(6) : pick(32));
        for (size_t i = 0; i < len; ++i) {
          lit += alphabet[pick(alphabet.size())];
        }
        literals.push_back(lit);
        if (l) {
          pattern += '|';
        }
        for (char ch : lit) {
          if (std::string_view(".[]()*+?{}|^$\\").find(ch) != std::string_view::npos) {
            pattern += '\\';
          }
          pattern += ch;
        }
      }
      patterns.push_back(pattern);
    }
    const Compiled c = compile(patterns, flags);
    ASSERT_TRUE(c.set && c.pool);
    literal_sets += c.set->literal() ? 1 : 0;
    EXPECT_EQ(c.set->literal(), literals.size() <= LiteralSet::kMaxLiterals);
    for (int k = 0; k < 40; ++k) {
      std::string s;
      const size_t n = pick(4) ? pick(64) : pick(LiteralSet::kMaxText + 20);
      while (s.size() < n) {
        const size_t what = pick(10);
        if (what < 3) {
          std::string lit = literals[pick(literals.size())];
          if (pick(3) == 0 && lit.size() > 1) {
            lit[pick(lit.size())] ^= 0x20;  // the other case, or a near miss
          }
          if (pick(4) == 0) {
            lit.resize(pick(lit.size()));  // a prefix
          }
          s += lit;
        } else if (what == 3) {
          s += static_cast<char>(pick(4) == 0 ? 0 : 0x80 + pick(128));
        } else {
          s += alphabet[pick(alphabet.size())];
        }
      }
      RegexMatches lit_m;
      RegexMatches hs_m;
      ASSERT_TRUE(c.set->scan(s, c.pool->get(0), lit_m));
      ASSERT_TRUE(c.set->scan_hyperscan(s, c.pool->get(0), hs_m));
      for (size_t p = 0; p < patterns.size(); ++p) {
        const bool want = regexec_matches(patterns[p], flags, s);
        EXPECT_EQ(lit_m.test(static_cast<uint32_t>(p)), want)
            << "pattern " << patterns[p] << " subject '" << s << "' icase " << int{flags};
        EXPECT_EQ(hs_m.test(static_cast<uint32_t>(p)), want) << patterns[p] << " '" << s << "'";
        matches += want ? 1 : 0;
      }
      EXPECT_EQ(lit_m.words, hs_m.words);
    }
  }
  // The corpus must exercise the path and both answers.
  EXPECT_GT(literal_sets, 250u);
  EXPECT_GT(matches, 1000u);
}

}  // namespace
}  // namespace viaduct::cfg
