// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.cpp: the Internet checksums the fast path computes in software. See cksum.hpp.
#include "dataplane/cksum.hpp"

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "dataplane/sip/move_bytes.hpp"
#if defined(__SSE2__)
#include <immintrin.h>  // SSE2; AVX2 only in fold_sum_avx2, built for it
#endif

namespace viaduct::dp {

namespace detail {
#if defined(__SSE2__)
bool cksum_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
#else
bool cksum_avx2 = false;
#endif
}  // namespace detail

namespace {

#if defined(__SSE2__)
// sum_avx2's masks for the last 0..7 words: kTailMask + 8 - k has k words on.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                               0,  0,  0,  0,  0,  0,  0,  0};

// fold_sum's loop over 32-byte AVX2 words, for CPUs that have them (detail::cksum_avx2, chosen
// at start-up). pmaddwd adds pairs of 16-bit words into 32-bit lanes, but signed: each word is
// biased by -32768 first (its top bit flipped), so a pair adds to [-65536, 65534], and 32768
// per word summed is added back at the end. 128 bytes a step into two accumulators, then 32,
// then the last whole 32-bit words in one masked load (the words it leaves out read as 0 and
// count as summed words: their bias comes back with the rest). A lane takes at most 2^11 steps
// for 64 KiB: below 2^28 in magnitude. Returns `sum` plus the bytes' sum (as 16-bit words;
// unfolded, below 2^31) and sets `done` to the bytes it took (len rounded down to a multiple
// of 4); fold_sum adds the last one to three bytes. An 876-byte datagram: ~180 instructions
// instead of the SSE2 loop's ~450, a third less time (perf/RESULTS.md, W11).
[[gnu::target("avx2,tune=haswell")]] [[gnu::noinline]] uint64_t sum_avx2(const unsigned char* p,
                                                                         size_t len, uint64_t sum,
                                                                         size_t& done) noexcept {
  const __m256i bias = _mm256_set1_epi16(static_cast<int16_t>(0x8000));
  const __m256i one = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_setzero_si256();
  __m256i a1 = _mm256_setzero_si256();
  // A macro, not a lambda: a lambda is not built for AVX2.
#define VD_PAIRS(at) \
  _mm256_madd_epi16(  \
      _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (at))), bias), one)
  size_t i = 0;
  for (; i + 128 <= len; i += 128) {
    a0 = _mm256_add_epi32(a0, VD_PAIRS(i));
    a1 = _mm256_add_epi32(a1, VD_PAIRS(i + 32));
    a0 = _mm256_add_epi32(a0, VD_PAIRS(i + 64));
    a1 = _mm256_add_epi32(a1, VD_PAIRS(i + 96));
  }
  for (; i + 32 <= len; i += 32) {
    a0 = _mm256_add_epi32(a0, VD_PAIRS(i));
  }
#undef VD_PAIRS
  const size_t k = (len - i) / 4;
  const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - k));
  const __m256i w = _mm256_maskload_epi32(reinterpret_cast<const int*>(p + i), mask);
  a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_xor_si256(w, bias), one));
  const uint64_t words = (i + 32) / 2;  // every vector's 16 words, the masked one's included
  i += 4 * k;
  const __m256i a = _mm256_add_epi32(a0, a1);
  const __m256i q = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)),
                                     _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)));
  const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const int64_t lanes = _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
  done = i;
  return sum + static_cast<uint64_t>(lanes + static_cast<int64_t>(words * 32768));
}
#endif

// fold_sum's last: the half word and byte past the last whole 32-bit word (i), folded.
[[gnu::always_inline]] inline uint16_t fold_tail(const unsigned char* p, size_t len, size_t i,
                                                 uint64_t sum) noexcept {
  if (i + 2 <= len) {
    uint16_t w;
    std::memcpy(&w, p + i, 2);
    sum += w;
    i += 2;
  }
  if (i < len) {
    sum += p[i];
  }
  return fold_to_16(sum);
}

