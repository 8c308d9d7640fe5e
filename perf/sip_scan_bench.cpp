// SPDX-License-Identifier: Apache-2.0
// perf/sip_scan_bench.cpp: Google Benchmark micro-benchmarks of the SIP wire layer: scanning a
// sipp INVITE and a 200 OK, and the whole forward rewrite (scan, branch, our Via,
// received/rport, apply_edits). Reports ns per message; never asserts timings.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string_view>

#include "dataplane/sip/sip.hpp"

namespace {

using namespace viaduct::sip;

constexpr std::string_view kInvite =
    "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;rport\r\n"
    "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>\r\n"
    "Call-ID: 1-12345@127.0.1.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:sipp@127.0.1.1:5061\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length:   129\r\n"
    "\r\n"
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.1.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

constexpr std::string_view kOk =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0123456789abcdef\r\n"
    "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1;rport=5061\r\n"
    "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>;tag=6789SIPpTag011\r\n"
    "Call-ID: 1-12345@127.0.1.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:127.0.0.1:5060;transport=UDP>\r\n"
    "Content-Length: 0\r\n\r\n";

void scan_message(benchmark::State& state, std::string_view msg) {
  for (auto _ : state) {
    SipView v;
    benchmark::DoNotOptimize(scan(msg.data(), msg.size(), v));
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * msg.size()));
}

void BM_ScanInvite(benchmark::State& state) { scan_message(state, kInvite); }
void BM_ScanOk(benchmark::State& state) { scan_message(state, kOk); }

void BM_ForwardRewrite(benchmark::State& state) {
  static char buf[2048];
  constexpr size_t kHeadroom = 256;
  for (auto _ : state) {
    std::memcpy(buf + kHeadroom, kInvite.data(), kInvite.size());
    size_t head = kHeadroom;
    size_t len = kInvite.size();
    SipView v;
    if (scan(buf + head, len, v) != ScanStatus::kOk) {
      state.SkipWithError("scan failed");
      break;
    }
    char branch[kBranchLen];
    stateless_branch(buf + head, v, branch);
    char via_line[128];
    const size_t via_len = build_via_line(via_line, sizeof via_line, "10.0.0.1", 5060,
                                          std::string_view(branch, kBranchLen));
    char params[96];
    Edit recv;
    via_received_edit(buf + head, v, "198.51.100.7", 40000, params, sizeof params, recv);
    const Edit edits[] = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}, recv};
    benchmark::DoNotOptimize(apply_edits(buf, sizeof buf, head, len, edits));
    benchmark::DoNotOptimize(buf);
  }
}

void BM_ReplyRemoveTopVia(benchmark::State& state) {
  static char buf[2048];
  for (auto _ : state) {
    std::memcpy(buf, kOk.data(), kOk.size());
    size_t head = 0;
    size_t len = kOk.size();
    SipView v;
    if (scan(buf, len, v) != ScanStatus::kOk) {
      state.SkipWithError("scan failed");
      break;
    }
    const Edit e = remove_top_via_edit(buf, v);
    benchmark::DoNotOptimize(apply_edits(buf, sizeof buf, head, len, std::span(&e, 1)));
    benchmark::DoNotOptimize(buf);
  }
}

BENCHMARK(BM_ScanInvite);
BENCHMARK(BM_ScanOk);
BENCHMARK(BM_ForwardRewrite);
BENCHMARK(BM_ReplyRemoveTopVia);

}  // namespace

BENCHMARK_MAIN();
