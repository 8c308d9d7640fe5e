// SPDX-License-Identifier: Apache-2.0
// dataplane/vm_memo.hpp: the worker's regex memo (VmState::rx_memo) slot hash and text compare,
// in a header of their own so that tests reach them directly (tests/dataplane/vm_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE4_2__)
#include <nmmintrin.h>
#else
#include <xxhash.h>
#endif

#include "dataplane/vm.hpp"

namespace viaduct::dp {

// The regex memo's slot hash for (set, text): the slot only spreads entries (a full compare
// confirms a hit), so it need not be a strong hash, only cheap and sensitive to every byte:
// CRC32-C over the text's 8-byte words in two independent chains (the last word overlapping),
// folded by a multiply whose top bits pick the slot (memo_slot). XXH3 cost ~130 instructions
// here for a 50-byte User-Agent; this ~30. A crafted collision costs the colliding texts a
// scan, as a miss does.
inline uint64_t memo_hash(const char* p, size_t n, uint32_t set) noexcept {
#if defined(__SSE4_2__)
  const auto w64 = [](const char* q) {
    uint64_t x;
    std::memcpy(&x, q, 8);
    return x;
  };
  const auto w32 = [](const char* q) {
    uint32_t x;
    std::memcpy(&x, q, 4);
    return x;
  };
  uint64_t a = set;
  uint64_t b = n;
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      a = _mm_crc32_u64(a, w64(p + i));
      b = _mm_crc32_u64(b, w64(p + i + 8));
    }
    if (i < n) {
      a = _mm_crc32_u64(a, w64(p + n - 16));
      b = _mm_crc32_u64(b, w64(p + n - 8));
    }
  } else if (n >= 8) {
    a = _mm_crc32_u64(a, w64(p));
    b = _mm_crc32_u64(b, w64(p + n - 8));
  } else if (n >= 4) {
    a = _mm_crc32_u32(static_cast<uint32_t>(a), w32(p));
    b = _mm_crc32_u32(static_cast<uint32_t>(b), w32(p + n - 4));
  } else {
    for (size_t i = 0; i < n; ++i) {
      a = _mm_crc32_u8(static_cast<uint32_t>(a), static_cast<uint8_t>(p[i]));
    }
  }
  return (a ^ (b << 32)) * 0x9E3779B97F4A7C15ull;
#else
  return XXH3_64bits_withSeed(p, n, set);
#endif
}

inline size_t memo_slot(const char* p, size_t n, uint32_t set) noexcept {
  static_assert((kRegexMemoSlots & (kRegexMemoSlots - 1)) == 0 && kRegexMemoSlots <= 64);
  return static_cast<size_t>(memo_hash(p, n, set) >> 58) & (kRegexMemoSlots - 1);
}

// The memo's text (kRegexMemoText bytes, all readable) equals s[0, n), n <= kRegexMemoText:
// 16-byte compares, the last one overlapping, reading nothing of s outside [0, n).
inline bool memo_text_equal(const char* text, const char* s, size_t n) noexcept {
#if defined(__SSE2__)
  if (n >= 16) {
    const auto ld = [](const char* q) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    };
    __m128i diff = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      diff = _mm_or_si128(diff, _mm_xor_si128(ld(text + i), ld(s + i)));
    }
    if (i < n) {
      diff = _mm_or_si128(diff, _mm_xor_si128(ld(text + n - 16), ld(s + n - 16)));
    }
    return _mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128())) == 0xffff;
  }
#endif
  return std::memcmp(text, s, n) == 0;
}

// Copies s[0, n) to the memo's text, n <= kRegexMemoText, the way memo_text_equal reads it:
// 16-byte words, the last one overlapping (a memcpy call cost twice this for a User-Agent).
inline void memo_text_copy(char* text, const char* s, size_t n) noexcept {
#if defined(__SSE2__)
  if (n >= 16) {
    const auto copy = [&](size_t at) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(text + at),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + at)));
    };
    for (size_t i = 0; i + 16 < n; i += 16) {
      copy(i);
    }
    copy(n - 16);
    return;
  }
#endif
  std::memcpy(text, s, n);
}

}  // namespace viaduct::dp
