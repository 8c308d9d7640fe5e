// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.cpp: the Internet checksums the fast path computes in software. See cksum.hpp.
#include "dataplane/cksum.hpp"

#include <netinet/in.h>
#include <rte_ip.h>

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace viaduct::dp {
namespace {

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
  uint64_t sum = uint64_t{fold_sum(&ip->src_addr, 8, 0)};
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return fold_sum(udp, udp_len, sum) == 0xffff;
}

bool ipv6_udp_cksum_ok(const rte_ipv6_hdr* ip, const void* udp, size_t udp_len) noexcept {
  uint64_t sum = uint64_t{fold_sum(ip->src_addr, 32, 0)};
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return fold_sum(udp, udp_len, sum) == 0xffff;
}

}  // namespace viaduct::dp
