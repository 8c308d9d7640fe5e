// SPDX-License-Identifier: Apache-2.0
// cfg/regex_literal.cpp: the literal fast path of a RegexSet (see regex_literal.hpp).
#include "cfg/regex_literal.hpp"

#include <tmmintrin.h>

#include <cstring>

namespace viaduct::cfg {

namespace {

constexpr std::string_view kMeta = ".[]()*+?{}|^$\\";

constexpr uint8_t lower(uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 0x20) : c;
}

// Both cases of a letter under REG_ICASE, else the byte itself (twice).
constexpr std::array<uint8_t, 2> variants(uint8_t c, bool icase) noexcept {
  if (icase && c >= 'a' && c <= 'z') {
    return {c, static_cast<uint8_t>(c - 0x20)};
  }
  return {c, c};
}

// PSHUFB indexes 0..15, then 0x80s (a PSHUFB index with its high bit set gives 0): the 16 bytes
// from offset 16 - k move the last k bytes of a vector to its start and clear the rest.
alignas(16) constexpr std::array<uint8_t, 32> kShift = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};

// ASCII A-Z to a-z, 16 bytes: the letters are the bytes x with x - 'A' <= 25 (unsigned).
[[gnu::target("ssse3"), gnu::always_inline]] inline __m128i lower16(__m128i x) noexcept {
  const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('A'));
  const __m128i upper = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d);
  return _mm_add_epi8(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
}

// The filter of one block x of 16 bytes: byte i of the result holds the buckets whose literals
// may start at x[i], as they may start with x[i] (lo0/hi0: bits of the low and high nibbles) and
// have x[i + 1] second (lo1/hi1), x[16] taken to be `end`. Bytes >= 0x80 index with their high
// nibble masked to 8..15: no literal byte is there.
[[gnu::target("ssse3"), gnu::always_inline]] inline __m128i filter(__m128i x, __m128i end,
                                                                   __m128i lo0, __m128i hi0,
                                                                   __m128i lo1,
                                                                   __m128i hi1) noexcept {
  const __m128i k0f = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(x, k0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), k0f);
  const __m128i a = _mm_and_si128(_mm_shuffle_epi8(lo0, lo), _mm_shuffle_epi8(hi0, hi));
  const __m128i b = _mm_and_si128(_mm_shuffle_epi8(lo1, lo), _mm_shuffle_epi8(hi1, hi));
  return _mm_and_si128(a, _mm_or_si128(_mm_srli_si128(b, 1), end));
}

// Whether a block needs a closer look (LiteralSet::settle): a candidate in c, or a NUL in x
// (the subject's end, for regexec()).
[[gnu::target("ssse3"), gnu::always_inline]] inline bool suspect(__m128i x, __m128i c) noexcept {
  const __m128i zero = _mm_setzero_si128();
  const __m128i t = _mm_or_si128(c, _mm_cmpeq_epi8(x, zero));
  return _mm_movemask_epi8(_mm_cmpeq_epi8(t, zero)) != 0xffff;
}

}  // namespace

bool LiteralSet::literals_of(std::string_view pattern, std::vector<std::string>& out) {
  out.clear();
  std::string cur;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '|') {
      if (cur.empty()) {
        return false;  // an empty branch matches every subject
      }
      out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (c == '\\') {
      // `\.` is a dot; any other escape (\w, \b, \1, an escaped letter that REG_ICASE makes
      // match nothing) is the regex engine's.
      if (i + 1 >= pattern.size() || kMeta.find(pattern[i + 1]) == std::string_view::npos) {
        return false;
      }
      cur += pattern[++i];
      continue;
    }
    if (c < 0x20 || c > 0x7e || kMeta.find(c) != std::string_view::npos) {
      return false;
    }
    cur += c;
  }
  if (cur.empty()) {
    return false;
  }
  out.push_back(std::move(cur));
  return true;
}

