// SPDX-License-Identifier: Apache-2.0
// Acceptance corpus for the syntax-only front end: Kamailio's own shipped scripts (Debian
// kamailio 5.6 package: /etc/kamailio/kamailio.cfg and the examples that `kamailio -c` accepts
// with the modules that package installs), copied into data/corpus/. The default script is
// checked with no WITH_* define, with each one alone, and with all of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cfg/parser.hpp"
#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(VD_TEST_DATA) / "corpus";
const std::string kDefault = (kCorpus / "kamailio-default.cfg").string();

// Every WITH_* the default script tests.
const std::vector<std::string> kWith = {
    "WITH_ACCDB",       "WITH_ALIASDB",   "WITH_ANTIFLOOD", "WITH_AUTH",       "WITH_BLOCK3XX",
    "WITH_BLOCK401407", "WITH_DEBUG",     "WITH_IPAUTH",    "WITH_JSONRPC",    "WITH_MSGREBUILD",
    "WITH_MULTIDOMAIN", "WITH_MYSQL",     "WITH_NAT",       "WITH_NATSIPPING", "WITH_PRESENCE",
    "WITH_PSTN",        "WITH_RTPENGINE", "WITH_SPEEDDIAL", "WITH_TLS",        "WITH_USRLOCDB",
    "WITH_VOICEMAIL"};

// The ones whose section uses DBURL, which only WITH_MYSQL defines: the script's header says
// "enable mysql" for each, and `kamailio -c -A WITH_AUTH` fails at the same place
// ("modparam(..., DBURL)": an undefined name where a string is expected).
const std::vector<std::string> kNeedMysql = {"WITH_ACCDB",       "WITH_ALIASDB",  "WITH_AUTH",
                                             "WITH_MULTIDOMAIN", "WITH_PRESENCE", "WITH_SPEEDDIAL",
                                             "WITH_USRLOCDB"};

struct Result {
  bool ok = false;
  Diagnostics diags;
};

Result check(const std::string& file, const std::vector<std::string>& defines) {
  ParseOptions o;
  for (const std::string& d : defines) {
    o.defines.emplace_back(d, "");
  }
  Script s;
  Result r;
  r.ok = parse_file(file, o, s, r.diags);
  if (r.ok && s.routes.empty()) {
    r.ok = false;
  }
  return r;
}

bool needs_mysql(const std::string& w) {
  for (const std::string& m : kNeedMysql) {
    if (m == w) {
      return true;
    }
  }
  return false;
}

TEST(Corpus, EveryShippedScript) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    const std::string file = entry.path().string();
    ParseOptions o;
    Script s;
    Diagnostics diags;
    EXPECT_TRUE(parse_file(file, o, s, diags)) << test::joined(diags);
    for (const Diagnostic& d : diags) {
      EXPECT_NE(d.severity, Diagnostic::Severity::kError) << d.str();
    }
    ++n;
  }
  EXPECT_EQ(n, 14u);
}

TEST(Corpus, DefaultScriptWithoutDefines) {
  const Result r = check(kDefault, {});
  EXPECT_TRUE(r.ok) << test::joined(r.diags);
}

TEST(Corpus, DefaultScriptWithAllDefines) {
  const Result r = check(kDefault, kWith);
  EXPECT_TRUE(r.ok) << test::joined(r.diags);
}

class DefaultScriptWith : public ::testing::TestWithParam<std::string> {};

TEST_P(DefaultScriptWith, Alone) {
  const std::string& w = GetParam();
  const Result r = check(kDefault, {w});
  if (!needs_mysql(w)) {
    EXPECT_TRUE(r.ok) << test::joined(r.diags);
    return;
  }
  // As Kamailio: an error at each modparam(..., DBURL) of the section, and nothing else.
  EXPECT_FALSE(r.ok);
  ASSERT_FALSE(r.diags.empty());
  for (const Diagnostic& d : r.diags) {
    EXPECT_EQ(d.message, "expected a string or integer value, found 'DBURL'") << d.str();
  }
}

TEST_P(DefaultScriptWith, AndMysql) {
  const Result r = check(kDefault, {GetParam(), "WITH_MYSQL"});
  EXPECT_TRUE(r.ok) << test::joined(r.diags);
}

INSTANTIATE_TEST_SUITE_P(Defines, DefaultScriptWith, ::testing::ValuesIn(kWith),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace viaduct::cfg
