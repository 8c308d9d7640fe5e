// SPDX-License-Identifier: Apache-2.0
// tests/support/corpus.hpp: the files of a seed corpus directory, read whole, for the tests
// that replay a fuzz target's corpus (sip-corpus, golden, control-rpc, cfg-fuzz-corpus). Regular
// files only, sorted by path; none when the directory is missing (each caller asserts how many
// it expects, so a missing corpus fails there).
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace viaduct::test {

struct CorpusFile {
  std::filesystem::path path;
  std::string bytes;
};

inline std::vector<CorpusFile> read_corpus_dir(const std::filesystem::path& dir) {
  std::vector<CorpusFile> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) {
      continue;
    }
    std::ifstream is(e.path(), std::ios::binary);
    out.push_back({e.path(), std::string((std::istreambuf_iterator<char>(is)),
                                         std::istreambuf_iterator<char>())});
  }
  std::sort(out.begin(), out.end(),
            [](const CorpusFile& a, const CorpusFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace viaduct::test