std::optional<LiteralSet> LiteralSet::build(std::span<const RegexSpec> specs) {
  if (specs.empty() || __builtin_cpu_supports("ssse3") == 0) {
    return std::nullopt;
  }
  LiteralSet set;
  set.icase_ = (specs[0].flags & kRegexIcase) != 0;
  set.head_.fill(~uint32_t{0});
  std::vector<std::string> lits;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (((specs[i].flags & kRegexIcase) != 0) != set.icase_ ||
        !literals_of(specs[i].pattern, lits)) {
      return std::nullopt;
    }
    for (const std::string& s : lits) {
      if (set.n_ == kMaxLiterals || s.size() > kMaxLength) {
        return std::nullopt;
      }
      Literal& l = set.lit_[set.n_];
      l.pattern = static_cast<uint16_t>(i);
      l.len = static_cast<uint8_t>(s.size());
      for (size_t k = 0; k < s.size(); ++k) {
        const auto c = static_cast<uint8_t>(s[k]);
        l.text[k] = set.icase_ ? lower(c) : c;
      }
      // Bytes 0..3 (little-endian: byte k in bits 8k..8k+7), those beyond its end masked off.
      set.head_[set.n_] = 0;
      for (size_t k = 0; k < 4 && k < s.size(); ++k) {
        set.head_[set.n_] |= uint32_t{l.text[k]} << (8 * k);
        set.head_mask_[set.n_] |= uint32_t{0xff} << (8 * k);
      }
      l.mask0 = s.size() >= 16 ? 0xffffu : (1u << s.size()) - 1;
      l.mask1 = s.size() <= 16 ? 0u : s.size() >= 32 ? 0xffffu : (1u << (s.size() - 16)) - 1;
      const auto bit = static_cast<uint8_t>(1u << (set.n_ & 7));  // bucket n_ % 8
      for (uint8_t v : variants(l.text[0], set.icase_)) {
        set.lo0_[v & 15] |= bit;
        set.hi0_[v >> 4] |= bit;
      }
      if (s.size() == 1) {
        for (size_t k = 0; k < 16; ++k) {  // any second byte, the NUL after the subject too
          set.lo1_[k] |= bit;
          set.hi1_[k] |= bit;
        }
        set.end_[15] |= bit;  // and the subject's end
      } else {
        for (uint8_t v : variants(l.text[1], set.icase_)) {
          set.lo1_[v & 15] |= bit;
          set.hi1_[v >> 4] |= bit;
        }
      }
      // The third and fourth bytes, for refine(): any byte past a shorter literal's end.
      const auto third_fourth = [&](size_t k, std::array<uint8_t, 16>& lo,
                                    std::array<uint8_t, 16>& hi) {
        if (s.size() <= k) {
          for (size_t j = 0; j < 16; ++j) {
            lo[j] |= bit;
            hi[j] |= bit;
          }
          return;
        }
        for (uint8_t v : variants(l.text[k], set.icase_)) {
          lo[v & 15] |= bit;
          hi[v >> 4] |= bit;
        }
      };
      third_fourth(2, set.lo2_, set.hi2_);
      third_fourth(3, set.lo3_, set.hi3_);
      ++set.n_;
    }
  }
  set.groups_ = static_cast<uint8_t>((set.n_ + 3) / 4);
  return set;
}

// The candidates `c` of block x (filter()) whose literals may also have the next two bytes third
// and fourth (lo2/hi2, lo3/hi3 as lo1/hi1): a 4-byte filter, run only on blocks the 2-byte one
// flagged. "sip/" of "belle-sip/5.2" (Linphone's User-Agent) stops here instead of in settle()'s
// compares with "sipcli", "sip-scan", "sipvicious". Bytes past the block (positions 14, 15 for
// the third byte, 13..15 for the fourth) are not in x: those positions keep their candidates.
[[gnu::target("ssse3"), gnu::always_inline]] inline __m128i LiteralSet::refine(
    __m128i x, __m128i c) const noexcept {
  const auto ld = [](const std::array<uint8_t, 16>& t) {
    return _mm_load_si128(reinterpret_cast<const __m128i*>(t.data()));
  };
  const __m128i k0f = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(x, k0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), k0f);
  const __m128i b2 = _mm_and_si128(_mm_shuffle_epi8(ld(lo2_), lo), _mm_shuffle_epi8(ld(hi2_), hi));
  const __m128i b3 = _mm_and_si128(_mm_shuffle_epi8(ld(lo3_), lo), _mm_shuffle_epi8(ld(hi3_), hi));
  const __m128i ones = _mm_set1_epi8(-1);
  return _mm_and_si128(
      c, _mm_and_si128(_mm_or_si128(_mm_srli_si128(b2, 2), _mm_slli_si128(ones, 14)),
                       _mm_or_si128(_mm_srli_si128(b3, 3), _mm_slli_si128(ones, 13))));
}

