// SPDX-License-Identifier: Apache-2.0
// dataplane/pipeline.cpp: classify -> SIP scan -> script -> rewrite -> IPv4 or IPv6/UDP build.
#include "dataplane/pipeline.hpp"

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_cycles.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include <array>
#include <cstring>

#include "dataplane/cksum.hpp"
#include "dataplane/reply_route.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/vm.hpp"

namespace viaduct::dp {
namespace {

using sip::iequal;

constexpr size_t kL3L4 = sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
constexpr size_t kVlanTag = 4;
// Room kept in front of a SIP message for the headers of any egress iface (tagged or not).
constexpr size_t kL2L3L4 = sizeof(rte_ether_hdr) + kVlanTag + kL3L4;
constexpr uint8_t kDefaultTtl = 64;  // udp4_raw_ttl -1: the kernel socket default
constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpHostUnreachable = 1;
constexpr uint8_t kIcmpPortUnreachable = 3;
// The small helpers below marked always_inline were inlined into the IPv4 path before IPv6
// gave them more callers; forced, the IPv4 path keeps its instruction count (callgrind).
// IPv6: the headers in front of a SIP message are 20 bytes longer.
constexpr size_t kL3L4v6 = sizeof(rte_ipv6_hdr) + sizeof(rte_udp_hdr);
constexpr size_t kL2L3L4v6 = sizeof(rte_ether_hdr) + kVlanTag + kL3L4v6;
constexpr uint8_t kDefaultHopLimit = 64;  // Kamailio sends IPv6 through the kernel: its default
constexpr uint8_t kNdHopLimit = 255;      // RFC 4861: ND messages are sent and accepted with 255
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kIcmp6DestUnreachable = 1;
constexpr uint8_t kIcmp6AddrUnreachable = 3;  // codes: the IPv4 host and port unreachable
constexpr uint8_t kIcmp6PortUnreachable = 4;
constexpr uint8_t kNdSolicit = 135;
constexpr uint8_t kNdAdvert = 136;
constexpr uint8_t kNdOptSourceLl = 1;
constexpr uint8_t kNdOptTargetLl = 2;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoFragment6 = 44;
// Extension headers the IPv6 handler walks (RFC 8200 4), and its bounds: at most that many, in
// the first bytes of the payload (a longer chain is the kernel's, or a drop).
constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoRouting6 = 43;
constexpr uint8_t kProtoDstOpts6 = 60;
constexpr size_t kMaxExtHeaders6 = 4;
constexpr size_t kMaxExtBytes6 = 256;

void enqueue_event(WorkerCtx& ctx, Event& ev) noexcept {
  if (rte_ring_sp_enqueue_elem(ctx.events, &ev, sizeof(ev)) != 0) {
    ctx.counters->events_dropped.add();
  }
}

// An event for the control thread; an IPv6 one (ip6) goes with ip_be 0.
void post_event(WorkerCtx& ctx, Event::Type type, uint16_t iface, uint32_t ip_be,
                const MacAddr& mac, uint16_t aux = 0, const Ip6* ip6 = nullptr) noexcept {
  if (ctx.events == nullptr) {
    return;
  }
  Event ev;
  ev.type = type;
  ev.iface = iface;
  ev.ip_be = ip_be;
  ev.mac = mac;
  ev.aux = aux;
  if (ip6 != nullptr) {
    std::memcpy(ev.ip6, ip6->b, 16);
  }
  enqueue_event(ctx, ev);
}

void post_event6(WorkerCtx& ctx, Event::Type type, uint16_t iface, const Ip6& ip,
                 const MacAddr& mac, uint16_t aux = 0) noexcept {
  post_event(ctx, type, iface, 0, mac, aux, &ip);
}

// A forward to a dispatcher destination failed before it left, for lack of a route or of the
// next hop's MAC: Kamailio's send error. Control blocklists the destination (use_dst_blocklist;
// for a missing MAC only once ARP or ND has had its chance, see control/prober.hpp
// SendFailures). An IPv6 destination (dst6) goes as ip_be 0 and its address; control works out
// its next hop itself (the destination on the iface's link, else its gateway6).
// `waited`: the datagram was held for the next hop's MAC for the whole hold time.
[[gnu::noinline]] void send_failed(const Snapshot& snap, WorkerCtx& ctx, uint32_t dest_id,
                                   uint16_t out_if, uint32_t dst_ip_be, uint16_t dst_port_be,
                                   Drop why, const Ip6* dst6 = nullptr,
                                   bool waited = false) noexcept {
  if (dest_id == 0 || (why != Drop::kNoRoute && why != Drop::kNoNeighbour)) {
    return;
  }
  ctx.counters->send_failures.add();
  if (ctx.events == nullptr) {
    return;
  }
  Event ev;
  ev.type = Event::Type::kSendFailed;
  ev.pad = static_cast<uint8_t>(static_cast<uint8_t>(why) | (waited ? kSendFailedWaited : 0));
  ev.iface = out_if;
  ev.aux = dst_port_be;
  if (dst6 != nullptr) {
    std::memcpy(ev.ip6, dst6->b, 16);
  } else {
    ev.ip_be = dst_ip_be;
    if (why == Drop::kNoNeighbour && out_if < snap.ifaces.size()) {
      const Iface& ifc = snap.ifaces[out_if];
      const uint32_t hop = ifc.on_link(dst_ip_be) ? dst_ip_be : ifc.gateway_be;
      std::memcpy(ev.mac.b, &hop, 4);
    }
  }
  enqueue_event(ctx, ev);
}

MacAddr to_mac(const rte_ether_addr& a) noexcept {
  MacAddr m;
  std::memcpy(m.b, a.addr_bytes, 6);
  return m;
}

void from_mac(const MacAddr& m, rte_ether_addr& a) noexcept { std::memcpy(a.addr_bytes, m.b, 6); }

// Writes the Ethernet header (and the 802.1Q tag of a tagged iface) at p; returns its length.
[[gnu::always_inline]] inline size_t write_l2(char* p, const Iface& ifc, const MacAddr& dst,
                                              uint16_t ether_type) noexcept {
  // The frame may start at an odd address (the rewritten message decides where its headers
  // begin): bytes are copied, never stored through a rte_ether_hdr pointer.
  std::memcpy(p, dst.b, 6);
  std::memcpy(p + 6, ifc.mac.b, 6);
  if (ifc.vlan == 0) {
    const uint16_t type_be = be16(ether_type);
    std::memcpy(p + 12, &type_be, 2);
    return sizeof(rte_ether_hdr);
  }
  const uint16_t tag[3] = {be16(RTE_ETHER_TYPE_VLAN), be16(ifc.vlan), be16(ether_type)};
  std::memcpy(p + 12, tag, sizeof(tag));
  return sizeof(rte_ether_hdr) + kVlanTag;
}

// The frame around a payload at payload_off of m: the mbuf set to start l3l4 + the iface's L2
// header before it, the Ethernet header (and tag) written; returns where the IP header goes.
[[gnu::always_inline]] inline char* frame_around(rte_mbuf* m, size_t payload_off, size_t l3l4,
                                                 size_t payload_len, const Iface& ifc,
                                                 const MacAddr& dst_mac,
                                                 uint16_t ether_type) noexcept {
  const size_t l2 = ifc.l2_len();
  m->data_off = static_cast<uint16_t>(payload_off - l3l4 - l2);
  m->data_len = static_cast<uint16_t>(l2 + l3l4 + payload_len);
  m->pkt_len = m->data_len;
  m->ol_flags = 0;
  char* frame = rte_pktmbuf_mtod(m, char*);
  write_l2(frame, ifc, dst_mac, ether_type);
  return frame + l2;
}

// What the fast path does not own (TCP, other UDP ports, ICMP but echo, other protocols,
// IPv6 on an iface without an IPv6 address, IPv6 extension headers): to the kernel through the iface's exception TAP when it has one, else dropped with
// `why`. The frame goes unchanged.
Verdict punt_or_drop(const Iface& ifc, Drop why, WorkerCtx& ctx) noexcept {
  if (ifc.exception_port == UINT16_MAX) {
    return Verdict::dropped(why);
  }
  ctx.counters->exception_in.add();
  return Verdict::tx(ifc.exception_port);
}

// learn() when the snapshot does not have the sender's MAC, or has another: the worker's own
// table, and an event to control when the sender is new there too. Never our own address, the
// subnet's network or broadcast address (a frame claiming them is forged or broken), nor a
// multicast or zero MAC. from_arp: only ARP may change a MAC already known (in the snapshot or
// this worker's table); any other frame may only teach a new neighbour. Otherwise one forged
// UDP datagram with the gateway's address as its source would move the gateway to the
// sender's MAC, past the switch's ARP inspection (which looks at ARP only). Linux learns from
// ARP alone.
[[gnu::noinline, gnu::cold]] void learn_new(const Snapshot& snap, WorkerCtx& ctx,
                                             uint16_t iface_idx, uint32_t ip_be,
                                             const rte_ether_addr& mac, bool from_arp) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  const bool known = snap.neigh.find(ip_be) != nullptr;
  const uint32_t host_mask = rte_be_to_cpu_32(~ifc.mask_be);
  const uint32_t host = rte_be_to_cpu_32(ip_be) & host_mask;
  const bool net_or_bcast = host_mask > 1 && (host == 0 || host == host_mask);  // not /31, /32
  if (ip_be == ifc.ip_be || net_or_bcast || !rte_is_unicast_ether_addr(&mac) ||
      rte_is_zero_ether_addr(&mac)) {
    return;
  }
  const MacAddr m = to_mac(mac);
  const MacAddr* local = ctx.neigh.find(ip_be);
  if (local != nullptr && std::memcmp(local->b, m.b, 6) == 0) {
    return;  // already told control; its snapshot is on the way
  }
  if ((known || local != nullptr) && !from_arp) {
    return;
  }
  ctx.neigh.put(ip_be, m);
  ++ctx.neigh_learned;
  post_event(ctx, Event::Type::kNeighLearned, iface_idx, ip_be, m);
}

// Learns the sender of a frame addressed to us when it is on our link and not yet known (see
// learn_new). Inlined: per packet the sender is known (a call cost ~10 instructions).
[[gnu::always_inline]] inline void learn(const Snapshot& snap, WorkerCtx& ctx, uint16_t iface_idx,
                                         uint32_t ip_be, const rte_ether_addr& mac,
                                         bool from_arp = false) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  if (ip_be == 0 || !ifc.on_link(ip_be)) {
    return;
  }
  // memcmp: MacAddr's defaulted == compares byte by byte (~18 instructions; this runs per packet).
  const MacAddr* known = snap.neigh.find(ip_be);
  if (known != nullptr && std::memcmp(known->b, mac.addr_bytes, 6) == 0) {
    return;
  }
  learn_new(snap, ctx, iface_idx, ip_be, mac, from_arp);
}

[[gnu::noinline]] Verdict handle_arp(const Snapshot& snap, rte_mbuf* m, rte_ether_hdr* eth, size_t l2,
                   uint16_t iface_idx, WorkerCtx& ctx) noexcept {
  if (rte_pktmbuf_data_len(m) < l2 + sizeof(rte_arp_hdr)) {
    return Verdict::dropped(Drop::kRuntFrame);
  }
  auto* arp = reinterpret_cast<rte_arp_hdr*>(reinterpret_cast<char*>(eth) + l2);
  if (arp->arp_hardware != be16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != be16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != 6 ||
      arp->arp_plen != 4) {
    return Verdict::dropped(Drop::kArpIgnored);
  }
  const Iface& ifc = snap.ifaces[iface_idx];
  const uint16_t op = be16(arp->arp_opcode);
  const uint32_t sip = arp->arp_data.arp_sip;
  const uint32_t tip = arp->arp_data.arp_tip;
  if (!rte_is_unicast_ether_addr(&arp->arp_data.arp_sha) ||
      rte_is_zero_ether_addr(&arp->arp_data.arp_sha)) {
    // A zero or group sender MAC would be learned (or confirmed) below: frames for that
    // neighbour would go nowhere, or to everyone. Nothing to answer either.
    return Verdict::dropped(Drop::kArpIgnored);
  }
  if (tip != ifc.ip_be) {
    // Gratuitous ARP (sender and target address the same, a request or a reply): a
    // neighbour we already know announcing its MAC, as a router does after a failover
    // (keepalived, a replaced box). Taken for a known neighbour only, as Linux takes it
    // (arp_accept 0): not a way to add new ones.
    if (sip == tip && sip != 0 && sip != ifc.ip_be && ifc.on_link(sip) &&
        (snap.neigh.find(sip) != nullptr || ctx.neigh.find(sip) != nullptr) &&
        (op == RTE_ARP_OP_REQUEST || op == RTE_ARP_OP_REPLY)) {
      learn(snap, ctx, iface_idx, sip, arp->arp_data.arp_sha, true);
      post_event(ctx, Event::Type::kNeighLearned, iface_idx, sip,
                 to_mac(arp->arp_data.arp_sha));  // confirms it, as below
      return ifc.exception_port == UINT16_MAX ? Verdict::consumed()
                                              : punt_or_drop(ifc, Drop::kArpIgnored, ctx);
    }
    return Verdict::dropped(Drop::kArpIgnored);
  }
  learn(snap, ctx, iface_idx, sip, arp->arp_data.arp_sha, true);
  if (sip != 0 && ifc.on_link(sip) && snap.neigh.find(sip) != nullptr) {
    // ARP from a neighbour we know confirms it (control ages learned MACs out): tell control
    // even when nothing changed. ARP is rare next to SIP, so this costs nothing that matters.
    post_event(ctx, Event::Type::kNeighLearned, iface_idx, sip, to_mac(arp->arp_data.arp_sha));
  }
  if (op == RTE_ARP_OP_REPLY) {
    // Learned above. The kernel behind the exception TAP asks too (for its TCP peers): it gets
    // the reply as well.
    return ifc.exception_port == UINT16_MAX ? Verdict::consumed()
                                            : punt_or_drop(ifc, Drop::kArpIgnored, ctx);
  }
  if (op != RTE_ARP_OP_REQUEST) {
    return Verdict::dropped(Drop::kArpIgnored);
  }
  // Turn the request into the reply in place.
  rte_ether_addr ours;
  from_mac(ifc.mac, ours);
  arp->arp_opcode = be16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_tha = arp->arp_data.arp_sha;
  arp->arp_data.arp_tip = sip;
  arp->arp_data.arp_sha = ours;
  arp->arp_data.arp_sip = ifc.ip_be;
  eth->dst_addr = eth->src_addr;
  eth->src_addr = ours;
  m->data_len = static_cast<uint16_t>(l2 + sizeof(rte_arp_hdr));  // the tag, if any, stays
  m->pkt_len = m->data_len;
  ctx.counters->arp_replies_sent.add();
  return Verdict::tx(ifc.port_id);
}

Verdict fragment(rte_mbuf* m, const Iface& ifc, uint16_t mtu, WorkerCtx& ctx, bool sent) noexcept;

