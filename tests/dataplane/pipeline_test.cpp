// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/pipeline_test.cpp: frames through handle_packet(), the one per-packet entry
// point, with a snapshot built by the real script compiler and snapshot builder, on real mbufs
// (EAL with --no-huge --in-memory, no device).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/sip/sip.hpp"
#include "tests/support/packet_builder.hpp"

namespace viaduct {
namespace {

rte_mempool* g_pool = nullptr;

class EalEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* args[] = {"pipeline_test", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
                          "--log-level=error", "-l", "0"};
    ASSERT_GE(rte_eal_init(static_cast<int>(std::size(args)), const_cast<char**>(args)), 0);
    g_pool = rte_pktmbuf_pool_create("test_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(g_pool, nullptr);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new EalEnv);

constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "unused.list")
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (is_method("MESSAGE")) {
        drop;
    }
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
}
)";

constexpr const char* kList = "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5080\n2 sip:10.9.9.9\n";

const dp::MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
const dp::MacAddr kClientMac{{0x02, 0, 0, 0, 0, 0x10}};
const dp::MacAddr kB1Mac{{0x02, 0, 0, 0, 0, 0x11}};
const dp::MacAddr kB2Mac{{0x02, 0, 0, 0, 0, 0x12}};

uint32_t ip(const char* s) {
  uint32_t v = 0;
  EXPECT_TRUE(dp::parse_ipv4(s, v)) << s;
  return v;
}

rte_mbuf* arp_frame(uint16_t op, const dp::MacAddr& sha, const char* sip, const char* tip) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  char* p = rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr));
  if (p == nullptr) {
    ADD_FAILURE() << "no room for an ARP frame";
    return m;
  }
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memset(eth->dst_addr.addr_bytes, 0xff, 6);
  std::memcpy(eth->src_addr.addr_bytes, sha.b, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = htons(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = 6;
  arp->arp_plen = 4;
  arp->arp_opcode = htons(op);
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, sha.b, 6);
  arp->arp_data.arp_sip = ip(sip);
  std::memset(arp->arp_data.arp_tha.addr_bytes, 0, 6);
  arp->arp_data.arp_tip = ip(tip);
  m->port = 0;
  return m;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    use_own_script(kScript);
    ASSERT_NE(owned_, nullptr);
    ctx_ = std::make_unique<dp::WorkerCtx>();
    ctx_->counters = &counters_;
    static int n = 0;
    const std::string name = "ev" + std::to_string(n++);
    ring_ = rte_ring_create_elem(name.c_str(), sizeof(dp::Event), 64, 0,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(ring_, nullptr);
    ctx_->events = ring_;
  }
  void TearDown() override { rte_ring_free(ring_); }

  // An Ethernet/IPv4/UDP frame carrying `payload`.
  rte_mbuf* udp_frame(const dp::MacAddr& src_mac, const char* src, uint16_t sport,
                      const char* dst, uint16_t dport, std::string_view payload) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    EXPECT_TRUE(test::fill_udp_frame(m, src_mac, kOurMac, ip(src), sport, ip(dst), dport,
                                     payload));
    return m;
  }

  struct Out {
    dp::Verdict v;
    dp::MacAddr dst_mac;
    uint32_t src_ip = 0, dst_ip = 0;
    uint16_t sport = 0, dport = 0;
    bool ip_cksum_ok = false, udp_cksum_ok = false;
    std::string sip;
  };

  Out run(rte_mbuf* m) {
    Out o;
    o.v = dp::handle_packet(owned_->snap, m, *ctx_);
    if (o.v.is_tx()) {
      // A copy: the frame may start at an odd address (rte_ether_hdr wants 2-byte alignment).
      rte_ether_hdr eth_copy;
      std::memcpy(&eth_copy, rte_pktmbuf_mtod(m, const void*), sizeof eth_copy);
      const rte_ether_hdr* eth = &eth_copy;
      std::memcpy(o.dst_mac.b, eth->dst_addr.addr_bytes, 6);
      if (ntohs(eth->ether_type) == RTE_ETHER_TYPE_IPV4) {
        auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        auto* udp = reinterpret_cast<rte_udp_hdr*>(iph + 1);
        o.src_ip = iph->src_addr;
        o.dst_ip = iph->dst_addr;
        o.sport = ntohs(udp->src_port);
        o.dport = ntohs(udp->dst_port);
        o.ip_cksum_ok = rte_ipv4_cksum(iph) == 0;
        o.udp_cksum_ok = rte_ipv4_udptcp_cksum_verify(iph, udp) == 0;
        EXPECT_EQ(rte_pktmbuf_data_len(m), sizeof(rte_ether_hdr) + ntohs(iph->total_length));
        o.sip.assign(reinterpret_cast<const char*>(udp + 1), ntohs(udp->dgram_len) - 8u);
      }
    }
    rte_pktmbuf_free(m);
    return o;
  }

  // The snapshot of `script` in place of kScript's (same list, address and neighbours).
  void use_own_script(const std::string& script) {
    std::string error;
    auto snap = test::make_snapshot(script, kList, "10.0.0.2", kOurMac,
                                    {{"10.0.0.10", kClientMac},
                                     {"10.0.0.11", kB1Mac},
                                     {"10.0.0.12", kB2Mac}},
                                    error);
    ASSERT_NE(snap, nullptr) << error;
    owned_.swap(snap);
  }

  std::unique_ptr<ctl::OwnedSnapshot> owned_;
  dp::WorkerCounters counters_;
  std::unique_ptr<dp::WorkerCtx> ctx_;
  rte_ring* ring_ = nullptr;
};

std::string invite(const std::string& call_id, const std::string& extra = "Max-Forwards: 70\r\n",
                   const std::string& method = "INVITE") {
  return method + " sip:service@10.0.0.2:5060 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0\r\n"
         "From: sipp <sip:sipp@10.0.0.10:5060>;tag=1\r\n"
         "To: service <sip:service@10.0.0.2:5060>\r\n"
         "Call-ID: " + call_id + "\r\n"
         "CSeq: 1 " + method + "\r\n" + extra +
         "Contact: sip:sipp@10.0.0.10:5060\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: 4\r\n"
         "\r\n"
         "v=0\n";
}

sip::SipView scan_ok(const std::string& s) {
  sip::SipView v;
  EXPECT_EQ(sip::scan(s.data(), s.size(), v), sip::ScanStatus::kOk) << s;
  return v;
}

TEST_F(PipelineTest, InviteIsForwardedWithOurViaAndDecrementedMaxForwards) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("abc")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.src_ip, ip("10.0.0.2"));
  EXPECT_TRUE(o.dst_ip == ip("10.0.0.11") || o.dst_ip == ip("10.0.0.12"));
  EXPECT_TRUE(o.dst_mac == (o.dst_ip == ip("10.0.0.11") ? kB1Mac : kB2Mac));
  EXPECT_EQ(o.dport, o.dst_ip == ip("10.0.0.11") ? 5060 : 5080);
  EXPECT_EQ(o.sport, 5060);
  EXPECT_TRUE(o.ip_cksum_ok);
  EXPECT_TRUE(o.udp_cksum_ok);
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_EQ(v.via_count, 2);
  EXPECT_EQ(v.via1.host.in(o.sip.data()), "10.0.0.2");
  // No ":5060" in our Via, as Kamailio writes it (the default port; replies still match).
  EXPECT_TRUE(v.via1.port.empty());
  EXPECT_EQ(v.via1.port_num, 0);
  EXPECT_EQ(v.via1.branch.in(o.sip.data()).substr(0, 7), "z9hG4bK");
  EXPECT_EQ(v.via2.branch.in(o.sip.data()), "z9hG4bK-1-0");
  EXPECT_EQ(v.max_forwards, 69u);
  EXPECT_NE(o.sip.find("\r\n\r\nv=0\n"), std::string::npos);  // body intact
  EXPECT_EQ(counters_.requests_forwarded.read(), 1u);
}

TEST_F(PipelineTest, RetransmissionAndCancelGetTheSameBranchAndBackend) {
  const Out a = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("c1")));
  const Out b = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("c1")));
  const Out c = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("c1", "Max-Forwards: 70\r\n", "CANCEL")));
  ASSERT_FALSE(a.v.is_drop());
  ASSERT_FALSE(c.v.is_drop());
  const auto va = scan_ok(a.sip), vb = scan_ok(b.sip), vc = scan_ok(c.sip);
  EXPECT_EQ(va.via1.branch.in(a.sip.data()), vb.via1.branch.in(b.sip.data()));
  EXPECT_EQ(va.via1.branch.in(a.sip.data()), vc.via1.branch.in(c.sip.data()));
  EXPECT_EQ(a.dst_ip, c.dst_ip);
}

TEST_F(PipelineTest, CallIdHashSpreadsOverBothDestinations) {
  int to_b1 = 0;
  for (int i = 0; i < 200; ++i) {
    const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                                invite("call-" + std::to_string(i) + "@host")));
    ASSERT_FALSE(o.v.is_drop());
    to_b1 += o.dst_ip == ip("10.0.0.11") ? 1 : 0;
  }
  EXPECT_GT(to_b1, 60);
  EXPECT_LT(to_b1, 140);
}

