// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/cksum_offload_test.cpp: UDP/IPv4 checksum offload on TX, and the checks of
// received checksums (RX flags or software sums; the RxCksum tests). No NIC is needed:
// frames go through handle_packet() with the interface marked as offloading, and the test plays
// the NIC (completes the sums from the pseudo-header seed the pipeline leaves) and compares the
// result byte for byte with what the software path builds. Also the port-side choice of
// offloads (tx_cksum_offloads, and port_start on a device without them: net_ring).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dataplane/cksum.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/port.hpp"
#include "perf/messages.hpp"
#include "tests/support/packet_builder.hpp"

namespace viaduct {
namespace {

rte_mempool* g_pool = nullptr;

class EalEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* args[] = {"cksum_offload_test", "--no-huge", "-m", "128", "--no-pci",
                          "--no-shconf", "--log-level=error", "-l", "0"};
    ASSERT_GE(rte_eal_init(static_cast<int>(std::size(args)), const_cast<char**>(args)), 0);
    g_pool = rte_pktmbuf_pool_create("cksum_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(g_pool, nullptr);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new EalEnv);

const dp::MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
const dp::MacAddr kClientMac{{0x02, 0, 0, 0, 0, 0x10}};
const dp::MacAddr kB1Mac{{0x02, 0, 0, 0, 0, 0x11}};
constexpr uint64_t kOffloadFlags =
    RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;

// One snapshot and worker context per mode, so both number their IPv4 ids the same way.
struct Side {
  std::unique_ptr<ctl::OwnedSnapshot> owned;
  std::unique_ptr<dp::WorkerCtx> ctx;
  dp::WorkerCounters counters;
};

std::unique_ptr<Side> make_side(bool offload, uint16_t vlan = 0, uint16_t raw_mtu = 1500) {
  auto s = std::make_unique<Side>();
  std::string error;
  s->owned = test::make_snapshot(perf::kScript, "1 sip:10.0.0.11:5060\n", "10.0.0.2", kOurMac,
                                 {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}}, error);
  EXPECT_NE(s->owned, nullptr) << error;
  if (s->owned == nullptr) {
    return nullptr;
  }
  s->owned->snap.ifaces[0].tx_cksum_offload = offload;
  s->owned->snap.ifaces[0].vlan = vlan;
  s->owned->snap.raw_mtu = raw_mtu;
  s->ctx = std::make_unique<dp::WorkerCtx>();
  s->ctx->counters = &s->counters;
  s->ctx->pool = g_pool;  // egress fragments
  return s;
}

// A frame from the client (or a backend) to us, with an 802.1Q tag when vlan != 0.
rte_mbuf* frame_in(const std::string& msg, uint16_t vlan, const char* src = "10.0.0.10",
                   const dp::MacAddr& src_mac = kClientMac) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  EXPECT_NE(m, nullptr);
  EXPECT_TRUE(test::fill_udp_frame(m, src_mac, kOurMac, test::ipv4(src), 5060,
                                   test::ipv4("10.0.0.2"), 5060, msg));
  if (vlan != 0) {
    char* p = rte_pktmbuf_prepend(m, 4);
    EXPECT_NE(p, nullptr);
    std::memmove(p, p + 4, 12);  // the MACs move to the front; the EtherType stays behind
    const uint16_t tag[2] = {htons(RTE_ETHER_TYPE_VLAN), htons(vlan)};
    std::memcpy(p + 12, tag, 4);
  }
  return m;
}

struct Headers {
  rte_ipv4_hdr* ip;
  rte_udp_hdr* udp;
};

Headers headers(rte_mbuf* m, size_t l2) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(rte_pktmbuf_mtod(m, char*) + l2);
  return {ip, reinterpret_cast<rte_udp_hdr*>(ip + 1)};
}

// What a NIC does with RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM: the IPv4 header sum,
// and the one's complement of the sum over the UDP header and payload, whose checksum field
// holds the pseudo-header sum (0 goes out as 0xffff).
void play_nic(rte_mbuf* m) {
  Headers h = headers(m, m->l2_len);
  h.ip->hdr_checksum = rte_ipv4_cksum(h.ip);
  const uint16_t udp_len = ntohs(h.udp->dgram_len);
  uint16_t sum = static_cast<uint16_t>(~rte_raw_cksum(h.udp, udp_len));
  h.udp->dgram_cksum = sum == 0 ? 0xffff : sum;
}

std::vector<uint8_t> bytes(rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  return {p, p + rte_pktmbuf_data_len(m)};
}

// One message through both sides: the offload side's frame must carry the TX request, l2/l3
// lengths and the pseudo-header seed, and, completed by the "NIC", equal the software frame.
void check_same_as_software(const std::string& msg, uint16_t vlan, const char* src,
                            const dp::MacAddr& src_mac) {
  auto sw = make_side(false, vlan);
  auto hw = make_side(true, vlan);
  ASSERT_NE(sw, nullptr);
  ASSERT_NE(hw, nullptr);
  const size_t l2 = vlan != 0 ? 18 : 14;

  rte_mbuf* a = frame_in(msg, vlan, src, src_mac);
  const dp::Verdict va = dp::handle_packet(sw->owned->snap, a, *sw->ctx);
  ASSERT_TRUE(va.is_tx());
  EXPECT_EQ(a->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM), 0u);
  Headers ha = headers(a, l2);
  EXPECT_NE(ha.ip->hdr_checksum, 0);
  EXPECT_EQ(rte_ipv4_cksum(ha.ip), 0) << "software IPv4 header checksum invalid";
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(ha.ip, ha.udp), 0) << "software UDP checksum invalid";

  rte_mbuf* b = frame_in(msg, vlan, src, src_mac);
  const dp::Verdict vb = dp::handle_packet(hw->owned->snap, b, *hw->ctx);
  ASSERT_TRUE(vb.is_tx());
  EXPECT_EQ(b->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM |
                           RTE_MBUF_F_TX_L4_MASK),
            kOffloadFlags);
  EXPECT_EQ(b->l2_len, l2);
  EXPECT_EQ(b->l3_len, sizeof(rte_ipv4_hdr));
  Headers hb = headers(b, l2);
  EXPECT_EQ(hb.ip->hdr_checksum, 0) << "the NIC fills the IPv4 checksum from zero";
  EXPECT_EQ(hb.udp->dgram_cksum, rte_ipv4_phdr_cksum(hb.ip, b->ol_flags))
      << "the UDP checksum field must hold the pseudo-header sum";
  EXPECT_NE(hb.udp->dgram_cksum, ha.udp->dgram_cksum);

  play_nic(b);
  EXPECT_EQ(bytes(a), bytes(b)) << "offload + NIC must give the software path's frame";
  rte_pktmbuf_free(a);
  rte_pktmbuf_free(b);
}

TEST(CksumOffload, ForwardedRequestLeavesTheSumsToTheNic) {
  check_same_as_software(perf::kInvite, 0, "10.0.0.10", kClientMac);
}