// ICMP to our address: an echo request is answered in place (same payload, so the reply fits
// the frame it came in; a reassembled one above the interface's MTU leaves in fragments, as
// Linux answers it); anything else is dropped and counted (no socket behind us wants it).
[[gnu::noinline]] Verdict handle_icmp(const Snapshot& snap, rte_mbuf* m, rte_ether_hdr* eth, rte_ipv4_hdr* ip,
                    size_t ihl, size_t ip_len, uint16_t iface_idx, WorkerCtx& ctx) noexcept {
  if (ip_len < ihl + sizeof(rte_icmp_hdr)) {
    return Verdict::dropped(Drop::kIcmpIgnored);
  }
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<char*>(ip) + ihl);
  const Iface& ifc = snap.ifaces[iface_idx];
  if (icmp->icmp_type == kIcmpDestUnreachable &&
      (icmp->icmp_code == kIcmpHostUnreachable || icmp->icmp_code == kIcmpPortUnreachable)) {
    // The error quotes the IPv4 header and the first 8 bytes (the UDP header) of the datagram
    // that caused it. When we sent it (our address, a listener's port), control blocklists
    // the quoted destination. Only an error from whoever could have sent it counts: the
    // destination itself (port unreachable comes from the host whose port is closed), or,
    // for host unreachable about an off-link destination, our gateway. The quoted addresses
    // and ports are no secret, so an error from anywhere else is what anyone on the Internet
    // could forge to blocklist a backend; routers further out are not believed either. This
    // holds where the network drops packets with forged sources (ingress filtering); where it
    // does not, the blocklist's bound (ctl::Blocklist::kMaxEntries) is what is left.
    const size_t quoted = ip_len - ihl - sizeof(rte_icmp_hdr);
    const auto* qip = reinterpret_cast<const rte_ipv4_hdr*>(icmp + 1);
    const size_t qihl =
        quoted >= sizeof(rte_ipv4_hdr) ? static_cast<size_t>(qip->version_ihl & 0x0f) * 4 : 0;
    const bool from_gateway = qihl != 0 && icmp->icmp_code == kIcmpHostUnreachable &&
                              ifc.gateway_be != 0 && ip->src_addr == ifc.gateway_be &&
                              !ifc.on_link(qip->dst_addr);
    if (qihl >= sizeof(rte_ipv4_hdr) && quoted >= qihl + sizeof(rte_udp_hdr) &&
        qip->next_proto_id == IPPROTO_UDP && qip->src_addr == ifc.ip_be &&
        (ip->src_addr == qip->dst_addr || from_gateway)) {
      const auto* qudp =
          reinterpret_cast<const rte_udp_hdr*>(reinterpret_cast<const char*>(qip) + qihl);
      for (const Listener& l : snap.listeners) {
        if (l.ip_be == qip->src_addr && l.port_be == qudp->src_port) {
          post_event(ctx, Event::Type::kIcmpUnreachable, iface_idx, qip->dst_addr, MacAddr{},
                     qudp->dst_port);
          ctx.counters->icmp_unreachable.add();
          return Verdict::consumed();
        }
      }
    }
  }
  if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
    return punt_or_drop(ifc, Drop::kIcmpIgnored, ctx);
  }
  icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  icmp->icmp_cksum = 0;
  icmp->icmp_cksum = static_cast<uint16_t>(
      ~raw_cksum(icmp, ip_len - ihl));
  ip->dst_addr = ip->src_addr;
  ip->src_addr = ifc.ip_be;
  ip->time_to_live = kDefaultTtl;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  eth->dst_addr = eth->src_addr;
  from_mac(ifc.mac, eth->src_addr);
  m->data_len = static_cast<uint16_t>(reinterpret_cast<char*>(ip) - rte_pktmbuf_mtod(m, char*) +
                                      ip_len);  // drop Ethernet padding
  m->pkt_len = m->data_len;
  m->ol_flags = 0;
  if (ip_len > ifc.mtu) [[unlikely]] {
    // A reassembled request (ping -s 3000): the reply would be one frame above the MTU.
    // fragment() cuts datagrams with a plain 20-byte header only.
    if (ihl != sizeof(rte_ipv4_hdr)) {
      return Verdict::dropped(Drop::kTooBig);
    }
    const Verdict v = fragment(m, ifc, ifc.mtu, ctx, true);
    if (v.kind == Verdict::Kind::kTxMany) {
      ctx.counters->icmp_echo_replies.add();
    }
    return v;
  }
  ctx.counters->icmp_echo_replies.add();
  return Verdict::tx(ifc.port_id);
}

// Writes Ethernet + IPv4 + UDP in front of the UDP payload at buf_addr + payload_off, sets the
// mbuf to cover the frame and computes both checksums in software, or, when the port offloads
// them (ifc.tx_cksum_offload) and the datagram leaves whole, asks the NIC for them: TX flags,
// l2_len/l3_len, and the UDP pseudo-header sum the NIC completes. A datagram that will be cut
// into fragments keeps the software UDP checksum: a NIC sums one frame, not the datagram.
// payload_sum: the payload's one's complement sum when the caller knows it (a forward of a
// datagram whose checksum was checked: rewrite_and_frame), else null and it is summed.
// Inlined into its two callers (eleven arguments: the call cost a forward ~22 instructions).
[[gnu::always_inline]] inline void build_frame(const Snapshot& snap, rte_mbuf* m,
                                               size_t payload_off, size_t payload_len,
                                               const Iface& ifc, const MacAddr& dst_mac,
                                               uint32_t dst_ip_be, uint16_t src_port_be,
                                               uint16_t dst_port_be, WorkerCtx& ctx,
                                               const uint64_t* payload_sum = nullptr) noexcept {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(
      frame_around(m, payload_off, kL3L4, payload_len, ifc, dst_mac, RTE_ETHER_TYPE_IPV4));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = snap.tos;
  ip->total_length = be16(static_cast<uint16_t>(payload_len + 28));
  ip->packet_id = be16(ctx.ip_id);
  ctx.ip_id = static_cast<uint16_t>(ctx.ip_id + ctx.ip_id_step);
  ip->fragment_offset = 0;
  ip->time_to_live = snap.ttl;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = ifc.ip_be;
  ip->dst_addr = dst_ip_be;
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = src_port_be;
  udp->dst_port = dst_port_be;
  udp->dgram_len = be16(static_cast<uint16_t>(payload_len + 8));
  udp->dgram_cksum = 0;
  const uint16_t mtu = ifc.mtu < snap.raw_mtu ? ifc.mtu : snap.raw_mtu;  // egress_mtu()
  if (ifc.tx_cksum_offload && payload_len + kL3L4 <= mtu) {
    m->l2_len = static_cast<uint64_t>(ifc.l2_len()) & 0x7f;
    m->l3_len = sizeof(rte_ipv4_hdr);
    m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
    udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
    return;
  }
  ip->hdr_checksum = ipv4_hdr_cksum20(ip);
  udp->dgram_cksum = payload_sum != nullptr ? ipv4_udp_cksum_with(ip, udp, *payload_sum)
                                            : ipv4_udptcp_cksum(ip, udp);
}

// The IP MTU a datagram leaving on ifc must fit: the interface's, and udp4_raw_mtu.
uint16_t egress_mtu(const Snapshot& snap, const Iface& ifc) noexcept {
  return ifc.mtu < snap.raw_mtu ? ifc.mtu : snap.raw_mtu;
}

// The frame in m (Ethernet + IPv4 + payload, built by build_frame) is larger than the MTU:
// cut it into fragments of at most `mtu` IP bytes, fresh mbufs of ctx.pool, into ctx.frag_out.
// The caller frees m once they are sent. sent: false when they are to be held (hold_frames),
// so fragments_sent counts them only when they leave (service_held).
Verdict fragment(rte_mbuf* m, const Iface& ifc, uint16_t mtu, WorkerCtx& ctx,
                 bool sent = true) noexcept {
  const uint16_t port_id = ifc.port_id;
  const size_t l2 = ifc.l2_len();
  const char* eth = rte_pktmbuf_mtod(m, const char*);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + l2);
  const char* payload = reinterpret_cast<const char*>(ip + 1);
  const size_t total = be16(ip->total_length) - sizeof(rte_ipv4_hdr);
  const size_t per = (static_cast<size_t>(mtu) - sizeof(rte_ipv4_hdr)) & ~size_t{7};
  const size_t n = (total + per - 1) / per;
  if (ctx.pool == nullptr || per == 0 || n > kMaxFragments) {
    return Verdict::dropped(Drop::kTooBig);
  }
  if (rte_pktmbuf_alloc_bulk(ctx.pool, ctx.frag_out, static_cast<unsigned>(n)) != 0) {
    return Verdict::dropped(Drop::kNoMbuf);
  }
  for (size_t k = 0; k < n; ++k) {
    const size_t off = k * per;
    const size_t chunk = total - off < per ? total - off : per;
    rte_mbuf* f = ctx.frag_out[k];
    char* d = rte_pktmbuf_append(f, static_cast<uint16_t>(l2 + sizeof(rte_ipv4_hdr) + chunk));
    if (d == nullptr) {
      rte_pktmbuf_free_bulk(ctx.frag_out, static_cast<unsigned>(n));
      return Verdict::dropped(Drop::kTooBig);
    }
    std::memcpy(d, eth, l2 + sizeof(rte_ipv4_hdr));
    auto* fip = reinterpret_cast<rte_ipv4_hdr*>(d + l2);
    fip->total_length = be16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + chunk));
    uint16_t fo = static_cast<uint16_t>(off / 8);
    if (k + 1 < n) {
      fo |= RTE_IPV4_HDR_MF_FLAG;
    }
    fip->fragment_offset = be16(fo);
    fip->hdr_checksum = 0;
    fip->hdr_checksum = rte_ipv4_cksum(fip);
    std::memcpy(fip + 1, payload + off, chunk);
    f->port = port_id;
  }
  ctx.n_frags = static_cast<uint16_t>(n);
  if (sent) {
    ctx.counters->fragments_sent.add(n);
  }
  return Verdict::tx_many(port_id);
}

// A reassembled datagram (an mbuf chain) copied into one mbuf of ctx.big_pool, so the rest of
// the pipeline sees one contiguous frame with room to grow. Frees the chain; null when the
// datagram does not fit or the pool is empty (the chain is then left to the caller).
rte_mbuf* linearize(rte_mbuf* chain, WorkerCtx& ctx) noexcept {
  if (ctx.big_pool == nullptr) {
    return nullptr;
  }
  rte_mbuf* flat = rte_pktmbuf_alloc(ctx.big_pool);
  if (flat == nullptr) {
    return nullptr;
  }
  char* d = rte_pktmbuf_append(flat, static_cast<uint16_t>(
                                         chain->pkt_len <= UINT16_MAX ? chain->pkt_len : 0));
  if (d == nullptr || chain->pkt_len > UINT16_MAX || chain->pkt_len == 0) {
    rte_pktmbuf_free(flat);
    return nullptr;
  }
  size_t at = 0;
  for (const rte_mbuf* s = chain; s != nullptr; s = s->next) {
    std::memcpy(d + at, rte_pktmbuf_mtod(s, const char*), s->data_len);
    at += s->data_len;
  }
  flat->port = chain->port;
  rte_pktmbuf_free(chain);
  return flat;
}

}  // namespace

void drain_death_row(WorkerCtx& ctx) noexcept {
  if (ctx.death_row == nullptr || ctx.death_row->cnt == 0) {
    return;
  }
  ctx.counters->drops[static_cast<size_t>(Drop::kFragmentDiscarded)].add(ctx.death_row->cnt);
  rte_ip_frag_free_death_row(ctx.death_row, 0);
}

uint32_t expire_fragments(WorkerCtx& ctx, uint64_t now_tsc) noexcept {
  if (ctx.frag_tbl == nullptr || ctx.death_row == nullptr) {
    return 0;
  }
  drain_death_row(ctx);
  // DPDK stops when the death row has no room for the next datagram's fragments: a round
  // frees at most ~288 mbufs. A full table of 4096 datagrams of 8 needs ~114 rounds.
  uint32_t freed = 0;
  for (int round = 0; round < 256; ++round) {
    rte_ip_frag_table_del_expired_entries(ctx.frag_tbl, ctx.death_row, now_tsc);
    const uint32_t n = ctx.death_row->cnt;
    if (n == 0) {
      break;
    }
    freed += n;
    drain_death_row(ctx);
  }
  return freed;
}

