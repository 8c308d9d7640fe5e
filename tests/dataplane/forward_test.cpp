// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/forward_test.cpp: apply_request_result() with hand-made VmResults: every
// message edit and routing choice the script can ask for, checked on the exact bytes that
// leave (parsed back with sip::scan), independent of the interpreter. Real mbufs, EAL with
// --no-huge, no device. The expected layouts were measured against Kamailio 5.6.3 (stateless
// forward() on loopback): Record-Route above our Via, append_hf after the last header,
// remove_hf of every instance and compact forms, the rr module's ;ftag.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "dataplane/pipeline.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/vm.hpp"
#include "tests/support/packet_builder.hpp"

namespace viaduct {
namespace {

using dp::Drop;
using dp::VmResult;

rte_mempool* g_pool = nullptr;

class EalEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* args[] = {"forward_test", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
                          "--log-level=error", "-l", "0"};
    ASSERT_GE(rte_eal_init(static_cast<int>(std::size(args)), const_cast<char**>(args)), 0);
    g_pool = rte_pktmbuf_pool_create("fwd_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(g_pool, nullptr);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new EalEnv);

// The script is not run here (the VmResult is made by hand); it only has to compile.
constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "unused.list")
request_route {
    forward();
}
)";
// Kamailio indexes equal priorities in reverse file order: destination 0 is 10.0.0.11.
constexpr const char* kList = "1 sip:10.0.0.12:5080\n1 sip:10.0.0.11:5060\n";

const dp::MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
const dp::MacAddr kOurMac2{{0x02, 0, 0, 0, 1, 0x02}};
const dp::MacAddr kClientMac{{0x02, 0, 0, 0, 0, 0x10}};
const dp::MacAddr kB1Mac{{0x02, 0, 0, 0, 0, 0x11}};
const dp::MacAddr kB2Mac{{0x02, 0, 0, 0, 0, 0x12}};
const dp::MacAddr kB3Mac{{0x02, 0, 0, 0, 1, 0x20}};

uint32_t ip(const char* s) { return test::ipv4(s); }

std::string invite(const std::string& extra = "", const std::string& body = "v=0\n") {
  return "INVITE sip:service@10.0.0.2:5060 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0\r\n"
         "Max-Forwards: 70\r\n"
         "From: sipp <sip:sipp@10.0.0.10:5060>;tag=1\r\n"
         "To: service <sip:service@10.0.0.2:5060>\r\n"
         "Call-ID: fwd-1\r\n"
         "CSeq: 1 INVITE\r\n" +
         extra +
         "Contact: sip:sipp@10.0.0.10:5060\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A forward to dispatcher destination 0 (10.0.0.11:5060), Max-Forwards decremented: what
// forward() after ds_select_dst and mf_process_maxfwd_header gives.
VmResult fwd_to_du() {
  VmResult r;
  r.action = VmResult::Action::kForward;
  r.du = 0;
  r.maxfwd = VmResult::MaxFwd::kDecrement;
  r.maxfwd_value = 69;
  return r;
}

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    owned_ = test::make_snapshot(kScript, kList, "10.0.0.2", kOurMac,
                                 {{"10.0.0.10", kClientMac},
                                  {"10.0.0.11", kB1Mac},
                                  {"10.0.0.12", kB2Mac}},
                                 error);
    ASSERT_NE(owned_, nullptr) << error;
    ASSERT_EQ(owned_->snap.listeners.size(), 1u);
    ASSERT_EQ(owned_->snap.destinations.size(), 2u);
    ASSERT_EQ(owned_->snap.destinations[0].ip_be, ip("10.0.0.11"));
    ctx_ = std::make_unique<dp::WorkerCtx>();
    ctx_->counters = &counters_;
  }

  // A second iface (port 1, 10.1.0.2/24, one neighbour 10.1.0.20) with its own socket
  // 10.1.0.2:5070: listener index 1.
  void add_second_socket() {
    dp::Snapshot& s = owned_->snap;
    dp::Iface ifc;
    ifc.port_id = 1;
    ifc.ip_be = ip("10.1.0.2");
    ifc.mask_be = htonl(0xffffff00u);
    ifc.mac = kOurMac2;
    s.ifaces.push_back(ifc);
    dp::Listener l;
    l.ip_be = ip("10.1.0.2");
    l.port_be = htons(5070);
    l.iface = 1;
    l.via_host = "10.1.0.2";
    l.via_port = 5070;
    s.listeners.push_back(l);
    s.neigh.insert(ip("10.1.0.20"), kB3Mac);
  }

  struct Out {
    dp::Verdict v;
    dp::MacAddr src_mac, dst_mac;
    uint32_t src_ip = 0, dst_ip = 0;
    uint16_t sport = 0, dport = 0;
    bool ip_cksum_ok = false, udp_cksum_ok = false;
    std::string sip;
  };

