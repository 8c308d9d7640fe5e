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
      l.mask0 = s.size() >= 16 ? 0xffffu : (1u << s.size()) - 1;
      l.mask1 = s.size() <= 16 ? 0u : s.size() >= 32 ? 0xffffu : (1u << (s.size() - 16)) - 1;
      const auto bit = static_cast<uint8_t>(1u << (set.n_ & 7));
      for (uint8_t v : variants(l.text[0], set.icase_)) {
        set.lo0_[v & 15] |= bit;
        set.hi0_[v >> 4] |= bit;
      }
      if (s.size() == 1) {
        for (size_t k = 0; k < 16; ++k) {  // any second byte, the NUL after the subject too
          set.lo1_[k] |= bit;
          set.hi1_[k] |= bit;
        }
      } else {
        for (uint8_t v : variants(l.text[1], set.icase_)) {
          set.lo1_[v & 15] |= bit;
          set.hi1_[v >> 4] |= bit;
        }
      }
      ++set.n_;
    }
  }
  return set;
}

// The candidates of one block: bit i of `cand` says that a literal of the buckets in byte i of
// `c` may start at s + base + i; each is compared whole. `n`: the subject's length.
[[gnu::target("ssse3"), gnu::always_inline]] inline void LiteralSet::confirm(const uint8_t* s, size_t n, size_t base,
                                                  __m128i c, unsigned cand,
                                                  RegexMatches& out) const noexcept {
  alignas(16) uint8_t buckets[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(buckets), c);
  const __m128i zero = _mm_setzero_si128();
  const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
  for (; cand != 0; cand &= cand - 1) {
    const unsigned at = static_cast<unsigned>(__builtin_ctz(cand));
    const uint8_t* q = s + base + at;
    const size_t room = n - base - at;  // bytes of the subject from q, >= 1
    // v0, v1: the 32 bytes from q, NULs after the subject's end (its last 16 bytes moved down
    // by a PSHUFB whose index runs out into kShift's 0x80s, which give 0).
    const __m128i v0 =
        room >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(q))
                   : _mm_shuffle_epi8(last, _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                kShift.data() + 16 - room)));
    const __m128i v1 =
        room >= 32   ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16))
        : room <= 16 ? zero
                     : _mm_shuffle_epi8(last, _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                  kShift.data() + 32 - room)));
    const __m128i w0 = icase_ ? lower16(v0) : v0;
    const __m128i w1 = icase_ ? lower16(v1) : v1;
    for (unsigned b = buckets[at]; b != 0; b &= b - 1) {
      for (size_t i = static_cast<size_t>(__builtin_ctz(b)); i < n_; i += 8) {
        const Literal& l = lit_[i];
        const auto e0 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(
            w0, _mm_load_si128(reinterpret_cast<const __m128i*>(l.text.data())))));
        const auto e1 = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(
            w1, _mm_load_si128(reinterpret_cast<const __m128i*>(l.text.data() + 16)))));
        // A literal longer than `room` meets a 0 there, which no literal holds.
        if ((e0 & l.mask0) == l.mask0 && (e1 & l.mask1) == l.mask1) {
          out.set(l.pattern);
        }
      }
    }
  }
}

[[gnu::target("ssse3")]] void LiteralSet::match(std::string_view subject,
                                                RegexMatches& out) const noexcept {
  out.clear();
  const auto* s = reinterpret_cast<const uint8_t*>(subject.data());
  size_t n = subject.size();
  // Only the subject's own bytes are read, in place (a copy to a buffer cost more than the scan:
  // the loads then wait for the copy's stores). A subject under 16 bytes is copied, followed by
  // NULs, which end it as its end would.
  alignas(16) uint8_t small[16] = {};
  if (n < 16) {
    std::memcpy(small, s, n);
    s = small;
    n = 16;
  }
  const __m128i zero = _mm_setzero_si128();
  const __m128i lo0 = _mm_load_si128(reinterpret_cast<const __m128i*>(lo0_.data()));
  const __m128i hi0 = _mm_load_si128(reinterpret_cast<const __m128i*>(hi0_.data()));
  const __m128i lo1 = _mm_load_si128(reinterpret_cast<const __m128i*>(lo1_.data()));
  const __m128i hi1 = _mm_load_si128(reinterpret_cast<const __m128i*>(hi1_.data()));
  const __m128i k0f = _mm_set1_epi8(0x0f);
  // Blocks of 16 bytes from the start. The last partial one is the subject's last bytes moved
  // down into place with NULs after them; after the last byte comes a block of NULs. Per block
  // x: a = the buckets whose literals may start with each byte, b = those whose literals may
  // have it second. A literal may start at position i when a[i] and b[i + 1] agree: b[16] is
  // the next block's b[0], so each block is settled when the next one is read.
  __m128i a_prev = zero;
  __m128i b_prev = zero;
  for (size_t p = 0;; p += 16) {
    __m128i x = zero;
    if (p + 16 <= n) {
      x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + p));
    } else if (p < n) {
      x = _mm_shuffle_epi8(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16)),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(kShift.data() + 16 - (n - p))));
    }
    // Bytes >= 0x80 index with their high nibble masked to 8..15: no literal byte is there.
    const __m128i lo = _mm_and_si128(x, k0f);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), k0f);
    const __m128i a = _mm_and_si128(_mm_shuffle_epi8(lo0, lo), _mm_shuffle_epi8(hi0, hi));
    const __m128i b = _mm_and_si128(_mm_shuffle_epi8(lo1, lo), _mm_shuffle_epi8(hi1, hi));
    const auto nul = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, zero)));
    if (p != 0) {  // the previous block, which held no NUL
      const __m128i c = _mm_and_si128(a_prev, _mm_alignr_epi8(b, b_prev, 1));
      const auto cand = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(c, zero))) ^ 0xffffu;
      if (cand != 0) [[unlikely]] {
        confirm(s, n, p - 16, c, cand, out);
      }
    }
    if (nul != 0) {
      // Positions before the first NUL, whose next byte is in this block.
      const __m128i c = _mm_and_si128(a, _mm_srli_si128(b, 1));
      const auto cand = (static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(c, zero))) ^ 0xffffu) &
                        ((nul & (0u - nul)) - 1);
      if (cand != 0) {
        confirm(s, n, p, c, cand, out);
      }
      return;
    }
    a_prev = a;
    b_prev = b;
  }
}

}  // namespace viaduct::cfg