namespace {

// ---- received checksums -------------------------------------------------------------------
// A frame's checksums are trusted as the port reports them (RX offload: port.cpp) and summed
// here when it does not: a carrier edge must not launder corruption by forwarding a damaged
// datagram with a fresh checksum (the kernel would have dropped it for Kamailio). The *_NONE
// verdicts (the field is not right but the data was checked: virtio's partial sums) count as
// good. Fragments carry the datagram's UDP checksum in the first only: reassembled() hands the
// whole datagram here again with fresh flags, so it is summed once whole.

// The IPv4 header checksum.
[[gnu::always_inline]] inline bool ipv4_hdr_good(const rte_mbuf* m, const rte_ipv4_hdr* ip,
                                                 size_t ihl) noexcept {
  const uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (f == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN) {
    return ipv4_hdr_cksum_ok(ip, ihl);
  }
  return f != RTE_MBUF_F_RX_IP_CKSUM_BAD;
}

// The UDP checksum of a datagram to one of our listeners. Over IPv4 a zero field means the
// sender computed none (RFC 768): accepted. Over IPv6 it is mandatory and zero is dropped (RFC
// 8200 8.1), also where the interface trusts its feed: a partial sum is never zero. What the
// port did not check is summed unless the interface says its feed carries partial sums
// (`verify_udp_checksum = false`: veth senders with TX checksum offload).
// `checked`: the field of an accepted datagram is known right (the port said GOOD, or it was
// summed here), so a forward may derive its own checksum from it; not for a zero field, a
// port's NONE (the data was checked, the field is a partial sum) or an unchecked trusted feed.
[[gnu::always_inline]] inline bool udp_cksum_good(const rte_mbuf* m, const Iface& ifc,
                                                  const void* ip, bool v6,
                                                  const rte_udp_hdr* udp, size_t udp_len,
                                                  bool& checked) noexcept {
  checked = false;
  if (udp->dgram_cksum == 0) {
    return !v6;
  }
  const uint64_t f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (f != RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN) [[likely]] {
    checked = f == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    return f != RTE_MBUF_F_RX_L4_CKSUM_BAD;
  }
  if (!ifc.rx_cksum_verify) {
    return true;
  }
  checked = true;  // meaningful only when the sum below says good
  return v6 ? ipv6_udp_cksum_ok(static_cast<const rte_ipv6_hdr*>(ip), udp, udp_len)
            : ipv4_udp_cksum_ok(static_cast<const rte_ipv4_hdr*>(ip), udp, udp_len);
}

// What a reassembly table returned for the fragment `m`: nothing yet (the table keeps the
// fragment), or the whole datagram, flattened into one mbuf and handled as any other frame.
// The fragments the call gave up on (invalid, overlapping, past the table's room, an older
// datagram's timed-out or evicted ones) are on the death row: freed and counted here, after
// every call. The row holds RTE_IP_FRAG_DEATH_ROW_MBUF_LEN (288) mbufs and DPDK adds to it
// without a bound check: freeing it once per burst, with bursts above 32, let a burst of
// crafted fragments write past its end.
Verdict reassembled(const Snapshot& snap, rte_mbuf*& m, rte_mbuf* whole, WorkerCtx& ctx) noexcept {
  drain_death_row(ctx);
  if (whole == nullptr) {
    return Verdict::held();  // kept by the table (or queued on the death row when invalid)
  }
  rte_mbuf* flat = linearize(whole, ctx);
  if (flat == nullptr) {
    m = whole;  // the caller frees the chain
    return Verdict::dropped(Drop::kTooBig);
  }
  // Every fragment's IPv4 header was checked on the way in (the table rewrote the datagram's
  // length and offset fields, not necessarily its checksum); the UDP checksum is unknown: the
  // first fragment's flags spoke of one frame, not of the datagram, so handle_packet sums it
  // whole.
  flat->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
  m = flat;
  ctx.counters->datagrams_reassembled.add();
  return handle_packet(snap, m, ctx);
}

// A next hop without a MAC (cold). One of our own addresses never gets one: a datagram to
// ourselves (a script that forwards to its own socket, a reply whose next Via is ours) is a
// routing loop, which Kamailio runs again until Max-Forwards or its buffer runs out. viaduct
// drops it at once, counted, rather than ask the wire who has our address and hold it 3 s.
[[gnu::noinline, gnu::cold]] Drop next_hop_miss(const Snapshot& snap, WorkerCtx& ctx,
                                                uint16_t iface_idx, uint32_t hop) noexcept {
  for (const Iface& i : snap.ifaces) {
    if (i.ip_be == hop && hop != 0) {
      return Drop::kToSelf;
    }
  }
  post_event(ctx, Event::Type::kNeighMiss, iface_idx, hop, MacAddr{});
  return Drop::kNoNeighbour;
}

// Next-hop MAC for dst_ip_be out of ifc, or nullptr (and a resolution request to control).
// Inlined into rewrite_and_frame (a call cost ~10 instructions per forward).
[[gnu::always_inline]] inline const MacAddr* next_hop(const Snapshot& snap, WorkerCtx& ctx,
                                                      uint16_t iface_idx, uint32_t dst_ip_be,
                                                      Drop& why) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  uint32_t hop = dst_ip_be;
  if (!ifc.on_link(dst_ip_be)) {
    if (ifc.gateway_be == 0) {
      why = Drop::kNoRoute;
      return nullptr;
    }
    hop = ifc.gateway_be;
  }
  const MacAddr* mac = snap.neigh.find(hop);
  if (mac == nullptr) {
    mac = ctx.neigh.find(hop);
  }
  if (mac == nullptr) [[unlikely]] {
    why = next_hop_miss(snap, ctx, iface_idx, hop);
  }
  return mac;
}

constexpr uint16_t kNoIface = UINT16_MAX;

// The iface a datagram to dst leaves on: the receiving one when dst is on its link, else the
// first iface dst is on the link of, else the receiving one if it has a gateway, else the
// first with a gateway.
[[gnu::always_inline]] inline uint16_t egress_iface(const Snapshot& snap, uint16_t rx_iface,
                                                    uint32_t dst_ip_be) noexcept {
  if (snap.ifaces[rx_iface].on_link(dst_ip_be)) {
    return rx_iface;
  }
  for (uint16_t i = 0; i < snap.ifaces.size(); ++i) {
    if (snap.ifaces[i].on_link(dst_ip_be)) {
      return i;
    }
  }
  if (snap.ifaces[rx_iface].gateway_be != 0) {
    return rx_iface;
  }
  for (uint16_t i = 0; i < snap.ifaces.size(); ++i) {
    if (snap.ifaces[i].gateway_be != 0) {
      return i;
    }
  }
  return kNoIface;
}

// The socket a message leaving on `iface` is sent from (and, for requests, named in our Via):
// the receiving listener when it is on that iface, else a listener on that iface (a second
// VLAN, a second port: Kamailio's mhomed), else the receiving one.
[[gnu::always_inline]] inline const Listener& egress_listener(const Snapshot& snap, uint16_t iface,
                                                              const Listener& rx) noexcept {
  if (rx.iface == iface) {
    return rx;
  }
  for (const Listener& l : snap.listeners) {
    if (l.iface == iface && l.v6 == rx.v6) {
      return l;
    }
  }
  return rx;
}

// The socket of family v6 a message leaving on `iface` is sent from: the receiving one when it
// is of that family on that iface, else one on that iface, else none (Kamailio chooses a
// socket of the destination's address family).
const Listener* egress_listener_af(const Snapshot& snap, uint16_t iface, const Listener& rx,
                                   bool v6) noexcept {
  if (rx.iface == iface && rx.v6 == v6) {
    return &rx;
  }
  for (const Listener& l : snap.listeners) {
    if (l.iface == iface && l.v6 == v6) {
      return &l;
    }
  }
  return nullptr;
}

// ---- IPv6 ---------------------------------------------------------------------------------------

// The id of the IPv6 destination at addr:port, or 0 (destination_by_address() keys IPv4 only;
// IPv6 destinations are few and their replies the slower path: a scan).
[[gnu::noinline]] uint32_t destination_by_address6(const Snapshot& snap, const Ip6& addr,
                                                   uint16_t port_be) noexcept {
  for (const Destination& d : snap.destinations) {
    if (d.v6 && d.port_be == port_be && d.ip6 == addr) {
      return d.id;
    }
  }
  return 0;
}

Ip6 ip6_at(const uint8_t* p) noexcept {
  Ip6 a;
  std::memcpy(a.b, p, 16);
  return a;
}

// Learns the sender of an IPv6 frame addressed to us (its link-layer address, from an ND option
// or the frame) when it is on our link. `confirm`: tell control even when nothing changed (ND
// from a neighbour refreshes its age, as ARP does).
void learn6(const Snapshot& snap, WorkerCtx& ctx, uint16_t iface_idx, const Ip6& ip,
            const MacAddr& mac, bool confirm) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  if (ip.is_zero() || ip.is_multicast() || !ifc.on_link6(ip) || mac.is_zero() ||
      (mac.b[0] & 1) != 0 || ifc.is_ours6(ip)) {
    return;
  }
  const MacAddr* known = snap.neigh6.find(ip);
  const bool same = known != nullptr && *known == mac;
  if (!same) {
    const MacAddr* local = ctx.neigh6.find(ip);
    if (local != nullptr && *local == mac && !confirm) {
      return;  // already told control; its snapshot is on the way
    }
    if (!confirm && (known != nullptr || local != nullptr)) {
      // As learn_new() for IPv4: only Neighbor Discovery (confirm) moves a known neighbour to
      // another MAC; any other frame may teach a new one only.
      return;
    }
    ctx.neigh6.put(ip, mac);
    ++ctx.neigh_learned;
  } else if (!confirm) {
    return;
  }
  post_event6(ctx, Event::Type::kNeigh6Learned, iface_idx, ip, mac);
}

// Next-hop MAC for dst out of ifc, or nullptr (and a Neighbor Solicitation request to control).
const MacAddr* next_hop6(const Snapshot& snap, WorkerCtx& ctx, uint16_t iface_idx, const Ip6& dst,
                         Drop& why) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  const Ip6* hop = &dst;
  if (!ifc.on_link6(dst)) {
    if (!ifc.has_gateway6) {
      why = Drop::kNoRoute;
      return nullptr;
    }
    hop = &ifc.gateway6;
  }
  const MacAddr* mac = snap.neigh6.find(*hop);
  if (mac == nullptr) {
    mac = ctx.neigh6.find(*hop);
  }
  if (mac == nullptr) {
    for (const Iface& i : snap.ifaces) {
      if (i.is_ours6(*hop)) {
        why = Drop::kToSelf;  // a datagram to ourselves: next_hop_miss()
        return nullptr;
      }
    }
    post_event6(ctx, Event::Type::kNeigh6Miss, iface_idx, *hop, MacAddr{});
    why = Drop::kNoNeighbour;
  }
  return mac;
}

// As egress_iface(), for an IPv6 destination.
uint16_t egress_iface6(const Snapshot& snap, uint16_t rx_iface, const Ip6& dst) noexcept {
  if (snap.ifaces[rx_iface].on_link6(dst)) {
    return rx_iface;
  }
  for (uint16_t i = 0; i < snap.ifaces.size(); ++i) {
    if (snap.ifaces[i].on_link6(dst)) {
      return i;
    }
  }
  if (snap.ifaces[rx_iface].has_gateway6) {
    return rx_iface;
  }
  for (uint16_t i = 0; i < snap.ifaces.size(); ++i) {
    if (snap.ifaces[i].has_gateway6) {
      return i;
    }
  }
  return kNoIface;
}

// Ethernet + IPv6 + UDP in front of the UDP payload at buf_addr + payload_off (the IPv6 twin of
// build_frame): from the iface's global address, or its link-local one toward a link-local
// destination; hop limit 64 and traffic class 0, what the kernel socket Kamailio sends IPv6
// through uses. The UDP checksum (mandatory over IPv6) in software, or, as build_frame() does,
// left to a port that offloads it when the datagram leaves whole (above the MTU the caller
// cuts it into fragments, which keep the software sum): TX flags, l2_len/l3_len and the
// pseudo-header sum the NIC completes.
void build_frame6(rte_mbuf* m, size_t payload_off, size_t payload_len, const Iface& ifc,
                  const MacAddr& dst_mac, const Ip6& dst, uint16_t src_port_be,
                  uint16_t dst_port_be) noexcept {
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(
      frame_around(m, payload_off, kL3L4v6, payload_len, ifc, dst_mac, RTE_ETHER_TYPE_IPV6));
  ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
  ip->payload_len = be16(static_cast<uint16_t>(payload_len + sizeof(rte_udp_hdr)));
  ip->proto = IPPROTO_UDP;
  ip->hop_limits = kDefaultHopLimit;
  std::memcpy(ip->src_addr, dst.is_link_local() ? ifc.ll6.b : ifc.ip6.b, 16);
  std::memcpy(ip->dst_addr, dst.b, 16);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = src_port_be;
  udp->dst_port = dst_port_be;
  udp->dgram_len = ip->payload_len;
  udp->dgram_cksum = 0;
  if (ifc.tx_cksum_offload && payload_len + kL3L4v6 <= ifc.mtu) {
    m->l2_len = static_cast<uint64_t>(ifc.l2_len()) & 0x7f;
    m->l3_len = sizeof(rte_ipv6_hdr);
    m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
    udp->dgram_cksum = rte_ipv6_phdr_cksum(ip, m->ol_flags);
    return;
  }
  udp->dgram_cksum = ipv6_udptcp_cksum(ip, udp);
}

Verdict fragment6(rte_mbuf* m, const Iface& ifc, uint16_t mtu, WorkerCtx& ctx,
                  bool sent = true) noexcept;

uint16_t parse_port(std::string_view s) noexcept {
  uint32_t v = 0;
  if (s.empty() || s.size() > 5) {
    return 0;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return 0;
    }
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535 ? static_cast<uint16_t>(v) : 0;
}

[[gnu::always_inline]] inline size_t format_uint(uint32_t v, char* out) noexcept {
  // Max-Forwards, per forwarded request: one or two digits, without the loops.
  if (v < 10) {
    out[0] = static_cast<char>('0' + v);
    return 1;
  }
  if (v < 100) {
    out[0] = static_cast<char>('0' + v / 10);
    out[1] = static_cast<char>('0' + v % 10);
    return 2;
  }
  char tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) {
    out[i] = tmp[n - 1 - i];
  }
  return n;
}

// force_rport: as if the top Via had ;rport (the reply goes to the source port and its Via
// says rport=, Kamailio's FL_FORCE_RPORT).
Verdict send_local_reply(const Snapshot& snap, rte_mbuf* m, const rte_ether_hdr* eth,
                         const PacketInfo& pi, const char* msg, const sip::SipView& v,
                         uint16_t code, std::string_view reason, bool force_rport,
                         WorkerCtx& ctx, std::string_view extra_hdrs) noexcept {
  char src_ip[48];
  const size_t src_ip_len =
      pi.v6 ? format_ipv6(pi.src_ip6, src_ip) : format_ipv4(pi.src_ip_be, src_ip);
  const size_t n = sip::build_reply(msg, v, code, reason, {src_ip, src_ip_len},
                                    be16(pi.src_port_be), ctx.reply_buf,
                                    sizeof(ctx.reply_buf), force_rport, extra_hdrs,
                                    snap.server_default ? std::string_view()
                                                        : std::string_view(snap.server_line));
  const size_t payload_off = RTE_PKTMBUF_HEADROOM + (pi.v6 ? kL2L3L4v6 : kL2L3L4);
  if (n == 0 || payload_off + n > m->buf_len) {
    return Verdict::dropped(Drop::kTooBig);
  }
  // Reply to the source address; to the Via port unless the Via asked for rport (RFC 3581).
  uint16_t dst_port_be = pi.src_port_be;
  if (!v.via1.has_rport && !force_rport) {
    dst_port_be = be16(v.via1.port_num != 0 ? v.via1.port_num : 5060);
  }
  const MacAddr dst_mac = to_mac(eth->src_addr);  // the previous hop sent it: it gets it back
  std::memcpy(static_cast<char*>(m->buf_addr) + payload_off, ctx.reply_buf, n);
  const Iface& ifc = snap.ifaces[pi.iface];
  if (pi.v6) [[unlikely]] {
    build_frame6(m, payload_off, n, ifc, dst_mac, pi.src_ip6, pi.listener->port_be, dst_port_be);
    ctx.counters->local_replies.add();
    if (n + kL3L4v6 > ifc.mtu) {
      return fragment6(m, ifc, ifc.mtu, ctx);
    }
    return Verdict::tx(ifc.port_id);
  }
  build_frame(snap, m, payload_off, n, ifc, dst_mac, pi.src_ip_be, pi.listener->port_be,
              dst_port_be, ctx);
  ctx.counters->local_replies.add();
  if (const uint16_t mtu = egress_mtu(snap, ifc); n + 28 > mtu) [[unlikely]] {
    return fragment(m, ifc, mtu, ctx);
  }
  return Verdict::tx(ifc.port_id);
}

// The destination MAC of a frame built for a next hop that has none yet (ctx.hold).
constexpr MacAddr kUnresolvedMac{};

// A next hop without a MAC: hold the frame (built with kUnresolvedMac) rather than drop it,
// when the worker holds frames and has room.
[[gnu::always_inline]] inline bool may_hold(const WorkerCtx& ctx, Drop why) noexcept {
  return why == Drop::kNoNeighbour && ctx.neigh_hold_cycles != 0 &&
         ctx.hold.n < NeighHold::kMax;
}