// rte_raw_cksum(buf, len) plus `sum`, reduced: the 16-bit one's complement sum of the buffer's
// 16-bit words (little-endian loads; an odd last byte as the low byte of a word), folded.
//
// A one's complement sum can be taken over wider words and folded at the end (2^16 = 1 modulo
// 0xffff): the buffer is added as 32-bit words into 64-bit lanes, 64 bytes per step in four
// SSE2 accumulators (no carry is lost before 2^32 words), then folded to 16 bits with the
// end-around carry. The result is DPDK's for every input: both are the unique representative
// in [1, 0xffff] of a non-zero sum modulo 0xffff, and 0 only for an all-zero buffer. DPDK's
// 16-bit-word loop, vectorised by GCC at -O3, was ~29 ns for a 868-byte INVITE datagram here;
// this is ~19 (perf/RESULTS.md). tests/dataplane/cksum_offload_test.cpp compares the two.
uint16_t fold_sum(const void* buf, size_t len, uint64_t sum) noexcept {
  const auto* p = static_cast<const unsigned char*>(buf);
  size_t i = 0;
#if defined(__SSE2__)
  // Below ~256 bytes the AVX2 path's set-up (the call, the masked load, the reduction,
  // vzeroupper) costs what its wider loop saves (measured: equal at 128 bytes, 256 bytes 8.5 ->
  // 8.0 ns, 876 bytes a third less).
  if (len >= 256 && detail::cksum_avx2) {
    sum = sum_avx2(p, len, sum, i);
    return fold_tail(p, len, i, sum);
  }
  if (len >= 16) {
    const __m128i z = _mm_setzero_si128();
    __m128i a0 = z;
    __m128i a1 = z;
    __m128i a2 = z;
    __m128i a3 = z;
    const auto ld = [p](size_t at) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    };
    for (; i + 64 <= len; i += 64) {
      const __m128i x = ld(i);
      const __m128i y = ld(i + 16);
      const __m128i u = ld(i + 32);
      const __m128i v = ld(i + 48);
      a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(x, z));
      a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(x, z));
      a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(y, z));
      a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(y, z));
      a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(u, z));
      a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(u, z));
      a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(v, z));
      a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(v, z));
    }
    for (; i + 16 <= len; i += 16) {
      const __m128i x = ld(i);
      a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(x, z));
      a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(x, z));
    }
    const __m128i a = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
    uint64_t lanes[2];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), a);
    // Each lane is below 2^32 * (len / 8): adding the two and `sum` cannot wrap 64 bits.
    sum += lanes[0] + lanes[1];
  }
#endif
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    std::memcpy(&w, p + i, 4);
    sum += w;
  }
  return fold_tail(p, len, i, sum);
}

// The complemented checksum to store; RFC 768: a UDP checksum computed as 0 goes out as 0xffff.
uint16_t finish(uint32_t sum, uint8_t proto) noexcept {
  sum = (sum & 0xffffu) + (sum >> 16);
  const uint16_t ck = static_cast<uint16_t>(~sum);
  return ck == 0 && proto == IPPROTO_UDP ? 0xffff : ck;
}

}  // namespace

// rte_ipv4_udptcp_cksum with the sum above: the same value for every input.
uint16_t ipv4_udptcp_cksum(const rte_ipv4_hdr* ip, const void* l4) noexcept {
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  const uint32_t l3_len = rte_be_to_cpu_16(ip->total_length);
  if (l3_len < ihl) {
    return finish(0, ip->next_proto_id);  // DPDK's: the non-complemented sum taken as 0
  }
  return finish(uint32_t{fold_sum(l4, l3_len - ihl, 0)} + rte_ipv4_phdr_cksum(ip, 0),
                ip->next_proto_id);
}

namespace {
uint16_t ipv6_sum(const rte_ipv6_hdr* ip, const void* l4) noexcept {
  const uint32_t s = uint32_t{fold_sum(l4, rte_be_to_cpu_16(ip->payload_len), 0)} +
                     rte_ipv6_phdr_cksum(ip, 0);
  return static_cast<uint16_t>((s & 0xffffu) + (s >> 16));
}
}  // namespace

uint16_t ipv6_udptcp_cksum(const rte_ipv6_hdr* ip, const void* l4) noexcept {
  return finish(ipv6_sum(ip, l4), ip->proto);
}

int ipv6_udptcp_cksum_verify(const rte_ipv6_hdr* ip, const void* l4) noexcept {
  return ipv6_sum(ip, l4) == 0xffff ? 0 : -1;
}

