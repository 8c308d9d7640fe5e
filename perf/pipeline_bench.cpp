// SPDX-License-Identifier: Apache-2.0
// perf/pipeline_bench.cpp: cost of handle_packet() per message, single core, no device: the
// frame is rewritten into the same mbuf before each run (the `frame_fill` case measures that
// refill alone, to subtract). Reports ns per message; see perf/RESULTS.md.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <memory>
#include <string>

#include "dataplane/pipeline.hpp"
#include "tests/support/packet_builder.hpp"

namespace {

using viaduct::dp::MacAddr;
namespace test = viaduct::test;

constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
}
)";
const MacAddr kOur{{2, 0, 0, 0, 0, 2}};
const MacAddr kClient{{2, 0, 0, 0, 0, 0x10}};
const MacAddr kB1{{2, 0, 0, 0, 0, 0x11}};
const MacAddr kB2{{2, 0, 0, 0, 0, 0x12}};
const MacAddr kB3{{2, 0, 0, 0, 0, 0x13}};

rte_mempool* g_pool = nullptr;
std::unique_ptr<viaduct::ctl::OwnedSnapshot> g_snap;
std::unique_ptr<viaduct::dp::WorkerCtx> g_ctx;
viaduct::dp::WorkerCounters g_counters;

std::string pad_to(std::string msg, size_t size) {
  // Grow the SDP body so the whole message has `size` bytes (Content-Length kept right).
  const size_t body_at = msg.find("\r\n\r\n") + 4;
  const size_t body = size > msg.size() ? size - msg.size() : 0;
  std::string b = msg.substr(body_at) + std::string(body, 'a');
  msg = msg.substr(0, body_at);
  const size_t cl = msg.find("Content-Length: 0");
  if (cl != std::string::npos) {
    msg.replace(cl, 17, "Content-Length: " + std::to_string(b.size()));
  }
  return msg + b;
}

const std::string kInvite = pad_to(
    "INVITE sip:service@10.0.0.2:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-0\r\n"
    "From: sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001\r\n"
    "To: service <sip:service@10.0.0.2:5060>\r\n"
    "Call-ID: 1-4242@10.0.0.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:sipp@10.0.0.10:5060\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
    "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
    900);
const std::string kOptions = pad_to(
    "OPTIONS sip:10.0.0.2:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-opt-1;rport\r\n"
    "From: <sip:monitor@10.0.0.10>;tag=mon1\r\n"
    "To: <sip:10.0.0.2:5060>\r\n"
    "Call-ID: options-1@10.0.0.10\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Accept: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n",
    450);
const std::string kReply = pad_to(
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK0123456789abcdef\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-0\r\n"
    "From: sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001\r\n"
    "To: service <sip:service@10.0.0.2:5060>;tag=9876SIPpTag011\r\n"
    "Call-ID: 1-4242@10.0.0.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:10.0.0.11:5060;transport=UDP>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
    "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.11\r\ns=-\r\nc=IN IP4 10.0.0.11\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
    600);

void run_case(benchmark::State& state, const std::string& msg, const char* src,
              const MacAddr& src_mac, bool process) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  uint64_t sent = 0;
  for (auto _ : state) {
    rte_pktmbuf_reset(m);
    test::fill_udp_frame(m, src_mac, kOur, test::ipv4(src), 5060, test::ipv4("10.0.0.2"), 5060,
                         msg);
    if (process) {
      const viaduct::dp::Verdict v = viaduct::dp::handle_packet(g_snap->snap, m, *g_ctx);
      sent += v.is_tx() ? 1 : 0;
    }
    benchmark::DoNotOptimize(m);
  }
  rte_pktmbuf_free(m);
  if (process && sent != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("a message was dropped: the benchmark measures the wrong path");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(msg.size());
}

void BM_invite(benchmark::State& s) { run_case(s, kInvite, "10.0.0.10", kClient, true); }
void BM_options_local_reply(benchmark::State& s) {
  run_case(s, kOptions, "10.0.0.10", kClient, true);
}
void BM_reply_200(benchmark::State& s) { run_case(s, kReply, "10.0.0.11", kB1, true); }
void BM_frame_fill_only(benchmark::State& s) { run_case(s, kInvite, "10.0.0.10", kClient, false); }

BENCHMARK(BM_invite);
BENCHMARK(BM_options_local_reply);
BENCHMARK(BM_reply_200);
BENCHMARK(BM_frame_fill_only);

}  // namespace

int main(int argc, char** argv) {
  const char* eal[] = {"pipeline_bench", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
                       "--log-level=error", "-l", "0"};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  g_pool = rte_pktmbuf_pool_create("bench", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  std::string error;
  g_snap = test::make_snapshot(kScript,
                               "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n1 sip:10.0.0.13:5060\n",
                               "10.0.0.2", kOur,
                               {{"10.0.0.10", kClient},
                                {"10.0.0.11", kB1},
                                {"10.0.0.12", kB2},
                                {"10.0.0.13", kB3}},
                               error);
  if (g_pool == nullptr || g_snap == nullptr) {
    std::fprintf(stderr, "setup failed: %s\n", error.c_str());
    return 1;
  }
  g_ctx = std::make_unique<viaduct::dp::WorkerCtx>();
  g_ctx->counters = &g_counters;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_eal_cleanup();
  return 0;
}