  // Receives `msg` from src:sport on 10.0.0.2:5060 (iface 0) and applies r to it.
  Out apply(const std::string& msg, const VmResult& r, const char* src = "10.0.0.10",
            uint16_t sport = 5060) {
    Out o;
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    EXPECT_NE(m, nullptr);
    EXPECT_TRUE(test::fill_udp_frame(m, kClientMac, kOurMac, ip(src), sport, ip("10.0.0.2"),
                                     5060, msg));
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    const char* sip_msg = reinterpret_cast<const char*>(eth) + sizeof(rte_ether_hdr) + 28;
    dp::PacketInfo pi;
    pi.iface = 0;
    pi.listener = &owned_->snap.listeners[0];
    pi.src_ip_be = ip(src);
    pi.src_port_be = htons(sport);
    pi.sip_off = static_cast<size_t>(sip_msg - static_cast<const char*>(m->buf_addr));
    sip::SipView v;
    EXPECT_EQ(sip::scan(sip_msg, msg.size(), v), sip::ScanStatus::kOk);
    pi.sip_len = v.len;
    o.v = dp::apply_request_result(owned_->snap, m, eth, pi, sip_msg, v, r, *ctx_);
    if (o.v.is_tx()) {
      // A copy: the frame may start at an odd address (rte_ether_hdr wants 2-byte alignment).
      rte_ether_hdr out_eth;
      std::memcpy(&out_eth, rte_pktmbuf_mtod(m, const void*), sizeof out_eth);
      std::memcpy(o.dst_mac.b, out_eth.dst_addr.addr_bytes, 6);
      std::memcpy(o.src_mac.b, out_eth.src_addr.addr_bytes, 6);
      EXPECT_EQ(ntohs(out_eth.ether_type), RTE_ETHER_TYPE_IPV4);
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
    if (o.v.kind == dp::Verdict::Kind::kTxMany) {
      rte_pktmbuf_free_bulk(ctx_->frag_out, ctx_->n_frags);
    }
    rte_pktmbuf_free(m);
    return o;
  }

  std::unique_ptr<ctl::OwnedSnapshot> owned_;
  dp::WorkerCounters counters_;
  std::unique_ptr<dp::WorkerCtx> ctx_;
};

// The message parsed back: scans, Content-Length equals the body that is there.
sip::SipView scan_back(const std::string& s) {
  sip::SipView v;
  EXPECT_EQ(sip::scan(s.data(), s.size(), v), sip::ScanStatus::kOk) << s;
  EXPECT_TRUE(v.has_content_length) << s;
  EXPECT_EQ(v.content_length, s.size() - v.body_off) << s;
  EXPECT_EQ(v.len, s.size()) << s;
  return v;
}

std::string our_branch(const std::string& s) {
  const sip::SipView v = scan_back(s);
  return std::string(v.via1.branch.in(s.data()));
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

TEST_F(ForwardTest, PlainForwardIsOurViaAndMaxForwardsOnly) {
  const Out o = apply(invite(), fwd_to_du());
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
  EXPECT_EQ(o.dport, 5060);
  EXPECT_EQ(o.sport, 5060);
  EXPECT_TRUE(o.dst_mac == kB1Mac);
  EXPECT_TRUE(o.ip_cksum_ok);
  EXPECT_TRUE(o.udp_cksum_ok);
  const std::string branch = our_branch(o.sip);
  EXPECT_EQ(branch.size(), sip::kBranchLen);
  std::string want = invite();
  want.insert(want.find("Via: "), "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  EXPECT_EQ(o.sip, want);
  EXPECT_EQ(counters_.requests_forwarded.read(), 1u);
  EXPECT_EQ(counters_.forwarded_to[owned_->snap.destinations[0].id].read(), 1u);
}

TEST_F(ForwardTest, DuUriIsTheNextHopAndWinsOverDu) {
  VmResult r = fwd_to_du();
  r.du_uri = "sip:10.0.0.12:5080;lr";  // loose_route's next Route, as Kamailio sets $du
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.12"));
  EXPECT_EQ(o.dport, 5080);
  EXPECT_TRUE(o.dst_mac == kB2Mac);
  EXPECT_EQ(counters_.forwarded_to[owned_->snap.destinations[0].id].read(), 0u);

  r.du_uri = "<sip:10.0.0.12;transport=UDP>";  // default port, explicit UDP
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.12"));
  EXPECT_EQ(o.dport, 5060);

  r.du = -1;
  r.du_uri = "sip:someone@10.0.0.11:5099";
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
  EXPECT_EQ(o.dport, 5099);
  // $du does not change the Request-URI.
  EXPECT_EQ(o.sip.substr(0, o.sip.find("\r\n")), "INVITE sip:service@10.0.0.2:5060 SIP/2.0");
}

TEST_F(ForwardTest, DuUriThatIsNotUdpToAnIpv4LiteralIsACountedDrop) {
  VmResult r = fwd_to_du();
  const struct {
    const char* uri;
    Drop why;
  } cases[] = {
      {"sip:backend.example.com", Drop::kUnresolvable},
      {"sip:backend.example.com:5060;transport=udp", Drop::kUnresolvable},
      {"sip:[2001:db8::1]:5060", Drop::kNoRoute},  // IPv6, and no iface has an address6
      {"sip:[2001:db8::zz]:5060", Drop::kUnresolvable},
      {"tel:+15551234", Drop::kUnresolvable},
      {"not a uri", Drop::kUnresolvable},
      {"sip:10.0.0.12;transport=tcp", Drop::kNeedsSlowPath},
      {"sip:10.0.0.12:5061;lr;transport=tls", Drop::kNeedsSlowPath},
      {"sips:10.0.0.12", Drop::kNeedsSlowPath},
  };
  for (const auto& c : cases) {
    r.du_uri = c.uri;
    const Out o = apply(invite(), r);
    ASSERT_TRUE(o.v.is_drop()) << c.uri;
    EXPECT_EQ(o.v.drop, c.why) << c.uri << ": " << dp::drop_name(o.v.drop);
  }
  EXPECT_EQ(counters_.requests_forwarded.read(), 0u);
}

TEST_F(ForwardTest, NewRequestUriIsWrittenAndRoutedByWithoutDu) {
  VmResult r = fwd_to_du();
  r.du = -1;
  r.new_ruri = "sip:bob@10.0.0.12:5080;user=phone";
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.12"));
  EXPECT_EQ(o.dport, 5080);
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.ruri.in(o.sip.data()), "sip:bob@10.0.0.12:5080;user=phone");
  EXPECT_EQ(o.sip.substr(0, o.sip.find("\r\n")),
            "INVITE sip:bob@10.0.0.12:5080;user=phone SIP/2.0");
  EXPECT_EQ(v.max_forwards, 69u);
  EXPECT_EQ(v.via_count, 2);

  // With $du set the R-URI is still rewritten, but $du is the next hop.
  r.du = 0;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.11"));
  v = scan_back(o.sip);
  EXPECT_EQ(v.ruri.in(o.sip.data()), "sip:bob@10.0.0.12:5080;user=phone");

  // A new R-URI naming a host is not resolved on the fast path.
  r.du = -1;
  r.new_ruri = "sip:bob@example.com";
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kUnresolvable);
}

TEST_F(ForwardTest, AppendHfLinesGoAfterTheLastHeaderInOrder) {
  VmResult r = fwd_to_du();
  r.append_hf[r.n_append++] = "X-A: 1\r\n";
  r.append_hf[r.n_append++] = "P-Hint: outbound\r\n";
  const Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  const std::string branch = our_branch(o.sip);
  std::string want = invite();
  want.insert(want.find("Via: "), "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  want.insert(want.find("\r\n\r\n") + 2, "X-A: 1\r\nP-Hint: outbound\r\n");
  EXPECT_EQ(o.sip, want);
  const sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.hdr_count, scan_back(invite()).hdr_count + 3);  // our Via + 2
}

TEST_F(ForwardTest, RemoveHfTakesEveryInstanceCaseInsensitiveAndCompact) {
  const std::string extra =
      "Subject: one\r\n"
      "X-Trace: a\r\n"
      "s: two\r\n"
      "SUBJECT : three,\r\n four\r\n"  // folded onto a continuation line
      "x-trace: b\r\n";
  VmResult r = fwd_to_du();
  r.remove_hf[r.n_remove++] = "subject";
  r.remove_hf[r.n_remove++] = "X-TRACE";
  const Out o = apply(invite(extra), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  const std::string branch = our_branch(o.sip);
  std::string want = invite();
  want.insert(want.find("Via: "), "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  EXPECT_EQ(o.sip, want);

  // The compact name removes the long form too; a header that is not there is no error.
  r = fwd_to_du();
  r.remove_hf[r.n_remove++] = "s";
  r.remove_hf[r.n_remove++] = "X-Absent";
  const Out c = apply(invite(extra), r);
  ASSERT_TRUE(c.v.is_tx()) << dp::drop_name(c.v.drop);
  EXPECT_EQ(count(c.sip, "ubject"), 0u) << c.sip;
  EXPECT_EQ(count(c.sip, "\r\ns: "), 0u) << c.sip;
  EXPECT_EQ(count(c.sip, "X-Trace: a\r\n"), 1u);
  EXPECT_EQ(count(c.sip, "x-trace: b\r\n"), 1u);
  scan_back(c.sip);
}

TEST_F(ForwardTest, RecordRouteGoesAboveOurViaWithTheFromTag) {
  VmResult r = fwd_to_du();
  r.record_route = true;
  const Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  const std::string branch = our_branch(o.sip);
  std::string want = invite();
  want.insert(want.find("Via: "), "Record-Route: <sip:10.0.0.2;lr;ftag=1>\r\n"
                                  "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  EXPECT_EQ(o.sip, want);
  const sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v[sip::Hdr::kRecordRoute].in(o.sip.data()), "<sip:10.0.0.2;lr;ftag=1>");
}

TEST_F(ForwardTest, RecordRouteGoesAboveTheExistingRecordRoutes) {
  const std::string extra =
      "Record-Route: <sip:192.0.2.1;lr>\r\n"
      "Record-Route: <sip:192.0.2.2;lr>\r\n";
  VmResult r = fwd_to_du();
  r.record_route = true;
  const Out o = apply(invite(extra), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  const std::string branch = our_branch(o.sip);
  std::string want = invite(extra);
  want.insert(want.find("Via: "), "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  // Above every header field, as Kamailio 5.6.3's rr inserts it (so above the existing ones).
  want.insert(want.find("\r\n") + 2, "Record-Route: <sip:10.0.0.2;lr;ftag=1>\r\n");
  EXPECT_EQ(o.sip, want);
}

TEST_F(ForwardTest, RecordRouteIsDoubledWhenTheRequestLeavesFromAnotherIpv4Socket) {
  // A next hop behind the second iface: the request leaves from its socket (mhomed). Kamailio
  // 5.6.3 (mhomed=1, two listen lines, forward to the second network, record_route(";p=$rm"))
  // writes: Record-Route: <sip:OUT;r2=on;lr;ftag=..;p=INVITE> then <sip:IN;r2=on;lr;...>.
  add_second_socket();
  VmResult r = fwd_to_du();
  r.du = -1;
  r.du_uri = "sip:10.1.0.20:5060";
  r.record_route = true;
  r.rr_params = ";p=INVITE";
  const Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.v.tx_port, 1);
  EXPECT_EQ(o.src_ip, ip("10.1.0.2"));
  const std::string branch = our_branch(o.sip);
  std::string want = invite();
  want.insert(want.find("Via: "),
              "Record-Route: <sip:10.1.0.2:5070;r2=on;lr;ftag=1;p=INVITE>\r\n"
              "Record-Route: <sip:10.0.0.2;r2=on;lr;ftag=1;p=INVITE>\r\n"
              "Via: SIP/2.0/UDP 10.1.0.2:5070;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  EXPECT_EQ(o.sip, want);

  // Back out of the receiving socket (a next hop on the first iface): one, without ;r2.
  r.du_uri = "sip:10.0.0.12:5080";
  const Out same = apply(invite(), r);
  ASSERT_TRUE(same.v.is_tx()) << dp::drop_name(same.v.drop);
  EXPECT_EQ(count(same.sip, "Record-Route:"), 1u) << same.sip;
  EXPECT_NE(same.sip.find("Record-Route: <sip:10.0.0.2;lr;ftag=1;p=INVITE>\r\n"),
            std::string::npos)
      << same.sip;
}

TEST_F(ForwardTest, RoutePopRemovesTheTopRouteValue) {
  // Comma-joined: only the first value goes.
  VmResult r = fwd_to_du();
  r.du = -1;
  r.route_pop = true;
  r.du_uri = "sip:10.0.0.12:5080;lr";
  Out o = apply(invite("Route: <sip:10.0.0.2;lr>, <sip:10.0.0.12:5080;lr>\r\n"), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.12"));
  EXPECT_EQ(o.dport, 5080);
  EXPECT_EQ(count(o.sip, "\r\nRoute: <sip:10.0.0.12:5080;lr>\r\n"), 1u) << o.sip;
  EXPECT_EQ(count(o.sip, "10.0.0.2;lr"), 0u) << o.sip;
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v[sip::Hdr::kRoute].in(o.sip.data()), "<sip:10.0.0.12:5080;lr>");

  // One value per field: the whole field goes (what Kamailio 5.6.3 leaves, measured).
  o = apply(invite("Route: <sip:10.0.0.2;lr>\r\nRoute: <sip:10.0.0.12:5080;lr>\r\n"), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  const std::string branch = our_branch(o.sip);
  std::string want = invite("Route: <sip:10.0.0.12:5080;lr>\r\n");
  want.insert(want.find("Via: "), "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + "\r\n");
  want.replace(want.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
  EXPECT_EQ(o.sip, want);

  // Popping the only Route leaves none; no Route at all is not an error.
  o = apply(invite("Route: <sip:10.0.0.2;lr>\r\n"), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  v = scan_back(o.sip);
  EXPECT_TRUE(v[sip::Hdr::kRoute].empty());
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
}

TEST_F(ForwardTest, RemoveHfOfAFieldThatIsAlsoPoppedIsOneDeletion) {
  VmResult r = fwd_to_du();
  r.route_pop = true;
  r.remove_hf[r.n_remove++] = "Route";
  r.remove_hf[r.n_remove++] = "route";  // the same name twice
  const Out o = apply(invite("Route: <sip:10.0.0.2;lr>\r\nRoute: <sip:10.0.0.12;lr>\r\n"), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(count(o.sip, "Route"), 0u) << o.sip;
  scan_back(o.sip);
}

TEST_F(ForwardTest, EditsThatCannotBeCombinedAreACountedDrop) {
  // remove_hf of the Via we add received to, or of the Max-Forwards we rewrite.
  VmResult r = fwd_to_du();
  r.remove_hf[r.n_remove++] = "Max-Forwards";
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kEditConflict);
  r = fwd_to_du();
  r.remove_hf[r.n_remove++] = "v";
  o = apply(invite(), r, "192.0.2.99");  // received= goes into the top Via
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kEditConflict);

  // More fields to remove than one rewrite takes: dropped whole, never half rewritten.
  std::string many;
  for (size_t i = 0; i < sip::kMaxEdits; ++i) {
    many += "X-Many: " + std::to_string(i) + "\r\n";
  }
  r = fwd_to_du();
  r.remove_hf[r.n_remove++] = "X-Many";
  o = apply(invite(many), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kEditConflict);
  // Fewer fit.
  many.resize(many.size() / 2);
  many.resize(many.rfind("\r\n") + 2);
  o = apply(invite(many), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(count(o.sip, "X-Many"), 0u);
  EXPECT_EQ(counters_.requests_forwarded.read(), 1u);
}

TEST_F(ForwardTest, ForceRportAddsRportAfterTheSentByOfTheTopVia) {
  VmResult r = fwd_to_du();
  r.force_rport = true;
  // Same host as the source: rport only (Kamailio adds no received then).
  Out o = apply(invite(), r, "10.0.0.10", 5061);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.via2.value.in(o.sip.data()), "SIP/2.0/UDP 10.0.0.10:5060;rport=5061;branch=z9hG4bK-1-0");
  // Another host: rport and received, both right after the sent-by, rport first (measured).
  o = apply(invite(), r, "10.0.0.12", 5062);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via2.value.in(o.sip.data()),
            "SIP/2.0/UDP 10.0.0.10:5060;rport=5062;received=10.0.0.12;branch=z9hG4bK-1-0");
  // A Via that asked for rport itself: filled in where it stands, as without force_rport.
  std::string m = invite();
  m.replace(m.find("z9hG4bK-1-0"), 11, "z9hG4bK-1-0;rport");
  o = apply(m, r, "10.0.0.10", 5061);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via2.value.in(o.sip.data()),
            "SIP/2.0/UDP 10.0.0.10:5060;received=10.0.0.10;branch=z9hG4bK-1-0;rport=5061");
  // Without force_rport nothing is added for the same host.
  o = apply(invite(), fwd_to_du(), "10.0.0.10", 5061);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via2.value.in(o.sip.data()), "SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0");
}

TEST_F(ForwardTest, ForceRportSendsALocalReplyToTheSourcePort) {
  VmResult r;
  r.action = VmResult::Action::kReply;
  r.reply_code = 404;
  r.reply_reason = "Not Here";
  Out o = apply(invite(), r, "10.0.0.10", 5061);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dport, 5060);  // the Via port: no rport asked for
  EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
  r.force_rport = true;
  o = apply(invite(), r, "10.0.0.10", 5061);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dport, 5061);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.10"));
  EXPECT_TRUE(o.udp_cksum_ok);
  EXPECT_EQ(o.sip.substr(0, o.sip.find("\r\n")), "SIP/2.0 404 Not Here");
  sip::SipView v;
  ASSERT_EQ(sip::scan(o.sip.data(), o.sip.size(), v), sip::ScanStatus::kOk);
  // As Kamailio 5.6.3 writes it in a local reply: appended.
  EXPECT_EQ(v.via1.value.in(o.sip.data()), "SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-1-0;rport=5061");
  EXPECT_EQ(counters_.local_replies.read(), 2u);
}

TEST_F(ForwardTest, AddLocalRportAndAdvertisedAddressShapeOurVia) {
  VmResult r = fwd_to_du();
  r.add_local_rport = true;
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  std::string branch = our_branch(o.sip);
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.via1.value.in(o.sip.data()), "SIP/2.0/UDP 10.0.0.2;branch=" + branch + ";rport");
  EXPECT_TRUE(v.via1.has_rport);

  // set_advertised_address + port: our Via says them; Record-Route keeps the socket's address
  // (Kamailio 5.6.3 builds it from the socket, measured).
  r = fwd_to_du();
  r.adv_addr = "198.51.100.9";
  r.adv_port = 5099;
  r.record_route = true;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.src_ip, ip("10.0.0.2"));  // the packet still leaves from the socket
  EXPECT_EQ(o.sport, 5060);
  branch = our_branch(o.sip);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via1.value.in(o.sip.data()), "SIP/2.0/UDP 198.51.100.9:5099;branch=" + branch);
  EXPECT_EQ(v[sip::Hdr::kRecordRoute].in(o.sip.data()), "<sip:10.0.0.2;lr;ftag=1>");

