// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.cpp: DPDK's checksums, out of line, built at -O3 (dataplane/meson.build) so
// that their summing loop is vectorised. See cksum.hpp.
#include "dataplane/cksum.hpp"

#include <netinet/in.h>
#include <rte_ip.h>

namespace viaduct::dp {

uint16_t ipv4_udptcp_cksum(const rte_ipv4_hdr* ip, const void* l4) noexcept {
  return rte_ipv4_udptcp_cksum(ip, l4);
}

uint16_t ipv6_udptcp_cksum(const rte_ipv6_hdr* ip, const void* l4) noexcept {
  return rte_ipv6_udptcp_cksum(ip, l4);
}

int ipv6_udptcp_cksum_verify(const rte_ipv6_hdr* ip, const void* l4) noexcept {
  return rte_ipv6_udptcp_cksum_verify(ip, l4);
}

uint16_t raw_cksum(const void* buf, size_t len) noexcept { return rte_raw_cksum(buf, len); }

// The pseudo-header's words are added as they lie in memory, like __rte_raw_cksum's: a one's
// complement sum is the same in either byte order, so protocol and length go in big-endian.
bool ipv4_udp_cksum_ok(const rte_ipv4_hdr* ip, const void* udp, size_t udp_len) noexcept {
  uint32_t sum = __rte_raw_cksum(&ip->src_addr, 8, 0);
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return __rte_raw_cksum_reduce(__rte_raw_cksum(udp, udp_len, sum)) == 0xffff;
}

bool ipv6_udp_cksum_ok(const rte_ipv6_hdr* ip, const void* udp, size_t udp_len) noexcept {
  uint32_t sum = __rte_raw_cksum(ip->src_addr, 32, 0);
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  return __rte_raw_cksum_reduce(__rte_raw_cksum(udp, udp_len, sum)) == 0xffff;
}

}  // namespace viaduct::dp
