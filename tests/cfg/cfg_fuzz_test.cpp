// SPDX-License-Identifier: Apache-2.0
// tests/cfg/cfg_fuzz_test.cpp: replays the seed corpus of the configuration front end's fuzz
// target (fuzz_corpus/, VD_FUZZ_CORPUS) through its property checks (cfg_properties.hpp), so
// that they run in every build, not only in a -Dfuzz=true one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/cfg/cfg_properties.hpp"
#include "tests/support/corpus.hpp"

namespace viaduct::cfg::fuzz {
namespace {

namespace fs = std::filesystem;

TEST(CfgFuzzCorpus, EverySeedKeepsTheProperties) {
  const std::vector<viaduct::test::CorpusFile> files =
      viaduct::test::read_corpus_dir(VD_FUZZ_CORPUS);
  ASSERT_GE(files.size(), 10u) << "seed corpus missing or nearly empty: " << VD_FUZZ_CORPUS;
  int kinds[3] = {0, 0, 0};
  for (const viaduct::test::CorpusFile& file : files) {
    const fs::path& f = file.path;
    const std::string& bytes = file.bytes;
    ASSERT_FALSE(bytes.empty()) << f;
    ASSERT_LE(bytes.size() - 1, kMaxInput) << f << ": larger than the target reads";
    ++kinds[static_cast<int>(kind_of(static_cast<uint8_t>(bytes[0])))];
    EXPECT_EQ(check_input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "")
        << f;
  }
  EXPECT_GT(kinds[0], 0) << "no routing script seed";
  EXPECT_GT(kinds[1], 0) << "no dispatcher.list seed";
  EXPECT_GT(kinds[2], 0) << "no settings seed";
}

// The checks themselves can fail: a diagnostic outside the input, a failure without an error.
TEST(CfgFuzzCorpus, PropertiesCatchBadDiagnostics) {
  const std::string text = "a\nbc\n";
  const std::map<std::string, std::string_view> files{{"f", text}};
  const auto at = [](std::string file, uint32_t line, uint32_t col) {
    return Diagnostics{Diagnostic{Diagnostic::Severity::kError, std::move(file), line, col, "m"}};
  };
  EXPECT_EQ(check_diagnostics(at("f", 2, 3), false, files), "");
  EXPECT_EQ(check_diagnostics(at("f", 3, 1), false, files), "");
  EXPECT_EQ(check_diagnostics(at("f", 0, 0), false, files), "");
  EXPECT_NE(check_diagnostics(at("f", 4, 1), false, files), "");
  EXPECT_NE(check_diagnostics(at("f", 2, 4), false, files), "");
  EXPECT_NE(check_diagnostics(at("f", 1, 0), false, files), "");
  EXPECT_NE(check_diagnostics(at("g", 1, 1), false, files), "");
  EXPECT_NE(check_diagnostics({}, false, files), "");
  EXPECT_NE(check_diagnostics(at("f", 1, 1), true, files), "");
}

TEST(CfgFuzzCorpus, IncludesStayInTheScratchDirectory) {
  std::string plain = "include_file \"inc.cfg\"\nimport_file \"defs.cfg\"\n";
  EXPECT_TRUE(confine_includes(plain));
  EXPECT_EQ(plain, "include_file \"inc.cfg\"\nimport_file \"defs.cfg\"\n");
  std::string path = "include_file \"/etc/passwd\"\n#!import_file \"x\"\n";
  EXPECT_FALSE(confine_includes(path));
  EXPECT_EQ(path, "include_filX \"/etc/passwd\"\n#!import_filX \"x\"\n");
  std::string subst = "#!subst \"!a!b!\"\ninclude_file \"a\"\n";
  EXPECT_FALSE(confine_includes(subst));
  EXPECT_EQ(subst.find("include_file"), std::string::npos);
}

}  // namespace
}  // namespace viaduct::cfg::fuzz