  // The address alone keeps the socket's port; the port alone the socket's address.
  r = fwd_to_du();
  r.adv_addr = "pbx.example.com";
  o = apply(invite(), r);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via1.host.in(o.sip.data()), "pbx.example.com");
  EXPECT_EQ(v.via1.port_num, 0);  // the socket's 5060: left out, as Kamailio does
  r = fwd_to_du();
  r.adv_port = 5077;
  o = apply(invite(), r);
  v = scan_back(o.sip);
  EXPECT_EQ(v.via1.host.in(o.sip.data()), "10.0.0.2");
  EXPECT_EQ(v.via1.port_num, 5077);
}

TEST_F(ForwardTest, ForceSendSocketPicksTheEgressSocketAndIface) {
  add_second_socket();
  VmResult r = fwd_to_du();
  r.du = -1;
  r.du_uri = "sip:10.1.0.20:5060";
  r.send_socket = 1;
  r.record_route = true;
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.v.tx_port, 1);
  EXPECT_EQ(o.src_ip, ip("10.1.0.2"));
  EXPECT_EQ(o.sport, 5070);
  EXPECT_EQ(o.dst_ip, ip("10.1.0.20"));
  EXPECT_TRUE(o.src_mac == kOurMac2);
  EXPECT_TRUE(o.dst_mac == kB3Mac);
  EXPECT_TRUE(o.udp_cksum_ok);
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.via1.host.in(o.sip.data()), "10.1.0.2");
  EXPECT_EQ(v.via1.port_num, 5070);
  // Another socket than the receiving one: Kamailio's double Record-Route (enable_double_rr),
  // the sending socket's above the receiving one's, both ;r2=on (measured on 5.6.3 with
  // force_send_socket to another port of the same address, and with mhomed to another iface).
  EXPECT_EQ(count(o.sip, "Record-Route:"), 2u) << o.sip;
  EXPECT_NE(o.sip.find("Record-Route: <sip:10.1.0.2:5070;r2=on;lr;ftag=1>\r\n"
                       "Record-Route: <sip:10.0.0.2;r2=on;lr;ftag=1>\r\nVia: SIP/2.0/UDP "
                       "10.1.0.2:5070;"),
            std::string::npos)
      << o.sip;

  // The first socket forced for a destination behind the second iface: it has no route there.
  r.send_socket = 0;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kNoRoute);
  // An index that is not a socket (the compiler never makes one): a script error.
  r.send_socket = 7;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kScriptError);
}

