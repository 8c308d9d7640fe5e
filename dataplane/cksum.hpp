// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.hpp: the Internet checksums the fast path computes in software: DPDK's
// (rte_ip.h) functions, value for value, with their summing loop replaced (dataplane/cksum.cpp:
// 32-bit words in 64-bit SSE2 lanes, ~19 ns instead of ~29 for a 868-byte datagram).
//
// Why not inline where they are used: one out-of-line call per datagram costs less than the
// loop's code at every use, and cksum.cpp is built at -O3 (DPDK 22.11's own loop, where it is
// still used, is vectorised by GCC only at -O3: at -O2 it summed two bytes per iteration, about
// 2,200 instructions for a 900-byte INVITE; perf/RESULTS.md).
#pragma once

#include <cstddef>
#include <cstdint>

struct rte_ipv4_hdr;
struct rte_ipv6_hdr;

namespace viaduct::dp {

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

// Whether an IPv4 header (ihl bytes: 20..60, a multiple of 4) sums to 0xffff with its checksum
// field: 32-bit words added into 64 bits and folded, a dozen instructions for 20 bytes (inline:
// every IPv4 frame to us pays it when the port does not check it).
inline bool ipv4_hdr_cksum_ok(const void* hdr, size_t ihl) noexcept {
  const auto* p = static_cast<const uint8_t*>(hdr);
  uint64_t sum = 0;
  for (size_t i = 0; i < ihl; i += 4) {
    uint32_t w;
    __builtin_memcpy(&w, p + i, 4);
    sum += w;
  }
  return fold_to_16(sum) == 0xffff;
}

}  // namespace viaduct::dp
