// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_rewrite_fuzz.cpp: libFuzzer target for the SIP rewriter (clang, -Dfuzz=true).
// For every input that scans, checks the scanner properties and then the rewrites the pipeline
// makes (tests/sip/sip_properties.hpp, check_rewrite): the forward of a request re-scans with
// one more Via and the same Call-ID, CSeq and body; removing the top Via re-scans with one
// fewer; the stateless reply re-scans as a response. apply_edits is checked against a
// reference implementation with headroom, with tailroom and with no room.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/sip/sip_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* msg = reinterpret_cast<const char*>(data);
  if (const char* why = viaduct::sip::test::check_rewrite(msg, size)) {
    std::fprintf(stderr, "sip_rewrite_fuzz: property violated: %s\n", why);
    std::abort();
  }
  return 0;
}