TEST_F(ForwardTest, DestinationSocketAttributePicksTheEgressSocket) {
  // dispatcher.list socket=udp:10.1.0.2:5070 on the destination $du points at.
  add_second_socket();
  dp::Destination& d = owned_->snap.destinations[0];
  d.ip_be = ip("10.1.0.20");
  d.socket = 1;
  Out o = apply(invite(), fwd_to_du());
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.v.tx_port, 1);
  EXPECT_EQ(o.src_ip, ip("10.1.0.2"));
  EXPECT_EQ(o.sport, 5070);
  sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.via1.port_num, 5070);
  // force_send_socket() in the script wins over the attribute.
  VmResult r = fwd_to_du();
  r.send_socket = 0;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kNoRoute);
}

TEST_F(ForwardTest, MtuTryProtoHandsLargeMessagesToTheSlowPath) {
  const std::string big = invite("", std::string(1500, 'a') + "\n");
  VmResult r = fwd_to_du();
  r.mtu_try_proto = true;
  Out o = apply(big, r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kNeedsSlowPath);
  // Without it the same message leaves in fragments.
  ctx_->pool = g_pool;
  o = apply(big, fwd_to_du());
  EXPECT_EQ(o.v.kind, dp::Verdict::Kind::kTxMany) << dp::drop_name(o.v.drop);
  // Below the MTU it is sent as usual.
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  // Just at the limit (IP 1500 bytes) it still fits; one byte more does not.
  const size_t growth = o.sip.size() - invite().size();  // our Via
  size_t body = 1000;
  while (invite("", std::string(body, 'b')).size() + growth + 28 < 1500) {
    ++body;
  }
  ASSERT_EQ(invite("", std::string(body, 'b')).size() + growth + 28, 1500u);
  o = apply(invite("", std::string(body, 'b')), r);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.sip.size() + 28, 1500u);
  o = apply(invite("", std::string(body + 1, 'b')), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kNeedsSlowPath);
}

