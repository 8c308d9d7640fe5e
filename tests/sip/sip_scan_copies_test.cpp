// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_copies_test.cpp: the scanner is built twice (dataplane/sip/sip_scan_body.inc:
// for every x86-64 CPU with SSE2, and for AVX2, whose line loop reads each header name and its
// line's end from one 32-byte load). sip::scan() takes the AVX2 copy where the CPU has it; both
// must give the same status and, on kOk, the same SipView, field by field and byte by byte
// (sip_scan_same.hpp). Messages: the fuzz corpus, the RFC 4475/3665 files, the benchmark
// messages cut at every length and with every byte replaced by the bytes the loops treat
// specially, and generated header lines whose name, colon and line end fall at every offset
// around the 16- and 32-byte loads and the message's end.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"
#include "perf/messages.hpp"
#include "tests/sip/sip_scan_same.hpp"

namespace viaduct::sip {
namespace {

using test::scan_both;

// Scans an exact-size heap copy (a sanitizer build catches a read past the end) with both
// copies; returns the SSE2 copy's status.
ScanStatus expect_alike(const std::string& m, const std::string& what) {
  const std::vector<char> buf(m.begin(), m.end());
  SipView v;
  ScanStatus s = ScanStatus::kOk;
  const char* diff = scan_both(buf.data(), buf.size(), v, s);
  EXPECT_EQ(diff, nullptr) << what << ": " << (diff != nullptr ? diff : "") << "\n" << m;
  return s;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SipScanCopies, TheCpuHasTheAvx2Copy) {
  // Not an assertion of the hardware: a note when the comparisons below are SSE2 against SSE2.
  if (!detail::scan_avx2) {
    GTEST_SKIP() << "no AVX2 here: the copies below are both the SSE2 one";
  }
  SUCCEED();
}

TEST(SipScanCopies, CorpusAndRfcMessagesScanAlike) {
  size_t files = 0;
  size_t ok = 0;
  for (const char* dir : {VD_SIP_CORPUS, VD_SIP_DATA}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) {
        continue;
      }
      const std::string m = read_file(e.path());
      ++files;
      ok += expect_alike(m, e.path().string()) == ScanStatus::kOk ? 1 : 0;
    }
  }
  EXPECT_GE(files, 200u);
  EXPECT_GE(ok, 50u);  // the comparison of views, not only of statuses, is exercised
}

TEST(SipScanCopies, BenchmarkMessagesCutAndMutatedScanAlike) {
  const char kBytes[] = {'\r', '\n', '\t', ' ', ':', '"', '\\', ',', ';', '<', '>', '\0',
                         '\x7f', '\x80', '\xff', 'a', '0', '-'};
  size_t ok = 0;
  for (const std::string* msg : {&perf::kInvite, &perf::kOptions, &perf::kReply}) {
    const size_t head = msg->find("\r\n\r\n") + 4;
    for (size_t n = 0; n <= head + 8 && n <= msg->size(); ++n) {
      expect_alike(msg->substr(0, n), "cut at " + std::to_string(n));
    }
    for (size_t i = 0; i < head; ++i) {
      for (char c : kBytes) {
        std::string m = *msg;
        m[i] = c;
        ok += expect_alike(m, "byte " + std::to_string(i)) == ScanStatus::kOk ? 1 : 0;
      }
    }
  }
  EXPECT_GE(ok, 1000u);
}

// A header line of `name_len` letters and '-' (then a known name or filler), a value of
// `value_len` bytes, placed after `pad` bytes of another header: the name, the colon and the CR
// fall at every offset of the 32-byte load that starts the line, and of the one after.
TEST(SipScanCopies, NamesAndLineEndsAtEveryOffset) {
  const std::string base =
      "INVITE sip:b@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
      "Call-ID: c1\r\nCSeq: 1 INVITE\r\n";
  const std::string names[] = {"X", "Subject", "Call-ID", "Max-Forwards", "Content-Length",
                               "User-Agent", "Record-Route", "X-Extremely-Long-Header-Name-0",
                               "X-Extremely-Long-Header-Name-Abc", "Contact", "V", "To"};
  size_t ok = 0;
  size_t lines = 0;
  for (size_t pad = 0; pad < 34; ++pad) {
    for (const std::string& name : names) {
      for (size_t value_len = 0; value_len < 72; value_len += (value_len < 40 ? 1 : 7)) {
        std::string value(value_len, 'v');
        for (size_t i = 0; i < value.size(); ++i) {
          value[i] = static_cast<char>('0' + i % 10);  // digits: valid Max-Forwards too
        }
        const std::string line = name + ": " + value + "\r\n";
        const std::string filler = "P: " + std::string(pad, 'p') + "\r\n";
        std::string m = base + filler + line + "Content-Length: 0\r\n\r\n";
        ok += expect_alike(m, name + " pad " + std::to_string(pad)) == ScanStatus::kOk ? 1 : 0;
        // The same line last, near the message's end (the copies' shorter tail loads).
        m = base + filler + "Content-Length: 0\r\n" + line + "\r\n";
        ok += expect_alike(m, name + " last, pad " + std::to_string(pad)) == ScanStatus::kOk;
        // Folded onto a second line, and with an HT or a UTF-8 byte before the CR.
        m = base + filler + name + ": " + value + "\r\n " + value + "\r\nContent-Length: 0\r\n\r\n";
        expect_alike(m, name + " folded, pad " + std::to_string(pad));
        m = base + filler + name + ": " + value + "\t\xc3\xa9\r\nContent-Length: 0\r\n\r\n";
        expect_alike(m, name + " HT, pad " + std::to_string(pad));
        lines += 4;
      }
    }
  }
  EXPECT_GE(ok, lines / 4);
}

// What the AVX2 copy's line search found is what the SSE2 copy found: a known value read back
// from each copy at every offset (a copy that lost or gained a byte of a value fails here even
// where both were wrong the same way would not).
TEST(SipScanCopies, ValuesReadBackAtEveryOffset) {
  const bool cpu = detail::scan_avx2;
  for (bool avx2 : {false, true}) {
    detail::scan_avx2 = avx2 && cpu;
    for (size_t pad = 0; pad < 70; ++pad) {
      const std::string call_id = "id-" + std::string(pad, 'x') + "@h";
      const std::string m = "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                            "From: <sip:a@h>;tag=" + std::string(pad + 1, 't') + "\r\nTo: <sip:b@h>\r\n"
                            "Call-ID: " + call_id + "\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: " +
                            std::to_string(pad) + "\r\nContent-Length: 0\r\n\r\n";
      SipView v;
      ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk) << pad << " avx2 " << avx2;
      EXPECT_EQ(v.call_id.in(m.data()), call_id) << pad;
      EXPECT_EQ(v.from_tag.in(m.data()), std::string(pad + 1, 't')) << pad;
      EXPECT_EQ(v.max_forwards, pad) << pad;
      EXPECT_EQ(v.cseq_num, 7u) << pad;
      EXPECT_EQ(v.hdr_count, 7u) << pad;
      EXPECT_EQ(v.body_off, m.size()) << pad;
    }
  }
  detail::scan_avx2 = cpu;
}

}  // namespace
}  // namespace viaduct::sip