// The positions of one block, from the subject's byte `base`, that the filter left: bit i of
// `c`'s byte i says which buckets' literals may start at s + base + i; `live` masks the
// positions this block answers. Cut at the first NUL of `x` (the block's bytes); each candidate
// before it compared whole. Returns true when the subject ends here (a NUL). Out of line: the
// scan loop keeps few registers, and most blocks of a User-Agent have no candidate.
[[gnu::target("ssse3"), gnu::noinline]] bool LiteralSet::settle(const uint8_t* s, size_t n,
                                                                size_t base, __m128i x,
                                                                __m128i c, unsigned live,
                                                                RegexMatches& out) const noexcept {
  const __m128i zero = _mm_setzero_si128();
  const auto nul = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, zero)));
  unsigned cand = (static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(c, zero))) ^ 0xffffu) &
                  live & ((nul & (0u - nul)) - 1);
  if (cand == 0) {
    return nul != 0;
  }
  const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
  for (; cand != 0; cand &= cand - 1) {
    const size_t pos = base + static_cast<unsigned>(__builtin_ctz(cand));
    const size_t room = n - pos;  // bytes of the subject from pos, >= 1
    // The 16 bytes from pos, NULs after the subject's end (its last 16 bytes moved down by a
    // PSHUFB whose index runs out into kShift's 0x80s, which give 0).
    __m128i w = room >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + pos))
                           : _mm_shuffle_epi8(last, _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                        kShift.data() + 16 - room)));
    if (icase_) {
      w = lower16(w);
    }
    // The literals whose first (up to) 4 bytes are here, four literals a compare (refine()
    // could not tell: a bucket of two literals, or bytes past its block).
    const __m128i head = _mm_shuffle_epi32(w, 0);
    const auto group = [&](unsigned g) {  // bits 4g..4g+3: literals 4g..4g+3
      const __m128i e = _mm_cmpeq_epi32(
          _mm_and_si128(head, _mm_load_si128(reinterpret_cast<const __m128i*>(&head_mask_[4 * g]))),
          _mm_load_si128(reinterpret_cast<const __m128i*>(&head_[4 * g])));
      return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(e))) << (4 * g);
    };
    unsigned lits = group(0);
    if (groups_ > 1) {
      lits |= group(1);
      if (groups_ > 2) {
        lits |= group(2) | group(3);  // group 3 past the last literal: never agrees
      }
    }
    for (; lits != 0; lits &= lits - 1) {
      const Literal& l = lit_[__builtin_ctz(lits)];
      if (l.len > 4) {  // the rest of it; a literal longer than `room` meets a 0, which none holds
        const auto e0 = static_cast<unsigned>(_mm_movemask_epi8(
            _mm_cmpeq_epi8(w, _mm_load_si128(reinterpret_cast<const __m128i*>(l.text.data())))));
        if ((e0 & l.mask0) != l.mask0) {
          continue;
        }
        if (l.len > 16) {  // its bytes 16..31 against the subject's, NULs after its end
          __m128i w1 =
              room >= 32   ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + pos + 16))
              : room <= 16 ? _mm_setzero_si128()
                           : _mm_shuffle_epi8(last, _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                        kShift.data() + 32 - room)));
          if (icase_) {
            w1 = lower16(w1);
          }
          const auto e1 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(
              w1, _mm_load_si128(reinterpret_cast<const __m128i*>(l.text.data() + 16)))));
          if ((e1 & l.mask1) != l.mask1) {
            continue;
          }
        }
      }
      out.set(l.pattern);
    }
  }
  return nul != 0;
}