// Takes the frame `out` says is ready (kTx: m; kTxMany: ctx.frag_out, m freed here) into
// ctx.hold until its next hop's MAC is known (service_held). No room (NeighHold's bounds): a
// no_neighbour drop, as without a hold. dst6: an IPv6 destination (else dst_ip_be).
[[gnu::noinline, gnu::cold]] Verdict hold_frames(const Snapshot& snap, WorkerCtx& ctx,
                                                 rte_mbuf* m, Verdict out, uint16_t out_if,
                                                 uint32_t dst_ip_be, const Ip6* dst6,
                                                 uint16_t dst_port_be, uint32_t dest_id) noexcept {
  if (out.is_drop()) {
    return out;  // fragment() could not cut it
  }
  const bool many = out.kind == Verdict::Kind::kTxMany;
  const uint16_t n = many ? ctx.n_frags : 1;
  const Iface& ifc = snap.ifaces[out_if];
  HeldFrame h;
  h.iface = out_if;
  h.tx_port = out.tx_port;
  h.dst_port_be = dst_port_be;
  h.dest_id = dest_id;
  h.v6 = dst6 != nullptr;
  if (h.v6) {
    h.dst6 = *dst6;
    h.hop6 = ifc.on_link6(*dst6) ? *dst6 : ifc.gateway6;
  } else {
    h.dst_ip_be = dst_ip_be;
    h.hop_be = ifc.on_link(dst_ip_be) ? dst_ip_be : ifc.gateway_be;
  }
  NeighHold& q = ctx.hold;
  uint16_t same = 0;
  for (uint16_t i = 0; i < q.n; ++i) {
    const HeldFrame& o = q.f[i];
    same += o.v6 == h.v6 && (h.v6 ? o.hop6 == h.hop6 : o.hop_be == h.hop_be) ? 1 : 0;
  }
  if (q.n + n > NeighHold::kMax || same + n > NeighHold::kPerHop) {
    if (many) {
      rte_pktmbuf_free_bulk(ctx.frag_out, n);
    }
    return Verdict::dropped(Drop::kNoNeighbour);
  }
  h.deadline = rte_rdtsc() + ctx.neigh_hold_cycles;
  h.fragment = many;
  for (uint16_t k = 0; k < n; ++k) {
    h.m = many ? ctx.frag_out[k] : m;
    h.first = k == 0;
    q.f[q.n++] = h;
  }
  ctx.counters->neigh_held.add(n);
  if (many) {
    rte_pktmbuf_free(m);  // the datagram the fragments were cut from
  }
  return Verdict::held();
}

// Applies the edits to the SIP message inside the mbuf and frames it toward dst (next-hop MAC
// `mac`), out of `out_if` from the port of `out`. slow_above_mtu (udp_mtu_try_proto): a message
// that would leave in fragments belongs to the slow path (another transport), which this
// release does not have: dropped as needs_slow_path instead. kHold: the next hop has no MAC
// yet; the frame is built with kUnresolvedMac and held (hold_frames). Inlined into its callers
// (ten arguments: the call cost a forward ~26 instructions, a routed reply ~40); the kHold
// instance only into the cold rewrite_and_frame_held(), so the forward's own path carries no
// test for it.
template <bool kHold>
[[gnu::always_inline]] inline Verdict frame_with(const Snapshot& snap, rte_mbuf* m,
                                                 const PacketInfo& pi,
                                                 std::span<const sip::Edit> edits,
                                                 uint16_t out_if, const Listener& out,
                                                 uint32_t dst_ip_be, uint16_t dst_port_be,
                                                 WorkerCtx& ctx, bool slow_above_mtu,
                                                 const MacAddr& mac, uint32_t dest_id) noexcept {
  if (pi.sip_off < kL2L3L4) {
    return Verdict::dropped(Drop::kNoHeadroom);  // a PMD that left no headroom
  }
  // The rewriter sees the buffer minus the room the L2-L4 headers need in front.
  char* base = static_cast<char*>(m->buf_addr) + kL2L3L4;
  size_t head = pi.sip_off - kL2L3L4;
  size_t len = pi.sip_len;
  const Iface& ifc = snap.ifaces[out_if];
  // The UDP checksum in software (no offload): from the received datagram's, checked on the
  // way in, and the edits, before they move the message over its headers (cksum.hpp).
  // The sum and the edits in one walk (apply_edits_summed) when the sum is wanted.
  uint64_t sum = 0;
  const bool sum_known = pi.rx_sum_known && !ifc.tx_cksum_offload;
  if (sum_known) {
    sum = ipv4_udp_payload_sum(pi.src_ip_be, pi.listener->ip_be,
                               reinterpret_cast<const rte_udp_hdr*>(base + head) - 1, len);
  }
  if (!(sum_known ? apply_edits_summed(base, m->buf_len - kL2L3L4, head, len, edits, sum)
                  : sip::apply_edits(base, m->buf_len - kL2L3L4, head, len, edits))) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  const uint16_t mtu = egress_mtu(snap, ifc);
  if (slow_above_mtu && len + 28 > mtu) [[unlikely]] {
    return Verdict::dropped(Drop::kNeedsSlowPath);
  }
  build_frame(snap, m, head + kL2L3L4, len, ifc, mac, dst_ip_be, out.port_be, dst_port_be, ctx,
              sum_known ? &sum : nullptr);
  const Verdict v =
      len + 28 > mtu ? fragment(m, ifc, mtu, ctx, !kHold) : Verdict::tx(ifc.port_id);
  if constexpr (kHold) {
    return hold_frames(snap, ctx, m, v, out_if, dst_ip_be, nullptr, dst_port_be, dest_id);
  } else {
    static_cast<void>(dest_id);
    return v;
  }
}

// The next hop has no MAC (why: no_route, no_neighbour): the frame is held for it when
// may_hold() says so, else the drop.
[[gnu::noinline, gnu::cold]] Verdict rewrite_and_frame_held(
    const Snapshot& snap, rte_mbuf* m, const PacketInfo& pi, std::span<const sip::Edit> edits,
    uint16_t out_if, const Listener& out, uint32_t dst_ip_be, uint16_t dst_port_be,
    WorkerCtx& ctx, bool slow_above_mtu, uint32_t dest_id, Drop why) noexcept {
  if (!may_hold(ctx, why)) {
    return Verdict::dropped(why);
  }
  return frame_with<true>(snap, m, pi, edits, out_if, out, dst_ip_be, dst_port_be, ctx,
                          slow_above_mtu, kUnresolvedMac, dest_id);
}

// frame_with() toward dst_ip_be's next hop: its MAC, else held for it (may_hold), else the
// drop (no_route, no_neighbour). dest_id: the dispatcher destination (0: none), named in the
// send failure should a held frame expire.
[[gnu::always_inline]] inline Verdict rewrite_and_frame(const Snapshot& snap, rte_mbuf* m,
                                                        const PacketInfo& pi,
                                                        std::span<const sip::Edit> edits,
                                                        uint16_t out_if, const Listener& out,
                                                        uint32_t dst_ip_be, uint16_t dst_port_be,
                                                        WorkerCtx& ctx,
                                                        bool slow_above_mtu = false,
                                                        uint32_t dest_id = 0) noexcept {
  Drop why = Drop::kNoNeighbour;
  const MacAddr* mac = next_hop(snap, ctx, out_if, dst_ip_be, why);
  if (mac == nullptr) [[unlikely]] {
    return rewrite_and_frame_held(snap, m, pi, edits, out_if, out, dst_ip_be, dst_port_be, ctx,
                                  slow_above_mtu, dest_id, why);
  }
  return frame_with<false>(snap, m, pi, edits, out_if, out, dst_ip_be, dst_port_be, ctx,
                           slow_above_mtu, *mac, 0);
}

// The IPv6 frame in m (Ethernet + IPv6 + UDP datagram, built by build_frame6) is larger than
// the interface MTU: cut the UDP datagram into fragments (RFC 8200 4.5: a Fragment header after
// the IPv6 header, offsets in 8-byte units, one identification per datagram), fresh mbufs of
// ctx.pool, into ctx.frag_out. The caller frees m once they are sent.
Verdict fragment6(rte_mbuf* m, const Iface& ifc, uint16_t mtu, WorkerCtx& ctx,
                  bool sent) noexcept {
  const size_t l2 = ifc.l2_len();
  const char* eth = rte_pktmbuf_mtod(m, const char*);
  const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(eth + l2);
  const char* payload = reinterpret_cast<const char*>(ip + 1);
  const size_t total = be16(ip->payload_len);
  constexpr size_t kFragHdr = sizeof(rte_ipv6_fragment_ext);
  const size_t per =
      mtu > sizeof(rte_ipv6_hdr) + kFragHdr ? (mtu - sizeof(rte_ipv6_hdr) - kFragHdr) & ~size_t{7}
                                            : 0;
  const size_t n = per == 0 ? 0 : (total + per - 1) / per;
  if (ctx.pool == nullptr || per == 0 || n > kMaxFragments) {
    return Verdict::dropped(Drop::kTooBig);
  }
  if (rte_pktmbuf_alloc_bulk(ctx.pool, ctx.frag_out, static_cast<unsigned>(n)) != 0) {
    return Verdict::dropped(Drop::kNoMbuf);
  }
  const uint32_t id = rte_cpu_to_be_32((uint32_t{ctx.worker_id} << 24) | (ctx.ip6_frag_id++ & 0xffffff));
  for (size_t k = 0; k < n; ++k) {
    const size_t off = k * per;
    const size_t chunk = total - off < per ? total - off : per;
    rte_mbuf* f = ctx.frag_out[k];
    char* d = rte_pktmbuf_append(
        f, static_cast<uint16_t>(l2 + sizeof(rte_ipv6_hdr) + kFragHdr + chunk));
    if (d == nullptr) {
      rte_pktmbuf_free_bulk(ctx.frag_out, static_cast<unsigned>(n));
      return Verdict::dropped(Drop::kTooBig);
    }
    std::memcpy(d, eth, l2 + sizeof(rte_ipv6_hdr));
    auto* fip = reinterpret_cast<rte_ipv6_hdr*>(d + l2);
    fip->payload_len = be16(static_cast<uint16_t>(kFragHdr + chunk));
    fip->proto = kProtoFragment6;
    auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(fip + 1);
    fh->next_header = ip->proto;
    fh->reserved = 0;
    fh->frag_data = be16(static_cast<uint16_t>(off | (k + 1 < n ? 1 : 0)));
    fh->id = id;
    std::memcpy(fh + 1, payload + off, chunk);
    f->port = ifc.port_id;
  }
  ctx.n_frags = static_cast<uint16_t>(n);
  if (sent) {
    ctx.counters->fragments_sent.add(n);
  }
  return Verdict::tx_many(ifc.port_id);
}

// rewrite_and_frame() toward an IPv6 destination. Above the interface MTU (udp4_raw_mtu is
// IPv4's: Kamailio sends IPv6 through the kernel, which fragments at the interface MTU) the
// datagram leaves in fragments.
[[gnu::noinline]] Verdict rewrite_and_frame6(const Snapshot& snap, rte_mbuf* m,
                                             const PacketInfo& pi,
                                             std::span<const sip::Edit> edits, uint16_t out_if,
                                             const Listener& out, const Ip6& dst,
                                             uint16_t dst_port_be, WorkerCtx& ctx,
                                             bool slow_above_mtu = false,
                                             uint32_t dest_id = 0) noexcept {
  Drop why = Drop::kNoNeighbour;
  const MacAddr* mac = next_hop6(snap, ctx, out_if, dst, why);
  if (mac == nullptr) {
    if (!may_hold(ctx, why)) {
      return Verdict::dropped(why);
    }
    mac = &kUnresolvedMac;
  }
  if (pi.sip_off < kL2L3L4v6) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  char* base = static_cast<char*>(m->buf_addr) + kL2L3L4v6;
  size_t head = pi.sip_off - kL2L3L4v6;
  size_t len = pi.sip_len;
  if (!sip::apply_edits(base, m->buf_len - kL2L3L4v6, head, len, edits)) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  const Iface& ifc = snap.ifaces[out_if];
  if (len + kL3L4v6 > ifc.mtu) [[unlikely]] {
    if (slow_above_mtu) {
      return Verdict::dropped(Drop::kNeedsSlowPath);
    }
    build_frame6(m, head + kL2L3L4v6, len, ifc, *mac, dst, out.port_be, dst_port_be);
    const Verdict f = fragment6(m, ifc, ifc.mtu, ctx, mac != &kUnresolvedMac);
    return mac != &kUnresolvedMac ? f
                                  : hold_frames(snap, ctx, m, f, out_if, 0, &dst, dst_port_be,
                                                dest_id);
  }
  build_frame6(m, head + kL2L3L4v6, len, ifc, *mac, dst, out.port_be, dst_port_be);
  if (mac == &kUnresolvedMac) {
    return hold_frames(snap, ctx, m, Verdict::tx(ifc.port_id), out_if, 0, &dst, dst_port_be,
                       dest_id);
  }
  return Verdict::tx(ifc.port_id);
}

// The next hop a URI names ($du, forward(host, port), loose_route's next Route, the
// Request-URI): sip:HOST[:PORT][;params], angle brackets allowed. Only UDP to an IPv4 literal
// is ours: a host name would need DNS (unresolvable), sips: or another transport the slow path
// (needs_slow_path).
bool uri_hop(std::string_view uri, uint32_t& ip_be, uint16_t& port_be, Drop& why,
             Ip6& ip6, bool& v6) noexcept {
  if (!uri.empty() && uri.front() == '<') {
    const size_t close = uri.find('>');
    uri = uri.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  }
  sip::Uri u;
  why = Drop::kUnresolvable;
  if (uri.size() > sip::kMaxMessage ||
      !sip::parse_uri(uri.data(), {0, static_cast<uint16_t>(uri.size())}, u)) {
    return false;
  }
  const std::string_view scheme = u.scheme.in(uri.data());
  if (!iequal(scheme, "sip")) {
    if (iequal(scheme, "sips")) {
      why = Drop::kNeedsSlowPath;
    }
    return false;
  }
  std::string_view params = u.params.in(uri.data());
  while (!params.empty()) {
    const size_t semi = params.find(';');
    const std::string_view p = params.substr(0, semi);
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() > 10 && iequal(p.substr(0, 10), "transport=") && !iequal(p.substr(10), "udp")) {
      why = Drop::kNeedsSlowPath;
      return false;
    }
  }
  if (!parse_ipv4(u.host.in(uri.data()), ip_be)) {
    // An IPv6 reference ("[2001:db8::1]"): the caller sends over IPv6.
    if (!parse_ipv6(u.host.in(uri.data()), ip6)) {
      return false;
    }
    v6 = true;
  }
  port_be = be16(u.port_num != 0 ? u.port_num : 5060);
  return true;
}

// The edits of one forward, left uninitialised: constructing kMaxEdits of them per packet
// would cost a plain forward (three edits) more than the rest of what the script may ask for.
union EditArray {
  EditArray() noexcept {}
  sip::Edit e[sip::kMaxEdits];
};