TEST(CksumOffload, RoutedReply) {
  check_same_as_software(perf::kReply, 0, "10.0.0.11", kB1Mac);
}

TEST(CksumOffload, LocalReply) {
  check_same_as_software(perf::kOptions, 0, "10.0.0.10", kClientMac);
}

TEST(CksumOffload, TaggedInterfaceHasAnEighteenByteL2) {
  check_same_as_software(perf::kInvite, 42, "10.0.0.10", kClientMac);
}

// A datagram cut into fragments cannot have its UDP checksum summed by the NIC frame by frame:
// the software sum is kept, and the fragments carry no offload request.
TEST(CksumOffload, FragmentedDatagramKeepsSoftwareChecksums) {
  auto hw = make_side(true, 0, 576);
  ASSERT_NE(hw, nullptr);
  rte_mbuf* m = frame_in(perf::kInvite, 0);
  const dp::Verdict v = dp::handle_packet(hw->owned->snap, m, *hw->ctx);
  ASSERT_EQ(v.kind, dp::Verdict::Kind::kTxMany);
  ASSERT_GE(hw->ctx->n_frags, 2);
  EXPECT_EQ(m->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM), 0u);
  Headers h = headers(m, 14);
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(h.ip, h.udp), 0) << "datagram UDP checksum invalid";
  for (uint16_t k = 0; k < hw->ctx->n_frags; ++k) {
    rte_mbuf* f = hw->ctx->frag_out[k];
    EXPECT_EQ(f->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM), 0u);
    EXPECT_EQ(rte_ipv4_cksum(headers(f, 14).ip), 0) << "fragment " << k;
  }
  rte_pktmbuf_free_bulk(hw->ctx->frag_out, hw->ctx->n_frags);
  rte_pktmbuf_free(m);
}

TEST(CksumOffload, PortAsksForBothSumsOrNone) {
  constexpr uint64_t kIp = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  constexpr uint64_t kUdp = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  constexpr uint64_t kTcp = RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  EXPECT_EQ(dp::tx_cksum_offloads(kIp | kUdp | kTcp, true), kIp | kUdp);
  EXPECT_EQ(dp::tx_cksum_offloads(kIp | kUdp, false), 0u);
  EXPECT_EQ(dp::tx_cksum_offloads(kUdp, true), 0u);
  EXPECT_EQ(dp::tx_cksum_offloads(kIp, true), 0u);
  EXPECT_EQ(dp::tx_cksum_offloads(0, true), 0u);
}

// ---- IPv6: the UDP checksum (mandatory) left to the NIC the same way, with the IPv6 flags -----

constexpr const char* kScript6 = R"(
listen=udp:[2001:db8::2]:5060
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
request_route {
    if (is_method("OPTIONS")) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    ds_select_dst("1", "0");
    forward();
}
)";
constexpr uint64_t kOffloadFlags6 = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;

// One IPv6 interface (2001:db8::2/64 and 10.0.0.2/24), an IPv6 client and backend.
std::unique_ptr<Side> make_side6(bool offload, uint16_t mtu = 1500) {
  auto s = std::make_unique<Side>();
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  ctl::BuildInputs in;
  EXPECT_TRUE(cfg::compile_string(kScript6, "t6.cfg", "/tmp", {}, *prog, diags) &&
              cfg::parse_dispatcher_list("1 sip:[2001:db8::11]:5060\n", "t6.list",
                                         in.destinations, diags))
      << (diags.empty() ? "" : diags[0].str());
  in.program = prog;
  dp::Iface f;
  f.ip_be = test::ipv4("10.0.0.2");
  f.mask_be = htonl(0xffffff00u);
  f.mac = kOurMac;
  f.mtu = mtu;
  f.has_ip6 = true;
  EXPECT_TRUE(dp::parse_ipv6("2001:db8::2", f.ip6));
  in.ifaces = {f};
  dp::Ip6 a;
  dp::parse_ipv6("2001:db8::10", a);
  in.neighbours6[a] = kClientMac;
  dp::parse_ipv6("2001:db8::11", a);
  in.neighbours6[a] = kB1Mac;
  ctl::DestinationIds ids;
  auto snap = ctl::build_snapshot(in, ids);
  EXPECT_TRUE(snap) << snap.error().str();
  if (!snap) {
    return nullptr;
  }
  s->owned = std::move(*snap);
  s->owned->snap.ifaces[0].tx_cksum_offload = offload;
  s->ctx = std::make_unique<dp::WorkerCtx>();
  s->ctx->counters = &s->counters;
  s->ctx->pool = g_pool;
  return s;
}

// An IPv6/UDP frame from the client (2001:db8::10) to our listener.
rte_mbuf* frame_in6(const std::string& msg) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  EXPECT_NE(m, nullptr);
  const size_t len = sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr) + 8 + msg.size();
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  EXPECT_NE(p, nullptr);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memcpy(eth->dst_addr.addr_bytes, kOurMac.b, 6);
  std::memcpy(eth->src_addr.addr_bytes, kClientMac.b, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_IPV6);
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->vtc_flow = htonl(6u << 28);
  ip->payload_len = htons(static_cast<uint16_t>(8 + msg.size()));
  ip->proto = IPPROTO_UDP;
  ip->hop_limits = 64;
  inet_pton(AF_INET6, "2001:db8::10", ip->src_addr);
  inet_pton(AF_INET6, "2001:db8::2", ip->dst_addr);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = htons(5060);
  udp->dst_port = htons(5060);
  udp->dgram_len = ip->payload_len;
  udp->dgram_cksum = 0;
  std::memcpy(udp + 1, msg.data(), msg.size());
  udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
  m->port = 0;
  return m;
}

struct Headers6 {
  rte_ipv6_hdr* ip;
  rte_udp_hdr* udp;
};
Headers6 headers6(rte_mbuf* m) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, sizeof(rte_ether_hdr));
  return {ip, reinterpret_cast<rte_udp_hdr*>(ip + 1)};
}

