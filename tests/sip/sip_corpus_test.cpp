// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_corpus_test.cpp: replays the fuzz seed corpus (tests/sip/corpus/) through the
// fuzz targets' property checks, with the normal compiler in the normal build, so the
// properties hold in every CI run and a reproducer saved there stays a regression test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/sip/sip.hpp"
#include "tests/sip/sip_properties.hpp"
#include "tests/support/corpus.hpp"
#include "tests/sip/sip_test_util.hpp"

namespace viaduct::sip::test {
namespace {

TEST(SipCorpus, EveryFileKeepsTheScanAndRewriteProperties) {
  const std::vector<viaduct::test::CorpusFile> files =
      viaduct::test::read_corpus_dir(VD_SIP_CORPUS);
  ASSERT_GE(files.size(), 50u) << "corpus missing or truncated: " << VD_SIP_CORPUS;
  size_t scanned = 0;
  size_t requests = 0;
  size_t responses = 0;
  for (const auto& [path, data] : files) {
    // An exact-size heap copy, so the sanitizer build catches a read one byte past the end.
    std::unique_ptr<char[]> msg(new char[std::max<size_t>(data.size(), 1)]);
    std::memcpy(msg.get(), data.data(), data.size());
    if (const char* why = check_rewrite(msg.get(), data.size())) {
      ADD_FAILURE() << path.filename().string() << ": property violated: " << why;
    }
    SipView v;
    if (scan(msg.get(), data.size(), v) == ScanStatus::kOk) {
      ++scanned;
      ++(v.is_request ? requests : responses);
    }
  }
  // The corpus must keep exercising the rewrites, not only the rejections.
  EXPECT_GE(requests, 20u);
  EXPECT_GE(responses, 5u);
  EXPECT_GE(scanned, files.size() / 4);
}

}  // namespace
}  // namespace viaduct::sip::test