// The blocks of s[0, n) (n >= 16) from position p (p + 16 < n, or the last block). kLeaf:
// match()'s copy, which calls nothing but in tail position (no registers to save, no vectors
// to spill): a block that needs settle() is handed, with the rest, to blocks_from().
template <bool kLeaf>
[[gnu::target("ssse3"), gnu::always_inline]] inline void LiteralSet::blocks(
    const uint8_t* s, size_t n, size_t p, RegexMatches& out) const noexcept {
  const __m128i zero = _mm_setzero_si128();
  const __m128i lo0 = _mm_load_si128(reinterpret_cast<const __m128i*>(lo0_.data()));
  const __m128i hi0 = _mm_load_si128(reinterpret_cast<const __m128i*>(hi0_.data()));
  const __m128i lo1 = _mm_load_si128(reinterpret_cast<const __m128i*>(lo1_.data()));
  const __m128i hi1 = _mm_load_si128(reinterpret_cast<const __m128i*>(hi1_.data()));
  // Per block x of 16 bytes: a = the buckets whose literals may start with each byte, b = those
  // whose literals may have it second; a literal may start at position i when a[i] and b[i + 1]
  // agree (c), so a block answers its first 15 positions, and the next block starts at the
  // 16th. b[16] is taken to be `end` (0 but in the last block).
  for (; p + 16 < n; p += 15) {  // blocks whose 16th byte is not the subject's last
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + p));
    const __m128i c = filter(x, zero, lo0, hi0, lo1, hi1);
    if (suspect(x, c)) [[unlikely]] {
      const __m128i c4 = refine(x, c);
      if (suspect(x, c4)) {
        if constexpr (kLeaf) {
          blocks_from(s, n, p, out);
          return;
        } else if (settle(s, n, p, x, c4, 0x7fffu, out)) {
          return;
        }
      }
    }
  }
  // The last 16 bytes (positions below p answered already, and held no NUL): the last
  // position's next byte is the end, where only 1-byte literals (end_'s byte 15) may start.
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
  const __m128i c = filter(x, _mm_load_si128(reinterpret_cast<const __m128i*>(end_.data())), lo0,
                           hi0, lo1, hi1);
  if (suspect(x, c)) {
    const __m128i c4 = refine(x, c);
    if (suspect(x, c4)) {
      settle(s, n, n - 16, x, c4, (0xffffu << (p - (n - 16))) & 0xffffu, out);
    }
  }
}

[[gnu::target("ssse3"), gnu::noinline]] void LiteralSet::blocks_from(
    const uint8_t* s, size_t n, size_t p, RegexMatches& out) const noexcept {
  blocks<false>(s, n, p, out);
}

// A subject under 16 bytes, copied, followed by NULs, which end it as its end would.
[[gnu::target("ssse3"), gnu::noinline]] void LiteralSet::match_short(
    const uint8_t* s, size_t n, RegexMatches& out) const noexcept {
  alignas(16) uint8_t small[16] = {};
  std::memcpy(small, s, n);
  blocks<false>(small, 16, 0, out);
}

[[gnu::target("ssse3"), gnu::always_inline]] inline void LiteralSet::match(
    std::string_view subject, RegexMatches& out) const noexcept {
  out.clear();
  // Only the subject's own bytes are read, in place (a copy to a buffer cost more than the scan:
  // the loads then wait for the copy's stores).
  const auto* s = reinterpret_cast<const uint8_t*>(subject.data());
  if (subject.size() < 16) [[unlikely]] {
    match_short(s, subject.size(), out);
    return;
  }
  blocks<true>(s, subject.size(), 0, out);
}

[[gnu::target("ssse3")]] void literal_match(const LiteralSet& set, std::string_view subject,
                                            RegexMatches& out) noexcept {
  set.match(subject, out);  // inlined: its only caller
}

}  // namespace viaduct::cfg