// Room for our Via (with ;rport) and for our Record-Route.
constexpr size_t kViaLineMax = 192;
constexpr size_t kRrLineMax = 320;

// The text of a source address, from the worker's cache (Ipv4TextCache).
[[gnu::always_inline]] inline std::string_view source_text(Ipv4TextCache& c,
                                                           uint32_t ip_be) noexcept {
  Ipv4TextCache::Entry& e = c.e[(ip_be >> 24) % Ipv4TextCache::kSize];
  if (e.ip_be != ip_be || e.len == 0) [[unlikely]] {
    e.len = static_cast<uint8_t>(format_ipv4(ip_be, e.text));
    e.ip_be = ip_be;
  }
  return {e.text, e.len};
}

// One Record-Route as rr's modparams shape it (cfg::Program::rr_*), for the cases the inline
// path of forward_request does not write: ";r2=on" in front of ";lr" when it is one of a double
// record-routing (the request leaves from another socket than it came in on, or
// enable_double_rr is 2), ";lr=on" with enable_full_lr, as Kamailio's rr writes them, and
// record_route()'s params after ;ftag, in both lines (measured). 0 when it does not fit.
[[gnu::noinline]] size_t rr_line_ex(char* out, std::string_view host, uint16_t port,
                                    std::string_view ftag, std::string_view params, bool r2,
                                    bool full_lr) noexcept {
  static constexpr std::string_view kR2 = ";r2=on";
  static constexpr std::string_view kOn = "=on";
  size_t n = sip::build_record_route_line(out, kRrLineMax - kR2.size() - kOn.size(), host, port,
                                          ftag);
  const size_t lr = std::string_view(out, n).find(";lr");
  if (n == 0 || lr == std::string_view::npos) {
    return 0;
  }
  if (full_lr) {
    std::memmove(out + lr + 3 + kOn.size(), out + lr + 3, n - lr - 3);
    std::memcpy(out + lr + 3, kOn.data(), kOn.size());
    n += kOn.size();
  }
  if (r2) {
    std::memmove(out + lr + kR2.size(), out + lr, n - lr);
    std::memcpy(out + lr, kR2.data(), kR2.size());
    n += kR2.size();
  }
  if (!params.empty() && !splice_rr_params(out, kRrLineMax, n, params)) {
    return 0;
  }
  return n;
}