TEST_F(PipelineTest, MissingMaxForwardsIsInserted) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("mf", "")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_TRUE(v.has_max_forwards);
  EXPECT_EQ(v.max_forwards, 10u);
  // The first header field, above our Via, as Kamailio's maxfwd inserts it.
  const size_t first = o.sip.find("\r\n") + 2;
  EXPECT_EQ(o.sip.substr(first, 18), "Max-Forwards: 10\r\n");
  EXPECT_EQ(v.top_via_line.off, first + 18);
}

TEST_F(PipelineTest, ViaGetsReceivedWhenTheSourceDiffersAndRportIsFilled) {
  std::string msg = invite("nat");
  const std::string old_via = "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0\r\n";
  msg.replace(msg.find(old_via), old_via.size(),
              "Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK-nat;rport\r\n");
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 40000, "10.0.0.2", 5060, msg));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_EQ(v.via2.received.in(o.sip.data()), "10.0.0.10");
  EXPECT_EQ(v.via2.rport.in(o.sip.data()), "40000");
}

// received= is left out only when the top Via's host is the source address as written
// (same_text: two overlapping words for 8 to 16 bytes): a host of the source's length that
// differs in its first, a middle or its last byte still gets it, and so does a longer or
// shorter one.
TEST_F(PipelineTest, ReceivedUnlessTheViaHostIsTheSourceByteForByte) {
  struct Case {
    const char* src;
    const char* via_host;
    bool received;
  };
  const Case cases[] = {
      {"10.0.0.10", "10.0.0.10", false},   {"10.0.0.10", "10.0.0.11", true},
      {"10.0.0.10", "11.0.0.10", true},    {"10.0.0.10", "10.0.1.10", true},
      {"10.0.0.10", "10.0.0.1", true},     {"10.0.0.10", "10.0.0.100", true},
      {"10.0.0.100", "10.0.0.100", false}, {"10.0.0.100", "10.0.0.101", true},
      {"10.0.0.9", "10.0.0.9", false},     {"10.0.0.9", "10.0.0.8", true},
  };
  for (const Case& c : cases) {
    std::string msg = invite(std::string("same-") + c.src + "-" + c.via_host);
    const std::string old_via = "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0\r\n";
    msg.replace(msg.find(old_via), old_via.size(),
                std::string("Via: SIP/2.0/UDP ") + c.via_host + ":5060;branch=z9hG4bK-s\r\n");
    const Out o = run(udp_frame(kClientMac, c.src, 5060, "10.0.0.2", 5060, msg));
    ASSERT_FALSE(o.v.is_drop()) << c.src << " " << c.via_host << " " << dp::drop_name(o.v.drop);
    const sip::SipView v = scan_ok(o.sip);
    EXPECT_EQ(v.via2.host.in(o.sip.data()), c.via_host);
    EXPECT_EQ(v.via2.received.in(o.sip.data()), c.received ? c.src : "")
        << "source " << c.src << ", Via host " << c.via_host;
  }
}

// One worker context forwarding for alternating sent-bys (the socket's, advertised names and
// ports, short and long) writes each one's Via line as sip::build_via_line does, and received=
// for alternating sources that share a slot of its source-text cache (Ipv4TextCache: the same
// last byte) names each source.
TEST_F(PipelineTest, ViaAndReceivedStayRightAcrossSentBysAndSourcesOnOneWorker) {
  const std::string script = kScript;
  const auto advertised = [&script](const std::string& host, const std::string& port) {
    std::string s = script;
    const std::string fwd = "    forward();\n";
    s.replace(s.find(fwd), fwd.size(),
              "    set_advertised_address(\"" + host + "\");\n    set_advertised_port(" + port +
                  ");\n" + fwd);
    return s;
  };
  const std::string long_host(60, 'h');
  struct Sent {
    std::string script, host;
    uint16_t port;
  };
  const std::vector<Sent> sent = {
      {script, "10.0.0.2", 5060},
      {advertised("edge.example.net", "5070"), "edge.example.net", 5070},
      {script, "10.0.0.2", 5060},
      {advertised(long_host + ".example", "5060"), long_host + ".example", 5060},
      {advertised(std::string(36, 'k') + ".net", "5072"), std::string(36, 'k') + ".net", 5072},
      {advertised("edge.example.net", "5071"), "edge.example.net", 5071},
      {advertised("edge.example.org", "5071"), "edge.example.org", 5071},
      {script, "10.0.0.2", 5060},
  };
  std::vector<std::unique_ptr<ctl::OwnedSnapshot>> snaps;
  for (const Sent& s : sent) {
    std::string error;
    snaps.push_back(test::make_snapshot(s.script, kList, "10.0.0.2", kOurMac,
                                        {{"10.0.0.10", kClientMac},
                                         {"10.0.0.11", kB1Mac},
                                         {"10.0.0.12", kB2Mac}},
                                        error));
    ASSERT_NE(snaps.back(), nullptr) << error;
  }
  const std::string nat_via = "Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK-nat\r\n";
  const char* sources[] = {"10.0.0.10", "10.0.1.10", "10.0.0.10", "10.1.0.10"};
  for (size_t i = 0; i < sent.size() * 2; ++i) {
    const Sent& s = sent[i % sent.size()];
    std::string msg = invite("cache-" + std::to_string(i));
    const std::string old_via = "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0\r\n";
    msg.replace(msg.find(old_via), old_via.size(), nat_via);
    const char* src = sources[i % std::size(sources)];
    rte_mbuf* m = udp_frame(kClientMac, src, 5060, "10.0.0.2", 5060, msg);
    const dp::Verdict v = dp::handle_packet(snaps[i % sent.size()]->snap, m, *ctx_);
    ASSERT_TRUE(v.is_tx()) << i << " " << dp::drop_name(v.drop);
    auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(iph + 1);
    const std::string out(reinterpret_cast<const char*>(udp + 1), ntohs(udp->dgram_len) - 8u);
    rte_pktmbuf_free(m);
    const sip::SipView ov = scan_ok(out);
    // Our Via as sip::build_via_line writes it for this sent-by and the branch it carries.
    const std::string branch(ov.via1.branch.in(out.data()));
    ASSERT_EQ(branch.size(), sip::kBranchLen);
    char line[256];
    const size_t n = sip::build_via_line(line, sizeof line, s.host, s.port, branch);
    ASSERT_NE(n, 0u);
    EXPECT_EQ(out.substr(ov.top_via_line.off, ov.top_via_line.len), std::string(line, n))
        << "forward " << i;
    EXPECT_EQ(ov.via2.received.in(out.data()), src) << "forward " << i;
  }
}

TEST_F(PipelineTest, ReplyLosesOurViaAndGoesToTheNextVia) {
  const Out fwd = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("r1")));
  ASSERT_FALSE(fwd.v.is_drop());
  // The backend answers with the Vias it received.
  const sip::SipView fv = scan_ok(fwd.sip);
  const std::string vias = fwd.sip.substr(fv.top_via_line.off, 200);
  std::string reply = "SIP/2.0 200 OK\r\n";
  size_t pos = fwd.sip.find("Via:");
  size_t end = fwd.sip.find("From:");
  reply += fwd.sip.substr(pos, end - pos);
  reply += "From: sipp <sip:sipp@10.0.0.10:5060>;tag=1\r\n"
           "To: service <sip:service@10.0.0.2:5060>;tag=xyz\r\n"
           "Call-ID: r1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
  EXPECT_EQ(o.dport, 5060);
  EXPECT_TRUE(o.dst_mac == kClientMac);
  EXPECT_TRUE(o.udp_cksum_ok);
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_EQ(v.via_count, 1);
  EXPECT_EQ(v.via1.branch.in(o.sip.data()), "z9hG4bK-1-0");
  EXPECT_EQ(counters_.replies_forwarded.read(), 1u);
}

TEST_F(PipelineTest, DatagramsToOurOwnAddressAreDroppedAsToSelf) {
  // A reply whose next Via is ours, and a script that forwards to its own socket: a routing
  // loop (Kamailio runs it again until Max-Forwards or its buffer runs out). Dropped at once as
  // to_self, with no ARP request for our own address (no neighbour-miss event).
  const Out fwd = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("s1")));
  ASSERT_FALSE(fwd.v.is_drop());
  std::string vias = fwd.sip.substr(fwd.sip.find("Via:"),
                                    fwd.sip.find("From:") - fwd.sip.find("Via:"));
  const std::string client_via = "10.0.0.10:5060";
  ASSERT_NE(vias.find(client_via), std::string::npos) << vias;
  vias.replace(vias.find(client_via), client_via.size(), "10.0.0.2:5060");
  const std::string reply = "SIP/2.0 180 Ringing\r\n" + vias +
                            "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: s1\r\n"
                            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const Out rep = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_TRUE(rep.v.is_drop());
  EXPECT_EQ(rep.v.drop, dp::Drop::kToSelf) << dp::drop_name(rep.v.drop);

  std::string error;
  owned_ = test::make_snapshot(
      "listen=udp:10.0.0.2:5060\nrequest_route { forward(\"10.0.0.2\", 5060); }\n", kList,
      "10.0.0.2", kOurMac, {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}}, error);
  ASSERT_NE(owned_, nullptr) << error;
  const Out req = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("s2")));
  ASSERT_TRUE(req.v.is_drop());
  EXPECT_EQ(req.v.drop, dp::Drop::kToSelf) << dp::drop_name(req.v.drop);
  dp::Event ev;
  while (rte_ring_sc_dequeue_elem(ring_, &ev, sizeof(ev)) == 0) {
    EXPECT_NE(ev.type, dp::Event::Type::kNeighMiss) << "asked the wire for our own address";
  }
  EXPECT_STREQ(dp::drop_name(dp::Drop::kToSelf), "to_self");
}

