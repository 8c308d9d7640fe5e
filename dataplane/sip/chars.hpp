// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/chars.hpp: character classes and small helpers shared by the SIP wire layer's
// sources. Internal to dataplane/sip/: not part of the sip.hpp contract.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/sip/sip.hpp"

namespace viaduct::sip::detail {

// The quote state the scanner's scan_line() would carry into `to` from a field's value start
// `from` (outside quotes there), over the field's lines: '"' toggles it, a backslash in quotes
// escapes the next byte unless that is CR or LF. Bytes a quoted string may hold (control bytes
// after a backslash, RFC 4475 intmeth) are refused outside one: an edit that cuts a value where
// this is true would change how the rest of the field scans.
inline bool quote_state(const char* msg, size_t from, size_t to) noexcept {
  bool in_quote = false;
  for (size_t p = from; p < to; ++p) {
    if (msg[p] == '"') {
      in_quote = !in_quote;
    } else if (msg[p] == '\\' && in_quote && p + 1 < to && msg[p + 1] != '\r' &&
               msg[p + 1] != '\n') {
      ++p;
    }
  }
  return in_quote;
}

enum CharClass : uint8_t {
  kToken = 1 << 0,  // RFC 3261 token: alphanum and -.!%*_+`'~
  kDigit = 1 << 1,
  kAlpha = 1 << 2,
  kHostChar = 1 << 3,  // hostname / IPv4 characters: alphanum - . (and _ tolerated)
  kCtl = 1 << 4,       // control characters not allowed outside quoted strings (not HT)
  kHex = 1 << 5,
  kLineStop = 1 << 6,  // bytes the header-line loop must look at: kCtl, '"' and '\\'
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha) {
      f |= kAlpha;
    }
    if (digit) {
      f |= kDigit;
    }
    if (alpha || digit ||
        std::string_view("-.!%*_+`'~").find(static_cast<char>(c)) != std::string_view::npos) {
      f |= kToken;
    }
    if (alpha || digit || c == '-' || c == '.' || c == '_') {
      f |= kHostChar;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      f |= kCtl | kLineStop;
    }
    if (c == '"' || c == '\\') {
      f |= kLineStop;
    }
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      f |= kHex;
    }
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kClasses = make_classes();

constexpr bool is(char c, uint8_t cls) noexcept {
  return (kClasses[static_cast<uint8_t>(c)] & cls) != 0;
}
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
// Linear white space inside a header value: folding leaves CR and LF in the value's span.
constexpr bool is_lws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Case-insensitive ASCII comparison of `a` with `lit`, which must be lowercase.
constexpr bool iequals(std::string_view a, std::string_view lit) noexcept {
  if (a.size() != lit.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lit[i]) {
      return false;
    }
  }
  return true;
}

constexpr Span make_span(size_t off, size_t end) noexcept {
  return Span{static_cast<uint16_t>(off), static_cast<uint16_t>(end - off)};
}

constexpr size_t skip_lws(const char* msg, size_t p, size_t end) noexcept {
  while (p < end && is_lws(msg[p])) {
    ++p;
  }
  return p;
}

constexpr size_t skip_class(const char* msg, size_t p, size_t end, uint8_t cls) noexcept {
  while (p < end && is(msg[p], cls)) {
    ++p;
  }
  return p;
}

// Trims LWS on both sides of [off, end).
constexpr Span trim(const char* msg, size_t off, size_t end) noexcept {
  off = skip_lws(msg, off, end);
  while (end > off && is_lws(msg[end - 1])) {
    --end;
  }
  return make_span(off, end);
}

// Parses a run of 1..10 decimal digits that fits in uint32_t. False otherwise.
constexpr bool parse_u32(std::string_view s, uint32_t& out) noexcept {
  if (s.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (!is(c, kDigit)) {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > UINT32_MAX) {
      return false;
    }
  }
  out = static_cast<uint32_t>(v);
  return true;
}

// Skips a quoted string starting at the opening quote msg[p] == '"'. Returns the offset just
// after the closing quote, or `end + 1` when it is not terminated.
constexpr size_t skip_quoted(const char* msg, size_t p, size_t end) noexcept {
  for (++p; p < end; ++p) {
    if (msg[p] == '\\') {
      ++p;
    } else if (msg[p] == '"') {
      return p + 1;
    }
  }
  return end + 1;
}

// Parses one via-parm starting at p (leading LWS skipped) and ending at a ',' or at end.
// Returns the offset of that ',' or end, or end + 1 when malformed.
size_t parse_via_at(const char* msg, size_t p, size_t end, Via& out) noexcept;

Method method_from_name(std::string_view name) noexcept;

// parse_uri() without its fast path for the common SIP URI: the grammar's reference, which the
// fast path must agree with (tests and the fuzz properties compare the two).
bool parse_uri_general(const char* msg, Span uri, Uri& out) noexcept;
// The header field name at p (a header line's start, not past `end`, its line end): sets
// name_end to the end of its token run and returns which slotted header it names, ignoring
// case, compact forms included (Hdr::kCount: none). The scanner's own reading (sip_scan.cpp
// fast_name, classify): bytes up to `limit` (the message's end) may be read.
Hdr header_name(const char* msg, size_t p, size_t end, size_t limit, size_t& name_end) noexcept;

// Whether parse_uri's fast path classifies bytes with SSSE3's pshufb (set at start-up from the
// CPU) or with SSE2 compares; tests clear it to check the SSE2 classifier too.
extern bool uri_ssse3;
// The same with AVX2 (and BMI2), 32 bytes a step; chosen before uri_ssse3 when set.
extern bool uri_avx2;
// The scanner's AVX2 copy (sip_scan_avx2.cpp) exists: x86-64 with GCC or Clang, whose
// intrinsics are usable in functions built for AVX2 whatever the file's flags.
#if defined(__x86_64__) && defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define VD_SCAN_HAVE_AVX2 1
#else
#define VD_SCAN_HAVE_AVX2 0
#endif
// Whether sip::scan() runs its AVX2 copy (sip_scan_body.inc built for AVX2 and BMI2 in
// sip_scan_avx2.cpp: line ends and header names 32 bytes a step), set at start-up from the CPU; tests clear it to check the
// SSE2 copy, which must fill the same SipView.
extern bool scan_avx2;

// Writes v in decimal to out (at least 5 bytes); returns the number of digits.
constexpr size_t write_u16(char* out, uint16_t v) noexcept {
  char tmp[5];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v = static_cast<uint16_t>(v / 10);
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) {
    out[i] = tmp[n - 1 - i];
  }
  return n;
}

}  // namespace viaduct::sip::detail
