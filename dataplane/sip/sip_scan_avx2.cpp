// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_scan_avx2.cpp: the scanner's AVX2 copy: sip_scan_body.inc built for AVX2,
// BMI and BMI2 (function by function, by pragma: the file's flags stay DPDK's), which
// sip::scan() (sip_scan.cpp) runs where the CPU has them. Its line loop reads a header's name,
// its colon and its line's end from one 32-byte load; the rest is the SSE2 copy's code, here
// VEX-encoded (mixing it with legacy SSE code in one scan cost twice the time here: AVX/SSE
// transitions). Nothing but scan_impl() leaves this file.
#include "dataplane/sip/chars.hpp"

#if VD_SCAN_HAVE_AVX2
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include <emmintrin.h>
#include <immintrin.h>

#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,bmi,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2")
#endif
namespace avx2_body {
#define VD_SCAN_AVX2 1
#include "dataplane/sip/sip_scan_body.inc"
#undef VD_SCAN_AVX2
}  // namespace avx2_body
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

}  // namespace viaduct::sip
#endif
