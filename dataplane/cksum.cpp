// SPDX-License-Identifier: Apache-2.0
// dataplane/cksum.cpp: DPDK's checksums, out of line, built at -O3 (dataplane/meson.build) so
// that their summing loop is vectorised. See cksum.hpp.
#include "dataplane/cksum.hpp"

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

}  // namespace viaduct::dp