TEST_F(PipelineTest, ReplyWhoseTopViaIsNotOursIsDropped) {
  const std::string reply =
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.99:5060;branch=z9hG4bKx\r\n"
      "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKy\r\n"
      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: q\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n";
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, dp::Drop::kReplyNotOurs);
}

TEST_F(PipelineTest, OptionsToMyselfIsAnsweredLocally) {
  std::string msg = invite("ka", "Max-Forwards: 70\r\n", "OPTIONS");
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, msg));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
  EXPECT_TRUE(o.dst_mac == kClientMac);
  EXPECT_TRUE(o.udp_cksum_ok);
  EXPECT_EQ(o.sip.rfind("SIP/2.0 200 Keepalive\r\n", 0), 0u) << o.sip;
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_FALSE(v.to_tag.empty());
  EXPECT_EQ(v.call_id.in(o.sip.data()), "ka");
  EXPECT_EQ(counters_.local_replies.read(), 1u);
}

TEST_F(PipelineTest, MaxForwardsAboveTheLimitIsCappedAtMaxLimit) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("mf100", "Max-Forwards: 100\r\n")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(scan_ok(o.sip).max_forwards, 70u);  // maxfwd max_limit default
}

TEST_F(PipelineTest, MaxForwardsZeroIsAnswered483) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("mf0", "Max-Forwards: 0\r\n")));
  ASSERT_FALSE(o.v.is_drop());
  EXPECT_EQ(o.sip.rfind("SIP/2.0 483 Too Many Hops\r\n", 0), 0u) << o.sip;
}

TEST_F(PipelineTest, ScriptDropAndImplicitDropAreCounted) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("m", "Max-Forwards: 70\r\n", "MESSAGE")));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, dp::Drop::kScriptDrop);
}

TEST_F(PipelineTest, GarbageIsDroppedAsMalformedAndCountedByReason) {
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              std::string("\x00\xff garbage\r\n\r\n", 15)));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, dp::Drop::kMalformedSip);
  uint64_t parse_errors = 0;
  for (const auto& c : counters_.parse_errors) {
    parse_errors += c.read();
  }
  EXPECT_EQ(parse_errors, 1u);
  // The next good message still goes through.
  const Out ok = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("z")));
  EXPECT_FALSE(ok.v.is_drop());
}

TEST_F(PipelineTest, TruncatedFramesNeverCrash) {
  const std::string good = invite("trunc");
  for (size_t cut = 0; cut < good.size(); cut += 7) {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, good.substr(0, cut));
    const Out o = run(m);
    EXPECT_TRUE(o.v.is_drop()) << cut;
  }
  // Frames cut inside the L2-L4 headers.
  for (uint16_t len = 0; len < 42; ++len) {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, good);
    m->data_len = len;
    m->pkt_len = len;
    EXPECT_TRUE(run(m).v.is_drop()) << len;
  }
}

TEST_F(PipelineTest, OtherDestinationsAndPortsAreNotOurs) {
  EXPECT_EQ(run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.3", 5060, invite("x"))).v.drop,
            dp::Drop::kNotForUs);
  EXPECT_EQ(run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5070, invite("x"))).v.drop,
            dp::Drop::kNoListener);
}

TEST_F(PipelineTest, UnknownNeighbourIsDroppedAndResolutionRequested) {
  // Set 2's destination 10.9.9.9 is off-link with no gateway: no route.
  // Unknown on-link sources are learned through an event.
  run(udp_frame(dp::MacAddr{{2, 0, 0, 0, 0, 0x77}}, "10.0.0.77", 5060, "10.0.0.2", 5060,
                invite("learn")));
  dp::Event ev;
  ASSERT_EQ(rte_ring_sc_dequeue_elem(ring_, &ev, sizeof(ev)), 0);
  EXPECT_EQ(ev.type, dp::Event::Type::kNeighLearned);
  EXPECT_EQ(ev.ip_be, ip("10.0.0.77"));
  // Learned once: the next frame from it posts nothing more.
  run(udp_frame(dp::MacAddr{{2, 0, 0, 0, 0, 0x77}}, "10.0.0.77", 5060, "10.0.0.2", 5060,
                invite("learn")));
  EXPECT_NE(rte_ring_sc_dequeue_elem(ring_, &ev, sizeof(ev)), 0);
}

TEST_F(PipelineTest, ReplyToANewClientGoesOutBeforeControlPublishesItsMac) {
  // The client 10.0.0.88 is in no snapshot: its INVITE teaches this worker its MAC, and the
  // backend's immediate reply must reach it without waiting for the control thread.
  const dp::MacAddr new_mac{{2, 0, 0, 0, 0, 0x88}};
  std::string req = invite("new");
  const std::string old_via = "10.0.0.10:5060;branch=z9hG4bK-1-0";
  req.replace(req.find(old_via), old_via.size(), "10.0.0.88:5060;branch=z9hG4bK-88");
  const Out fwd = run(udp_frame(new_mac, "10.0.0.88", 5060, "10.0.0.2", 5060, req));
  ASSERT_FALSE(fwd.v.is_drop()) << dp::drop_name(fwd.v.drop);
  const size_t vias = fwd.sip.find("Via:");
  std::string reply = "SIP/2.0 180 Ringing\r\n" +
                      fwd.sip.substr(vias, fwd.sip.find("From:") - vias) +
                      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: new\r\n"
                      "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_TRUE(o.dst_mac == new_mac);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.88"));
}

TEST_F(PipelineTest, ArpRequestForOurAddressIsAnswered) {
  rte_mbuf* m = arp_frame(RTE_ARP_OP_REQUEST, kClientMac, "10.0.0.10", "10.0.0.2");
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
  ASSERT_FALSE(v.is_drop());
  EXPECT_EQ(ntohs(arp->arp_opcode), RTE_ARP_OP_REPLY);
  EXPECT_EQ(std::memcmp(arp->arp_data.arp_sha.addr_bytes, kOurMac.b, 6), 0);
  EXPECT_EQ(arp->arp_data.arp_sip, ip("10.0.0.2"));
  EXPECT_EQ(arp->arp_data.arp_tip, ip("10.0.0.10"));
  EXPECT_EQ(std::memcmp(eth->dst_addr.addr_bytes, kClientMac.b, 6), 0);
  rte_pktmbuf_free(m);
}

TEST_F(PipelineTest, ArpReplyToUsTeachesANeighbourAndIsNotADrop) {
  const dp::MacAddr mac{{2, 0, 0, 0, 0, 0x55}};
  rte_mbuf* m = arp_frame(RTE_ARP_OP_REPLY, mac, "10.0.0.55", "10.0.0.2");
  const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
  rte_pktmbuf_free(m);
  EXPECT_EQ(v.kind, dp::Verdict::Kind::kConsumed);
  dp::Event ev;
  ASSERT_EQ(rte_ring_sc_dequeue_elem(ring_, &ev, sizeof(ev)), 0);
  EXPECT_EQ(ev.ip_be, ip("10.0.0.55"));
  EXPECT_TRUE(ev.mac == mac);
}

// udp4_raw_ttl, tos and udp4_raw_mtu shape the IPv4 header of what the fast path sends
// (defaults, measured against Kamailio 5.6: TTL 64, TOS 0x10, no DF).
TEST_F(PipelineTest, RawTtlTosAndMtuComeFromTheScript) {
  {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("dflt"));
    ASSERT_TRUE(dp::handle_packet(owned_->snap, m, *ctx_).is_tx());
    const auto* iph = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    EXPECT_EQ(iph->time_to_live, 64);
    EXPECT_EQ(iph->type_of_service, 0x10);
    EXPECT_EQ(ntohs(iph->fragment_offset) & RTE_IPV4_HDR_DF_FLAG, 0);
    rte_pktmbuf_free(m);
  }
  std::string script = kScript;
  script.insert(0, "udp4_raw_ttl=17\ntos=0xb8\nudp4_raw_mtu=576\n");
  use_own_script(script);
  rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("raw"));
  ASSERT_TRUE(dp::handle_packet(owned_->snap, m, *ctx_).is_tx());
  const auto* iph = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(iph->time_to_live, 17);
  EXPECT_EQ(iph->type_of_service, 0xb8);
  rte_pktmbuf_free(m);
  // Above udp4_raw_mtu (576) a message is fragmented; this context has no pool for fragments,
  // so the datagram is refused as too_big instead of going out whole.
  m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                invite("big", "Max-Forwards: 70\r\nX-Pad: " + std::string(700, 'x') + "\r\n"));
  const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
  ASSERT_TRUE(v.is_drop());
  EXPECT_EQ(v.drop, dp::Drop::kTooBig);
  rte_pktmbuf_free(m);
}


