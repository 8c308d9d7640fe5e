// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.hpp: the Internet checksums the fast path computes in software: DPDK's
// (rte_ip.h) functions, value for value, with their summing loop replaced (dataplane/cksum.cpp:
// 32-bit words in 64-bit SSE2 lanes, ~19 ns instead of ~29 for a 868-byte datagram; in AVX2
// lanes where the CPU has them).
//
// Why not inline where they are used: one out-of-line call per datagram costs less than the
// loop's code at every use, and cksum.cpp is built at -O3 (DPDK 22.11's own loop, where it is
// still used, is vectorised by GCC only at -O3: at -O2 it summed two bytes per iteration, about
// 2,200 instructions for a 900-byte INVITE; perf/RESULTS.md).
#pragma once

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/sip/sip.hpp"

struct rte_ipv4_hdr;
struct rte_ipv6_hdr;
struct rte_udp_hdr;

namespace viaduct::dp {

namespace detail {
// One's complement arithmetic in 64 bits (modulo 2^64 - 1, a multiple of 0xffff), folded to
// 16 bits once at the end: the end-around carry, minus as the complement.
[[gnu::always_inline]] inline uint64_t oc_add(uint64_t a, uint64_t b) noexcept {
  uint64_t r;
  const bool carry = __builtin_add_overflow(a, b, &r);
  return r + (carry ? 1 : 0);  // r < 2^64 - 1 when it carried
}
[[gnu::always_inline]] inline uint64_t oc_neg(uint64_t a) noexcept { return ~a; }
// The sum of len bytes at p that lie at payload offset off (edited_sum's sums), unfolded.
uint64_t sum_at_offset(const void* p, size_t len, size_t off) noexcept;
// Whether the sums below take 32 bytes a step with AVX2 (set at start-up from the CPU; a test
// clears it to check the SSE2 loop, which every x86-64 CPU runs, gives the same values).
extern bool cksum_avx2;
}  // namespace detail

// rte_ipv4_udptcp_cksum's value: the UDP/TCP checksum over the pseudo-header and l4 (its
// length from the IPv4 header), in network order, ready to store.
uint16_t ipv4_udptcp_cksum(const rte_ipv4_hdr* ip, const void* l4) noexcept;
// rte_ipv6_udptcp_cksum's value: the same over IPv6.
uint16_t ipv6_udptcp_cksum(const rte_ipv6_hdr* ip, const void* l4) noexcept;
// rte_ipv6_udptcp_cksum_verify's value: 0 when the checksum in l4 is right.
int ipv6_udptcp_cksum_verify(const rte_ipv6_hdr* ip, const void* l4) noexcept;
// rte_raw_cksum's value: the 16-bit one's complement sum of buf (not complemented).
uint16_t raw_cksum(const void* buf, size_t len) noexcept;

// Whether a received UDP datagram's checksum is right: the one's complement sum over the
// pseudo-header and the `udp_len` bytes at udp (the UDP length field's, which may be less than
// what the IP header says: the kernel trims the rest) is 0xffff. DPDK's *_cksum_verify take the
// length from the IP header instead. A checksum field of 0 is not special here: the callers
// decide (none over IPv4, RFC 768; invalid over IPv6, RFC 8200 8.1).
bool ipv4_udp_cksum_ok(const rte_ipv4_hdr* ip, const void* udp, size_t udp_len) noexcept;
bool ipv6_udp_cksum_ok(const rte_ipv6_hdr* ip, const void* udp, size_t udp_len) noexcept;

// A one's complement sum kept in 64 bits (32-bit words added), folded to 16 bits with the
// end-around carry: 0 only for a zero sum.
inline uint16_t fold_to_16(uint64_t sum) noexcept {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// ---- the checksum of a forwarded datagram from the received one ---------------------------------
// A forward changes a few header lines of a datagram whose checksum was checked on the way in
// (by the port, or by ipv4_udp_cksum_ok): the new checksum follows from the old one and the
// edits, without summing the ~900 bytes again (perf/RESULTS.md, R9). All sums here are one's
// complement sums taken as the checksum code takes them (16-bit words as they lie in memory,
// offset 0 of the UDP payload starting a word), kept in 64 bits, meaningful modulo 0xffff.

// The sum of the first msg_len bytes of the UDP payload after udp (msg_len <= the UDP length's
// payload), of a datagram from src_be to dst_be whose checksum field is non-zero and right: the
// whole datagram sums to 0xffff, so the payload's sum is minus that of the pseudo-header and UDP
// header (checksum included); bytes past msg_len are summed and taken off.
// Inline (with ipv4_udp_cksum_with below: two calls cost a forward ~20 instructions).
inline uint64_t ipv4_udp_payload_sum(uint32_t src_be, uint32_t dst_be, const rte_udp_hdr* udp,
                                     size_t msg_len) noexcept {
  // Pseudo-header (addresses, protocol, UDP length) and UDP header, as the checker summed them.
  uint64_t head = uint64_t{src_be} + dst_be + rte_cpu_to_be_16(IPPROTO_UDP) +
                  2u * uint64_t{udp->dgram_len} + udp->src_port + udp->dst_port +
                  udp->dgram_cksum;
  const size_t payload = rte_be_to_cpu_16(udp->dgram_len) - sizeof(rte_udp_hdr);
  if (msg_len < payload) [[unlikely]] {  // bytes past Content-Length are not forwarded
    head += detail::sum_at_offset(reinterpret_cast<const unsigned char*>(udp + 1) + msg_len,
                                  payload - msg_len, msg_len);
  }
  return detail::oc_neg(head);
}

// The sum of msg[0, len) after sip::apply_edits(edits) (the same layout: kept segments moved,
// inserts in between), from `sum`, that of msg[0, len) before: the deleted bytes come off, the
// inserted ones go on, and a kept segment that moves by an odd number of bytes changes lanes
// (its sum times 256, a byte swap modulo 0xffff). Only the deleted, inserted and odd-moved
// bytes are summed, or, when the odd-moved ones outnumber the rest, the rest (the odd ones are
// then what is left of `sum`). Call it before apply_edits (the deleted bytes are read). False
// (sum unchanged) on edits apply_edits refuses (out of order or past len).
bool edited_sum(const void* msg, size_t len, std::span<const sip::Edit> edits,
                uint64_t& sum) noexcept;

// sip::apply_edits(buf, cap, head, len, edits) and edited_sum over the message buf[head,
// head + len) in one: on true the edits are applied (head and len describe the result, as
// apply_edits leaves them) and `sum`, that of the message before, is the result's. False
// (buffer and sum unchanged) when apply_edits refuses the edits. A forward's edits (none
// deleting more than it inserts, the front fitting in the headroom) take one walk over them
// for both, instead of two for the sum and two for the moves.
bool apply_edits_summed(char* buf, size_t cap, size_t& head, size_t& len,
                        std::span<const sip::Edit> edits, uint64_t& sum) noexcept;

// ipv4_udptcp_cksum's value for a UDP datagram (the IPv4 header and UDP header written, the
// checksum field's value ignored) whose payload sums to payload_sum: the same bits as summing it.
inline uint16_t ipv4_udp_cksum_with(const rte_ipv4_hdr* ip, const rte_udp_hdr* udp,
                                    uint64_t payload_sum) noexcept {
  // ipv4_udptcp_cksum's pseudo-header (its length from the IPv4 header) and the UDP header
  // without its checksum field. The folded sum is the representative in [1, 0xffff] of the
  // total (never 0: the protocol word is not); complemented, and RFC 768's 0 as 0xffff.
  const uint16_t l4_len = static_cast<uint16_t>(rte_be_to_cpu_16(ip->total_length) -
                                                rte_ipv4_hdr_len(ip));
  const uint64_t total =
      detail::oc_add(payload_sum, uint64_t{ip->src_addr} + ip->dst_addr +
                                      rte_cpu_to_be_16(uint16_t{ip->next_proto_id}) +
                                      rte_cpu_to_be_16(l4_len) + udp->src_port + udp->dst_port +
                                      udp->dgram_len);
  const uint16_t ck = static_cast<uint16_t>(~fold_to_16(total));
  return ck == 0 ? 0xffff : ck;
}

// An IPv4 header's 32-bit words (ihl bytes: 20..60, a multiple of 4) added into 64 bits,
// unfolded: a dozen instructions for 20 bytes, inline.
inline uint64_t ipv4_hdr_sum(const void* hdr, size_t ihl) noexcept {
  const auto* p = static_cast<const uint8_t*>(hdr);
  uint64_t sum = 0;
#pragma GCC unroll 15  // straight-line for the constant 20 of ipv4_hdr_cksum20
  for (size_t i = 0; i < ihl; i += 4) {
    uint32_t w;
    __builtin_memcpy(&w, p + i, 4);
    sum += w;
  }
  return sum;
}
// Whether an IPv4 header sums to 0xffff with its checksum field (every IPv4 frame to us pays it
// when the port does not check it).
inline bool ipv4_hdr_cksum_ok(const void* hdr, size_t ihl) noexcept {
  return fold_to_16(ipv4_hdr_sum(hdr, ihl)) == 0xffff;
}

// rte_ipv4_cksum's value for a 20-byte IPv4 header whose checksum field is 0: its five 32-bit
// words folded and complemented, inline (DPDK's call and general loop were ~59 instructions a
// forward). The header may lie at any address.
inline uint16_t ipv4_hdr_cksum20(const void* hdr) noexcept {
  return static_cast<uint16_t>(~fold_to_16(ipv4_hdr_sum(hdr, 20)));
}

}  // namespace viaduct::dp
