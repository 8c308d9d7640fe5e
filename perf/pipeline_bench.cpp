// SPDX-License-Identifier: Apache-2.0
// perf/pipeline_bench.cpp: cost of handle_packet() per message, single core, no device: the
// frame is rewritten into the same mbuf before each run (the `frame_fill` case measures that
// refill alone, to subtract). Reports ns per message; see perf/RESULTS.md.
//
// The frames model a NIC's: a right UDP checksum, and the RX flags of a port that checks the
// IPv4 and UDP checksums (RTE_MBUF_F_RX_*_CKSUM_GOOD), so handle_packet takes no sum. The
// `_sw_rx_cksum` cases leave the flags unknown (net_af_packet, net_ring...): the sums are taken
// in software.
//
// Two cases for what a message costs at a low rate, where a worker handles one frame at a time
// between empty polls: `invite_after_idle/N` spins N us before each message (do caches and
// predictors go cold while the worker polls?), and `invite_frame_from_other_core` has the frame
// written by a thread on the next CPU (its lines come from that core's cache, as from a
// generator, a memif peer or, on a VM, most of what stands for a NIC). Run them pinned
// (`taskset -c 1`); both time handle_packet() alone.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "dataplane/pipeline.hpp"
#include "perf/messages.hpp"
#include "tests/support/packet_builder.hpp"

