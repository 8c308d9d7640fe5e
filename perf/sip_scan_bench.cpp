// SPDX-License-Identifier: Apache-2.0
// perf/sip_scan_bench.cpp: Google Benchmark micro-benchmarks of the SIP wire layer (issue "SIP
// wire layer"): scan + index of a 900-byte INVITE with SDP, a 450-byte OPTIONS and a 600-byte
// 200 OK; the forward rewrite alone (branch, our Via, received/rport, apply_edits) and the reply
// Via removal alone, each next to the copy that restores the buffer, to subtract. Reports ns per
// message; never asserts timings.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"
#include "perf/messages.hpp"

namespace {

using namespace viaduct::sip;
using viaduct::perf::kInvite;
using viaduct::perf::kOptions;
using viaduct::perf::kReply;

void scan_message(benchmark::State& state, const std::string& msg) {
  for (auto _ : state) {
    SipView v;
    benchmark::DoNotOptimize(scan(msg.data(), msg.size(), v));
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * msg.size()));
}

void BM_ScanInvite900(benchmark::State& state) { scan_message(state, kInvite); }
void BM_ScanOptions450(benchmark::State& state) { scan_message(state, kOptions); }
void BM_ScanOk600(benchmark::State& state) { scan_message(state, kReply); }

// The scanner's SSE2 copy, which sip::scan() takes on a CPU without AVX2 (the cases above take
// the AVX2 copy where this CPU has it).
void scan_message_sse2(benchmark::State& state, const std::string& msg) {
  const bool cpu = viaduct::sip::detail::scan_avx2;
  viaduct::sip::detail::scan_avx2 = false;
  scan_message(state, msg);
  viaduct::sip::detail::scan_avx2 = cpu;
}
void BM_ScanInvite900Sse2(benchmark::State& state) { scan_message_sse2(state, kInvite); }
void BM_ScanOptions450Sse2(benchmark::State& state) { scan_message_sse2(state, kOptions); }
void BM_ScanOk600Sse2(benchmark::State& state) { scan_message_sse2(state, kReply); }

constexpr size_t kHeadroom = 256;
char g_buf[4096];

// The copy that restores the message before each rewrite: subtract it from the rewrite cases.
void BM_CopyOnly(benchmark::State& state) {
  for (auto _ : state) {
    std::memcpy(g_buf + kHeadroom, kInvite.data(), kInvite.size());
    benchmark::DoNotOptimize(g_buf);
  }
}

// What the pipeline does to a request it forwards, after the scan: stateless branch, our Via
// line, received/rport on the previous top Via, one apply_edits (the headers move into the
// headroom, the body stays).
void BM_RewriteViaInsert(benchmark::State& state) {
  SipView v;
  if (scan(kInvite.data(), kInvite.size(), v) != ScanStatus::kOk) {
    state.SkipWithError("scan failed");
    return;
  }
  for (auto _ : state) {
    std::memcpy(g_buf + kHeadroom, kInvite.data(), kInvite.size());
    const char* msg = g_buf + kHeadroom;
    char branch[kBranchLen];
    stateless_branch(msg, v, branch);
    char via_line[128];
    const size_t via_len = build_via_line(via_line, sizeof via_line, "10.0.0.1", 5060,
                                          std::string_view(branch, kBranchLen));
    char params[kViaReceivedMax];
    Edit recv[2];
    size_t n_recv = 0;
    via_received_edits(msg, v, "198.51.100.7", 40000, params, sizeof params, recv, n_recv);
    Edit edits[3] = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}};
    for (size_t i = 0; i < n_recv; ++i) {
      edits[1 + i] = recv[i];
    }
    size_t head = kHeadroom;
    size_t len = kInvite.size();
    benchmark::DoNotOptimize(
        apply_edits(g_buf, sizeof g_buf, head, len, std::span(edits, 1 + n_recv)));
    benchmark::DoNotOptimize(g_buf);
  }
}

// What the pipeline does to a reply it routes back, after the scan: remove our top Via.
void BM_RewriteReplyViaRemove(benchmark::State& state) {
  SipView v;
  if (scan(kReply.data(), kReply.size(), v) != ScanStatus::kOk) {
    state.SkipWithError("scan failed");
    return;
  }
  for (auto _ : state) {
    std::memcpy(g_buf + kHeadroom, kReply.data(), kReply.size());
    const Edit e = remove_top_via_edit(g_buf + kHeadroom, v);
    size_t head = kHeadroom;
    size_t len = kReply.size();
    benchmark::DoNotOptimize(apply_edits(g_buf, sizeof g_buf, head, len, std::span(&e, 1)));
    benchmark::DoNotOptimize(g_buf);
  }
}

BENCHMARK(BM_ScanInvite900);
BENCHMARK(BM_ScanOptions450);
BENCHMARK(BM_ScanOk600);
BENCHMARK(BM_ScanInvite900Sse2);
BENCHMARK(BM_ScanOptions450Sse2);
BENCHMARK(BM_ScanOk600Sse2);
BENCHMARK(BM_CopyOnly);
BENCHMARK(BM_RewriteViaInsert);
BENCHMARK(BM_RewriteReplyViaRemove);

}  // namespace

BENCHMARK_MAIN();