TEST_F(ForwardTest, EverythingAtOnceInMessageOrder) {
  // No Max-Forwards (inserted as the first field), a Route to pop, fields to remove and append,
  // a new R-URI, record_route, add_local_rport, force_rport from another host.
  const std::string in =
      "INVITE sip:service@10.0.0.2:5060 SIP/2.0\r\n"
      "Route: <sip:10.0.0.2;lr>\r\n"
      "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKabc\r\n"
      "From: <sip:a@example.com>;tag=ft9\r\n"
      "To: <sip:b@example.com>\r\n"
      "Call-ID: all@once\r\n"
      "CSeq: 7 INVITE\r\n"
      "X-Drop: me\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  VmResult r;
  r.action = VmResult::Action::kForward;
  r.maxfwd = VmResult::MaxFwd::kInsert;
  r.maxfwd_value = 10;
  r.new_ruri = "sip:b@10.0.0.12:5080";
  r.route_pop = true;
  r.record_route = true;
  r.add_local_rport = true;
  r.force_rport = true;
  r.append_hf[r.n_append++] = "X-Added: yes\r\n";
  r.remove_hf[r.n_remove++] = "x-drop";
  const Out o = apply(in, r, "10.0.0.10", 40000);
  ASSERT_TRUE(o.v.is_tx()) << dp::drop_name(o.v.drop);
  EXPECT_EQ(o.dst_ip, ip("10.0.0.12"));
  EXPECT_EQ(o.dport, 5080);
  EXPECT_TRUE(o.ip_cksum_ok);
  EXPECT_TRUE(o.udp_cksum_ok);
  const std::string branch = our_branch(o.sip);
  const std::string want =
      "INVITE sip:b@10.0.0.12:5080 SIP/2.0\r\n"
      "Max-Forwards: 10\r\n"
      "Record-Route: <sip:10.0.0.2;lr;ftag=ft9>\r\n"
      "Via: SIP/2.0/UDP 10.0.0.2;branch=" + branch + ";rport\r\n"
      "Via: SIP/2.0/UDP 192.0.2.4:5060;rport=40000;received=10.0.0.10;branch=z9hG4bKabc\r\n"
      "From: <sip:a@example.com>;tag=ft9\r\n"
      "To: <sip:b@example.com>\r\n"
      "Call-ID: all@once\r\n"
      "CSeq: 7 INVITE\r\n"
      "Content-Length: 5\r\n"
      "X-Added: yes\r\n"
      "\r\n"
      "hello";
  EXPECT_EQ(o.sip, want);
  const sip::SipView v = scan_back(o.sip);
  EXPECT_EQ(v.max_forwards, 10u);
  EXPECT_EQ(v.via_count, 2);
}

