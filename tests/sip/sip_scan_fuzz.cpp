// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_fuzz.cpp: libFuzzer target for the SIP scanner and accessors (clang,
// -Dfuzz=true). Asserts properties, not just "no crash" (tests/sip/sip_properties.hpp,
// check_scan): every span inside the input, a self-consistent view, accessors inside what they
// are given. The rewrites have their own target, sip_rewrite_fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/sip/sip_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* msg = reinterpret_cast<const char*>(data);
  if (const char* why = viaduct::sip::test::check_scan(msg, size)) {
    std::fprintf(stderr, "sip_scan_fuzz: property violated: %s\n", why);
    std::abort();
  }
  return 0;
}
