// SPDX-License-Identifier: Apache-2.0
// cfg/regex_literal.hpp: the literal fast path of a RegexSet.
//
// The regex a front-end script applies to every request is, almost always, a list of scanner
// names: `$ua =~ "friendly-scanner|sipvicious|sipcli|VaxSIPUserAgent"` (Kamailio's default
// kamailio.cfg has one in route[REQINIT]). Hyperscan answers that in ~650 instructions for a
// 45-byte User-Agent, most of it its fixed cost per call (checks, scratch, the engine's
// set-up); this path in ~105 for a 43-byte User-Agent, ~125 when the 2-byte filter flags a
// position ("sip" in "belle-sip"), ~200 for a match (perf/RESULTS.md, 2026-11-23, "V10").
//
// When every pattern of a set is a plain alternation of literals (printable ASCII, no
// metacharacter but the `|` between branches and `\` escaping a metacharacter, no empty branch)
// with the same REG_ICASE setting, RegexSet::compile() also builds a LiteralSet, and
// RegexSet::scan() uses it for subjects of up to kMaxText bytes. It answers exactly what
// regexec() and the Hyperscan database answer: pattern i matches when one of its literals occurs
// in the subject before its first NUL byte, letters compared without case under REG_ICASE
// (ASCII, as glibc in the C locale). tests/cfg/regex_literal_test.cpp checks it against both.
// The Hyperscan database is still compiled for every set (its diagnostics are the check-time
// errors, and it serves longer subjects).
//
// How: a "Teddy"-style filter (after Hyperscan's own literal matcher) reads the subject in
// place, 16 bytes a step (15 positions: the 16th byte is only the last position's second):
// four PSHUFB lookups of the low and high nibbles of each byte give, per position, the literals
// (8 buckets) whose first two bytes may start there. A block it flags (exactly a literal's first
// two bytes when there are at most 8 literals; "belle-sip" for "sipcli") goes through the same
// lookups for the third and fourth bytes (refine(): "sip/" is none of the "sip..." scanners),
// and what is left to settle(): each candidate's first 4 bytes against every literal's (four
// literals a compare), then a 16-byte compare (two for literals over 16 bytes).
// Needs SSSE3, which Hyperscan itself requires; without it no LiteralSet is built.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <emmintrin.h>

#include "cfg/regex.hpp"

namespace viaduct::cfg {

class LiteralSet {
 public:
  static constexpr size_t kMaxLiterals = 16;  // more: Hyperscan (8 buckets, two literals each)
  static constexpr size_t kMaxLength = 32;    // longest literal
  static constexpr size_t kMaxText = kRegexLiteralMaxText;  // longest subject this path scans

  // The literals of one POSIX extended pattern, when it is a plain alternation of literals as
  // described above; false otherwise (the pattern then needs a regex engine).
  static bool literals_of(std::string_view pattern, std::vector<std::string>& out);

  // Control thread. The set's literal matcher, or nullopt when some pattern is not a plain
  // alternation, the patterns mix REG_ICASE settings, the limits are passed, or the CPU lacks
  // SSSE3.
  static std::optional<LiteralSet> build(std::span<const RegexSpec> specs);

  // Worker, per packet: clears `out`, then sets the bit of every pattern with a literal in
  // `subject` (before its first NUL byte). 0 < subject.size() <= kMaxText. Defined inline in
  // regex_literal.cpp: other files call it as literal_match() (cfg/regex.hpp).
  void match(std::string_view subject, RegexMatches& out) const noexcept;


 private:
  struct Literal {
    alignas(16) std::array<uint8_t, kMaxLength> text{};  // lower case under REG_ICASE
    uint32_t mask0 = 0;  // bits of text[0..16) that must compare equal
    uint32_t mask1 = 0;  // bits of text[16..32)
    uint16_t pattern = 0;
    uint8_t len = 0;
  };
  // Nibble tables: bit b of lo0[x & 15] & hi0[x >> 4] says bucket b's literals may start with
  // byte x; lo1/hi1 the same for their second byte.
  alignas(16) std::array<uint8_t, 16> lo0_{};
  alignas(16) std::array<uint8_t, 16> hi0_{};
  alignas(16) std::array<uint8_t, 16> lo1_{};
  alignas(16) std::array<uint8_t, 16> hi1_{};
  alignas(16) std::array<uint8_t, 16> lo2_{};  // third bytes (refine())
  alignas(16) std::array<uint8_t, 16> hi2_{};
  alignas(16) std::array<uint8_t, 16> lo3_{};  // fourth bytes
  alignas(16) std::array<uint8_t, 16> hi3_{};
  // Byte 15: the buckets of 1-byte literals, which may start at a subject's last byte.
  alignas(16) std::array<uint8_t, 16> end_{};
  // Literal i's first 4 bytes (fewer: the rest 0, masked off by head_mask_): the second
  // filter, in settle(). An entry past the last literal (mask 0, head ~0) never agrees.
  alignas(16) std::array<uint32_t, kMaxLiterals> head_{};
  alignas(16) std::array<uint32_t, kMaxLiterals> head_mask_{};
  std::array<Literal, kMaxLiterals> lit_{};  // literal i in bucket i % 8
  uint8_t n_ = 0;
  uint8_t groups_ = 0;  // groups of 4 literals in head_
  bool icase_ = false;

  template <bool kLeaf>
  void blocks(const uint8_t* s, size_t n, size_t p, RegexMatches& out) const noexcept;
  void blocks_from(const uint8_t* s, size_t n, size_t p, RegexMatches& out) const noexcept;
  void match_short(const uint8_t* s, size_t n, RegexMatches& out) const noexcept;
  __m128i refine(__m128i x, __m128i c) const noexcept;
  bool settle(const uint8_t* s, size_t n, size_t base, __m128i x, __m128i c, unsigned live,
              RegexMatches& out) const noexcept;
};

}  // namespace viaduct::cfg