TEST_F(ForwardTest, ScriptDropErrorAndNoActionAreCountedDrops) {
  VmResult r;
  Out o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kScriptDrop);
  r = fwd_to_du();
  r.error = true;
  o = apply(invite(), r);
  ASSERT_TRUE(o.v.is_drop());
  EXPECT_EQ(o.v.drop, Drop::kScriptError);
  EXPECT_STREQ(dp::drop_name(Drop::kNeedsSlowPath), "needs_slow_path");
  EXPECT_STREQ(dp::drop_name(Drop::kEditConflict), "edit_conflict");
}

TEST(FormatIpv4, RoundTripsEveryDigitCount) {
  for (const char* s : {"0.0.0.0", "255.255.255.255", "10.0.100.9", "1.20.3.40", "99.100.199.200",
                        "192.0.2.1"}) {
    uint32_t be = 0;
    ASSERT_TRUE(dp::parse_ipv4(s, be)) << s;
    char out[16];
    const size_t n = dp::format_ipv4(be, out);
    EXPECT_EQ(std::string(out, n), s);
  }
  for (uint32_t b = 0; b < 256; ++b) {  // every byte value in every position
    const uint32_t be = htonl((b << 24) | ((255 - b) << 16) | (b << 8) | (b ^ 0x5a));
    char out[16];
    const std::string got(out, dp::format_ipv4(be, out));
    uint32_t back = 0;
    ASSERT_TRUE(dp::parse_ipv4(got, back)) << got;
    EXPECT_EQ(back, be) << got;
  }
}