// Events of `type` posted so far (other events, such as learned neighbours, are skipped).
std::vector<dp::Event> events_of(rte_ring* ring, dp::Event::Type type) {
  std::vector<dp::Event> out;
  dp::Event ev;
  while (rte_ring_sc_dequeue_elem(ring, &ev, sizeof(ev)) == 0) {
    if (ev.type == type) {
      out.push_back(ev);
    }
  }
  return out;
}

TEST_F(PipelineTest, ProbeReplyIsHandedToControlNotForwarded) {
  const std::string reply =
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKvdprb0000002a\r\n"
      "From: <sip:dispatcher@localhost>;tag=vdprb0000002a\r\nTo: <sip:10.0.0.11:5060>;tag=b\r\n"
      "Call-ID: vdprb0000002a@10.0.0.2\r\nCSeq: 10 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  EXPECT_EQ(o.v.kind, dp::Verdict::Kind::kConsumed);
  EXPECT_EQ(counters_.probe_replies.read(), 1u);
  EXPECT_EQ(counters_.replies_forwarded.read(), 0u);
  const auto ev = events_of(ring_, dp::Event::Type::kProbeReply);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].ip_be, 0x2au);  // the sequence number from the branch
  EXPECT_EQ(ev[0].aux, 200);      // the status code
  uint32_t src = 0;
  uint16_t sport = 0;
  std::memcpy(&src, ev[0].mac.b, 4);  // the replier
  std::memcpy(&sport, ev[0].mac.b + 4, 2);
  EXPECT_EQ(src, ip("10.0.0.11"));
  EXPECT_EQ(sport, htons(5060));
}

TEST_F(PipelineTest, ReplyWithABadProbeBranchIsDropped) {
  const std::string reply =
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKvdprb0000002z\r\n"
      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: q\r\nCSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_TRUE(events_of(ring_, dp::Event::Type::kProbeReply).empty());
}

// An ICMP error from `from` quoting a UDP datagram src_ip:sport -> dst_ip:dport.
rte_mbuf* icmp_unreachable(uint8_t code, const char* from, const char* src_ip, uint16_t sport,
                           const char* dst_ip, uint16_t dport) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  const size_t len = sizeof(rte_ether_hdr) + 20 + 8 + 20 + 8;
  char* p = rte_pktmbuf_append(m, len);
  if (p == nullptr) {
    ADD_FAILURE() << "no room for an ICMP frame";
    return m;
  }
  std::memset(p, 0, len);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memcpy(eth->dst_addr.addr_bytes, kOurMac.b, 6);
  std::memcpy(eth->src_addr.addr_bytes, kB1Mac.b, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
  auto* iph = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  iph->version_ihl = RTE_IPV4_VHL_DEF;
  iph->total_length = htons(20 + 8 + 20 + 8);
  iph->time_to_live = 64;
  iph->next_proto_id = IPPROTO_ICMP;
  iph->src_addr = ip(from);
  iph->dst_addr = ip("10.0.0.2");
  iph->hdr_checksum = rte_ipv4_cksum(iph);
  auto* icmp = reinterpret_cast<uint8_t*>(iph + 1);
  icmp[0] = 3;  // destination unreachable
  icmp[1] = code;
  auto* q = reinterpret_cast<rte_ipv4_hdr*>(icmp + 8);
  q->version_ihl = RTE_IPV4_VHL_DEF;
  q->total_length = htons(400);
  q->time_to_live = 64;
  q->next_proto_id = IPPROTO_UDP;
  q->src_addr = ip(src_ip);
  q->dst_addr = ip(dst_ip);
  auto* qu = reinterpret_cast<rte_udp_hdr*>(q + 1);
  qu->src_port = htons(sport);
  qu->dst_port = htons(dport);
  m->port = 0;
  return m;
}

TEST_F(PipelineTest, IcmpPortUnreachableForOurDatagramBecomesAnEvent) {
  const Out o = run(icmp_unreachable(3, "10.0.0.11", "10.0.0.2", 5060, "10.0.0.11", 5060));
  EXPECT_EQ(o.v.kind, dp::Verdict::Kind::kConsumed);
  EXPECT_EQ(counters_.icmp_unreachable.read(), 1u);
  const auto ev = events_of(ring_, dp::Event::Type::kIcmpUnreachable);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].ip_be, ip("10.0.0.11"));
  EXPECT_EQ(ev[0].aux, htons(5060));
}

TEST_F(PipelineTest, IcmpUnreachableAboutSomebodyElsesDatagramIsIgnored) {
  // Quoted source port is not one of our listeners.
  const Out o = run(icmp_unreachable(3, "10.0.0.11", "10.0.0.2", 40000, "10.0.0.11", 5060));
  EXPECT_EQ(o.v.drop, dp::Drop::kIcmpIgnored);
  // Network unreachable (code 0) is not a destination problem we act on.
  const Out o2 = run(icmp_unreachable(0, "10.0.0.11", "10.0.0.2", 5060, "10.0.0.11", 5060));
  EXPECT_EQ(o2.v.drop, dp::Drop::kIcmpIgnored);
  EXPECT_TRUE(events_of(ring_, dp::Event::Type::kIcmpUnreachable).empty());
  EXPECT_EQ(counters_.icmp_unreachable.read(), 0u);
}

TEST_F(PipelineTest, ForwardToABlocklistedDestinationIsDropped) {
  owned_->snap.blocked = {(uint64_t{ip("10.0.0.11")} << 16) | htons(5060),
                          (uint64_t{ip("10.0.0.12")} << 16) | htons(5080)};
  std::sort(owned_->snap.blocked.begin(), owned_->snap.blocked.end());
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("bl1")));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, dp::Drop::kBlocklisted);
  owned_->snap.blocked.clear();
  const Out ok = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("bl1")));
  EXPECT_TRUE(ok.v.is_tx());
}

// ---- Frames held for a next hop's MAC (WorkerCtx::hold) ----

// The backends' MACs are unknown (only the client's is in the snapshot); the worker holds.
class NeighHoldTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    std::string error;
    unresolved_ = test::make_snapshot(kScript, kList, "10.0.0.2", kOurMac,
                                      {{"10.0.0.10", kClientMac}}, error);
    ASSERT_NE(unresolved_, nullptr) << error;
    unresolved_->snap.generation = 1;
    owned_->snap.generation = 2;  // the fixture's snapshot: every MAC known
    ctx_->neigh_hold_cycles = rte_get_tsc_hz();
  }
  void TearDown() override {
    dp::free_held(*ctx_);
    PipelineTest::TearDown();
  }
  dp::Verdict send(const std::string& call_id) {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite(call_id));
    const dp::Verdict v = dp::handle_packet(unresolved_->snap, m, *ctx_);
    if (v.kind != dp::Verdict::Kind::kHeld) {
      rte_pktmbuf_free(m);
    }
    return v;
  }
  uint64_t drops(dp::Drop d) const { return counters_.drops[static_cast<size_t>(d)].read(); }

  std::unique_ptr<ctl::OwnedSnapshot> unresolved_;
};

TEST_F(NeighHoldTest, AFrameWaitsForItsMacAndLeavesWhenTheSnapshotHasIt) {
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  const dp::Verdict v = send("hold-1");
  ASSERT_EQ(v.kind, dp::Verdict::Kind::kHeld);
  EXPECT_EQ(ctx_->hold.n, 1);
  EXPECT_EQ(counters_.neigh_held.read(), 1u);
  EXPECT_EQ(counters_.requests_forwarded.read(), 1u);
  EXPECT_EQ(counters_.send_failures.read(), 0u);
  EXPECT_EQ(events_of(ring_, dp::Event::Type::kNeighMiss).size(), 1u);
  rte_mbuf* out[4];
  // Nothing learned, time not up: it stays.
  EXPECT_EQ(dp::service_held(unresolved_->snap, *ctx_, rte_rdtsc(), out, 4), 0);
  EXPECT_EQ(ctx_->hold.n, 1);
  // A snapshot that knows the backend's MAC: the frame goes out, complete, to that MAC.
  ASSERT_EQ(dp::service_held(owned_->snap, *ctx_, rte_rdtsc(), out, 4), 1);
  EXPECT_EQ(ctx_->hold.n, 0);
  EXPECT_EQ(counters_.neigh_held_sent.read(), 1u);
  EXPECT_EQ(out[0]->port, 0);
  const auto* eth = rte_pktmbuf_mtod(out[0], const rte_ether_hdr*);
  const bool to_b1 = std::memcmp(eth->dst_addr.addr_bytes, kB1Mac.b, 6) == 0;
  const bool to_b2 = std::memcmp(eth->dst_addr.addr_bytes, kB2Mac.b, 6) == 0;
  EXPECT_TRUE(to_b1 || to_b2);
  EXPECT_EQ(std::memcmp(eth->src_addr.addr_bytes, kOurMac.b, 6), 0);
  auto* iph = rte_pktmbuf_mtod_offset(out[0], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(iph->dst_addr, ip(to_b1 ? "10.0.0.11" : "10.0.0.12"));
  EXPECT_EQ(rte_ipv4_cksum(iph), 0);
  EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(iph, reinterpret_cast<rte_udp_hdr*>(iph + 1)), 0);
  const std::string sip(reinterpret_cast<const char*>(iph + 1) + sizeof(rte_udp_hdr),
                        ntohs(iph->total_length) - 28u);
  EXPECT_EQ(sip.rfind("INVITE sip:service@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;", 0),
            0u) << sip;
  rte_pktmbuf_free(out[0]);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0);
}

