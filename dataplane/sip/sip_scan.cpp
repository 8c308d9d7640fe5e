// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_scan.cpp: the one-pass SIP scanner that fills SipView.
//
// Shape: the start line, then one loop over header lines. A line that starts with SP/HTAB
// continues the current field (obsolete folding), so a field is processed when the next field
// (or the empty line) starts: each byte of the header section is classified once, values are
// then re-read only for the few headers that have a slot. Bare-LF line ends are tolerated
// (as Kamailio does); spans then cover the LF alone.
//
// Two copies of the code (sip_scan_body.inc): this file builds it for every x86-64 CPU (SSE2),
// sip_scan_avx2.cpp for AVX2 and BMI2, where the line
// loop reads a header's name, its colon and its line's end from one 32-byte load (the line-end
// search then continues 32 bytes a step). scan() picks the copy once per message
// (detail::scan_avx2, set at start-up from the CPU); both fill the same SipView
// (tests/sip/sip_scan_copies_test.cpp, the sip_scan_fuzz target).
//
// Cost (perf/RESULTS.md, "SIP scanner, fourth pass (S11)"; callgrind instruction counts are
// the stable measure on the shared VM), for the perf/ messages INVITE / 200 OK / OPTIONS:
// the SSE2 copy about 2,250 / 2,455 / 2,085 instructions (2,341 / 2,585 / 2,157 before S11,
// 2,830 for the INVITE before S9, 3,590 and 4,580 before the passes before); the AVX2 copy
// about 2,290 / 2,505 / 2,115 but ~10% less time (153 against 170 ns for the INVITE): GCC
// builds each byte constant of its vector code by a broadcast from a register (3
// instructions where SSE2 loads one), and its loops take half the steps. The body is never
// read. Where the SSE2 copy's INVITE goes, largest first:
//   - the header-line loop (about 1,050 for 10 lines): next_ctl() finds the end of each line 16
//     bytes a step (SSE2: control bytes, DEL and bytes >= 0x80 in one signed compare; the first
//     such byte must be the CR of a CR LF, compared as one 16-bit word, else scan_line() decides
//     the line, quotes and HT included), fast_name() + classify_fast() read a letters-and-dash
//     name and its colon with one 16-byte load and two word compares; other names take the
//     byte-wise general path. Field values are handled inline in the loop (Scanner::field, one
//     switch on the kind).
//   - value parsers of the slotted headers (about 700): fast_via() (~236 for one Via: the
//     transport as one word, the port's digits from one 16-byte load and their value by three
//     multiplies, ";branch=" without the name search) and fast_name_addr_tag() (~129 each for
//     From and To, ";tag=" first, straight into the view's slots) take the plain shapes in one
//     pass, runs of letters, digits, '-' and '.' confirmed 16 bytes a step; anything else goes
//     to the general parsers of sip_parse.cpp. CSeq's common value is read with one 16-byte
//     load, inline; Max-Forwards' and Content-Length's digits (~97 for the last field, out of
//     line) by one digit mask and the multiplies below 9 digits.
//   - the start line, the SipView reset and the final checks (about 350): fast_start_line()
//     reads "METHOD sip:URI SIP/2.0" and "SIP/2.0 NNN reason" without the memchr() call for the
//     first LF (one search for the URI's end, or for the reason's CR); literal compares are
//     whole words (lit_eq), not memcmp() calls.
// Tried and dropped (perf/RESULTS.md): a 64-byte bitmap of line stops shared by consecutive
// lines, and reusing fast_name()'s 16-byte load for the line-end search (SSE2): both cost more
// than they saved (lines average ~35 bytes). S9: inlining fast_via(), fast_name_addr_tag() or
// field_at_end(), or calling via_field() out of line: each cost more (register spills) than the
// call it saved. S11: the AVX2 copy's helpers (fast_via, the name-addr and digit paths) shared
// with the SSE2 copy instead of built twice: twice the time (legacy SSE code run between AVX2
// code); both copies in one file: +40 instructions on the SSE2 copy (register allocation).
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

// The scanner twice: for every CPU (here), and built for AVX2 and BMI2 (sip_scan_avx2.cpp).
// scan() takes the second where the CPU has them (detail::scan_avx2, read once per message);
// tests clear the flag to check the first.
namespace sse2_body {
#define VD_SCAN_AVX2 0
#include "dataplane/sip/sip_scan_body.inc"
#undef VD_SCAN_AVX2
}  // namespace sse2_body

#if VD_SCAN_HAVE_AVX2
// The AVX2 copy, in its own translation unit (sip_scan_avx2.cpp): built beside this one, it
// changed how the compiler allocated this copy's registers (+40 instructions per INVITE).
namespace avx2_body {
ScanStatus scan_impl(const char* msg, size_t len, SipView& out) noexcept;
}  // namespace avx2_body

bool detail::scan_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("bmi") != 0 &&
         __builtin_cpu_supports("bmi2") != 0;
}();
#else
bool detail::scan_avx2 = false;
#endif

Hdr detail::header_name(const char* msg, size_t p, size_t end, size_t limit,
                        size_t& name_end) noexcept {
  if (const size_t n = sse2_body::fast_name(msg, p, limit); n != 0 && p + n <= end) {
    name_end = p + n;
    return static_cast<Hdr>(sse2_body::classify_fast(msg + p, n));
  }
  name_end = skip_class(msg, p, end, kToken);
  return static_cast<Hdr>(sse2_body::classify(msg + p, name_end - p));
}

ScanStatus scan(const char* msg, size_t len, SipView& out) noexcept {
#if VD_SCAN_HAVE_AVX2
  if (detail::scan_avx2) {
    return avx2_body::scan_impl(msg, len, out);
  }
#endif
  return sse2_body::scan_impl(msg, len, out);
}

}  // namespace viaduct::sip
