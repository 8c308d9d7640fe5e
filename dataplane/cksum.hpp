// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.hpp: the Internet checksums the fast path computes in software, DPDK's own
// (rte_ip.h), compiled in dataplane/cksum.cpp at -O3.
//
// Why not inline where they are used: DPDK 22.11's __rte_raw_cksum is a plain loop over 16-bit
// words written for the compiler to vectorise, which GCC does at -O3 (DPDK's own build) but not
// at the -O2 the rest of the dataplane is built with: there it sums two bytes per iteration,
// about 2,200 instructions for a 900-byte INVITE, a quarter of the whole per-packet cost
// (callgrind, perf/RESULTS.md). One out-of-line call per datagram is cheaper than that.
#pragma once

#include <cstddef>
#include <cstdint>

struct rte_ipv4_hdr;
struct rte_ipv6_hdr;

namespace viaduct::dp {

// rte_ipv4_udptcp_cksum: the UDP/TCP checksum over the pseudo-header and l4 (its length from
// the IPv4 header), in network order, ready to store.
uint16_t ipv4_udptcp_cksum(const rte_ipv4_hdr* ip, const void* l4) noexcept;
// rte_ipv6_udptcp_cksum: the same over IPv6.
uint16_t ipv6_udptcp_cksum(const rte_ipv6_hdr* ip, const void* l4) noexcept;
// rte_ipv6_udptcp_cksum_verify: 0 when the checksum in l4 is right.
int ipv6_udptcp_cksum_verify(const rte_ipv6_hdr* ip, const void* l4) noexcept;
// rte_raw_cksum: the 16-bit one's complement sum of buf (not complemented).
uint16_t raw_cksum(const void* buf, size_t len) noexcept;

}  // namespace viaduct::dp
