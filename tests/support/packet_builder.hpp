// SPDX-License-Identifier: Apache-2.0
// tests/support/packet_builder.hpp: frames and snapshots for tests and benchmarks that drive
// handle_packet() directly (the EAL must be initialised; no device is needed).
#pragma once

#include <arpa/inet.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/pipeline.hpp"

namespace viaduct::test {

inline uint32_t ipv4(const char* s) {
  uint32_t v = 0;
  dp::parse_ipv4(s, v);
  return v;
}

// Appends an Ethernet/IPv4 header and `l4_len` bytes after it to m (which must be empty):
// protocol `proto`, identification `id`, fragment field `frag` (flags and offset, host order),
// TTL 64, the header checksum set. Returns where the `l4_len` bytes go, or null without room.
inline char* fill_ipv4_frame(rte_mbuf* m, const dp::MacAddr& src_mac, const dp::MacAddr& dst_mac,
                             uint32_t src_be, uint32_t dst_be, uint8_t proto, size_t l4_len,
                             uint16_t id = 0, uint16_t frag = 0) {
  const size_t len = sizeof(rte_ether_hdr) + 20 + l4_len;
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  if (p == nullptr) {
    return nullptr;
  }
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memcpy(eth->dst_addr.addr_bytes, dst_mac.b, 6);
  std::memcpy(eth->src_addr.addr_bytes, src_mac.b, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
  auto* iph = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(iph, 0, 20);
  iph->version_ihl = RTE_IPV4_VHL_DEF;
  iph->total_length = htons(static_cast<uint16_t>(20 + l4_len));
  iph->packet_id = htons(id);
  iph->fragment_offset = htons(frag);
  iph->time_to_live = 64;
  iph->next_proto_id = proto;
  iph->src_addr = src_be;
  iph->dst_addr = dst_be;
  iph->hdr_checksum = rte_ipv4_cksum(iph);
  m->port = 0;
  return reinterpret_cast<char*>(iph + 1);
}

// Writes an Ethernet/IPv4/UDP frame carrying `payload` into m (which must be empty), with its
// IPv4 header checksum and no UDP checksum (0: none, RFC 768).
inline bool fill_udp_frame(rte_mbuf* m, const dp::MacAddr& src_mac, const dp::MacAddr& dst_mac,
                           uint32_t src_be, uint16_t sport, uint32_t dst_be, uint16_t dport,
                           std::string_view payload) {
  char* l4 = fill_ipv4_frame(m, src_mac, dst_mac, src_be, dst_be, IPPROTO_UDP, 8 + payload.size());
  if (l4 == nullptr) {
    return false;
  }
  auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
  udp->src_port = htons(sport);
  udp->dst_port = htons(dport);
  udp->dgram_len = htons(static_cast<uint16_t>(8 + payload.size()));
  udp->dgram_cksum = 0;
  std::memcpy(udp + 1, payload.data(), payload.size());
  return true;
}

// A snapshot from a routing script and a dispatcher list held in memory, through the real
// compiler and snapshot builder, for one interface (port 0) with the given address, MAC and
// known neighbours. Returns nullptr and sets `error` when something does not compile.
inline std::unique_ptr<ctl::OwnedSnapshot> make_snapshot(
    const std::string& script, const std::string& list, const char* our_ip,
    const dp::MacAddr& our_mac, const std::map<std::string, dp::MacAddr>& neighbours,
    std::string& error) {
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  ctl::BuildInputs in;
  if (!cfg::compile_string(script, "test.cfg", "/tmp", {}, *prog, diags) ||
      !cfg::parse_dispatcher_list(list, "test.list", in.destinations, diags)) {
    error = diags.empty() ? "compile failed" : diags[0].str();
    return nullptr;
  }
  in.program = prog;
  dp::Iface ifc;
  ifc.port_id = 0;
  ifc.ip_be = ipv4(our_ip);
  ifc.mask_be = htonl(0xffffff00u);
  ifc.mac = our_mac;
  in.ifaces.push_back(ifc);
  for (const auto& [ip, mac] : neighbours) {
    in.neighbours[ipv4(ip.c_str())] = mac;
  }
  ctl::DestinationIds ids;
  auto snap = ctl::build_snapshot(in, ids);
  if (!snap) {
    error = snap.error().str();
    return nullptr;
  }
  return std::move(*snap);
}

}  // namespace viaduct::test