void check_same_as_software6(const std::string& msg) {
  auto sw = make_side6(false);
  auto hw = make_side6(true);
  ASSERT_NE(sw, nullptr);
  ASSERT_NE(hw, nullptr);
  rte_mbuf* a = frame_in6(msg);
  ASSERT_TRUE(dp::handle_packet(sw->owned->snap, a, *sw->ctx).is_tx());
  EXPECT_EQ(a->ol_flags & (RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_L4_MASK), 0u);
  Headers6 ha = headers6(a);
  EXPECT_EQ(rte_ipv6_udptcp_cksum_verify(ha.ip, ha.udp), 0) << "software UDP checksum invalid";

  rte_mbuf* b = frame_in6(msg);
  ASSERT_TRUE(dp::handle_packet(hw->owned->snap, b, *hw->ctx).is_tx());
  EXPECT_EQ(b->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_IP_CKSUM |
                           RTE_MBUF_F_TX_L4_MASK),
            kOffloadFlags6);
  EXPECT_EQ(b->l2_len, sizeof(rte_ether_hdr));
  EXPECT_EQ(b->l3_len, sizeof(rte_ipv6_hdr));
  Headers6 hb = headers6(b);
  EXPECT_EQ(hb.udp->dgram_cksum, rte_ipv6_phdr_cksum(hb.ip, b->ol_flags))
      << "the UDP checksum field must hold the IPv6 pseudo-header sum";
  EXPECT_NE(hb.udp->dgram_cksum, ha.udp->dgram_cksum);
  // The NIC: the one's complement of the sum over the UDP header (seeded) and payload.
  const uint16_t sum =
      static_cast<uint16_t>(~rte_raw_cksum(hb.udp, ntohs(hb.udp->dgram_len)));
  hb.udp->dgram_cksum = sum == 0 ? 0xffff : sum;
  EXPECT_EQ(bytes(a), bytes(b)) << "offload + NIC must give the software path's frame";
  rte_pktmbuf_free(a);
  rte_pktmbuf_free(b);
}

TEST(CksumOffload, Ipv6ForwardedRequestLeavesTheSumToTheNic) {
  check_same_as_software6(perf::kInvite);
}

TEST(CksumOffload, Ipv6LocalReply) {
  check_same_as_software6(perf::kOptions);
}

// Above the MTU the IPv6 datagram leaves in fragments: software sum, no offload request.
TEST(CksumOffload, Ipv6FragmentedDatagramKeepsTheSoftwareChecksum) {
  auto hw = make_side6(true, 600);
  ASSERT_NE(hw, nullptr);
  rte_mbuf* m = frame_in6(perf::kInvite);
  const dp::Verdict v = dp::handle_packet(hw->owned->snap, m, *hw->ctx);
  ASSERT_EQ(v.kind, dp::Verdict::Kind::kTxMany);
  ASSERT_GE(hw->ctx->n_frags, 2);
  EXPECT_EQ(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0u);
  Headers6 h = headers6(m);
  EXPECT_EQ(rte_ipv6_udptcp_cksum_verify(h.ip, h.udp), 0) << "datagram UDP checksum invalid";
  for (uint16_t k = 0; k < hw->ctx->n_frags; ++k) {
    EXPECT_EQ(hw->ctx->frag_out[k]->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0u) << "fragment " << k;
  }
  rte_pktmbuf_free_bulk(hw->ctx->frag_out, hw->ctx->n_frags);
  rte_pktmbuf_free(m);
}

// ---- RX: received checksums, as the port reports them (mbuf flags) or summed in software ------

constexpr uint64_t kL4Good = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
constexpr uint64_t kL4Bad = RTE_MBUF_F_RX_L4_CKSUM_BAD;
constexpr uint64_t kL4None = RTE_MBUF_F_RX_L4_CKSUM_NONE;
constexpr uint64_t kIpGood = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
constexpr uint64_t kIpBad = RTE_MBUF_F_RX_IP_CKSUM_BAD;

// The UDP checksum a sender computes (fill_udp_frame leaves 0, "none").
void set_udp_sum(rte_mbuf* m) {
  Headers h = headers(m, 14);
  h.udp->dgram_cksum = 0;
  h.udp->dgram_cksum = rte_ipv4_udptcp_cksum(h.ip, h.udp);
  ASSERT_NE(h.udp->dgram_cksum, 0);
}

// A byte of the SIP message changed on the way (after the sender summed it).
void damage_payload(rte_mbuf* m, size_t l3_l4) {
  rte_pktmbuf_mtod(m, uint8_t*)[14 + l3_l4 + 100] ^= 0x20;
}

// One frame through the side, with `flags` as the RX burst would leave them; the verdict.
dp::Verdict rx(Side& side, rte_mbuf* m, uint64_t flags) {
  m->ol_flags = flags;
  const dp::Verdict v = dp::handle_packet(side.owned->snap, m, *side.ctx);
  if (v.kind == dp::Verdict::Kind::kTxMany) {
    rte_pktmbuf_free_bulk(side.ctx->frag_out, side.ctx->n_frags);
  }
  rte_pktmbuf_free(m);
  return v;
}

rte_mbuf* summed_in(const std::string& msg) {
  rte_mbuf* m = frame_in(msg, 0);
  set_udp_sum(m);
  return m;
}

rte_mbuf* damaged_in(const std::string& msg) {
  rte_mbuf* m = summed_in(msg);
  damage_payload(m, 28);
  return m;
}

bool dropped_as(const dp::Verdict& v, dp::Drop why) { return v.is_drop() && v.drop == why; }