// a == b for short texts (an IPv4 address: 8 to 16 bytes) as two overlapping words each, inline;
// else memcmp (a call, ~25 instructions per forward).
[[gnu::always_inline]] inline bool same_text(std::string_view a, std::string_view b) noexcept {
  const size_t n = a.size();
  if (n != b.size()) {
    return false;
  }
  if (n >= 8 && n <= 16) {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.data(), 8);
    std::memcpy(&a1, a.data() + n - 8, 8);
    std::memcpy(&b0, b.data(), 8);
    std::memcpy(&b1, b.data() + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return n == 0 || std::memcmp(a.data(), b.data(), n) == 0;
}

// A stateless forward() of the request, with every edit and routing choice the script made,
// the way Kamailio 5.6.3 lays it out: an inserted Max-Forwards, then our Record-Route
// (record_route), above every header field; our Via above the previous top Via;
// received/rport on the previous top Via; Max-Forwards; the new Request-URI; the top Route
// popped (loose_route); remove_hf fields gone; append_hf lines after the last header. The body
// and Content-Length are never touched. Next hop: $du (a URI or a dispatcher destination),
// else the (new) Request-URI. Inlined into its callers: a call with this many arguments
// costs a plain forward more than everything the new fields added to it.
[[gnu::always_inline]] inline Verdict forward_request(const Snapshot& snap, rte_mbuf* m, const PacketInfo& pi,
                        const char* msg, const sip::SipView& v, const VmResult& r,
                        WorkerCtx& ctx) noexcept {
  uint32_t dst_ip_be = 0;
  uint16_t dst_port_be = 0;
  uint32_t dest_id = 0;
  int16_t send_socket = r.send_socket;
  const Ip6* dst6 = nullptr;  // an IPv6 next hop (the IPv4 fields are then unused)
  if (r.du >= 0 && r.du_uri.empty()) {
    const Destination& d = snap.destinations[static_cast<size_t>(r.du)];
    if (send_socket < 0) {
      send_socket = d.socket;  // the list's socket= attribute; force_send_socket() wins
    }
    dst_ip_be = d.ip_be;
    dst_port_be = d.port_be;
    dest_id = d.id;
    if (d.v6) [[unlikely]] {
      dst6 = &d.ip6;
      // use_dst_blocklist, IPv6: its own table, checked here so the IPv4 check below stays
      // what it was.
      if (!snap.blocked6.empty() && snap.is_blocked6(d.ip6, d.port_be)) {
        return Verdict::dropped(Drop::kBlocklisted);
      }
    }
  } else {
    const std::string_view uri = !r.du_uri.empty()     ? r.du_uri
                                 : !r.new_ruri.empty() ? r.new_ruri
                                                       : v.ruri.in(msg);
    Drop why = Drop::kUnresolvable;
    bool v6 = false;
    if (!uri_hop(uri, dst_ip_be, dst_port_be, why, ctx.hop6, v6)) {
      return Verdict::dropped(why);
    }
    if (v6) [[unlikely]] {
      dst6 = &ctx.hop6;
      if (!snap.blocked6.empty() && snap.is_blocked6(ctx.hop6, dst_port_be)) {
        return Verdict::dropped(Drop::kBlocklisted);
      }
    }
  }

  // use_dst_blocklist: Kamailio checks before every stateless send and drops (E_SEND).
  if (!snap.blocked.empty() && snap.is_blocked(dst_ip_be, dst_port_be)) [[unlikely]] {
    return Verdict::dropped(Drop::kBlocklisted);
  }
  // onsend_route { } (dataplane/reply_route.cpp): `drop` there keeps the request from leaving.
  if (Drop why; !run_onsend_route(snap, pi, msg, v, dst_ip_be, dst_port_be, dst6, ctx, why))
      [[unlikely]] {
    return Verdict::dropped(why);
  }
  // force_send_socket: that socket, out of its iface; else the iface toward dst (mhomed).
  uint16_t out_if = kNoIface;
  const Listener* l = nullptr;
  if (send_socket >= 0) [[unlikely]] {
    if (static_cast<size_t>(send_socket) >= snap.listeners.size()) {
      return Verdict::dropped(Drop::kScriptError);
    }
    l = &snap.listeners[static_cast<size_t>(send_socket)];
    out_if = l->iface;
    if (l->v6 != (dst6 != nullptr)) {
      return Verdict::dropped(Drop::kNoRoute);  // a socket of the other family cannot send it
    }
  } else if (dst6 != nullptr || pi.v6) [[unlikely]] {
    // IPv6 in or out: a socket of the destination's family (Kamailio's choice), on the iface
    // toward it.
    out_if = dst6 != nullptr ? egress_iface6(snap, pi.iface, *dst6)
                             : egress_iface(snap, pi.iface, dst_ip_be);
    l = out_if == kNoIface ? nullptr
                           : egress_listener_af(snap, out_if, *pi.listener, dst6 != nullptr);
    if (l == nullptr) {
      send_failed(snap, ctx, dest_id, out_if, dst_ip_be, dst_port_be, Drop::kNoRoute, dst6);
      return Verdict::dropped(Drop::kNoRoute);
    }
  } else {
    out_if = egress_iface(snap, pi.iface, dst_ip_be);
    if (out_if == kNoIface) {
      send_failed(snap, ctx, dest_id, out_if, dst_ip_be, dst_port_be, Drop::kNoRoute);
      return Verdict::dropped(Drop::kNoRoute);
    }
    l = &egress_listener(snap, out_if, *pi.listener);
  }

  // Our Via (set_advertised_address/port win over the socket's), ;rport with add_local_rport.
  char via_line[kViaLineMax];
  const std::string_view via_host = r.adv_addr.empty() ? std::string_view(l->via_host) : r.adv_addr;
  const uint16_t via_port = r.adv_port != 0 ? r.adv_port : l->via_port;
  // Built whole each time: a cached "Via: ... ;branch=" with the branch stored into it saved
  // ~70 instructions but cost ~15 ns (the copies that read the line soon after wait for its
  // overlapping stores: perf/RESULTS.md, R9).
  size_t via_len =
      sip::build_stateless_via_line(via_line, sizeof(via_line), via_host, via_port, msg, v);
  if (via_len == 0) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  if (r.add_local_rport) {
    static constexpr std::string_view kRport = ";rport\r\n";
    if (via_len - 2 + kRport.size() > sizeof(via_line)) {
      return Verdict::dropped(Drop::kNoHeadroom);
    }
    std::memcpy(via_line + via_len - 2, kRport.data(), kRport.size());
    via_len += kRport.size() - 2;
  }
  EditArray edit_array;
  sip::Edit* const edits = edit_array.e;
  size_t n_edits = 0;
  // What goes above every header field: an inserted Max-Forwards (maxfwd), our Record-Route
  // (rr) and insert_hf's lines, in the order the script asked for them (VmResult::n_top), then
  // our Via: Kamailio's lumps at one anchor (measured, 5.6.3). order_edits keeps inserts at
  // one offset in the order they are added here.
  char mf_line[sizeof("Max-Forwards: \r\n") + 10];
  char rr_line[kRrLineMax];
  char rr_line2[kRrLineMax];
  const bool mf_insert = r.maxfwd == VmResult::MaxFwd::kInsert;
  for (uint8_t seq = 0; seq <= r.n_top; ++seq) {
    if (mf_insert && r.mf_seq == seq) [[unlikely]] {
      static constexpr std::string_view kMf = "Max-Forwards: ";
      std::memcpy(mf_line, kMf.data(), kMf.size());
      size_t mf_len = kMf.size();
      mf_len += format_uint(r.maxfwd_value, mf_line + mf_len);
      mf_line[mf_len++] = '\r';
      mf_line[mf_len++] = '\n';
      edits[n_edits++] = {static_cast<uint16_t>(sip::first_header_offset(msg, v)), 0,
                          {mf_line, mf_len}};
    }
    // record_route(): Kamailio 5.6 builds it from the socket (its listen advertise), not from
    // set_advertised_address/port, with the From tag (rr's append_fromtag, on by default).
    if (r.record_route && r.rr_seq == seq) {
      const cfg::Program& prog = *snap.program;
      const std::string_view ftag =
          prog.rr_append_fromtag ? v.from_tag.in(msg) : std::string_view();
      // Leaving from another socket than the one it came in on (another address, port or
      // family: Kamailio compares the sockets, not their advertised names), Kamailio's rr
      // (enable_double_rr 1, the default) inserts two, both with ;r2=on: the sending socket's
      // above the receiving one's (measured on 5.6.3, IPv4 to IPv4 included); with 2 it
      // always does (two equal lines when the socket is the same), with 0 never.
      if (prog.rr_double == 2 || (prog.rr_double == 1 && l != pi.listener)) [[unlikely]] {
        const size_t a = rr_line_ex(rr_line, l->via_host, l->via_port, ftag, r.rr_params, true,
                                    prog.rr_full_lr);
        const size_t b = rr_line_ex(rr_line2, pi.listener->via_host, pi.listener->via_port,
                                    ftag, r.rr_params, true, prog.rr_full_lr);
        if (a == 0 || b == 0) {
          return Verdict::dropped(Drop::kNoHeadroom);
        }
        edits[n_edits++] = sip::record_route_edit(msg, v, {rr_line, a});
        edits[n_edits++] = sip::record_route_edit(msg, v, {rr_line2, b});
      } else {
        // One: the receiving socket's (rr's inbound Record-Route; with enable_double_rr 0 the
        // request may leave from another one: measured on 5.6.3).
        const Listener* in = pi.listener;
        size_t rr_len = 0;
        if (prog.rr_full_lr) [[unlikely]] {
          rr_len = rr_line_ex(rr_line, in->via_host, in->via_port, ftag, r.rr_params, false,
                              true);
        } else {
          rr_len = sip::build_record_route_line(rr_line, sizeof(rr_line), in->via_host,
                                                in->via_port, ftag);
          // record_route(params): dataplane/reply_route.cpp splices them in.
          if (rr_len != 0 && !r.rr_params.empty() &&
              !splice_rr_params(rr_line, sizeof(rr_line), rr_len, r.rr_params)) {
            rr_len = 0;
          }
        }
        if (rr_len == 0) {
          return Verdict::dropped(Drop::kNoHeadroom);
        }
        edits[n_edits++] = sip::record_route_edit(msg, v, {rr_line, rr_len});
      }
    }
    if (seq != 0) [[unlikely]] {
      for (size_t i = 0; i < r.n_append && i < kVmMaxAppend; ++i) {
        if (r.append_top[i] == seq) {
          edits[n_edits++] = {static_cast<uint16_t>(sip::first_header_offset(msg, v)), 0,
                              r.append_hf[i]};
        }
      }
    }
  }
  edits[n_edits++] = {v.top_via_line.off, 0, {via_line, via_len}};

  char src_ip6[48];
  const std::string_view src_ip =
      pi.v6 ? std::string_view(src_ip6, format_ipv6(pi.src_ip6, src_ip6))
            : source_text(ctx.src_text, pi.src_ip_be);
  char recv_buf[sip::kViaReceivedMax];
  union RecvEdits {  // via_received_edits sets the n_recv it fills: no construction first
    RecvEdits() noexcept {}
    sip::Edit e[2];
  } recv_storage;
  sip::Edit(&recv_edits)[2] = recv_storage.e;
  size_t n_recv = 0;
  // The common request, sent from the address its top Via names (as written: no brackets),
  // without rport or received: nothing to add (via_received_edits' own first test), no call.
  const std::string_view via_host_rx = v.via1.host.in(msg);
  const bool plain_via = !r.force_rport && !v.via1.has_rport && v.via1.received.empty() &&
                         same_text(via_host_rx, src_ip);
  if (!plain_via &&
      !sip::via_received_edits(msg, v, src_ip, be16(pi.src_port_be),
                               recv_buf, sizeof(recv_buf), recv_edits, n_recv,
                               r.force_rport ? sip::ForceRport::kRequest : sip::ForceRport::kNo)) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  for (size_t i = 0; i < n_recv; ++i) {
    edits[n_edits++] = recv_edits[i];
  }
  char mf_buf[12];
  if (r.maxfwd == VmResult::MaxFwd::kDecrement) {
    const size_t n = format_uint(r.maxfwd_value, mf_buf);
    edits[n_edits++] = {v.max_forwards_value.off, v.max_forwards_value.len, {mf_buf, n}};
  }
  // The script's own edits. At most 1 + 4 + 8 here, and the remove_hf fields below are
  // bounded by the array: more is a counted drop, never a partial rewrite.
  if (!r.new_ruri.empty()) {
    edits[n_edits++] = sip::ruri_edit(v, r.new_ruri);
  }
  bool cut_in_quote = false;
  if (r.route_cuts != 0) [[unlikely]] {
    n_edits += sip::route_cut_edits(msg, v, r.route_cut.v, r.route_cuts & 3u, edits + n_edits,
                                    &cut_in_quote);
    if ((r.route_cuts & VmResult::kRouteCutLast) != 0) {
      edits[n_edits++] = {r.route_cut[3].off, r.route_cut[3].len, {}};
    }
  } else if (r.route_pop) {
    bool has_route = false;
    const sip::Edit pop = sip::route_pop_edit(msg, v, has_route, &cut_in_quote);
    if (has_route) {
      edits[n_edits++] = pop;
    }
  }
  if (cut_in_quote) [[unlikely]] {
    return Verdict::dropped(Drop::kMalformedSip);  // a '"' inside our Route's <URI>
  }
  for (size_t i = 0; i < r.n_append && i < kVmMaxAppend; ++i) {
    if (r.append_top[i] != 0) {
      continue;  // insert_hf on top: above
    }
    edits[n_edits++] = r.append_at[i] != 0 ? sip::Edit{r.append_at[i], 0, r.append_hf[i]}
                                           : sip::append_header_edit(v, r.append_hf[i]);
  }
  for (size_t i = 0; i < r.n_remove && i < kVmMaxRemove; ++i) {
    std::string_view full;
    const char compact = sip::compact_form(r.remove_hf[i], full);
    const size_t room = sip::kMaxEdits - n_edits;
    const size_t found = sip::remove_header_edits(msg, v, full, compact, edits + n_edits, room);
    if (found > room) {
      return Verdict::dropped(Drop::kEditConflict);
    }
    n_edits += found;
  }
  // Max-Forwards may stand before the top Via, Record-Route and Route anywhere: order
  // everything by offset.
  if (!sip::order_edits(edits, n_edits, r.n_remove != 0)) {
    return Verdict::dropped(Drop::kEditConflict);
  }
  const Verdict out =
      dst6 == nullptr
          ? rewrite_and_frame(snap, m, pi, {edits, n_edits}, out_if, *l, dst_ip_be, dst_port_be,
                              ctx, r.mtu_try_proto, dest_id)
          : rewrite_and_frame6(snap, m, pi, {edits, n_edits}, out_if, *l, *dst6, dst_port_be,
                               ctx, r.mtu_try_proto, dest_id);
  if (!out.is_drop()) {
    // Counted when the decision is made, as Kamailio counts a send the kernel queued for ARP;
    // a held frame that expires is counted again as a no_neighbour drop and a send failure.
    ctx.counters->requests_forwarded.add();
    if (dest_id != 0) {
      ctx.counters->forwarded_to[dest_id % kMaxDestinations].add();
    }
  } else {
    send_failed(snap, ctx, dest_id, out_if, dst_ip_be, dst_port_be, out.drop, dst6);
  }
  return out;
}

// apply_request_result(), inlined into handle_request.
[[gnu::always_inline]] inline Verdict apply_result(const Snapshot& snap, rte_mbuf* m,
                                                   const rte_ether_hdr* eth, const PacketInfo& pi,
                                                   const char* msg, const sip::SipView& v,
                                                   const VmResult& r, WorkerCtx& ctx) noexcept {
  if (r.error) {
    return Verdict::dropped(Drop::kScriptError);
  }
  if (r.action == VmResult::Action::kReply) {
    return send_local_reply(snap, m, eth, pi, msg, v, r.reply_code, r.reply_reason,
                            r.force_rport, ctx, r.reply_hdrs);
  }
  if (r.action != VmResult::Action::kForward) {
    return Verdict::dropped(Drop::kScriptDrop);  // implicit action of request_route: drop
  }
  return forward_request(snap, m, pi, msg, v, r, ctx);
}

// handle_request() and handle_reply() are called from handle_packet() (IPv4) and from
// handle_ipv6(): forced inline, so the IPv4 path keeps them inlined as with one caller (a call
// here cost the IPv4 INVITE about 60 instructions, callgrind).
[[gnu::always_inline]] inline Verdict handle_request(const Snapshot& snap, rte_mbuf* m,
                                                     const rte_ether_hdr* eth,
                                                     const PacketInfo& pi, const char* msg,
                                                     const sip::SipView& v,
                                                     WorkerCtx& ctx) noexcept {
  WorkerCounters& c = *ctx.counters;
  c.sip_requests.add();
  if (v.method == sip::Method::kAck && v.to_tag.len == sip::kLocalToTagLen) [[unlikely]] {
    // The ACK of a local non-2xx reply ends there, before the script, as Kamailio's sl
    // filters it: run through the script it would be forwarded as a stray ACK.
    if (sip::is_local_reply_ack(msg, v)) {
      c.sl_filtered_acks.add();
      return Verdict::consumed();
    }
  }
  VmResult r;
  const VmPacket pkt = vm_packet(pi, ctx.worker_id);
  vm_run(snap, msg, v, pkt, ctx.vm, ctx.dispatch, c, r);
  if (r.mark_dst >= 0) [[unlikely]] {
    // ds_mark_dst(): the control thread changes the state and publishes (it ignores a mark
    // that changes nothing, so a script marking on every message costs no snapshot storm).
    const Destination& d = snap.destinations[static_cast<size_t>(r.mark_dst)];
    MacAddr id;
    std::memcpy(id.b, &d.id, sizeof(d.id));
    post_event(ctx, Event::Type::kMarkDst, static_cast<uint16_t>(r.mark_state), d.ip_be, id,
               d.port_be);
  }
  return apply_result(snap, m, eth, pi, msg, v, r, ctx);
}

// A top Via the script's set_advertised_address() / set_advertised_port() could have written:
// its host a listener's or an advertised one, its port a listener's or an advertised one.
[[gnu::noinline]] bool advertised_via(const Snapshot& snap, std::string_view host,
                                      uint16_t port) noexcept {
  bool host_ok = std::find(snap.adv_hosts.begin(), snap.adv_hosts.end(), host) !=
                 snap.adv_hosts.end();
  bool port_ok = std::find(snap.adv_ports.begin(), snap.adv_ports.end(), port) !=
                 snap.adv_ports.end();
  for (const Listener& l : snap.listeners) {
    host_ok = host_ok || host == std::string_view(l.via_host);
    port_ok = port_ok || port == l.via_port;
  }
  return host_ok && port_ok;
}

[[gnu::always_inline]] inline Verdict handle_reply(const Snapshot& snap, rte_mbuf* m,
                                                   const PacketInfo& pi, const char* msg,
                                                   const sip::SipView& v,
                                                   WorkerCtx& ctx) noexcept {
  ctx.counters->sip_replies.add();
  // The top Via must be ours, from any of our sockets (Kamailio checks only with check_via=1;
  // an edge must not strip and reflect somebody else's reply).
  const uint16_t via_port = v.via1.port_num != 0 ? v.via1.port_num : 5060;
  const std::string_view host = v.via1.host.in(msg);
  bool ours = false;
  for (const Listener& l : snap.listeners) {
    if (via_port == l.via_port && host.size() == l.via_host.size() &&
        std::memcmp(host.data(), l.via_host.data(), host.size()) == 0) {
      ours = true;
      break;
    }
  }
  if (!ours && (!snap.adv_hosts.empty() || !snap.adv_ports.empty())) [[unlikely]] {
    ours = advertised_via(snap, host, via_port);
  }
  if (!ours) {
    return Verdict::dropped(Drop::kReplyNotOurs);
  }
  // A reply to one of the control thread's probes: not forwarded, handed to the prober.
  const std::string_view branch = v.via1.branch.in(msg);
  if (branch.size() == kProbeBranchPrefix.size() + 8 &&
      std::memcmp(branch.data(), kProbeBranchPrefix.data(), kProbeBranchPrefix.size()) == 0) {
    uint32_t seq = 0;
    for (char ch : branch.substr(kProbeBranchPrefix.size())) {
      const uint32_t d = ch >= '0' && ch <= '9'   ? static_cast<uint32_t>(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? static_cast<uint32_t>(ch - 'a' + 10)
                                                  : 16;
      if (d == 16) {
        return Verdict::dropped(Drop::kReplyNotOurs);
      }
      seq = (seq << 4) | d;
    }
    MacAddr src;  // the replier, so control matches it to the probed destination
    std::memcpy(src.b, &pi.src_ip_be, 4);
    std::memcpy(src.b + 4, &pi.src_port_be, 2);
    post_event(ctx, Event::Type::kProbeReply, pi.iface, seq, src, v.status);
    ctx.counters->probe_replies.add();
    return Verdict::consumed();
  }
  // Replies by class per destination, when the sender is one (its address and port).
  if (v.status >= 100 && v.status < 100 * (kReplyClasses + 1)) {
    const uint32_t id = !pi.v6 ? destination_by_address(snap, ctx.dispatch, pi.src_ip_be,
                                                         pi.src_port_be)
                               : destination_by_address6(snap, pi.src_ip6, pi.src_port_be);
    if (id != 0) {
      ctx.counters->replies_from[id % kMaxDestinations][v.status / 100 - 1].add();
    }
  }
  // reply_route { } (dataplane/reply_route.cpp): may drop the reply or edit it.
  ReplyEdits re;
  if (!run_reply_route(snap, pi, msg, v, ctx, re)) [[unlikely]] {
    return Verdict::dropped(re.drop);
  }
  if (v.via2.value.empty()) {
    return Verdict::dropped(Drop::kReplyNoVia2);
  }
  uint32_t dst_ip_be = 0;
  const sip::Span addr = !v.via2.received.empty() ? v.via2.received : v.via2.host;
  bool dst6 = false;
  if (!parse_ipv4(addr.in(msg), dst_ip_be)) {
    // received= holds a bare IPv6 address (Kamailio writes it without brackets), the sent-by
    // a bracketed one.
    if (!parse_ipv6(addr.in(msg), ctx.hop6)) {
      return Verdict::dropped(Drop::kUnresolvable);
    }
    dst6 = true;
  }
  uint16_t port = 0;
  if (v.via2.has_rport && !v.via2.rport.empty()) {
    port = parse_port(v.via2.rport.in(msg));
  }
  if (port == 0) {
    port = v.via2.port_num != 0 ? v.via2.port_num : 5060;
  }
  if (dst6 || pi.v6) [[unlikely]] {
    const uint16_t oif =
        dst6 ? egress_iface6(snap, pi.iface, ctx.hop6) : egress_iface(snap, pi.iface, dst_ip_be);
    const Listener* l = oif == kNoIface ? nullptr
                                        : egress_listener_af(snap, oif, *pi.listener, dst6);
    if (l == nullptr) {
      return Verdict::dropped(Drop::kNoRoute);
    }
    const sip::Edit edit = sip::remove_top_via_edit(msg, v);
    const Verdict out =
        dst6 ? rewrite_and_frame6(snap, m, pi, re.with(edit), oif, *l, ctx.hop6,
                                  be16(port), ctx)
             : rewrite_and_frame(snap, m, pi, re.with(edit), oif, *l, dst_ip_be,
                                 be16(port), ctx);
    if (!out.is_drop()) {
      ctx.counters->replies_forwarded.add();
    }
    return out;
  }
  const uint16_t out_if = egress_iface(snap, pi.iface, dst_ip_be);
  if (out_if == kNoIface) {
    return Verdict::dropped(Drop::kNoRoute);
  }
  const sip::Edit edit = sip::remove_top_via_edit(msg, v);
  const Verdict out = rewrite_and_frame(snap, m, pi, re.with(edit), out_if,
                                        egress_listener(snap, out_if, *pi.listener), dst_ip_be,
                                        be16(port), ctx);
  if (!out.is_drop()) {
    ctx.counters->replies_forwarded.add();
  }
  return out;
}

// The SIP datagram of a UDP packet to one of our listeners (pi.listener and the source set by
// the IPv4 or IPv6 handler): scanned, then handled as a request or a reply.
[[gnu::always_inline]] inline Verdict handle_sip(const Snapshot& snap, rte_mbuf* m,
                                                 const rte_ether_hdr* eth, PacketInfo& pi,
                                                 const rte_udp_hdr* udp, size_t udp_len,
                                                 WorkerCtx& ctx) noexcept {
  const char* msg = reinterpret_cast<const char*>(udp + 1);
  pi.sip_off = static_cast<size_t>(msg - static_cast<const char*>(m->buf_addr));
  pi.sip_len = udp_len - sizeof(rte_udp_hdr);
  // Left uninitialised: scan() sets every member first (a SipView's default construction here
  // was ~65 instructions a packet, done again by scan()).
  union ViewStorage {
    ViewStorage() noexcept {}
    sip::SipView v;
  } view_storage;
  sip::SipView& v = view_storage.v;
  const sip::ScanStatus st = sip::scan(msg, pi.sip_len, v);
  if (st != sip::ScanStatus::kOk) {
    ctx.counters->parse_errors[static_cast<size_t>(st)].add();
    return Verdict::dropped(Drop::kMalformedSip);
  }
  pi.sip_len = v.len;  // bytes past Content-Length are not forwarded
  if (v.is_request) {
    return handle_request(snap, m, eth, pi, msg, v, ctx);
  }
  return handle_reply(snap, m, pi, msg, v, ctx);
}


// An ICMPv6 destination unreachable (RFC 4443 3.1: 4 unused bytes, then as much of the invoking
// packet as fits), address or port unreachable, quoting a UDP datagram one of our IPv6
// listeners on this iface sent: control blocklists the quoted destination, as for IPv4's ICMP.
// True when it was one (consumed).
// As handle_icmp's: believed from the quoted destination itself, or for address unreachable
// about an off-link destination from the interface's gateway (`from`: the error's source).
bool icmp6_unreachable(const Snapshot& snap, const uint8_t* icmp, size_t plen, const Ip6& from,
                       uint16_t iface_idx, WorkerCtx& ctx) noexcept {
  if (icmp[1] != kIcmp6AddrUnreachable && icmp[1] != kIcmp6PortUnreachable) {
    return false;
  }
  const uint8_t* q = icmp + 8;  // the quoted IPv6 header
  if (plen < 8 + sizeof(rte_ipv6_hdr) + sizeof(rte_udp_hdr) || (q[0] >> 4) != 6 ||
      q[6] != IPPROTO_UDP) {
    return false;
  }
  const Ip6 qsrc = ip6_at(q + 8);
  if (!snap.ifaces[iface_idx].is_ours6(qsrc)) {
    return false;
  }
  const Ip6 qdst = ip6_at(q + 24);
  const Iface& ifc = snap.ifaces[iface_idx];
  const bool from_gateway = icmp[1] == kIcmp6AddrUnreachable && ifc.has_gateway6 &&
                            from == ifc.gateway6 && !ifc.on_link6(qdst);
  if (!(from == qdst) && !from_gateway) {
    return false;
  }
  const uint8_t* qudp = q + sizeof(rte_ipv6_hdr);
  uint16_t sport_be = 0;
  uint16_t dport_be = 0;
  std::memcpy(&sport_be, qudp, 2);
  std::memcpy(&dport_be, qudp + 2, 2);
  for (const Listener& l : snap.listeners) {
    if (l.v6 && l.port_be == sport_be && l.ip6 == qsrc) {
      post_event6(ctx, Event::Type::kIcmpUnreachable, iface_idx, qdst, MacAddr{}, dport_be);
      ctx.counters->icmp_unreachable.add();
      return true;
    }
  }
  return false;
}

// ICMPv6 to us: echo requests answered in place, Neighbor Solicitations for our addresses
// answered with an advertisement (RFC 4861 7.2.4), advertisements learned; the rest goes to the
// kernel or is dropped (icmp_ignored).
Verdict handle_icmp6(const Snapshot& snap, rte_mbuf* m, rte_ether_hdr* eth, size_t l2,
                     rte_ipv6_hdr* ip, size_t plen, uint16_t iface_idx, WorkerCtx& ctx) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  if (plen < 8 || ipv6_udptcp_cksum_verify(ip, ip + 1) != 0) {
    return Verdict::dropped(Drop::kBadIpv6);
  }
  auto* icmp = reinterpret_cast<uint8_t*>(ip + 1);
  const uint8_t type = icmp[0];
  const Ip6 src = ip6_at(ip->src_addr);
  const Ip6 dst = ip6_at(ip->dst_addr);
  if (type == kIcmp6EchoRequest && icmp[1] == 0) {
    if (!ifc.is_ours6(dst)) {
      return Verdict::dropped(Drop::kNotForUs);  // a multicast ping: not answered
    }
    icmp[0] = kIcmp6EchoReply;
    std::memcpy(ip->dst_addr, src.b, 16);
    std::memcpy(ip->src_addr, dst.b, 16);
    ip->hop_limits = kDefaultHopLimit;
    icmp[2] = 0;
    icmp[3] = 0;
    const uint16_t ck = ipv6_udptcp_cksum(ip, icmp);
    std::memcpy(icmp + 2, &ck, 2);
    eth->dst_addr = eth->src_addr;
    from_mac(ifc.mac, eth->src_addr);
    m->data_len = static_cast<uint16_t>(l2 + sizeof(rte_ipv6_hdr) + plen);  // drop padding
    m->pkt_len = m->data_len;
    m->ol_flags = 0;
    if (sizeof(rte_ipv6_hdr) + plen > ifc.mtu) [[unlikely]] {
      // A reassembled request above the MTU: the reply leaves in fragments, as the IPv4 one.
      const Verdict v = fragment6(m, ifc, ifc.mtu, ctx);
      if (v.kind == Verdict::Kind::kTxMany) {
        ctx.counters->icmp_echo_replies.add();
      }
      return v;
    }
    ctx.counters->icmp_echo_replies.add();
    return Verdict::tx(ifc.port_id);
  }
  if (type == kIcmp6DestUnreachable &&
      icmp6_unreachable(snap, icmp, plen, src, iface_idx, ctx)) {
    return Verdict::consumed();
  }
  if (type != kNdSolicit && type != kNdAdvert) {
    return punt_or_drop(ifc, Drop::kIcmpIgnored, ctx);
  }
  // RFC 4861 7.1: hop limit 255 (the sender is on our link), code 0, 24 bytes at least, options
  // of non-zero length within the payload.
  if (ip->hop_limits != kNdHopLimit || icmp[1] != 0 || plen < 24) {
    return Verdict::dropped(Drop::kNdInvalid);
  }
  const Ip6 target = ip6_at(icmp + 8);
  const uint8_t* lladdr = nullptr;
  const uint8_t want_opt = type == kNdSolicit ? kNdOptSourceLl : kNdOptTargetLl;
  for (size_t off = 24; off < plen;) {
    const size_t olen = static_cast<size_t>(plen - off >= 2 ? icmp[off + 1] : 0) * 8;
    if (olen == 0 || off + olen > plen) {
      return Verdict::dropped(Drop::kNdInvalid);
    }
    if (icmp[off] == want_opt && olen >= 8) {
      lladdr = icmp + off + 2;
    }
    off += olen;
  }
  if (target.is_multicast()) {
    return Verdict::dropped(Drop::kNdInvalid);
  }
  if (type == kNdAdvert) {
    // Learned from its target link-layer option (or the frame's source), also unsolicited.
    MacAddr mac = to_mac(eth->src_addr);
    if (lladdr != nullptr) {
      std::memcpy(mac.b, lladdr, 6);
    }
    learn6(snap, ctx, iface_idx, target, mac, true);
    return ifc.exception_port == UINT16_MAX ? Verdict::consumed()
                                            : punt_or_drop(ifc, Drop::kIcmpIgnored, ctx);
  }
  const bool dad = src.is_zero();  // duplicate address detection: no source, no option
  if (dad && (lladdr != nullptr || dst != solicited_node(target))) {
    return Verdict::dropped(Drop::kNdInvalid);
  }
  if (!ifc.is_ours6(target)) {
    return Verdict::dropped(Drop::kNotForUs);
  }
  if (!dad && lladdr != nullptr) {
    MacAddr mac;
    std::memcpy(mac.b, lladdr, 6);
    learn6(snap, ctx, iface_idx, src, mac, true);
  }
  // A solicitation without option is 8 bytes shorter than the advertisement.
  const size_t na_end = l2 + sizeof(rte_ipv6_hdr) + 32;
  if (rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m) < na_end) {
    return Verdict::dropped(Drop::kNoHeadroom);
  }
  // The advertisement, written over the solicitation: to its source (all-nodes for DAD), from
  // the target, Solicited (unless DAD) and Override, with our MAC as target link-layer option.
  static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                            0,    0,    0, 0, 0, 0, 0, 1};
  std::memcpy(ip->dst_addr, dad ? kAllNodes : src.b, 16);
  std::memcpy(ip->src_addr, target.b, 16);
  ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
  ip->hop_limits = kNdHopLimit;
  ip->payload_len = be16(32);
  icmp[0] = kNdAdvert;
  icmp[1] = 0;
  icmp[2] = 0;
  icmp[3] = 0;
  icmp[4] = dad ? 0x20 : 0x60;  // R=0, S, O
  icmp[5] = icmp[6] = icmp[7] = 0;
  std::memcpy(icmp + 8, target.b, 16);
  icmp[24] = kNdOptTargetLl;
  icmp[25] = 1;
  std::memcpy(icmp + 26, ifc.mac.b, 6);
  const uint16_t ck = ipv6_udptcp_cksum(ip, icmp);
  std::memcpy(icmp + 2, &ck, 2);
  if (dad) {
    static constexpr uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
    std::memcpy(eth->dst_addr.addr_bytes, kAllNodesMac, 6);
  } else {
    eth->dst_addr = eth->src_addr;
  }
  from_mac(ifc.mac, eth->src_addr);
  m->data_len = static_cast<uint16_t>(na_end);
  m->pkt_len = m->data_len;
  m->ol_flags = 0;
  return Verdict::tx(ifc.port_id);
}