TEST_F(NeighHoldTest, AnArpReplyThisWorkerReceivesReleasesItsFrames) {
  // Enough Call-IDs to fill both backends' share (the rest are no_neighbour drops).
  for (int i = 0; i < 40; ++i) {
    static_cast<void>(send("arp-" + std::to_string(i)));
  }
  ASSERT_EQ(ctx_->hold.n, 2 * dp::NeighHold::kPerHop);
  rte_mbuf* out[64];
  rte_mbuf* a = arp_frame(RTE_ARP_OP_REPLY, kB1Mac, "10.0.0.11", "10.0.0.2");
  ASSERT_EQ(dp::handle_packet(unresolved_->snap, a, *ctx_).kind, dp::Verdict::Kind::kConsumed);
  rte_pktmbuf_free(a);
  // The snapshot still has no MAC for either: only 10.0.0.11's frames (learned here) go.
  const uint16_t n = dp::service_held(unresolved_->snap, *ctx_, rte_rdtsc(), out, 64);
  EXPECT_GT(n, 0);
  EXPECT_EQ(n, dp::NeighHold::kPerHop);
  EXPECT_EQ(ctx_->hold.n, dp::NeighHold::kPerHop);
  for (uint16_t i = 0; i < n; ++i) {
    auto* iph = rte_pktmbuf_mtod_offset(out[i], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    EXPECT_EQ(iph->dst_addr, ip("10.0.0.11"));
    EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(out[i], const char*), kB1Mac.b, 6), 0);
  }
  for (uint16_t i = 0; i < ctx_->hold.n; ++i) {
    EXPECT_EQ(ctx_->hold.f[i].hop_be, ip("10.0.0.12"));
  }
  rte_pktmbuf_free_bulk(out, n);
}

TEST_F(NeighHoldTest, OneHopHoldsAtMostItsShareTheRestAreDropsAtOnce) {
  int held = 0;
  int dropped = 0;
  for (int i = 0; i < 100; ++i) {
    const dp::Verdict v = send("many-" + std::to_string(i));
    if (v.kind == dp::Verdict::Kind::kHeld) {
      ++held;
    } else {
      ASSERT_TRUE(v.is_drop());
      EXPECT_EQ(v.drop, dp::Drop::kNoNeighbour);
      ++dropped;
    }
  }
  // Two next hops, dp::NeighHold::kPerHop each; a drop beyond that is a send failure at once
  // (control's ARP timer judges it, as without a hold).
  EXPECT_EQ(held, 2 * dp::NeighHold::kPerHop);
  EXPECT_EQ(dropped, 100 - held);
  EXPECT_EQ(counters_.send_failures.read(), static_cast<uint64_t>(dropped));
  int per_hop[2] = {0, 0};
  for (uint16_t i = 0; i < ctx_->hold.n; ++i) {
    ++per_hop[ctx_->hold.f[i].hop_be == ip("10.0.0.11") ? 0 : 1];
  }
  EXPECT_EQ(per_hop[0], dp::NeighHold::kPerHop);
  EXPECT_EQ(per_hop[1], dp::NeighHold::kPerHop);
}

TEST_F(NeighHoldTest, AFrameNotSentWithinTheHoldTimeIsADropAndASendFailure) {
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  ASSERT_EQ(send("late").kind, dp::Verdict::Kind::kHeld);
  static_cast<void>(events_of(ring_, dp::Event::Type::kNeighMiss));
  const uint64_t deadline = ctx_->hold.f[0].deadline;
  rte_mbuf* out[4];
  EXPECT_EQ(dp::service_held(unresolved_->snap, *ctx_, deadline - 1, out, 4), 0);
  EXPECT_EQ(ctx_->hold.n, 1);
  EXPECT_EQ(drops(dp::Drop::kNoNeighbour), 0u);
  EXPECT_EQ(dp::service_held(unresolved_->snap, *ctx_, deadline, out, 4), 0);
  EXPECT_EQ(ctx_->hold.n, 0);
  EXPECT_EQ(drops(dp::Drop::kNoNeighbour), 1u);
  EXPECT_EQ(counters_.send_failures.read(), 1u);
  const std::vector<dp::Event> f = events_of(ring_, dp::Event::Type::kSendFailed);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].pad, static_cast<uint8_t>(static_cast<uint8_t>(dp::Drop::kNoNeighbour) |
                                           dp::kSendFailedWaited));
  EXPECT_TRUE(f[0].ip_be == ip("10.0.0.11") || f[0].ip_be == ip("10.0.0.12"));
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0);  // the frame went back to its pool
}

// A datagram above udp4_raw_mtu is held as its fragments; fragments_sent counts them when they
// leave, and not at all when they expire.
TEST_F(NeighHoldTest, HeldFragmentsCountAsSentOnlyWhenTheyLeave) {
  const std::string mtu = "udp4_raw_mtu=576\n";
  std::string error;
  auto unknown = test::make_snapshot(mtu + kScript, kList, "10.0.0.2", kOurMac,
                                     {{"10.0.0.10", kClientMac}}, error);
  ASSERT_NE(unknown, nullptr) << error;
  auto known = test::make_snapshot(mtu + kScript, kList, "10.0.0.2", kOurMac,
                                   {{"10.0.0.10", kClientMac},
                                    {"10.0.0.11", kB1Mac},
                                    {"10.0.0.12", kB2Mac}},
                                   error);
  ASSERT_NE(known, nullptr) << error;
  unknown->snap.generation = 1;
  known->snap.generation = 2;
  ctx_->pool = g_pool;  // fragments are cut into mbufs of this pool
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  const auto big = [this](const std::string& call_id) {
    return udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                     invite(call_id, "Max-Forwards: 70\r\nX-Pad: " + std::string(700, 'x') +
                                         "\r\n"));
  };
  // One held and released: its fragments count once they go.
  rte_mbuf* m = big("frag-sent");
  ASSERT_EQ(dp::handle_packet(unknown->snap, m, *ctx_).kind, dp::Verdict::Kind::kHeld);
  const uint16_t n = ctx_->hold.n;
  ASSERT_GE(n, 2);
  EXPECT_EQ(counters_.fragments_sent.read(), 0u);
  EXPECT_EQ(counters_.neigh_held.read(), n);
  rte_mbuf* out[8];
  ASSERT_EQ(dp::service_held(known->snap, *ctx_, rte_rdtsc(), out, 8), n);
  EXPECT_EQ(counters_.fragments_sent.read(), n);
  rte_pktmbuf_free_bulk(out, n);
  // One held and expired: no fragment was sent, each is a no_neighbour drop, one send failure.
  m = big("frag-late");
  ASSERT_EQ(dp::handle_packet(unknown->snap, m, *ctx_).kind, dp::Verdict::Kind::kHeld);
  ASSERT_EQ(ctx_->hold.n, n);
  const uint64_t failures0 = counters_.send_failures.read();
  EXPECT_EQ(dp::service_held(unknown->snap, *ctx_, ctx_->hold.f[0].deadline, out, 8), 0);
  EXPECT_EQ(ctx_->hold.n, 0);
  EXPECT_EQ(counters_.fragments_sent.read(), n);
  EXPECT_EQ(drops(dp::Drop::kNoNeighbour), n);
  EXPECT_EQ(counters_.send_failures.read(), failures0 + 1);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0);
  ctx_->pool = nullptr;
}

TEST_F(NeighHoldTest, WithoutAHoldTimeAMissIsADropAsBefore) {
  ctx_->neigh_hold_cycles = 0;
  const dp::Verdict v = send("nohold");
  ASSERT_TRUE(v.is_drop());
  EXPECT_EQ(v.drop, dp::Drop::kNoNeighbour);
  EXPECT_EQ(ctx_->hold.n, 0);
  EXPECT_EQ(counters_.send_failures.read(), 1u);
}

// ---- R4: reply_route and onsend_route hooks ----