// No RX offload (flags unknown): the sum is taken here, a damaged datagram is dropped.
TEST(RxCksum, SoftwareSumDropsADamagedDatagram) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(rx(*s, summed_in(perf::kInvite), 0).is_tx());
  EXPECT_TRUE(dropped_as(rx(*s, damaged_in(perf::kInvite), 0), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(dropped_as(rx(*s, damaged_in(perf::kReply), 0), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(rx(*s, summed_in(perf::kReply), 0).is_tx());
}

// dataplane/cksum.cpp's own sum (32-bit words in 64-bit SSE2 lanes) against DPDK's 16-bit-word
// functions, value for value: every length 0..1600 at four alignments, over three contents (a
// pattern, all zeros, all ones: the sums whose one's complement representatives differ), and
// the IPv4/IPv6 UDP and TCP checksums built over them, with a header length past the total.
TEST(TxCksum, SumsEqualDpdksValueForValue) {
  std::vector<uint8_t> buf(64 + 1600 + 8);
  for (const int content : {0, 1, 2}) {
    for (size_t i = 0; i < buf.size(); ++i) {
      buf[i] = content == 0 ? static_cast<uint8_t>(i * 131 + 7) : content == 1 ? 0 : 0xff;
    }
    for (size_t off = 0; off < 4; ++off) {
      for (size_t len = 0; len <= 1600; ++len) {
        const uint8_t* p = buf.data() + 64 + off;
        ASSERT_EQ(dp::raw_cksum(p, len), rte_raw_cksum(p, len))
            << content << " " << off << " " << len;
      }
    }
    for (size_t len = 0; len <= 1520; len += (len < 80 ? 1 : 37)) {
      for (const uint8_t proto : {uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_TCP}}) {
        auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(buf.data() + 44);
        ip4->version_ihl = RTE_IPV4_VHL_DEF;
        ip4->next_proto_id = proto;
        ip4->src_addr = htonl(0xC0000201u + static_cast<uint32_t>(len));
        ip4->dst_addr = content == 1 ? 0 : htonl(0x0A000002u);
        ip4->total_length = htons(static_cast<uint16_t>(20 + len));
        const void* l4 = ip4 + 1;
        ASSERT_EQ(dp::ipv4_udptcp_cksum(ip4, l4), rte_ipv4_udptcp_cksum(ip4, l4)) << len;
        ip4->total_length = htons(static_cast<uint16_t>(len < 20 ? len : 19));  // < ihl
        ASSERT_EQ(dp::ipv4_udptcp_cksum(ip4, l4), rte_ipv4_udptcp_cksum(ip4, l4)) << len;
        auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(buf.data() + 24);
        ip6->proto = proto;
        ip6->payload_len = htons(static_cast<uint16_t>(len));
        const void* l6 = ip6 + 1;
        ASSERT_EQ(dp::ipv6_udptcp_cksum(ip6, l6), rte_ipv6_udptcp_cksum(ip6, l6)) << len;
        ASSERT_EQ(dp::ipv6_udptcp_cksum_verify(ip6, l6), rte_ipv6_udptcp_cksum_verify(ip6, l6))
            << len;
      }
    }
  }
}

// The AVX2 loop (chosen at start-up where the CPU has it) and the SSE2 loop give DPDK's sum
// for every length 0..2100 at every alignment in a 32-byte word, over random bytes, random
// bytes mostly 0xff (large lanes), all ones and all zeros, and for 64 KiB of 0xff (no carry
// lost in a lane). Skipped where the CPU has no AVX2.
TEST(TxCksum, Avx2AndSse2LoopsGiveDpdksSum) {
  if (!dp::detail::cksum_avx2) {
    GTEST_SKIP() << "no AVX2 on this CPU";
  }
  struct Restore {
    ~Restore() { dp::detail::cksum_avx2 = true; }
  } restore;
  std::mt19937 rng(11);
  std::vector<uint8_t> buf(32 + 2100 + 8);
  for (const int content : {0, 1, 2, 3}) {
    for (uint8_t& b : buf) {
      const auto r = static_cast<uint8_t>(rng());
      b = content == 0 ? r : content == 1 ? (r < 16 ? r : 0xff) : content == 2 ? 0xff : 0;
    }
    for (size_t off = 0; off < 32; ++off) {
      for (size_t len = 0; len <= 2100; len += (off < 4 || len < 300 ? 1 : 7)) {
        const uint8_t* p = buf.data() + off;
        const uint16_t want = rte_raw_cksum(p, len);
        dp::detail::cksum_avx2 = true;
        ASSERT_EQ(dp::raw_cksum(p, len), want) << "avx2 " << content << " " << off << " " << len;
        dp::detail::cksum_avx2 = false;
        ASSERT_EQ(dp::raw_cksum(p, len), want) << "sse2 " << content << " " << off << " " << len;
      }
    }
  }
  std::vector<uint8_t> big(65535, 0xff);
  big[100] = 0x12;
  for (const bool avx2 : {true, false}) {
    dp::detail::cksum_avx2 = avx2;
    for (const size_t len : {size_t{65535}, size_t{65534}, size_t{65407}}) {
      ASSERT_EQ(dp::raw_cksum(big.data(), len), rte_raw_cksum(big.data(), len)) << avx2 << len;
    }
  }
}

// The software sums against DPDK's (which take the length from the IP header: the same here),
// every length 8..1500 (odd ones end on a half word), right and one bit off.
TEST(RxCksum, SumsAgreeWithDpdk) {
  std::vector<uint8_t> buf(sizeof(rte_ipv6_hdr) + 1500);
  for (size_t i = 0; i < buf.size(); ++i) {
    buf[i] = static_cast<uint8_t>(i * 7 + 3);
  }
  for (size_t len = 8; len <= 1500; ++len) {
    auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(buf.data() + sizeof(rte_ipv6_hdr) - 20);
    ip4->version_ihl = RTE_IPV4_VHL_DEF;
    ip4->next_proto_id = IPPROTO_UDP;
    ip4->total_length = htons(static_cast<uint16_t>(20 + len));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip4 + 1);
    udp->dgram_len = htons(static_cast<uint16_t>(len));
    udp->dgram_cksum = 0;
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip4, udp);
    ASSERT_TRUE(dp::ipv4_udp_cksum_ok(ip4, udp, len)) << len;
    reinterpret_cast<uint8_t*>(udp)[len - 1] ^= 1;
    ASSERT_EQ(dp::ipv4_udp_cksum_ok(ip4, udp, len), rte_ipv4_udptcp_cksum_verify(ip4, udp) == 0)
        << len;
    ASSERT_FALSE(dp::ipv4_udp_cksum_ok(ip4, udp, len)) << len;
    reinterpret_cast<uint8_t*>(udp)[len - 1] ^= 1;

    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(buf.data());
    ip6->proto = IPPROTO_UDP;
    ip6->payload_len = htons(static_cast<uint16_t>(len));
    auto* udp6 = reinterpret_cast<rte_udp_hdr*>(ip6 + 1);
    udp6->dgram_len = ip6->payload_len;
    udp6->dgram_cksum = 0;
    udp6->dgram_cksum = rte_ipv6_udptcp_cksum(ip6, udp6);
    ASSERT_TRUE(dp::ipv6_udp_cksum_ok(ip6, udp6, len)) << len;
    reinterpret_cast<uint8_t*>(udp6)[len / 2] ^= 0x10;
    ASSERT_FALSE(dp::ipv6_udp_cksum_ok(ip6, udp6, len)) << len;
    reinterpret_cast<uint8_t*>(udp6)[len / 2] ^= 0x10;
  }
  // The IPv4 header sum, 20..60 bytes, against rte_ipv4_cksum.
  for (uint8_t ihl = 5; ihl <= 15; ++ihl) {
    auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(buf.data());
    ip4->version_ihl = static_cast<uint8_t>(0x40 | ihl);
    ip4->hdr_checksum = 0;
    ip4->hdr_checksum = rte_ipv4_cksum(ip4);
    EXPECT_TRUE(dp::ipv4_hdr_cksum_ok(ip4, ihl * 4u)) << int{ihl};
    buf[ihl * 4u - 1] ^= 0x80;
    EXPECT_FALSE(dp::ipv4_hdr_cksum_ok(ip4, ihl * 4u)) << int{ihl};
    buf[ihl * 4u - 1] ^= 0x80;
  }
}

// Checksum 0 over IPv4: the sender computed none (RFC 768); nothing to verify.
TEST(RxCksum, ZeroChecksumOverIpv4IsAccepted) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  rte_mbuf* m = frame_in(perf::kInvite, 0);
  ASSERT_EQ(headers(m, 14).udp->dgram_cksum, 0);
  EXPECT_TRUE(rx(*s, m, 0).is_tx());
  // Even where a port would call it bad: 0 is no checksum.
  EXPECT_TRUE(rx(*s, frame_in(perf::kInvite, 0), kL4Bad).is_tx());
}