TEST(FormatIpv6, MatchesInetNtopAndParsesWhatInetPtonDoes) {
  for (const char* s :
       {"::", "::1", "2001:db8::1", "2001:db8:0:0:1:0:0:1", "fe80::ff:fe00:2", "ff02::1:ff00:2",
        "2001:db8::", "1:2:3:4:5:6:7:8", "1::8", "::ffff:10.0.0.1", "2001:0:0:1::1",
        "2001:db8:1:2:3:4:5:0", "0:1:2:3:4:5:6:7", "[2001:DB8::A]", "1:0::2:0:0:0:3"}) {
    std::string text = s;
    if (text.front() == '[') {
      text = text.substr(1, text.size() - 2);
    }
    in6_addr want{};
    ASSERT_EQ(inet_pton(AF_INET6, text.c_str(), &want), 1) << s;
    dp::Ip6 got;
    ASSERT_TRUE(dp::parse_ipv6(s, got)) << s;
    EXPECT_EQ(0, std::memcmp(got.b, want.s6_addr, 16)) << s;
    char ntop[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &want, ntop, sizeof ntop);
    char out[48];
    EXPECT_EQ(std::string(out, dp::format_ipv6(got, out)), ntop) << s;
  }
  for (const char* bad : {"", ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "g::1",
                          "1:2:3:4:5:6:7", "10.0.0.1", "1:", "::1:", "[::1", "::ffff:10.0.0",
                          "1:2:3:4:5:6:7:8::", "::10.0.0.1.2"}) {
    dp::Ip6 got;
    EXPECT_FALSE(dp::parse_ipv6(bad, got)) << bad;
  }
}

TEST(Ipv6Addresses, SolicitedNodeLinkLocalAndPrefix) {
  dp::Ip6 a;
  ASSERT_TRUE(dp::parse_ipv6("2001:db8::12:3456", a));
  char out[48];
  EXPECT_EQ(std::string(out, dp::format_ipv6(dp::solicited_node(a), out)), "ff02::1:ff12:3456");
  const dp::MacAddr mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
  EXPECT_EQ(std::string(out, dp::format_ipv6(dp::link_local_of(mac), out)),
            "fe80::5054:ff:fe12:3456");  // the kernel's EUI-64 for that MAC
  dp::Ip6 b;
  ASSERT_TRUE(dp::parse_ipv6("2001:db8::ffff:1", b));
  EXPECT_TRUE(a.same_prefix(b, 64));
  EXPECT_TRUE(a.same_prefix(b, 96));
  EXPECT_FALSE(a.same_prefix(b, 97));
  ASSERT_TRUE(dp::parse_ipv6("2001:db9::1", b));
  EXPECT_FALSE(a.same_prefix(b, 32));
  EXPECT_TRUE(a.same_prefix(b, 31));
}

// A dual-stack snapshot: IPv6 listeners next to IPv4 ones, IPv6 destinations next to IPv4 ones,
// each in its own fields; the link-local address derived from the MAC.
TEST(DualStackSnapshot, ListenersDestinationsAndLinkLocal) {
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  ctl::BuildInputs in;
  ASSERT_TRUE(cfg::compile_string("listen=udp:10.0.0.2:5060\nlisten=udp:[2001:db8::2]:5070\n"
                                  "listen=udp:2001:db8::2\n"
                                  "request_route { drop; }\n",
                                  "t.cfg", "/tmp", {}, *prog, diags))
      << (diags.empty() ? "" : diags[0].str());
  ASSERT_TRUE(cfg::parse_dispatcher_list(
      "1 sip:10.0.0.11\n1 sip:[2001:db8::11]:5080\n2 sip:[2001:db8::12] 0 0 socket=udp:[2001:db8::2]:5070\n",
      "l", in.destinations, diags));
  in.program = prog;
  dp::Iface f;
  f.ip_be = test::ipv4("10.0.0.2");
  f.mask_be = htonl(0xffffff00u);
  f.mac = dp::MacAddr{{2, 0, 0, 0, 0, 2}};
  f.has_ip6 = true;
  ASSERT_TRUE(dp::parse_ipv6("2001:db8::2", f.ip6));
  in.ifaces = {f};
  ctl::DestinationIds ids;
  auto snap = ctl::build_snapshot(in, ids);
  ASSERT_TRUE(snap) << snap.error().str();
  const dp::Snapshot& s = (*snap)->snap;
  ASSERT_EQ(s.listeners.size(), 3u);
  EXPECT_FALSE(s.listeners[0].v6);
  EXPECT_TRUE(s.listeners[1].v6);
  EXPECT_EQ(s.listeners[1].via_host, "[2001:db8::2]");
  EXPECT_EQ(s.listeners[1].via_port, 5070);
  EXPECT_EQ(s.listeners[1].ip_be, 0u);
  EXPECT_TRUE(s.listeners[2].v6);  // Kamailio's udp:IPV6 form, no port: 5060
  EXPECT_EQ(s.listeners[2].via_port, 5060);
  char out[48];
  EXPECT_EQ(std::string(out, dp::format_ipv6(s.ifaces[0].ll6, out)), "fe80::ff:fe00:2");
  ASSERT_EQ(s.destinations.size(), 3u);
  int v6 = 0;
  for (const dp::Destination& d : s.destinations) {
    if (d.v6) {
      ++v6;
      EXPECT_EQ(d.ip_be, 0u);
      EXPECT_EQ(d.ip6.b[0], 0x20);
      if (d.uri.find("::12") != std::string::npos) {
        EXPECT_EQ(d.socket, 1);  // socket=udp:[2001:db8::2]:5070
      }
    } else {
      EXPECT_EQ(d.ip_be, test::ipv4("10.0.0.11"));
    }
  }
  EXPECT_EQ(v6, 2);
  // A listen address6 no interface has is refused.
  auto prog2 = std::make_shared<cfg::Program>();
  ASSERT_TRUE(cfg::compile_string("listen=udp:[2001:db8::3]:5060\nrequest_route { drop; }\n",
                                  "t.cfg", "/tmp", {}, *prog2, diags));
  in.program = prog2;
  in.destinations.clear();
  EXPECT_FALSE(ctl::build_snapshot(in, ids));
}