class RouteHookTest : public PipelineTest {
 protected:
  void use_script(const std::string& extra) { use_own_script(std::string(kScript) + extra); }
  // The backend's reply (`status`, plus `extra` header lines) to an INVITE forwarded for `cid`.
  std::string reply_to(const std::string& cid, const std::string& status,
                       const std::string& extra) {
    const Out fwd = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite(cid)));
    EXPECT_FALSE(fwd.v.is_drop()) << dp::drop_name(fwd.v.drop);
    const size_t pos = fwd.sip.find("Via:");
    const size_t end = fwd.sip.find("From:");
    return "SIP/2.0 " + status + "\r\n" + fwd.sip.substr(pos, end - pos) +
           "From: sipp <sip:sipp@10.0.0.10:5060>;tag=1\r\n"
           "To: service <sip:service@10.0.0.2:5060>;tag=xyz\r\n"
           "Call-ID: " + cid + "\r\nCSeq: 1 INVITE\r\n" + extra + "Content-Length: 0\r\n\r\n";
  }
};

TEST_F(RouteHookTest, ReplyRouteDropsSomeRepliesAndEditsTheOthers) {
  use_script(
      "loadmodule \"xlog.so\"\n"
      "reply_route {\n"
      "  if ($rs == 404) drop;\n"
      "  if (is_present_hf(\"X-Quiet\")) return -1;\n"
      "  remove_hf(\"X-Foo\");\n"
      "  append_hf(\"X-Seen: $rs\\r\\n\");\n"
      "  # The route's value is its last statement's: false when X-Zero is there.\n"
      "  if (is_present_hf(\"X-Zero\")) { is_present_hf(\"X-Nothing\"); }\n"
      "}\n");
  // Relayed, with our Via gone, X-Foo removed and X-Seen appended after the last header.
  Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060,
                        reply_to("h1", "200 OK", "X-Foo: bar\r\n")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
  const sip::SipView v = scan_ok(o.sip);
  EXPECT_EQ(v.via_count, 1);
  EXPECT_EQ(o.sip.find("X-Foo"), std::string::npos) << o.sip;
  EXPECT_NE(o.sip.find("Content-Length: 0\r\nX-Seen: 200\r\n\r\n"), std::string::npos) << o.sip;
  EXPECT_TRUE(o.udp_cksum_ok);
  // drop, return -1, and a last function call that returns false: not relayed, and said so.
  for (const auto& [status, extra] : std::vector<std::pair<std::string, std::string>>{
           {"404 Not Found", ""}, {"200 OK", "X-Quiet: 1\r\n"}, {"200 OK", "X-Zero: 1\r\n"}}) {
    o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060,
                      reply_to("h2", status, extra)));
    ASSERT_TRUE(o.v.is_drop()) << status << " " << extra;
    EXPECT_EQ(o.v.drop, dp::Drop::kReplyRouteDrop);
    EXPECT_STREQ(dp::drop_name(o.v.drop), "reply_route_drop");
  }
  EXPECT_EQ(counters_.replies_forwarded.read(), 1u);
}

TEST_F(RouteHookTest, ReplyRouteExitRelaysTheReplyUnchanged) {
  use_script("reply_route { exit; }\n");
  const std::string reply = reply_to("h3", "180 Ringing", "");
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  // Only our Via went.
  const size_t ours = reply.find("Via:");
  const size_t next = reply.find("Via:", ours + 1);
  EXPECT_EQ(o.sip, reply.substr(0, ours) + reply.substr(next));
}

TEST_F(RouteHookTest, OnsendRouteDropKeepsOneDestinationFromBeingSent) {
  use_script("onsend_route { if ($snd(ip) == \"10.0.0.12\" && $snd(port) == 5080) drop; }\n");
  size_t sent = 0;
  size_t dropped = 0;
  for (int i = 0; i < 24; ++i) {
    const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                                invite("snd" + std::to_string(i))));
    if (o.v.is_drop()) {
      EXPECT_EQ(o.v.drop, dp::Drop::kOnSendDrop);
      ++dropped;
    } else {
      EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
      ++sent;
    }
  }
  EXPECT_GT(sent, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(counters_.requests_forwarded.read(), sent);
}

TEST_F(RouteHookTest, RecordRouteParamsAndAppendHfAfterANamedHeaderOnTheWire) {
  std::string error;
  auto snap = test::make_snapshot(
      "listen=udp:10.0.0.2:5060\nloadmodule \"textops.so\"\nloadmodule \"rr.so\"\n"
      "request_route { record_route(\";vd=$rm\"); append_hf(\"X-After-CSeq: 1\\r\\n\", \"CSeq\");"
      " append_hf(\"X-End: 1\\r\\n\"); $du = \"sip:10.0.0.11:5060\"; forward(); }\n",
      kList, "10.0.0.2", kOurMac,
      {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}, {"10.0.0.12", kB2Mac}}, error);
  ASSERT_NE(snap, nullptr) << error;
  owned_.swap(snap);
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("rrp")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
  // Kamailio 5.6.3: the parameters as written after ;ftag (no ';' added); the line after the
  // last CSeq; plain append_hf after the last header.
  EXPECT_NE(o.sip.find("Record-Route: <sip:10.0.0.2;lr;ftag=1;vd=INVITE>\r\n"), std::string::npos)
      << o.sip;
  EXPECT_NE(o.sip.find("CSeq: 1 INVITE\r\nX-After-CSeq: 1\r\nMax-Forwards: 70\r\n"),
            std::string::npos)
      << o.sip;
  EXPECT_NE(o.sip.find("Content-Length: 4\r\nX-End: 1\r\n\r\nv=0\n"), std::string::npos) << o.sip;
  EXPECT_TRUE(o.udp_cksum_ok);
}

// L5: insert_hf in reply_route goes where our Via was, on top, in script order (the others
// before a named field, append_hf after the last one), as Kamailio 5.6.3 relays it
// (tests/e2e/data/diff/18-corners.cfg compares the packets).
TEST_F(RouteHookTest, ReplyRouteInsertHfGoesOnTopInScriptOrder) {
  use_script("reply_route { insert_hf(\"X-Top: $rs\\r\\n\"); append_hf(\"X-App: 1\\r\\n\");"
             " insert_hf(\"X-Before-CSeq: 1\\r\\n\", \"CSeq\"); insert_hf(\"X-Second: 2\\r\\n\"); }\n");
  const std::string reply = reply_to("h5", "200 OK", "");
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  const size_t ours = reply.find("Via:");
  const size_t next = reply.find("Via:", ours + 1);
  const size_t cseq = reply.find("CSeq:");
  const size_t end = reply.find("\r\n\r\n");
  EXPECT_EQ(o.sip, reply.substr(0, ours) + "X-Top: 200\r\nX-Second: 2\r\n" +
                       reply.substr(next, cseq - next) + "X-Before-CSeq: 1\r\n" +
                       reply.substr(cseq, end + 2 - cseq) + "X-App: 1\r\n\r\n");
  EXPECT_TRUE(o.udp_cksum_ok);
}

// L5: onsend_route sees the message flags request_route set (Kamailio 5.6.3).
TEST_F(RouteHookTest, OnsendRouteSeesTheRequestsFlags) {
  std::string error;
  auto snap = test::make_snapshot(
      "listen=udp:10.0.0.2:5060\nloadmodule \"textops.so\"\n"
      "request_route { if (is_present_hf(\"X-Mark\")) setflag(3); $du = \"sip:10.0.0.11:5060\";"
      " forward(); }\n"
      "onsend_route { if (isflagset(3)) drop; }\n",
      kList, "10.0.0.2", kOurMac,
      {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}, {"10.0.0.12", kB2Mac}}, error);
  ASSERT_NE(snap, nullptr) << error;
  owned_.swap(snap);
  Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                        invite("osf1", "Max-Forwards: 70\r\nX-Mark: 1\r\n")));
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, dp::Drop::kOnSendDrop);
  o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite("osf2")));
  ASSERT_FALSE(o.v.is_drop()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
}

// ---- the network layer under attack or at its edges -------------------------------------------

// An IPv4 fragment from the client: `payload` bytes at `offset` (a multiple of 8) of datagram
// `id`, more to come or not.
rte_mbuf* ipv4_fragment(uint16_t id, size_t offset, bool more, size_t payload) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  char* l4 = m == nullptr ? nullptr
                          : test::fill_ipv4_frame(m, kClientMac, kOurMac, ip("10.0.0.10"),
                                                  ip("10.0.0.2"), IPPROTO_UDP, payload, id,
                                                  static_cast<uint16_t>(
                                                      offset / 8 | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
  if (l4 == nullptr) {
    ADD_FAILURE() << "no mbuf or no room for a fragment";
    return m;
  }
  std::memset(l4, 'x', payload);
  return m;
}

// A worker's reassembly table, as enable_ip_frag() makes one (smaller), on the fixture's ctx.
class FragmentTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    tbl_ = rte_ip_frag_table_create(16, 8, 64, rte_get_tsc_hz() / 1000, 0);  // 1 ms
    dr_ = static_cast<rte_ip_frag_death_row*>(
        rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
    ASSERT_TRUE(tbl_ != nullptr && dr_ != nullptr);
    ctx_->frag_tbl = tbl_;
    ctx_->death_row = dr_;
  }
  void TearDown() override {
    rte_ip_frag_free_death_row(dr_, 0);
    rte_ip_frag_table_destroy(tbl_);
    rte_free(dr_);
    PipelineTest::TearDown();
  }
  uint64_t discarded() const {
    return counters_.drops[static_cast<size_t>(dp::Drop::kFragmentDiscarded)].read();
  }
  rte_ip_frag_tbl* tbl_ = nullptr;
  rte_ip_frag_death_row* dr_ = nullptr;
};