// The port's verdicts are taken as they are: GOOD (and NONE: the data was checked, the field is
// not final) without summing, so a damaged frame the port calls good passes (the test lies
// to prove no sum is taken), and BAD is dropped even when the bytes are right.
TEST(RxCksum, PortVerdictsAreTrusted) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(rx(*s, damaged_in(perf::kInvite), kIpGood | kL4Good).is_tx());
  EXPECT_TRUE(rx(*s, damaged_in(perf::kInvite), kIpGood | kL4None).is_tx());
  EXPECT_TRUE(
      dropped_as(rx(*s, summed_in(perf::kInvite), kIpGood | kL4Bad), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(dropped_as(rx(*s, summed_in(perf::kInvite), kL4Bad), dp::Drop::kUdpBadChecksum));
}

// `verify_udp_checksum = false`: what the port did not check is trusted (a feed with partial
// sums), what it found bad is still dropped.
TEST(RxCksum, VerifyOffTrustsUncheckedDatagrams) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  s->owned->snap.ifaces[0].rx_cksum_verify = false;
  EXPECT_TRUE(rx(*s, damaged_in(perf::kInvite), 0).is_tx());
  EXPECT_TRUE(dropped_as(rx(*s, summed_in(perf::kInvite), kL4Bad), dp::Drop::kUdpBadChecksum));
}

// The IPv4 header checksum: summed when the port did not check it, else its verdict; a bad
// header teaches nothing (no neighbour learned from it).
TEST(RxCksum, Ipv4HeaderChecksum) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  auto bad_header = [](const std::string& msg) {
    rte_mbuf* m = summed_in(msg);
    headers(m, 14).ip->hdr_checksum ^= 0x0100;
    return m;
  };
  EXPECT_TRUE(dropped_as(rx(*s, bad_header(perf::kInvite), 0), dp::Drop::kIpv4BadChecksum));
  EXPECT_TRUE(dropped_as(rx(*s, bad_header(perf::kInvite), kL4Good), dp::Drop::kIpv4BadChecksum));
  EXPECT_TRUE(rx(*s, bad_header(perf::kInvite), kIpGood).is_tx());
  EXPECT_TRUE(
      dropped_as(rx(*s, summed_in(perf::kInvite), kIpBad | kL4Good), dp::Drop::kIpv4BadChecksum));
  // Options make the header longer than 20 bytes: all of it is summed.
  for (const bool damaged : {false, true}) {
    rte_mbuf* m = summed_in(perf::kInvite);
    const uint16_t len = rte_pktmbuf_data_len(m);
    char* p = rte_pktmbuf_append(m, 4);
    ASSERT_NE(p, nullptr);
    p = rte_pktmbuf_mtod(m, char*);
    std::memmove(p + 14 + 24, p + 14 + 20, len - 14 - 20);
    const uint8_t nops[4] = {1, 1, 1, 0};  // NOP, NOP, NOP, end of options
    std::memcpy(p + 14 + 20, nops, 4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
    ip->version_ihl = 0x46;
    ip->total_length = htons(static_cast<uint16_t>(ntohs(ip->total_length) + 4));
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    if (damaged) {
      p[14 + 22] = 0;  // the third NOP
    }
    const dp::Verdict v = rx(*s, m, 0);
    EXPECT_EQ(dropped_as(v, dp::Drop::kIpv4BadChecksum), damaged);
    EXPECT_TRUE(damaged || v.is_tx());
  }
}

// The UDP length may be less than what the IP header holds (trailing bytes the kernel trims):
// the sum covers the UDP length's bytes, with that length in the pseudo-header.
TEST(RxCksum, SumCoversTheUdpLength) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  rte_mbuf* m = summed_in(perf::kInvite);
  ASSERT_NE(rte_pktmbuf_append(m, 6), nullptr);
  Headers h = headers(m, 14);
  std::memcpy(reinterpret_cast<char*>(h.udp) + ntohs(h.udp->dgram_len), "\xde\xad\xbe\xef\x00\x01",
              6);
  h.ip->total_length = htons(static_cast<uint16_t>(ntohs(h.ip->total_length) + 6));
  h.ip->hdr_checksum = 0;
  h.ip->hdr_checksum = rte_ipv4_cksum(h.ip);
  EXPECT_TRUE(rx(*s, m, 0).is_tx());
}