uint16_t raw_cksum(const void* buf, size_t len) noexcept { return fold_sum(buf, len, 0); }

// The pseudo-header's words are added as they lie in memory, like __rte_raw_cksum's: a one's
// complement sum is the same in either byte order, so protocol and length go in big-endian.
bool ipv4_udp_cksum_ok(const rte_ipv4_hdr* ip, const void* udp, size_t udp_len) noexcept {
  // The addresses as two 32-bit words, not through fold_sum (~45 instructions for 8 bytes).
  uint64_t sum = uint64_t{ip->src_addr} + ip->dst_addr;
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return fold_sum(udp, udp_len, sum) == 0xffff;
}

bool ipv6_udp_cksum_ok(const rte_ipv6_hdr* ip, const void* udp, size_t udp_len) noexcept {
  uint64_t sum = uint64_t{fold_sum(ip->src_addr, 32, 0)};
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return fold_sum(udp, udp_len, sum) == 0xffff;
}

// ---- the checksum of a forwarded datagram from the received one ---------------------------------

namespace {

// The sum of a few bytes (the edits' inserts and deletions, tens of bytes), inline, where
// fold_sum's vector set-up would cost more than the bytes: 8-byte words added in 64 bits and
// their carries counted (an add and an add-with-carry a word; 2^64 = 1 modulo 0xffff, so the
// carries fold back in like the 16-bit ones), returned below 2^34.
[[gnu::always_inline]] inline uint64_t short_sum(const unsigned char* p, size_t len) noexcept {
  uint64_t acc = 0;
  uint64_t s = 0;  // the carries: fewer than the words
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    s += __builtin_add_overflow(acc, w, &acc) ? 1 : 0;
  }
  s += (acc & 0xffffffffu) + (acc >> 32);
  if (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    s += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    s += w;
    p += 2;
    len -= 2;
  }
  if (len != 0) {
    s += *p;
  }
  return s;
}

// The sum of bytes that lie at payload offset `off`: at an odd offset its bytes are the other
// halves of their words, the sum times 256 (2^16 = 1 modulo 0xffff: the byte swap the lanes
// need). Short runs inline, long ones (a moved segment) with fold_sum's vector loop.
// Unfolded: below 2^48 either way, a few of them add up without a carry out of 64 bits.
[[gnu::always_inline]] inline uint64_t sum_at(const void* p, size_t len, size_t off) noexcept {
  if (len == 0) {
    return 0;
  }
  uint64_t s = 0;
  if (len == 2) {  // a Max-Forwards value going out and in: one word, not short_sum's tests
    uint16_t w;
    std::memcpy(&w, p, 2);
    s = w;
  } else {
    s = len < 64 ? short_sum(static_cast<const unsigned char*>(p), len) : fold_sum(p, len, 0);
  }
  return (off & 1) != 0 ? s << 8 : s;
}

// One's complement times 256 as a rotation (oc_add, oc_neg: cksum.hpp).
using detail::oc_add;
using detail::oc_neg;
[[gnu::always_inline]] inline uint64_t oc_times_255(uint64_t a) noexcept {
  return oc_add((a << 8) | (a >> 56), ~a);
}

}  // namespace

namespace detail {
uint64_t sum_at_offset(const void* p, size_t len, size_t off) noexcept {
  return sum_at(p, len, off);
}
}  // namespace detail

