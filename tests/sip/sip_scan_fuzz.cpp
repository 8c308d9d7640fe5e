// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_fuzz.cpp: libFuzzer target for the SIP scanner and accessors (clang,
// -Dfuzz=true). Asserts properties, not just "no crash" (tests/sip/sip_properties.hpp,
// check_scan): every span inside the input, a self-consistent view, accessors inside what they
// are given; and the scanner's two copies (SSE2, and AVX2 where the CPU has it) give the same
// status and SipView (sip_scan_same.hpp). The rewrites have their own target, sip_rewrite_fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/sip/sip_properties.hpp"
#include "tests/sip/sip_scan_same.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* msg = reinterpret_cast<const char*>(data);
  if (const char* why = viaduct::sip::test::check_scan(msg, size)) {
    std::fprintf(stderr, "sip_scan_fuzz: property violated: %s\n", why);
    std::abort();
  }
  viaduct::sip::SipView v;
  viaduct::sip::ScanStatus s = viaduct::sip::ScanStatus::kOk;
  if (const char* diff = viaduct::sip::test::scan_both(msg, size, v, s)) {
    std::fprintf(stderr, "sip_scan_fuzz: the scanner's SSE2 and AVX2 copies differ: %s\n", diff);
    std::abort();
  }
  return 0;
}