// A reassembled datagram is summed whole (each fragment carries part of it), whatever flags
// the first fragment had.
TEST(RxCksum, ReassembledDatagramIsSummedWhole) {
  auto s = make_side(false);
  ASSERT_NE(s, nullptr);
  s->ctx->big_pool = g_pool;
  rte_ip_frag_tbl* tbl = rte_ip_frag_table_create(16, 8, 64, rte_get_tsc_hz() * 2, 0);
  ASSERT_NE(tbl, nullptr);
  auto* dr = static_cast<rte_ip_frag_death_row*>(
      rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
  ASSERT_NE(dr, nullptr);
  s->ctx->frag_tbl = tbl;
  s->ctx->death_row = dr;
  for (const bool damaged : {false, true}) {
    rte_mbuf* m = damaged ? damaged_in(perf::kInvite) : summed_in(perf::kInvite);
    // The datagram in fragments of 512 bytes, as a sender at a small MTU cuts it.
    Headers h = headers(m, 14);
    const size_t l4 = ntohs(h.ip->total_length) - 20;
    dp::Verdict last;
    for (size_t off = 0; off < l4; off += 512) {
      const size_t n = std::min<size_t>(512, l4 - off);
      rte_mbuf* f = rte_pktmbuf_alloc(g_pool);
      char* p = rte_pktmbuf_append(f, static_cast<uint16_t>(34 + n));
      ASSERT_NE(p, nullptr);
      std::memcpy(p, rte_pktmbuf_mtod(m, char*), 34);
      std::memcpy(p + 34, reinterpret_cast<char*>(h.udp) + off, n);
      auto* fip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
      fip->total_length = htons(static_cast<uint16_t>(20 + n));
      fip->fragment_offset =
          htons(static_cast<uint16_t>(off / 8 | (off + n < l4 ? RTE_IPV4_HDR_MF_FLAG : 0)));
      fip->hdr_checksum = 0;
      fip->hdr_checksum = rte_ipv4_cksum(fip);
      f->port = 0;
      // The first fragment claims a good L4 sum: it must not stand for the datagram.
      f->ol_flags = off == 0 ? kIpGood | kL4Good : kIpGood;
      last = dp::handle_packet(s->owned->snap, f, *s->ctx);
      if (last.kind != dp::Verdict::Kind::kHeld) {
        rte_pktmbuf_free(f);
      }
    }
    rte_pktmbuf_free(m);
    if (damaged) {
      EXPECT_TRUE(dropped_as(last, dp::Drop::kUdpBadChecksum));
    } else {
      EXPECT_TRUE(last.is_tx());
    }
    rte_ip_frag_free_death_row(dr, 0);
  }
  rte_ip_frag_table_destroy(tbl);
  rte_free(dr);
}

// IPv6: the sum is mandatory; a wrong one or none (0) is dropped, even with verify off.
TEST(RxCksum, Ipv6) {
  auto s = make_side6(false);
  ASSERT_NE(s, nullptr);
  auto damaged6 = [] {
    rte_mbuf* m = frame_in6(perf::kInvite);
    damage_payload(m, 48);
    return m;
  };
  auto zero6 = [] {
    rte_mbuf* m = frame_in6(perf::kInvite);
    headers6(m).udp->dgram_cksum = 0;
    return m;
  };
  EXPECT_TRUE(rx(*s, frame_in6(perf::kInvite), 0).is_tx());
  EXPECT_TRUE(dropped_as(rx(*s, damaged6(), 0), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(dropped_as(rx(*s, zero6(), 0), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(dropped_as(rx(*s, zero6(), kL4Good), dp::Drop::kUdpBadChecksum));
  EXPECT_TRUE(rx(*s, damaged6(), kL4Good).is_tx());
  EXPECT_TRUE(dropped_as(rx(*s, frame_in6(perf::kInvite), kL4Bad), dp::Drop::kUdpBadChecksum));
  s->owned->snap.ifaces[0].rx_cksum_verify = false;
  EXPECT_TRUE(rx(*s, damaged6(), 0).is_tx());
  EXPECT_TRUE(dropped_as(rx(*s, zero6(), 0), dp::Drop::kUdpBadChecksum));
}

TEST(RxCksum, PortAsksForEachCheckItHas) {
  constexpr uint64_t kIp = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  constexpr uint64_t kUdp = RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  constexpr uint64_t kTcp = RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  EXPECT_EQ(dp::rx_cksum_offloads(kIp | kUdp | kTcp, true), kIp | kUdp);
  EXPECT_EQ(dp::rx_cksum_offloads(kUdp, true), kUdp);
  EXPECT_EQ(dp::rx_cksum_offloads(kIp, true), kIp);
  EXPECT_EQ(dp::rx_cksum_offloads(kIp | kUdp, false), 0u);
  EXPECT_EQ(dp::rx_cksum_offloads(kTcp, true), 0u);
}

// ---- TX: a forward's UDP checksum from the received one (cksum.hpp edited_sum) ------------------

// Equal as one's complement sums: the same value modulo 0xffff (0 and 0xffff are both zero).
bool same_sum(uint64_t a, uint64_t b) { return a % 0xffff == b % 0xffff; }

// Random edit cases for the tests below: a message of `len` bytes at buf[head] (one of three
// contents: random, zeros, all 0xff, whose sums wrap often) and up to 6 edits at sorted offsets
// (repeats: inserts at one offset; offset 0 and the end often), each deleting at most up to the
// next one's offset, inserting 0 to 70 bytes of a random pool. Seeded: the same cases each run.
class EditCases {
 public:
  EditCases() : rng_(20261123), pool_(512, '\0') {
    for (char& c : pool_) {
      c = static_cast<char>(pick(0, 255));
    }
  }
  size_t pick(size_t lo, size_t hi) { return std::uniform_int_distribution<size_t>(lo, hi)(rng_); }
  // Fills buf[head, head + len) and returns the edits.
  std::vector<sip::Edit> next(int round, std::vector<char>& buf, size_t head, size_t len) {
    const int content = round % 3;
    for (size_t i = 0; i < len; ++i) {
      buf[head + i] = content == 0 ? static_cast<char>(pick(0, 255))
                                   : content == 1 ? '\0' : static_cast<char>(0xff);
    }
    const size_t n = pick(0, 6);
    std::vector<size_t> offs(n);
    for (size_t& o : offs) {
      o = pick(0, 3) == 0 ? (pick(0, 1) == 0 ? 0 : len) : pick(0, len);
    }
    std::sort(offs.begin(), offs.end());
    std::vector<sip::Edit> edits(n);
    for (size_t i = 0; i < n; ++i) {
      const size_t limit = (i + 1 < n ? offs[i + 1] : len) - offs[i];
      const size_t del = pick(0, 2) == 0 ? 0 : pick(0, limit);
      const size_t ins_len = pick(0, 2) == 0 ? 0 : pick(0, 70);
      const size_t ins_at = pick(0, pool_.size() - ins_len);
      edits[i] = {static_cast<uint16_t>(offs[i]), static_cast<uint16_t>(del),
                  std::string_view(pool_).substr(ins_at, ins_len)};
    }
    return edits;
  }

 private:
  std::mt19937 rng_;
  std::string pool_;
};

// Whether some kept bytes land at an offset of the other parity (the case that swaps lanes).
size_t odd_moves(const std::vector<sip::Edit>& edits, size_t len) {
  size_t odd = 0;
  long shift = 0;
  for (const sip::Edit& e : edits) {
    shift += static_cast<long>(e.ins.size()) - e.del;
    odd += (shift & 1) != 0 && e.off + e.del < len ? 1 : 0;
  }
  return odd;
}

// edited_sum against summing the edited message, for every edit shape apply_edits takes:
// inserts, deletions and replacements of odd and even lengths at odd and even offsets, several
// inserts at one offset, at offset 0 and at the end, whole-message deletions; messages of odd
// and even lengths, both orders of the odd-moved and other bytes (the two ways it sums), over
// three contents.
TEST(TxCksum, EditedSumEqualsTheSumOfTheEditedMessage) {
  EditCases cases;
  std::vector<char> buf(4096);
  size_t odd_cases = 0;
  for (int round = 0; round < 20000; ++round) {
    const size_t len = cases.pick(0, round % 10 == 0 ? 1500 : 200);
    const size_t head = 1024 + cases.pick(0, 1);  // the message's own alignment does not matter
    const std::vector<sip::Edit> edits = cases.next(round, buf, head, len);
    uint64_t sum = dp::raw_cksum(buf.data() + head, len);
    ASSERT_TRUE(dp::edited_sum(buf.data() + head, len, edits, sum));
    size_t h = head;
    size_t l = len;
    ASSERT_TRUE(sip::apply_edits(buf.data(), buf.size(), h, l, edits));
    const uint16_t want = dp::raw_cksum(buf.data() + h, l);
    ASSERT_TRUE(same_sum(sum, want)) << "round " << round << ": " << edits.size()
                                     << " edits, len " << len;
    odd_cases += odd_moves(edits, len);
  }
  EXPECT_GT(odd_cases, 5000u);  // the lane swap is exercised, not only even moves
}

// apply_edits_summed leaves the buffer, head and len as apply_edits does and the sum edited_sum
// gives, on the same cases, with headroom from none to plenty (the one-walk cases: a forward's
// edits, none deleting more than it inserts, and a reply's, none inserting more than it
// deletes; apply_edits' general passes for the others or when the front does not fit), and
// refuses what apply_edits refuses (edits past a message cut short), buffer and sum unchanged.
TEST(TxCksum, ApplyEditsSummedIsApplyEditsAndEditedSum) {
  EditCases cases;
  std::vector<char> buf(2048);
  size_t forward = 0;  // one walk, front to back
  size_t reply = 0;    // one walk, back to front
  size_t general = 0;
  size_t refused = 0;
  for (int round = 0; round < 20000; ++round) {
    const size_t len = cases.pick(0, round % 10 == 0 ? 1500 : 200);
    const size_t head = cases.pick(0, 3) == 0 ? cases.pick(0, 80) : 300 + cases.pick(0, 1);
    std::vector<sip::Edit> edits = cases.next(round, buf, head, len);
    const size_t cap = std::min(buf.size(), head + len + cases.pick(0, 100));
    // Sometimes the message is taken as shorter than the edits assume: refused.
    const size_t msg_len = cases.pick(0, 9) == 0 && len != 0 ? len - 1 : len;
    std::vector<char> want_buf = buf;
    size_t want_h = head;
    size_t want_l = msg_len;
    const uint64_t sum0 = dp::raw_cksum(buf.data() + head, msg_len);
    uint64_t want_sum = sum0;
    const bool want_ok = dp::edited_sum(buf.data() + head, msg_len, edits, want_sum) &&
                         sip::apply_edits(want_buf.data(), cap, want_h, want_l, edits);
    uint64_t sum = sum0;
    size_t h = head;
    size_t l = msg_len;
    const std::vector<char> before = buf;
    const bool ok = dp::apply_edits_summed(buf.data(), cap, h, l, edits, sum);
    ASSERT_EQ(ok, want_ok) << "round " << round;
    if (!ok) {
      ASSERT_EQ(buf, before) << "round " << round;
      ASSERT_EQ(sum, sum0);
      ASSERT_EQ(h, head);
      ASSERT_EQ(l, msg_len);
      ++refused;
      continue;
    }
    ASSERT_EQ(h, want_h) << "round " << round;
    ASSERT_EQ(l, want_l) << "round " << round;
    ASSERT_TRUE(std::equal(buf.begin() + h, buf.begin() + h + l, want_buf.begin() + h))
        << "round " << round;
    ASSERT_TRUE(same_sum(sum, dp::raw_cksum(buf.data() + h, l))) << "round " << round;
    size_t grow = 0;
    bool shrinks = false;
    bool grows = false;
    for (const sip::Edit& e : edits) {
      grow += e.ins.size() - e.del;
      shrinks |= e.ins.size() < e.del;
      grows |= e.ins.size() > e.del;
    }
    (!shrinks && grow <= head ? forward : !grows ? reply : general) += edits.empty() ? 0 : 1;
  }
  EXPECT_GT(forward, 3000u);
  EXPECT_GT(reply, 1000u);
  EXPECT_GT(general, 2000u);
  EXPECT_GT(refused, 500u);
}

// Edits apply_edits refuses (out of order, past the end) are refused here too, the sum left.
TEST(TxCksum, EditedSumRefusesWhatApplyEditsRefuses) {
  const std::string msg = "INVITE sip:a@b SIP/2.0\r\n\r\n";
  const uint64_t before = 1234;
  uint64_t sum = before;
  const sip::Edit unordered[2] = {{10, 2, "x"}, {5, 0, "y"}};
  EXPECT_FALSE(dp::edited_sum(msg.data(), msg.size(), unordered, sum));
  const sip::Edit past[1] = {{static_cast<uint16_t>(msg.size() - 1), 2, {}}};
  EXPECT_FALSE(dp::edited_sum(msg.data(), msg.size(), past, sum));
  EXPECT_EQ(sum, before);
}

// ipv4_udp_cksum_with and ipv4_hdr_cksum20 against ipv4_udptcp_cksum and DPDK's header sum,
// bit for bit, including payloads whose total sums to zero (the 0 -> 0xffff rule) and
// ipv4_udp_payload_sum against summing the payload of a checked datagram (bytes past msg_len
// taken off at odd and even offsets).
TEST(TxCksum, ChecksumFromAPayloadSumIsTheSummedOne) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(20 + 8 + 1600);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(buf.data());
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  auto* payload = reinterpret_cast<uint8_t*>(udp + 1);
  size_t zero_totals = 0;
  for (int round = 0; round < 4000; ++round) {
    const size_t len = round % 800;
    for (size_t i = 0; i < len; ++i) {
      payload[i] = round % 5 == 0 ? 0 : static_cast<uint8_t>(rng());
    }
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = htons(static_cast<uint16_t>(28 + len));
    ip->packet_id = static_cast<uint16_t>(rng());
    ip->fragment_offset = 0;
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->hdr_checksum = 0;
    ip->src_addr = static_cast<uint32_t>(rng());
    ip->dst_addr = static_cast<uint32_t>(rng());
    udp->src_port = static_cast<uint16_t>(rng());
    udp->dst_port = static_cast<uint16_t>(rng());
    udp->dgram_len = htons(static_cast<uint16_t>(8 + len));
    if (len >= 2 && round % 7 == 0) {
      // Make the datagram's total sum to zero (0xffff): the checksum computed as 0 goes out
      // as 0xffff. Two payload bytes absorb the difference.
      payload[0] = payload[1] = 0;
      udp->dgram_cksum = 0;
      const uint16_t ck = rte_ipv4_udptcp_cksum(ip, udp);  // ~total without those bytes
      std::memcpy(payload, &ck, 2);
      ++zero_totals;
    }
    ASSERT_EQ(dp::ipv4_hdr_cksum20(ip), rte_ipv4_cksum(ip)) << round;
    udp->dgram_cksum = 0;
    const uint16_t want = dp::ipv4_udptcp_cksum(ip, udp);
    ASSERT_EQ(dp::ipv4_udp_cksum_with(ip, udp, dp::raw_cksum(payload, len)), want) << round;
    if (zero_totals != 0 && round % 7 == 0 && len >= 2) {
      ASSERT_EQ(want, 0xffff) << round;
    }
    // The receiving side: the datagram as sent, checked; the first msg_len bytes' sum.
    udp->dgram_cksum = want;
    ASSERT_TRUE(dp::ipv4_udp_cksum_ok(ip, udp, 8 + len));
    const size_t msg_len = len - std::min(len, static_cast<size_t>(round % 4));
    ASSERT_TRUE(same_sum(dp::ipv4_udp_payload_sum(ip->src_addr, ip->dst_addr, udp, msg_len),
                         dp::raw_cksum(payload, msg_len)))
        << round << " " << msg_len;
  }
  EXPECT_GT(zero_totals, 100u);
}

// Whole forwards: a datagram whose checksum the port vouched for (GOOD) or that was summed here
// (flags unknown) leaves with the checksum derived from the received one; the same datagram
// with a port's NONE (the field not to be trusted) is summed whole. Every byte of the two
// frames must be the same, and right. The messages make the edits of each shape: our Via (58
// bytes), received= (odd: every later byte moves by an odd offset), rport, Max-Forwards 10 ->
// 9 (one byte shorter), bytes past Content-Length (not forwarded), an odd-length datagram, a
// reply's Via removal.
TEST(TxCksum, ForwardFromTheReceivedChecksumEqualsTheSummedOne) {
  const auto edit = [](std::string msg, std::string_view from, std::string_view to) {
    const size_t at = msg.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? msg : msg.replace(at, from.size(), to);
  };
  const std::string invite = perf::kInvite;
  const std::string named = edit(invite, "UDP 10.0.0.10:5060;", "UDP client.example:5060;");
  const std::string rport = edit(invite, "10.0.0.10:5060;branch", "10.0.0.10:5060;rport;branch");
  const std::string mf10 = edit(named, "Max-Forwards: 70", "Max-Forwards: 10");
  const std::string odd = edit(invite, "Subject: Performance Test", "Subject: Performance Tests");
  struct Case {
    std::string msg;
    const char* src;
    const dp::MacAddr* mac;
    std::string trailing;  // bytes after the message, past Content-Length
  };
  const std::vector<Case> cases = {
      {invite, "10.0.0.10", &kClientMac, ""},
      {named, "10.0.0.10", &kClientMac, ""},
      {rport, "10.0.0.10", &kClientMac, ""},
      {mf10, "10.0.0.10", &kClientMac, ""},
      {odd, "10.0.0.10", &kClientMac, ""},
      {mf10, "10.0.0.10", &kClientMac, "xyz"},
      {invite, "10.0.0.10", &kClientMac, "\r\n"},
      {perf::kReply, "10.0.0.11", &kB1Mac, ""},
      {perf::kReply, "10.0.0.11", &kB1Mac, "!"},
  };
  for (const uint64_t known : {kIpGood | kL4Good, uint64_t{0}}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.msg.substr(0, 60) + " trailing " + std::to_string(c.trailing.size()) +
                   " flags " + std::to_string(known));
      auto derived = make_side(false);
      auto summed = make_side(false);
      ASSERT_NE(derived, nullptr);
      ASSERT_NE(summed, nullptr);
      rte_mbuf* a = frame_in(c.msg + c.trailing, 0, c.src, *c.mac);
      set_udp_sum(a);
      rte_mbuf* b = frame_in(c.msg + c.trailing, 0, c.src, *c.mac);
      set_udp_sum(b);
      a->ol_flags = known;
      b->ol_flags = kIpGood | kL4None;
      ASSERT_TRUE(dp::handle_packet(derived->owned->snap, a, *derived->ctx).is_tx());
      ASSERT_TRUE(dp::handle_packet(summed->owned->snap, b, *summed->ctx).is_tx());
      Headers h = headers(a, 14);
      EXPECT_NE(ntohs(h.udp->dgram_len), 8 + c.msg.size()) << "edited";
      EXPECT_EQ(rte_ipv4_cksum(h.ip), 0);
      EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(h.ip, h.udp), 0) << "UDP checksum invalid";
      EXPECT_EQ(bytes(a), bytes(b));
      rte_pktmbuf_free(a);
      rte_pktmbuf_free(b);
    }
  }
}

// A port's NONE (the data was checked, the field may hold only a partial sum, as a sender with
// TX offload leaves it over veth) gives no checksum to derive from: the forward sums its datagram
// and carries a right checksum all the same. Also with the field zero (no checksum, IPv4).
TEST(TxCksum, NoDerivedChecksumFromAFieldThePortDidNotCheck) {
  for (const bool zero : {false, true}) {
    for (const std::string& msg : {std::string(perf::kInvite), std::string(perf::kReply)}) {
      SCOPED_TRACE(msg.substr(0, 40) + (zero ? " zero field" : " partial field"));
      const bool reply = msg.starts_with("SIP/2.0");
      auto side = make_side(false);
      ASSERT_NE(side, nullptr);
      rte_mbuf* m = frame_in(msg, 0, reply ? "10.0.0.11" : "10.0.0.10",
                             reply ? kB1Mac : kClientMac);
      Headers in = headers(m, 14);
      in.udp->dgram_cksum = zero ? 0 : rte_ipv4_phdr_cksum(in.ip, 0);
      m->ol_flags = kIpGood | kL4None;
      ASSERT_TRUE(dp::handle_packet(side->owned->snap, m, *side->ctx).is_tx());
      Headers h = headers(m, 14);
      EXPECT_NE(h.udp->dgram_cksum, 0);
      EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(h.ip, h.udp), 0) << "UDP checksum invalid";
      rte_pktmbuf_free(m);
    }
  }
}