// The table gives up on a datagram at its ninth piece (RTE_LIBRTE_IP_FRAG_MAX_FRAG is 8) and
// puts all eight on the death row, which holds 288 mbufs and which DPDK fills without a bound
// check. 40 such datagrams without the row being freed in between (one burst of 320 frames, or
// a worker with `burst` above 32) overran it. Each call now leaves it empty, its fragments
// counted and back in the pool.
TEST_F(FragmentTest, FragmentsTheTableGivesUpOnAreFreedAtOnceAndCounted) {
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  for (uint16_t id = 1; id <= 40; ++id) {
    for (size_t k = 0; k < 8; ++k) {
      rte_mbuf* m = ipv4_fragment(id, k * 8, true, 8);
      const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
      ASSERT_EQ(v.kind, dp::Verdict::Kind::kHeld) << "datagram " << id << " piece " << k;
      ASSERT_EQ(dr_->cnt, 0u) << "datagram " << id << " piece " << k;
    }
  }
  EXPECT_EQ(discarded(), 320u);
  EXPECT_EQ(counters_.fragments_received.read(), 320u);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0);
}

// DPDK frees a timed-out datagram only when a later fragment lands in its bucket: the worker
// calls expire_fragments(), which frees every partial datagram past its time, counted.
TEST_F(FragmentTest, PartialDatagramsPastTheirTimeGoBackToThePool) {
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  for (uint16_t id = 100; id < 110; ++id) {
    rte_mbuf* m = ipv4_fragment(id, 0, true, 64);
    ASSERT_EQ(dp::handle_packet(owned_->snap, m, *ctx_).kind, dp::Verdict::Kind::kHeld);
  }
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0 - 10);
  EXPECT_EQ(dp::expire_fragments(*ctx_, rte_rdtsc()), 0u);  // not yet (1 ms)
  EXPECT_EQ(dp::expire_fragments(*ctx_, rte_rdtsc() + rte_get_tsc_hz()), 10u);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0);
  EXPECT_EQ(discarded(), 10u);
  EXPECT_EQ(dp::expire_fragments(*ctx_, rte_rdtsc() + rte_get_tsc_hz()), 0u);
}

// A router that failed over (keepalived, a replaced box) announces its address with its new
// MAC in a gratuitous ARP (sender and target address the same, request or reply): a known
// neighbour's MAC moves. An unknown address announcing itself teaches nothing (Linux's
// arp_accept 0).
TEST_F(PipelineTest, GratuitousArpFromAKnownNeighbourMovesItsMac) {
  const dp::MacAddr moved{{2, 0, 0, 0, 0, 0x77}};
  for (const uint16_t op : {RTE_ARP_OP_REQUEST, RTE_ARP_OP_REPLY}) {
    rte_mbuf* m = arp_frame(op, moved, "10.0.0.11", "10.0.0.11");
    const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
    rte_pktmbuf_free(m);
    EXPECT_EQ(v.kind, dp::Verdict::Kind::kConsumed) << "op " << op;
    const auto ev = events_of(ring_, dp::Event::Type::kNeighLearned);
    ASSERT_FALSE(ev.empty()) << "op " << op;
    for (const dp::Event& e : ev) {
      EXPECT_EQ(e.ip_be, ip("10.0.0.11"));
      EXPECT_TRUE(e.mac == moved);
    }
  }
  rte_mbuf* m = arp_frame(RTE_ARP_OP_REQUEST, moved, "10.0.0.77", "10.0.0.77");
  const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
  rte_pktmbuf_free(m);
  EXPECT_EQ(v.drop, dp::Drop::kArpIgnored);
  EXPECT_TRUE(events_of(ring_, dp::Event::Type::kNeighLearned).empty());
  // A zero or group sender MAC is no neighbour's, gratuitous or not: nothing is learned or
  // confirmed (one such frame would have sent the gateway's traffic nowhere), nothing answered.
  for (const dp::MacAddr& bad : {dp::MacAddr{{0, 0, 0, 0, 0, 0}},
                                 dp::MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
                                 dp::MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}}) {
    for (const char* target : {"10.0.0.11", "10.0.0.2"}) {
      rte_mbuf* f = arp_frame(RTE_ARP_OP_REQUEST, bad, "10.0.0.11", target);
      const dp::Verdict fv = dp::handle_packet(owned_->snap, f, *ctx_);
      rte_pktmbuf_free(f);
      EXPECT_EQ(fv.drop, dp::Drop::kArpIgnored) << target;
      EXPECT_TRUE(events_of(ring_, dp::Event::Type::kNeighLearned).empty()) << target;
    }
  }
}

// A UDP datagram may teach a new neighbour (a new client's reply then goes out at once), but
// never move a known one to another MAC (one forged datagram with the gateway's address would
// take its traffic, past the switch's ARP inspection), nor teach our own address or the
// subnet's broadcast address.
TEST_F(PipelineTest, AnIpFrameTeachesNewNeighboursButMovesNoKnownOne) {
  const dp::MacAddr other{{2, 0, 0, 0, 0, 0x66}};
  for (const char* src : {"10.0.0.11", "10.0.0.2", "10.0.0.255", "10.0.0.0"}) {
    run(udp_frame(other, src, 5060, "10.0.0.2", 5060, invite(std::string("spoof-") + src)));
    EXPECT_TRUE(events_of(ring_, dp::Event::Type::kNeighLearned).empty()) << src;
  }
  run(udp_frame(other, "10.0.0.66", 5060, "10.0.0.2", 5060, invite("new-host")));
  const auto ev = events_of(ring_, dp::Event::Type::kNeighLearned);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].ip_be, ip("10.0.0.66"));
  EXPECT_TRUE(ev[0].mac == other);
  // ARP may still move a known one (the backend's new NIC asks for us first).
  rte_mbuf* m = arp_frame(RTE_ARP_OP_REQUEST, other, "10.0.0.12", "10.0.0.2");
  ASSERT_TRUE(dp::handle_packet(owned_->snap, m, *ctx_).is_tx());
  rte_pktmbuf_free(m);
  const auto moved = events_of(ring_, dp::Event::Type::kNeighLearned);
  ASSERT_FALSE(moved.empty());
  EXPECT_EQ(moved[0].ip_be, ip("10.0.0.12"));
  EXPECT_TRUE(moved[0].mac == other);
}

// The quoted datagram's addresses and ports are no secret: an unreachable error believed from
// anyone would let any host on the Internet blocklist a backend. Port unreachable counts from
// the destination itself; host unreachable about an off-link destination from our gateway.
TEST_F(PipelineTest, IcmpUnreachableFromAThirdPartyIsNotBelieved) {
  const Out o = run(icmp_unreachable(3, "10.0.0.99", "10.0.0.2", 5060, "10.0.0.11", 5060));
  EXPECT_EQ(o.v.drop, dp::Drop::kIcmpIgnored);
  const Out o2 = run(icmp_unreachable(1, "10.0.0.99", "10.0.0.2", 5060, "10.0.0.11", 5060));
  EXPECT_EQ(o2.v.drop, dp::Drop::kIcmpIgnored);
  EXPECT_TRUE(events_of(ring_, dp::Event::Type::kIcmpUnreachable).empty());
  // With 10.0.0.1 as the gateway: its host unreachable about 192.0.2.7 counts, about an
  // on-link host (which the gateway does not reach for us) it does not.
  owned_->snap.ifaces[0].gateway_be = ip("10.0.0.1");
  const Out o3 = run(icmp_unreachable(1, "10.0.0.1", "10.0.0.2", 5060, "10.0.0.11", 5060));
  EXPECT_EQ(o3.v.drop, dp::Drop::kIcmpIgnored);
  const Out o4 = run(icmp_unreachable(1, "10.0.0.1", "10.0.0.2", 5060, "192.0.2.7", 5060));
  EXPECT_EQ(o4.v.kind, dp::Verdict::Kind::kConsumed);
  const auto ev = events_of(ring_, dp::Event::Type::kIcmpUnreachable);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].ip_be, ip("192.0.2.7"));
  EXPECT_EQ(counters_.icmp_unreachable.read(), 1u);
}