enum class ExtWalk : uint8_t { kDone, kPunt, kBad };

// Walks the hop-by-hop (only right after the fixed header, RFC 8200 4.1), routing and
// destination options headers at the start of the IPv6 payload p (plen bytes), at most
// kMaxExtHeaders6 of them within the first kMaxExtBytes6: `next` becomes the protocol after
// them, `len` their size. kPunt: one the kernel must act on (a routing header with segments
// left: we are not its final destination, RFC 8200 4.4; an option whose type says not to skip
// it, 4.2) or a longer chain than we walk; kBad: a malformed chain (a length past the payload
// or the header, hop-by-hop elsewhere than first).
ExtWalk walk_ext6(const uint8_t* p, size_t plen, uint8_t& next, size_t& len) noexcept {
  len = 0;
  for (size_t n = 0;
       next == kProtoHopByHop || next == kProtoRouting6 || next == kProtoDstOpts6; ++n) {
    if (next == kProtoHopByHop && n != 0) {
      return ExtWalk::kBad;
    }
    if (n == kMaxExtHeaders6) {
      return ExtWalk::kPunt;
    }
    if (len + 8 > plen) {
      return ExtWalk::kBad;
    }
    const uint8_t* h = p + len;
    const size_t hlen = (size_t{h[1]} + 1) * 8;
    if (len + hlen > plen) {
      return ExtWalk::kBad;
    }
    if (len + hlen > kMaxExtBytes6) {
      return ExtWalk::kPunt;
    }
    if (next == kProtoRouting6) {
      if (h[3] != 0) {
        return ExtWalk::kPunt;
      }
    } else {
      // Options: Pad1, and type-length-value; the two high bits of the type say what a node
      // that does not know it does: 00 skip it, else discard (and maybe answer). We know
      // none but the padding, so those are the kernel's.
      for (size_t o = 2; o < hlen;) {
        if (h[o] == 0) {
          ++o;
          continue;
        }
        if (o + 2 > hlen || o + 2 + h[o + 1] > hlen) {
          return ExtWalk::kBad;
        }
        if ((h[o] >> 6) != 0) {
          return ExtWalk::kPunt;
        }
        o += 2 + size_t{h[o + 1]};
      }
    }
    next = h[0];
    len += hlen;
  }
  return ExtWalk::kDone;
}

// An IPv6 frame on an iface with an IPv6 address: ND and echo, SIP over UDP to an IPv6
// listener; the rest to the kernel or dropped. Kept out of line: the IPv4 path does not pay
// for it.
[[gnu::noinline]] Verdict handle_ipv6(const Snapshot& snap, rte_mbuf*& m, rte_ether_hdr* eth,
                                      size_t l2, uint16_t iface_idx, WorkerCtx& ctx) noexcept {
  const Iface& ifc = snap.ifaces[iface_idx];
  size_t frame_len = rte_pktmbuf_data_len(m);
  if (frame_len < l2 + sizeof(rte_ipv6_hdr)) {
    return Verdict::dropped(Drop::kRuntFrame);
  }
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(reinterpret_cast<char*>(eth) + l2);
  size_t plen = be16(ip->payload_len);
  if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6 || l2 + sizeof(rte_ipv6_hdr) + plen > frame_len) {
    return Verdict::dropped(Drop::kBadIpv6);
  }
  const Ip6 dst = ip6_at(ip->dst_addr);
  const Ip6 src = ip6_at(ip->src_addr);
  if (dst.is_multicast()) {
    // Ours: all-nodes, and the solicited-node groups of our addresses (Neighbor Solicitations).
    static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                              0,    0,    0, 0, 0, 0, 0, 1};
    const bool ours = std::memcmp(dst.b, kAllNodes, 16) == 0 ||
                      dst == solicited_node(ifc.ip6) || dst == solicited_node(ifc.ll6);
    if (!ours || ip->proto != kProtoIcmp6) {
      return ours ? punt_or_drop(ifc, Drop::kNotUdp, ctx) : Verdict::dropped(Drop::kNotForUs);
    }
  } else if (!ifc.is_ours6(dst)) {
    return Verdict::dropped(Drop::kNotForUs);
  }
  if (src.is_multicast()) {
    return Verdict::dropped(Drop::kBadIpv6);
  }
  uint8_t proto = ip->proto;
  if (proto == kProtoHopByHop || proto == kProtoRouting6 || proto == kProtoDstOpts6) {
    size_t ext = 0;
    const ExtWalk w = walk_ext6(reinterpret_cast<const uint8_t*>(ip + 1), plen, proto, ext);
    if (w != ExtWalk::kDone) {
      return w == ExtWalk::kBad ? Verdict::dropped(Drop::kIpv6BadExt)
                                : punt_or_drop(ifc, Drop::kIpv6ExtHeader, ctx);
    }
    if (proto == IPPROTO_UDP || proto == kProtoIcmp6 || proto == kProtoFragment6) {
      // Ours to deliver, and the headers are dealt with: they leave the frame (the Ethernet
      // and fixed IPv6 headers move up over them), so that what follows finds the upper layer
      // right after the fixed header, as the checksum helpers (whose pseudo-header takes the
      // upper layer's protocol, RFC 8200 8.1), the fragment table and the SIP offsets assume.
      // What we forward or answer leaves without them: we build its IPv6 header. The rest (TCP
      // and others) goes to the kernel as it came.
      std::memmove(reinterpret_cast<char*>(eth) + ext, eth, l2 + sizeof(rte_ipv6_hdr));
      rte_pktmbuf_adj(m, static_cast<uint16_t>(ext));
      eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
      ip = reinterpret_cast<rte_ipv6_hdr*>(reinterpret_cast<char*>(eth) + l2);
      ip->proto = proto;
      plen -= ext;
      frame_len -= ext;
      ip->payload_len = be16(static_cast<uint16_t>(plen));
    }
  }
  if (proto != kProtoIcmp6) {
    learn6(snap, ctx, iface_idx, src, to_mac(eth->src_addr), false);
  }
  switch (proto) {
    case kProtoIcmp6:
      return handle_icmp6(snap, m, eth, l2, ip, plen, iface_idx, ctx);
    case IPPROTO_UDP:
      break;
    case IPPROTO_TCP:
      return punt_or_drop(ifc, Drop::kNotUdp, ctx);
    case kProtoFragment6: {
      // A Fragment header (after the fixed header, or the walked headers removed above):
      // reassembled in the worker's table, as IPv4 fragments are.
      if (ctx.frag_tbl == nullptr || ip->dst_addr[0] == 0xff || plen < sizeof(rte_ipv6_fragment_ext)) {
        return Verdict::dropped(Drop::kIpFragment);
      }
      auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 1);
      if ((be16(fh->frag_data) & ~uint16_t{6}) == 0) [[unlikely]] {
        // An atomic fragment (offset 0, no more to come: a sender told to fragment by a
        // Packet Too Big below 1280). RFC 6946: processed on its own, never with other
        // fragments; the reassembly table would wait for a rest that never comes. The
        // Fragment header goes, and the datagram is handled as it is.
        const uint8_t next = fh->next_header;
        if (next == kProtoFragment6 || ctx.in_atomic_fragment) {
          // A second one, next to this one or further down the chain: one level only.
          return Verdict::dropped(Drop::kIpv6BadExt);
        }
        char* start = rte_pktmbuf_mtod(m, char*);
        std::memmove(start + sizeof(rte_ipv6_fragment_ext), start, l2 + sizeof(rte_ipv6_hdr));
        rte_pktmbuf_adj(m, sizeof(rte_ipv6_fragment_ext));
        auto* whole = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2);
        whole->proto = next;
        whole->payload_len = be16(static_cast<uint16_t>(plen - sizeof(rte_ipv6_fragment_ext)));
        ctx.in_atomic_fragment = true;
        const Verdict v = handle_packet(snap, m, ctx);
        ctx.in_atomic_fragment = false;
        return v;
      }
      ctx.counters->fragments_received.add();
      m->l2_len = static_cast<uint16_t>(l2);
      m->l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext);
      rte_pktmbuf_trim(m, static_cast<uint16_t>(frame_len - l2 - sizeof(rte_ipv6_hdr) - plen));
      return reassembled(
          snap, m,
          rte_ipv6_frag_reassemble_packet(ctx.frag_tbl, ctx.death_row, m, rte_rdtsc(), ip, fh),
          ctx);  // one datagram now, without its Fragment header
    }
    case 50:   // ESP
    case 51:   // AH
    case 135:  // mobility
    case 139:  // HIP
    case 140:  // shim6
      // Extension headers we do not walk (hop-by-hop, routing and destination options were
      // walked above): the kernel (exception TAP) may.
      return punt_or_drop(ifc, Drop::kIpv6ExtHeader, ctx);
    default:
      return punt_or_drop(ifc, Drop::kNotUdp, ctx);
  }
  if (plen < sizeof(rte_udp_hdr)) {
    return Verdict::dropped(Drop::kBadUdp);
  }
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  const size_t udp_len = be16(udp->dgram_len);
  if (udp_len < sizeof(rte_udp_hdr) || udp_len > plen) {
    return Verdict::dropped(Drop::kBadUdp);
  }
  PacketInfo pi;
  pi.iface = iface_idx;
  for (const Listener& l : snap.listeners) {
    if (l.v6 && l.port_be == udp->dst_port && l.ip6 == dst) {
      pi.listener = &l;
      break;
    }
  }
  if (pi.listener == nullptr) {
    return punt_or_drop(ifc, Drop::kNoListener, ctx);
  }
  bool checked = false;  // the derived checksum of a forward is IPv4's only (rx_sum_known)
  if (!udp_cksum_good(m, ifc, ip, true, udp, udp_len, checked)) [[unlikely]] {
    return Verdict::dropped(Drop::kUdpBadChecksum);
  }
  pi.v6 = true;
  pi.src_ip6 = src;
  pi.src_port_be = udp->src_port;
  return handle_sip(snap, m, eth, pi, udp, udp_len, ctx);
}

}  // namespace