// A net_ring port looping on one ring (`tag` names both), not started.
struct RingPort {
  explicit RingPort(const std::string& tag)
      : ring(rte_ring_create((tag + "_ring").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ)) {
    port = ring == nullptr ? -1 : rte_eth_from_rings((tag + "_port").c_str(), &ring, 1, &ring, 1, 0);
    char n[RTE_ETH_NAME_MAX_LEN];
    if (port >= 0 && rte_eth_dev_get_name_by_port(static_cast<uint16_t>(port), n) == 0) {
      name = n;
    }
  }
  ~RingPort() { rte_ring_free(ring); }
  rte_ring* ring;
  int port = -1;
  std::string name;
};

// net_ring has no checksum offload: port_start must record the software path.
TEST(CksumOffload, RingPortUsesSoftware) {
  RingPort rp("cko");
  ASSERT_FALSE(rp.name.empty());
  dp::PortConfig pc;
  pc.name = rp.name;
  auto info = dp::port_start(pc, g_pool);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(info->tx_cksum_offload);
  EXPECT_FALSE(info->rx_ip_cksum_offload);
  EXPECT_FALSE(info->rx_udp_cksum_offload);
  dp::port_stop(info->port_id);
}

// A port that refuses the configured MTU and stays below it would drop every frame between the
// two without a word: port_start fails, naming both. Above (here net_ring keeps 1500 and 1400 is
// asked) is fine: datagrams are fragmented to the configured MTU.
TEST(PortStart, AnMtuThePortRefusesAndStaysBelowIsAnError) {
  RingPort rp("mtu");
  ASSERT_FALSE(rp.name.empty());
  const int port = rp.port;
  uint16_t have = 0;
  ASSERT_EQ(rte_eth_dev_get_mtu(static_cast<uint16_t>(port), &have), 0);
  dp::PortConfig pc;
  pc.name = rp.name;
  pc.mtu = 9000;
  if (rte_eth_dev_set_mtu(static_cast<uint16_t>(port), 9000) == 0) {
    GTEST_SKIP() << "this DPDK's net_ring takes any MTU";
  }
  auto refused = dp::port_start(pc, g_pool);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("refuses MTU 9000 and stays at " + std::to_string(have)),
            std::string::npos)
      << refused.error().message;
  pc.mtu = 1400;
  auto info = dp::port_start(pc, g_pool);
  ASSERT_TRUE(info) << info.error().message;
  dp::port_stop(info->port_id);
}

}  // namespace
}  // namespace viaduct