namespace {

// What edited_sum and apply_edits_summed take from the edits in one walk: the sums of the
// inserted bytes (at their offsets in the result) and of the deleted ones, the bytes of the
// kept segments that land at an offset of the other parity (a kept segment lands where it was
// plus what the edits in front of it added: odd when that is odd), the growth (modulo 2^64)
// and whether an edit deletes more than it inserts. False on edits apply_edits refuses.
struct EditSums {
  uint64_t ins = 0;
  uint64_t del = 0;
  size_t odd_bytes = 0;
  size_t grow = 0;
  bool shrinks = false;  // an edit deletes more than it inserts
};
[[gnu::always_inline]] inline bool sum_edits(const unsigned char* msg, size_t len,
                                             std::span<const sip::Edit> edits,
                                             EditSums& s) noexcept {
  size_t prev_end = 0;
  for (const sip::Edit& e : edits) {
    if (e.off < prev_end || size_t{e.off} + e.del > len) {
      return false;
    }
    s.odd_bytes += (s.grow & 1) != 0 ? e.off - prev_end : 0;
    s.ins += sum_at(e.ins.data(), e.ins.size(), e.off + s.grow);
    s.del += sum_at(msg + e.off, e.del, e.off);
    s.grow += e.ins.size() - e.del;
    s.shrinks |= e.ins.size() < e.del;
    prev_end = size_t{e.off} + e.del;
  }
  s.odd_bytes += (s.grow & 1) != 0 ? len - prev_end : 0;  // the tail
  return true;
}

// The new sum from `sum` (msg[0, len) before the edits) and sum_edits' s: new = sum - del +
// 255 * odd + ins, where odd is the sum of the odd-moved segments at their old offsets: summed,
// or sum - del - (the others) when they are the fewer bytes. Reads msg: before it moves.
[[gnu::always_inline]] inline uint64_t edited(const unsigned char* msg, size_t len,
                                              std::span<const sip::Edit> edits, uint64_t sum,
                                              const EditSums& s) noexcept {
  const uint64_t kept = oc_add(sum, oc_neg(s.del));
  uint64_t out = oc_add(kept, s.ins);
  if (s.odd_bytes != 0) [[unlikely]] {
    const bool sum_odd = s.odd_bytes <= len - s.odd_bytes;
    uint64_t part = 0;
    size_t prev_end = 0;
    size_t grow = 0;
    for (const sip::Edit& e : edits) {
      const size_t n = e.off - prev_end;
      if (((grow & 1) != 0) == sum_odd && n != 0) {
        part += sum_at(msg + prev_end, n, prev_end);
      }
      grow += e.ins.size() - e.del;
      prev_end = size_t{e.off} + e.del;
    }
    if (((grow & 1) != 0) == sum_odd && len != prev_end) {
      part += sum_at(msg + prev_end, len - prev_end, prev_end);
    }
    const uint64_t odd = sum_odd ? part : oc_add(kept, oc_neg(part));
    out = oc_add(out, oc_times_255(odd));
  }
  return out;
}

}  // namespace

bool edited_sum(const void* msg_v, size_t len, std::span<const sip::Edit> edits,
                uint64_t& sum) noexcept {
  const auto* msg = static_cast<const unsigned char*>(msg_v);
  EditSums s;
  if (!sum_edits(msg, len, edits, s)) {
    return false;
  }
  sum = edited(msg, len, edits, sum, s);
  return true;
}

bool apply_edits_summed(char* buf, size_t cap, size_t& head_io, size_t& len_io,
                        std::span<const sip::Edit> edits, uint64_t& sum) noexcept {
  const size_t head = head_io;
  const size_t len = len_io;
  if (edits.empty()) {
    return true;
  }
  if (edits.size() > sip::kMaxEdits || head > cap || len > cap - head) {
    return false;
  }
  const auto* msg = reinterpret_cast<const unsigned char*>(buf + head);
  EditSums s;
  if (!sum_edits(msg, len, edits, s)) {
    return false;
  }
  const uint64_t out = edited(msg, len, edits, sum, s);
  // apply_edits' one-pass cases: the message ends where it ended, starting grow bytes before
  // (modulo 2^64: after, when it shrinks).
  const size_t new_head = head - s.grow;
  if (!s.shrinks && s.grow <= head) [[likely]] {
    sip::move_left_pass(buf + new_head, buf + head, edits);  // a forward: into the headroom
  } else if (std::none_of(edits.begin(), edits.end(),
                          [](const sip::Edit& e) { return e.ins.size() > e.del; }))
             [[unlikely]] {
    // A routed reply (no edit inserts more than it deletes): the tail starts where the last
    // edit ended, moved by grow.
    sip::move_right_pass(buf + new_head, buf + head, edits,
                         size_t{edits.back().off} + edits.back().del + s.grow);
  } else if (!sip::apply_edits(buf, cap, head_io, len_io, edits)) {  // its general passes
    return false;
  } else {
    sum = out;
    return true;
  }
  head_io = new_head;
  len_io = len + s.grow;
  sum = out;
  return true;
}

}  // namespace viaduct::dp