// A ping larger than the interface's MTU (reassembled, or a jumbo frame on a smaller MTU) is
// answered in fragments, never with one frame above the MTU.
TEST_F(PipelineTest, AnEchoReplyAboveTheMtuLeavesInFragments) {
  ctx_->pool = g_pool;
  const size_t icmp_len = 1800;
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  char* l4 = test::fill_ipv4_frame(m, kClientMac, kOurMac, ip("10.0.0.10"), ip("10.0.0.2"),
                                   IPPROTO_ICMP, icmp_len);
  ASSERT_NE(l4, nullptr);
  std::memset(l4, 0x5a, icmp_len);
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(l4);
  icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
  icmp->icmp_code = 0;
  icmp->icmp_cksum = 0;
  icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len));
  m->port = 0;
  const unsigned free0 = rte_mempool_avail_count(g_pool);
  const dp::Verdict v = dp::handle_packet(owned_->snap, m, *ctx_);
  ASSERT_EQ(v.kind, dp::Verdict::Kind::kTxMany);
  ASSERT_EQ(ctx_->n_frags, 2);
  size_t carried = 0;
  for (uint16_t k = 0; k < ctx_->n_frags; ++k) {
    const rte_mbuf* f = ctx_->frag_out[k];
    EXPECT_LE(rte_pktmbuf_data_len(f), sizeof(rte_ether_hdr) + 1500u);
    rte_ipv4_hdr h;
    std::memcpy(&h, rte_pktmbuf_mtod_offset(f, const char*, sizeof(rte_ether_hdr)), sizeof h);
    EXPECT_EQ(h.src_addr, ip("10.0.0.2"));
    EXPECT_EQ(h.dst_addr, ip("10.0.0.10"));
    EXPECT_EQ(rte_ipv4_cksum(&h), 0);
    carried += ntohs(h.total_length) - 20u;
  }
  EXPECT_EQ(carried, icmp_len);
  EXPECT_EQ(counters_.icmp_echo_replies.read(), 1u);
  rte_pktmbuf_free_bulk(ctx_->frag_out, ctx_->n_frags);
  rte_pktmbuf_free(m);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), free0 + 1);  // the request's mbuf freed too
  ctx_->pool = nullptr;
}

// A request sent after set_advertised_address() / set_advertised_port() carries that host or
// port in our Via; the backend's reply comes back with it on top and is ours (RFC 3261 16.11:
// the proxy relays a reply whose top Via it inserted), not reply_not_ours. A Via no listener and
// no advertised name or port could have written stays somebody else's.
TEST_F(PipelineTest, RepliesToRequestsWithAnAdvertisedViaAreRelayed) {
  use_own_script(R"(
listen=udp:10.0.0.2:5060
loadmodule "textops.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "unused.list")
request_route {
    if ($hdr(X-Adv) == "host") {
        set_advertised_address("edge.example.com");
    }
    if ($hdr(X-Adv) == "port") {
        set_advertised_port(5070);
    }
    ds_select_dst("1", "0");
    forward();
}
)");
  const auto reply_for = [this](const std::string& cid, const std::string& how,
                                std::string* top_via) {
    const Out fwd = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                                  invite(cid, "Max-Forwards: 70\r\nX-Adv: " + how + "\r\n")));
    EXPECT_FALSE(fwd.v.is_drop()) << dp::drop_name(fwd.v.drop);
    const size_t pos = fwd.sip.find("Via:");
    const size_t end = fwd.sip.find("From:");
    *top_via = fwd.sip.substr(pos, fwd.sip.find("\r\n", pos) - pos);
    return "SIP/2.0 200 OK\r\n" + fwd.sip.substr(pos, end - pos) +
           "From: sipp <sip:sipp@10.0.0.10:5060>;tag=1\r\n"
           "To: service <sip:service@10.0.0.2:5060>;tag=xyz\r\n"
           "Call-ID: " + cid + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  };
  for (const char* how : {"host", "port"}) {
    std::string via;
    const std::string reply = reply_for(std::string("adv-") + how, how, &via);
    EXPECT_NE(via.find(std::string(how) == "host" ? "edge.example.com" : "10.0.0.2:5070"),
              std::string::npos)
        << via;
    const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, reply));
    ASSERT_TRUE(o.v.is_tx()) << how << ": " << dp::drop_name(o.v.drop);
    EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
    EXPECT_EQ(scan_ok(o.sip).via_count, 1);
  }
  std::string via;
  std::string other = reply_for("adv-other", "host", &via);
  other.replace(other.find("edge.example.com"), 16, "else.example.com");
  const Out o = run(udp_frame(kB1Mac, "10.0.0.11", 5060, "10.0.0.2", 5060, other));
  EXPECT_EQ(o.v.drop, dp::Drop::kReplyNotOurs);
}

// The ACK of one of our local non-2xx replies (here the 483 for Max-Forwards 0) carries the
// reply's To-tag and the INVITE's Call-ID, From-tag, CSeq number and branch: it ends at viaduct,
// as Kamailio's sl absorbs it before the script (sl_filter_ACK), and is counted. An ACK with a
// To-tag we did not give still runs the script (here: forwarded).
TEST_F(PipelineTest, TheAckOfOurLocalReplyIsAbsorbed) {
  const Out r = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("ack-483", "Max-Forwards: 0\r\n")));
  ASSERT_TRUE(r.v.is_tx());
  const sip::SipView rv = scan_ok(r.sip);
  ASSERT_EQ(rv.status, 483);
  const std::string tag(rv.to_tag.in(r.sip.data()));
  ASSERT_EQ(tag.size(), sip::kLocalToTagLen);
  const auto ack = [](const std::string& to_tag) {
    std::string a = invite("ack-483", "Max-Forwards: 70\r\n", "ACK");
    const std::string to = "To: service <sip:service@10.0.0.2:5060>";
    a.replace(a.find(to), to.size(), to + ";tag=" + to_tag);
    return a;
  };
  const uint64_t forwarded = counters_.requests_forwarded.read();
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, ack(tag)));
  EXPECT_EQ(o.v.kind, dp::Verdict::Kind::kConsumed);
  EXPECT_EQ(counters_.sl_filtered_acks.read(), 1u);
  EXPECT_EQ(counters_.requests_forwarded.read(), forwarded);
  std::string other = tag;
  other[5] = other[5] == '0' ? '1' : '0';
  const Out o2 = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, ack(other)));
  EXPECT_TRUE(o2.v.is_tx()) << dp::drop_name(o2.v.drop);
  EXPECT_EQ(counters_.sl_filtered_acks.read(), 1u);
  EXPECT_EQ(counters_.requests_forwarded.read(), forwarded + 1);
}

// mf_process_maxfwd_header("100") on a request without Max-Forwards inserts 100 even above
// max_limit (70 by default): Kamailio 5.6.3 caps only the decrement (measured).
TEST_F(PipelineTest, AnInsertedMaxForwardsIsTheFunctionsArgumentNotCapped) {
  use_own_script(R"(
listen=udp:10.0.0.2:5060
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "unused.list")
request_route {
    mf_process_maxfwd_header("100");
    ds_select_dst("1", "0");
    forward();
}
)");
  const Out o = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("mf-insert", "")));
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(scan_ok(o.sip).max_forwards, 100u);
  const Out d = run(udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060,
                              invite("mf-decrement", "Max-Forwards: 100\r\n")));
  ASSERT_TRUE(d.v.is_tx()) << dp::drop_name(d.v.drop);
  EXPECT_EQ(scan_ok(d.sip).max_forwards, 70u);
}

// Each worker hands out IPv4 Identifications from its own index, stepping by the number of
// workers (Worker::set_ip_id_space): two workers sending large INVITEs to one backend never
// give it one ID at once (its reassembly would mix the two datagrams and drop both).
TEST_F(PipelineTest, IpIdsStepThroughTheWorkersOwnSpace) {
  ctx_->ip_id = 1;
  ctx_->ip_id_step = 4;  // worker 1 of 4
  std::vector<uint16_t> ids;
  for (const char* cid : {"id-1", "id-2", "id-3"}) {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite(cid));
    ASSERT_TRUE(dp::handle_packet(owned_->snap, m, *ctx_).is_tx());
    rte_ipv4_hdr h;
    std::memcpy(&h, rte_pktmbuf_mtod_offset(m, const char*, sizeof(rte_ether_hdr)), sizeof h);
    ids.push_back(ntohs(h.packet_id));
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(ids, (std::vector<uint16_t>{1, 5, 9}));
  // The step is the worker count rounded up to a power of two (it divides 65536): a worker's
  // IDs stay in its own class when they wrap (with 3 workers stepping by 3, worker 0 went
  // 65535 -> 2, worker 2's).
  EXPECT_EQ(dp::ip_id_step_for(1), 1);
  EXPECT_EQ(dp::ip_id_step_for(3), 4);
  EXPECT_EQ(dp::ip_id_step_for(4), 4);
  EXPECT_EQ(dp::ip_id_step_for(63), 64);
  ctx_->ip_id = 65534;  // worker 2 of 3
  ctx_->ip_id_step = dp::ip_id_step_for(3);
  ids.clear();
  for (const char* cid : {"wrap-1", "wrap-2"}) {
    rte_mbuf* m = udp_frame(kClientMac, "10.0.0.10", 5060, "10.0.0.2", 5060, invite(cid));
    ASSERT_TRUE(dp::handle_packet(owned_->snap, m, *ctx_).is_tx());
    rte_ipv4_hdr h;
    std::memcpy(&h, rte_pktmbuf_mtod_offset(m, const char*, sizeof(rte_ether_hdr)), sizeof h);
    ids.push_back(ntohs(h.packet_id));
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(ids, (std::vector<uint16_t>{65534, 2}));
}

}  // namespace
}  // namespace viaduct