// Build inputs of a script listening on 10.0.0.2, on an interface 10.0.0.2/8, no destinations.
ctl::BuildInputs listen_10_0_0_2() {
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  EXPECT_TRUE(cfg::compile_string("listen=udp:10.0.0.2:5060\nrequest_route { drop; }\n",
                                  "t.cfg", "/tmp", {}, *prog, diags));
  ctl::BuildInputs in;
  in.program = prog;
  dp::Iface f;
  f.ip_be = test::ipv4("10.0.0.2");
  f.mask_be = htonl(0xff000000u);
  in.ifaces = {f};
  return in;
}

// Host names in dispatcher.list are resolved when the list is loaded (start-up, reload), each
// once; a snapshot built later (every probe verdict, neighbour, API change) takes the addresses
// from there and never asks DNS.
int g_lookups = 0;
bool fake_lookup(const std::string& host, uint32_t& ip_be) {
  ++g_lookups;
  if (host == "sbc1.example") {
    ip_be = test::ipv4("10.0.0.77");
    return true;
  }
  return false;
}

TEST(SnapshotHosts, NamesAreResolvedAtLoadOnceAndNeverWhenBuilding) {
  cfg::Diagnostics diags;
  std::vector<cfg::DsDestination> list;
  ASSERT_TRUE(cfg::parse_dispatcher_list(
      "1 sip:sbc1.example:5060\n1 sip:10.0.0.12\n2 sip:sbc1.example:5070\n"
      "3 sip:sbc2.example\n3 sip:sbc1.example;transport=tcp\n",
      "t.list", list, diags));
  ctl::HostAddrs hosts;
  g_lookups = 0;
  EXPECT_FALSE(ctl::resolve_hosts(list, "t.list", hosts, diags, fake_lookup));
  EXPECT_EQ(g_lookups, 2);  // sbc1 once for its three lines, sbc2
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].str(),
            "t.list:4:1: error: destination sip:sbc2.example: cannot resolve host "
            "'sbc2.example' to IPv4");
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts.at("sbc1.example"), test::ipv4("10.0.0.77"));

  ctl::BuildInputs in = listen_10_0_0_2();
  list.erase(list.begin() + 3, list.end());  // the UDP lines that resolved
  in.destinations = list;
  in.hosts = &hosts;
  ctl::DestinationIds ids;
  g_lookups = 0;
  auto snap = ctl::build_snapshot(in, ids);
  ASSERT_TRUE(snap) << snap.error().str();
  ASSERT_EQ((*snap)->snap.destinations.size(), 3u);
  for (const dp::Destination& d : (*snap)->snap.destinations) {
    EXPECT_EQ(d.ip_be, d.uri == "sip:10.0.0.12" ? test::ipv4("10.0.0.12")
                                                : test::ipv4("10.0.0.77"))
        << d.uri;
  }
  EXPECT_EQ(g_lookups, 0);

  // A name the load did not resolve is an error, not a lookup: "localhost" would resolve.
  ASSERT_TRUE(cfg::parse_dispatcher_list("4 sip:localhost\n", "t.list", in.destinations, diags));
  auto bad = ctl::build_snapshot(in, ids);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot resolve host 'localhost'"), std::string::npos);
}

// Destination ids (the index of the per-destination counters) are kept by set + URI while a
// destination stays in the list, and given again once it has left both the running list and
// the one being built: a daemon that sees thousands of destinations come and go over its life
// (backends renumbered by each deployment) never runs out of the 1,023.
TEST(DestinationIds, IdsOfDestinationsThatLeftAreGivenAgain) {
  cfg::Diagnostics diags;
  ctl::BuildInputs in = listen_10_0_0_2();
  ctl::DestinationIds ids;
  std::unique_ptr<ctl::OwnedSnapshot> live;
  std::map<std::string, uint32_t> kept_id;  // the URIs every list has, and their first id
  std::map<uint32_t, int> last_round;        // id -> the last round a destination had it
  for (int round = 0; round < 120; ++round) {
    std::string list = "1 sip:10.1.0.1\n1 sip:10.1.0.2\n";  // in every list
    for (int i = 0; i < 20; ++i) {  // 20 new destinations each time: 2,400 in all
      list += "1 sip:10.2." + std::to_string(round) + "." + std::to_string(i + 1) + "\n";
    }
    in.destinations.clear();
    ASSERT_TRUE(cfg::parse_dispatcher_list(list, "t.list", in.destinations, diags));
    in.previous = live ? &live->snap : nullptr;
    auto snap = ctl::build_snapshot(in, ids);
    ASSERT_TRUE(snap) << "round " << round << ": " << snap.error().str();
    std::set<uint32_t> seen;
    for (const dp::Destination& d : (*snap)->snap.destinations) {
      EXPECT_GT(d.id, 0u);
      EXPECT_LT(d.id, dp::kMaxDestinations);
      EXPECT_TRUE(seen.insert(d.id).second) << "round " << round << ": id " << d.id << " twice";
      if (d.uri.rfind("sip:10.1.", 0) == 0) {
        EXPECT_EQ(kept_id.emplace(d.uri, d.id).first->second, d.id) << d.uri;
      } else {
        // A destination new to this list never takes an id the running snapshot uses (a
        // worker still reading that snapshot would count into the new one), nor one freed
        // lately: every other free id is given first (about 1,000 / 20 rounds here).
        const auto it = last_round.find(d.id);
        EXPECT_TRUE(it == last_round.end() || round - it->second >= 40)
            << "round " << round << ": id " << d.id << " last used in round " << it->second;
        last_round[d.id] = round;
      }
    }
    live = std::move(*snap);
  }
  // Each destination new to the list was handed out once (its counters' new starting point).
  EXPECT_EQ(ids.take_fresh().size(), 120u * 20 + 2);
  EXPECT_TRUE(ids.take_fresh().empty());
}

}  // namespace
}  // namespace viaduct