namespace {

using namespace viaduct::perf;

using viaduct::dp::MacAddr;
namespace test = viaduct::test;

const MacAddr kOur{{2, 0, 0, 0, 0, 2}};
const MacAddr kClient{{2, 0, 0, 0, 0, 0x10}};
const MacAddr kB1{{2, 0, 0, 0, 0, 0x11}};
const MacAddr kB2{{2, 0, 0, 0, 0, 0x12}};
const MacAddr kB3{{2, 0, 0, 0, 0, 0x13}};

rte_mempool* g_pool = nullptr;
std::unique_ptr<viaduct::ctl::OwnedSnapshot> g_snap;
std::unique_ptr<viaduct::ctl::OwnedSnapshot> g_snap_offload;  // the port offloads checksums
std::unique_ptr<viaduct::dp::WorkerCtx> g_ctx;
viaduct::dp::WorkerCounters g_counters;

constexpr uint64_t kRxGood = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;

// One mbuf and the frame a case sends in it, written anew before each run (handle_packet edits
// it in place).
struct Frame {
  Frame(const std::string& msg, const char* src, const MacAddr& src_mac, uint64_t rx_flags)
      : m(rte_pktmbuf_alloc(g_pool)), msg(msg), src(src), src_mac(src_mac), rx_flags(rx_flags) {
    // The sender's UDP checksum, taken once: the frame is the same every time.
    test::fill_udp_frame(m, src_mac, kOur, test::ipv4(src), 5060, test::ipv4("10.0.0.2"), 5060,
                         msg);
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    udp_sum = rte_ipv4_udptcp_cksum(ip, ip + 1);
  }
  ~Frame() { rte_pktmbuf_free(m); }
  void refill() const {
    constexpr size_t kUdpSumAt = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + 6;
    rte_pktmbuf_reset(m);
    test::fill_udp_frame(m, src_mac, kOur, test::ipv4(src), 5060, test::ipv4("10.0.0.2"), 5060,
                         msg);
    std::memcpy(rte_pktmbuf_mtod_offset(m, char*, kUdpSumAt), &udp_sum, 2);
    m->ol_flags = rx_flags;
  }
  rte_mbuf* m;
  const std::string& msg;
  const char* src;
  MacAddr src_mac;
  uint64_t rx_flags;
  uint16_t udp_sum = 0;
};

void run_case(benchmark::State& state, const std::string& msg, const char* src,
              const MacAddr& src_mac, bool process, bool offload = false,
              uint64_t rx_flags = kRxGood) {
  const viaduct::dp::Snapshot& snap = offload ? g_snap_offload->snap : g_snap->snap;
  const Frame f(msg, src, src_mac, rx_flags);
  rte_mbuf* m = f.m;
  uint64_t sent = 0;
  for (auto _ : state) {
    f.refill();
    if (process) {
      const viaduct::dp::Verdict v = viaduct::dp::handle_packet(snap, m, *g_ctx);
      sent += v.is_tx() ? 1 : 0;
    }
    benchmark::DoNotOptimize(m);
  }
  if (process && sent != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("a message was dropped: the benchmark measures the wrong path");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(msg.size());
}

void BM_invite(benchmark::State& s) { run_case(s, kInvite, "10.0.0.10", kClient, true); }
// The INVITE from behind a NAT: its Via names another address and asks for rport, so received=
// and rport= go in (odd lengths: the rest of the message moves by an odd offset, the case
// where the forward's UDP checksum cannot just add the edits' bytes; dataplane/cksum.hpp).
const std::string kInviteNat = [] {
  std::string m = kInvite;
  const std::string via = "UDP 10.0.0.10:5060;branch=";
  m.replace(m.find(via), via.size(), "UDP 192.168.1.5:5060;rport;branch=");
  return m;
}();
void BM_invite_nat(benchmark::State& s) { run_case(s, kInviteNat, "10.0.0.10", kClient, true); }
void BM_options_local_reply(benchmark::State& s) {
  run_case(s, kOptions, "10.0.0.10", kClient, true);
}
void BM_reply_200(benchmark::State& s) { run_case(s, kReply, "10.0.0.11", kB1, true); }
void BM_frame_fill_only(benchmark::State& s) { run_case(s, kInvite, "10.0.0.10", kClient, false); }
// The same with the port offloading the IPv4/UDP checksums: what the software sums cost.
void BM_invite_cksum_offload(benchmark::State& s) {
  run_case(s, kInvite, "10.0.0.10", kClient, true, true);
}
void BM_reply_200_cksum_offload(benchmark::State& s) {
  run_case(s, kReply, "10.0.0.11", kB1, true, true);
}

// No RX checksum flags (a port without RX offload): the IPv4 header and UDP sums in software.
void BM_invite_sw_rx_cksum(benchmark::State& s) {
  run_case(s, kInvite, "10.0.0.10", kClient, true, false, 0);
}
void BM_options_local_reply_sw_rx_cksum(benchmark::State& s) {
  run_case(s, kOptions, "10.0.0.10", kClient, true, false, 0);
}
void BM_reply_200_sw_rx_cksum(benchmark::State& s) {
  run_case(s, kReply, "10.0.0.11", kB1, true, false, 0);
}

// handle_packet() after an idle gap of range(0) us spent spinning, as a worker polls an empty
// RX queue between messages at a low rate: the cost of one message on caches and predictors the
// gap left as they were. Only handle_packet() is timed (manual time).
void BM_invite_after_idle(benchmark::State& state) {
  const viaduct::dp::Snapshot& snap = g_snap->snap;
  const Frame f(kInvite, "10.0.0.10", kClient, kRxGood);
  rte_mbuf* m = f.m;
  const auto gap_us = static_cast<unsigned>(state.range(0));
  const double hz = static_cast<double>(rte_get_tsc_hz());
  for (auto _ : state) {
    f.refill();
    if (gap_us != 0) {
      rte_delay_us_block(gap_us);
    }
    const uint64_t t0 = rte_rdtsc_precise();
    const viaduct::dp::Verdict v = viaduct::dp::handle_packet(snap, m, *g_ctx);
    const uint64_t t1 = rte_rdtsc_precise();
    benchmark::DoNotOptimize(v);
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
}

// handle_packet() on a frame another core has just written (a thread pinned to the CPU next to
// this one writes each frame, as a generator, a memif peer or a NIC's DMA would, and waits for
// the next turn): the cost of the frame's lines coming from the other core's cache, next to
// BM_invite_after_idle/0 where this core writes the frame itself. Only handle_packet() is
// timed. Skipped on a machine with one CPU.
void BM_invite_frame_from_other_core(benchmark::State& state) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t mine;
  if (cpus < 2 || pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) != 0) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  int other = -1;
  for (int cpu = 0; cpu < cpus && other < 0; ++cpu) {
    if (!CPU_ISSET(cpu, &mine) || CPU_COUNT(&mine) > 1) {
      other = cpu == sched_getcpu() ? -1 : cpu;
    }
  }
  if (other < 0) {
    state.SkipWithError("no other CPU to write the frames on");
    return;
  }
  const viaduct::dp::Snapshot& snap = g_snap->snap;
  const Frame f(kInvite, "10.0.0.10", kClient, kRxGood);
  rte_mbuf* m = f.m;
  // turn: 1 the writer's (write the frame), 2 this thread's (run it), 0 stop.
  std::atomic<int> turn{2};
  std::thread writer([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(other, &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    for (;;) {
      int t = turn.load(std::memory_order_acquire);
      while (t == 2) {
        rte_pause();
        t = turn.load(std::memory_order_acquire);
      }
      if (t == 0) {
        return;
      }
      f.refill();
      turn.store(2, std::memory_order_release);
    }
  });
  const double hz = static_cast<double>(rte_get_tsc_hz());
  for (auto _ : state) {
    turn.store(1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) != 2) {
      rte_pause();
    }
    const uint64_t t0 = rte_rdtsc_precise();
    const viaduct::dp::Verdict v = viaduct::dp::handle_packet(snap, m, *g_ctx);
    const uint64_t t1 = rte_rdtsc_precise();
    benchmark::DoNotOptimize(v);
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
  turn.store(0, std::memory_order_release);
  writer.join();
}

BENCHMARK(BM_invite);
BENCHMARK(BM_invite_frame_from_other_core)->UseManualTime()->Iterations(20000);
BENCHMARK(BM_invite_after_idle)->Arg(0)->Arg(20)->Arg(100)->UseManualTime()->Iterations(5000);
BENCHMARK(BM_invite_nat);
BENCHMARK(BM_options_local_reply);
BENCHMARK(BM_reply_200);
BENCHMARK(BM_frame_fill_only);
BENCHMARK(BM_invite_cksum_offload);
BENCHMARK(BM_reply_200_cksum_offload);
BENCHMARK(BM_invite_sw_rx_cksum);
BENCHMARK(BM_options_local_reply_sw_rx_cksum);
BENCHMARK(BM_reply_200_sw_rx_cksum);

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
  g_snap_offload = test::make_snapshot(kScript,
                                       "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n"
                                       "1 sip:10.0.0.13:5060\n",
                                       "10.0.0.2", kOur,
                                       {{"10.0.0.10", kClient},
                                        {"10.0.0.11", kB1},
                                        {"10.0.0.12", kB2},
                                        {"10.0.0.13", kB3}},
                                       error);
  if (g_snap_offload != nullptr) {
    g_snap_offload->snap.ifaces[0].tx_cksum_offload = true;
  }
  if (g_pool == nullptr || g_snap == nullptr || g_snap_offload == nullptr) {
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