Verdict apply_request_result(const Snapshot& snap, rte_mbuf* m, const rte_ether_hdr* eth,
                             const PacketInfo& pi, const char* msg, const sip::SipView& v,
                             const VmResult& r, WorkerCtx& ctx) noexcept {
  return apply_result(snap, m, eth, pi, msg, v, r, ctx);
}

namespace {
// Each byte value's decimal text, up to three digits and their count: formatting an address is
// four table reads and copies (it was a digit loop with divisions: 120 instructions per INVITE).
struct Octet {
  char text[3];
  uint8_t len;
};
constexpr std::array<Octet, 256> make_octets() {
  std::array<Octet, 256> t{};
  for (unsigned v = 0; v < 256; ++v) {
    Octet& o = t[v];
    if (v >= 100) {
      o.text[o.len++] = static_cast<char>('0' + v / 100);
    }
    if (v >= 10) {
      o.text[o.len++] = static_cast<char>('0' + v / 10 % 10);
    }
    o.text[o.len++] = static_cast<char>('0' + v % 10);
  }
  return t;
}
constexpr std::array<Octet, 256> kOctets = make_octets();
static_assert(sizeof(Octet) == 4);
}  // namespace

size_t format_ipv4(uint32_t ip_be, char* out) noexcept {
  // Per packet (the received= check of every forward).
  const auto* b = reinterpret_cast<const uint8_t*>(&ip_be);
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    // The octet's text and its length byte in one 4-byte copy: the length byte lands where
    // the '.' (or, after the last octet, slack of the 16 bytes out has) goes.
    const Octet& o = kOctets[b[i]];
    uint32_t w = 0;
    std::memcpy(&w, &o, 4);
    std::memcpy(out + n, &w, 4);
    n += o.len;
    out[n] = '.';
    n += i != 3 ? 1 : 0;
  }
  return n;
}

bool parse_ipv4(std::string_view s, uint32_t& ip_be) noexcept {
  uint8_t b[4];
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part != 0) {
      if (i >= s.size() || s[i] != '.') {
        return false;
      }
      ++i;
    }
    uint32_t v = 0;
    size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 4) {
      v = v * 10 + static_cast<uint32_t>(s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || v > 255) {
      return false;
    }
    b[part] = static_cast<uint8_t>(v);
  }
  if (i != s.size()) {
    return false;
  }
  std::memcpy(&ip_be, b, 4);
  return true;
}


size_t format_ipv6(const Ip6& a, char* out) noexcept {
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) {
    g[i] = static_cast<uint16_t>(a.b[2 * i] << 8 | a.b[2 * i + 1]);
  }
  // RFC 5952 4.2: the longest run of two or more zero groups (the first of equal runs) is "::".
  int best = -1;
  int best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) {
      ++j;
    }
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  size_t n = 0;
  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail, as inet_ntop writes it.
  const bool mapped = best == 0 && best_len == 5 && g[5] == 0xffff;
  for (int i = 0; i < (mapped ? 6 : 8); ++i) {
    if (i == best) {
      out[n++] = ':';
      out[n++] = ':';
      i += best_len - 1;
      continue;
    }
    if (i != 0 && i != best + best_len) {
      out[n++] = ':';
    }
    bool lead = true;
    for (int sh = 12; sh >= 0; sh -= 4) {
      const unsigned d = (g[i] >> sh) & 0xf;
      if (d == 0 && lead && sh != 0) {
        continue;
      }
      lead = false;
      out[n++] = kHex[d];
    }
  }
  if (mapped) {
    out[n++] = ':';
    uint32_t v4;
    std::memcpy(&v4, a.b + 12, 4);
    n += format_ipv4(v4, out + n);
  }
  return n;
}

bool parse_ipv6(std::string_view s, Ip6& out) noexcept {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  if (s.size() < 2 || s.size() > 45) {
    return false;
  }
  uint8_t b[16] = {};
  int n = 0;        // bytes written
  int gap = -1;     // byte index of "::"
  size_t i = 0;
  if (s[0] == ':') {
    if (s[1] != ':') {
      return false;
    }
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    // A dotted IPv4 tail?
    const size_t rest_dot = s.find('.', i);
    if (rest_dot != std::string_view::npos && s.find(':', i) == std::string_view::npos) {
      uint32_t v4 = 0;
      if (n > 12 || !parse_ipv4(s.substr(i), v4)) {
        return false;
      }
      std::memcpy(b + n, &v4, 4);
      n += 4;
      i = s.size();
      break;
    }
    unsigned v = 0;
    size_t digits = 0;
    while (i < s.size() && digits < 5) {
      const char c = s[i];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) {
        break;
      }
      v = v << 4 | static_cast<unsigned>(d);
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 4 || n > 14) {
      return false;
    }
    b[n++] = static_cast<uint8_t>(v >> 8);
    b[n++] = static_cast<uint8_t>(v);
    if (i == s.size()) {
      break;
    }
    if (s[i] != ':') {
      return false;
    }
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) {
        return false;
      }
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // a trailing single ':'
    }
  }
  if (gap >= 0) {
    if (n == 16) {
      return false;  // "::" must stand for at least one group
    }
    const int tail = n - gap;
    std::memmove(b + 16 - tail, b + gap, static_cast<size_t>(tail));
    std::memset(b + gap, 0, static_cast<size_t>(16 - tail - gap));
  } else if (n != 16) {
    return false;
  }
  std::memcpy(out.b, b, 16);
  return true;
}

// Hot: GCC's guess of the path's frequency, after the dozens of checks in front of a forward,
// had it leave small inline functions as calls ("call is unlikely": VmResult's constructor,
// vm_packet, order_edits, Counter::add, ipv4_hdr_cksum20): ~65 instructions per INVITE.
[[gnu::hot]] Verdict handle_packet(const Snapshot& snap, rte_mbuf*& m, WorkerCtx& ctx) noexcept {
  if (!rte_pktmbuf_is_contiguous(m)) {
    return Verdict::dropped(Drop::kMultiSegment);
  }
  const size_t frame_len = rte_pktmbuf_data_len(m);
  if (frame_len < sizeof(rte_ether_hdr)) {
    return Verdict::dropped(Drop::kRuntFrame);
  }
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  uint16_t et = be16(eth->ether_type);
  size_t l2 = sizeof(rte_ether_hdr);
  uint16_t vlan = 0;
  if (et == RTE_ETHER_TYPE_VLAN) {  // one 802.1Q tag; QinQ and others are not ours
    if (frame_len < sizeof(rte_ether_hdr) + kVlanTag) {
      return Verdict::dropped(Drop::kRuntFrame);
    }
    const auto* tag = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
    vlan = be16(tag->vlan_tci) & 0x0fff;
    et = be16(tag->eth_proto);
    l2 += kVlanTag;
  }
  uint16_t iface_idx = 0;
  for (; iface_idx < snap.ifaces.size(); ++iface_idx) {
    if (snap.ifaces[iface_idx].port_id == m->port && snap.ifaces[iface_idx].vlan == vlan) {
      break;
    }
  }
  if (iface_idx == snap.ifaces.size()) {
    return Verdict::dropped(vlan != 0 ? Drop::kUnknownVlan : Drop::kNotForUs);
  }
  const Iface& ifc = snap.ifaces[iface_idx];
  if (et == RTE_ETHER_TYPE_ARP) {
    return handle_arp(snap, m, eth, l2, iface_idx, ctx);
  }
  if (et != RTE_ETHER_TYPE_IPV4) {
    if (et == RTE_ETHER_TYPE_IPV6 && ifc.has_ip6) {
      return handle_ipv6(snap, m, eth, l2, iface_idx, ctx);
    }
    // IPv6 (on an iface without an IPv6 address) and the rest go to the kernel when addressed
    // to us (or multicast / broadcast).
    const bool to_us = (eth->dst_addr.addr_bytes[0] & 1) != 0 ||
                       std::memcmp(eth->dst_addr.addr_bytes, ifc.mac.b, 6) == 0;
    return to_us ? punt_or_drop(ifc, Drop::kUnsupportedL2, ctx)
                 : Verdict::dropped(Drop::kUnsupportedL2);
  }
  if (frame_len < l2 + sizeof(rte_ipv4_hdr)) {
    return Verdict::dropped(Drop::kRuntFrame);
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(reinterpret_cast<char*>(eth) + l2);
  const size_t ihl = static_cast<size_t>(ip->version_ihl & 0x0f) * 4;
  const size_t ip_len = be16(ip->total_length);
  if ((ip->version_ihl >> 4) != 4 || ihl < 20 || ip_len < ihl || l2 + ip_len > frame_len) {
    return Verdict::dropped(Drop::kBadIpv4);
  }
  if (ip->dst_addr != ifc.ip_be) {
    return Verdict::dropped(Drop::kNotForUs);
  }
  if (!ipv4_hdr_good(m, ip, ihl)) [[unlikely]] {  // before learning from it
    return Verdict::dropped(Drop::kIpv4BadChecksum);
  }
  learn(snap, ctx, iface_idx, ip->src_addr, eth->src_addr);
  if ((be16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
      != 0) [[unlikely]] {
    if (ctx.frag_tbl == nullptr) {
      return Verdict::dropped(Drop::kIpFragment);
    }
    ctx.counters->fragments_received.add();
    m->l2_len = static_cast<uint16_t>(l2);
    m->l3_len = static_cast<uint16_t>(ihl);
    // Trailing Ethernet padding is not part of the fragment.
    rte_pktmbuf_trim(m, static_cast<uint16_t>(frame_len - l2 - ip_len));
    return reassembled(
        snap, m, rte_ipv4_frag_reassemble_packet(ctx.frag_tbl, ctx.death_row, m, rte_rdtsc(), ip),
        ctx);  // now one datagram, never a fragment again
  }
  if (ip->next_proto_id == IPPROTO_ICMP) {
    return handle_icmp(snap, m, eth, ip, ihl, ip_len, iface_idx, ctx);
  }
  if (ip->next_proto_id != IPPROTO_UDP) {
    return punt_or_drop(ifc, Drop::kNotUdp, ctx);
  }
  if (ip_len < ihl + sizeof(rte_udp_hdr)) {
    return Verdict::dropped(Drop::kBadUdp);
  }
  auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<char*>(ip) + ihl);
  const size_t udp_len = be16(udp->dgram_len);
  if (udp_len < sizeof(rte_udp_hdr) || udp_len > ip_len - ihl) {
    return Verdict::dropped(Drop::kBadUdp);
  }
  PacketInfo pi;
  pi.iface = iface_idx;
  for (const Listener& l : snap.listeners) {
    if (l.port_be == udp->dst_port && l.ip_be == ip->dst_addr) {
      pi.listener = &l;
      break;
    }
  }
  if (pi.listener == nullptr) {
    return punt_or_drop(ifc, Drop::kNoListener, ctx);
  }
  if (!udp_cksum_good(m, ifc, ip, false, udp, udp_len, pi.rx_sum_known)) [[unlikely]] {
    return Verdict::dropped(Drop::kUdpBadChecksum);
  }
  pi.src_ip_be = ip->src_addr;
  pi.src_port_be = udp->src_port;
  return handle_sip(snap, m, eth, pi, udp, udp_len, ctx);
}

uint16_t service_held(const Snapshot& snap, WorkerCtx& ctx, uint64_t now_tsc, rte_mbuf** out,
                      uint16_t cap) noexcept {
  NeighHold& q = ctx.hold;
  const bool look = q.generation_seen != snap.generation || q.learned_seen != ctx.neigh_learned;
  if (q.n == 0 || (!look && now_tsc < q.f[0].deadline)) {
    return 0;
  }
  uint16_t n_out = 0;
  uint16_t keep = 0;
  for (uint16_t i = 0; i < q.n; ++i) {
    HeldFrame& f = q.f[i];
    const MacAddr* mac = nullptr;
    if (look && n_out < cap && f.iface < snap.ifaces.size()) {
      if (f.v6) {
        mac = snap.neigh6.find(f.hop6);
        mac = mac != nullptr ? mac : ctx.neigh6.find(f.hop6);
      } else {
        mac = snap.neigh.find(f.hop_be);
        mac = mac != nullptr ? mac : ctx.neigh.find(f.hop_be);
      }
    }
    if (mac != nullptr) {
      std::memcpy(rte_pktmbuf_mtod(f.m, char*), mac->b, 6);
      f.m->port = f.tx_port;
      out[n_out++] = f.m;
      ctx.counters->neigh_held_sent.add();
      if (f.fragment) {
        ctx.counters->fragments_sent.add();
      }
      continue;
    }
    if (now_tsc >= f.deadline) {
      ctx.counters->drop(Drop::kNoNeighbour);
      if (f.first) {
        send_failed(snap, ctx, f.dest_id, f.iface, f.dst_ip_be, f.dst_port_be,
                    Drop::kNoNeighbour, f.v6 ? &f.dst6 : nullptr, true);
      }
      rte_pktmbuf_free(f.m);
      continue;
    }
    q.f[keep++] = f;
  }
  q.n = keep;
  if (n_out < cap) {  // every frame was looked at (else look again next time)
    q.generation_seen = snap.generation;
    q.learned_seen = ctx.neigh_learned;
  }
  return n_out;
}

void free_held(WorkerCtx& ctx) noexcept {
  for (uint16_t i = 0; i < ctx.hold.n; ++i) {
    rte_pktmbuf_free(ctx.hold.f[i].m);
  }
  ctx.hold.n = 0;
}

}  // namespace viaduct::dp
