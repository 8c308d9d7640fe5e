// SPDX-License-Identifier: Apache-2.0
// perf/pipeline_ring_bench.cpp: viaduct-pipeline-bench, the dataplane measured whole. A
// generator on the main lcore feeds frames through net_ring ports (rte_eth_from_rings) into N
// real Worker loops (the same code as the daemon: burst RX, prefetch, handle_packet, TX
// batching, QSBR), and drains what they transmit.
//
//   viaduct-pipeline-bench [--workers N] [--seconds S] [--cases invite,options,reply,mix]
//                          [--load F] [--burst B] [--rx-cksum nic|sw|none] [--tx-cksum sw|nic]
//                          [--saturated] [--generators G] [--huge] [--json]
//
// Per case, two phases (three with --saturated: see Bench::run_saturated(); one more with
// --generators G: see Bench::run_parallel()):
//   1. capacity: the generator offers as much as it can; msgs_per_sec_per_worker is what the
//      workers processed divided by the TSC time they spent on non-empty bursts (their
//      busy_tsc counter), i.e. messages per second of worker CPU.
//   2. latency: the generator offers F (default 0.8) of the rate phase 1 sustained (frames
//      processed over the time they were offered; phase 1's is the workers' rate when the
//      generator keeps up) at an even pace;
//      each frame carries the TSC time of its enqueue on the RX ring in the mbuf's Rx timestamp
//      field (stamped in this phase only), read back when it is dequeued from the TX ring: the
//      added latency percentiles p50/p90/p99/p99.9 (queueing included). Two of them: "latency"
//      ends when the generator's drain dequeues the frame from the TX ring; "worker latency"
//      ends when the worker hands the frame to TX (the time of its TX burst, which a TX
//      callback on the worker's lcore logs per burst: TxLog), as a NIC would take it off the
//      TX ring at once. latency_phase_busy_share is the share of the phase the workers were
//      busy: the load they actually carried (a message costs more in smaller bursts). The
//      second leaves out the time frames wait for the drain while the generator's thread is
//      not running; the hypervisor's steal of the CPUs during the phase (/proc/stat) is
//      printed beside them, as neither can leave out the worker's own descheduling.
// The generator and the drain share the main lcore, so on a machine with fewer CPUs than
// workers + 1 (or a busy one) the busy time includes preemption: run it on a quiet machine.
// Frames are full Ethernet/IPv4/UDP/SIP with their UDP checksum, marked checked as a NIC with RX
// checksum offload marks them (--rx-cksum; before 2026-11-23 they carried checksum 0, which sent
// every forward through the whole-datagram sum: a slower path than real traffic's), 256 Call-IDs per case. `mix` is a 7-message call:
// INVITE, 100, 180, 200 (from a backend, our Via on top), ACK, BYE, 200.
// Never asserts; see perf/RESULTS.md.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include "dataplane/worker.hpp"
#include "perf/messages.hpp"
#include "tests/support/packet_builder.hpp"

namespace {

using viaduct::dp::MacAddr;
using viaduct::perf::kScript;
namespace dp = viaduct::dp;
namespace test = viaduct::test;

const MacAddr kOur{{2, 0, 0, 0, 0, 2}};
const MacAddr kClient{{2, 0, 0, 0, 0, 0x10}};
const MacAddr kB1{{2, 0, 0, 0, 0, 0x11}};
const MacAddr kB2{{2, 0, 0, 0, 0, 0x12}};
const MacAddr kB3{{2, 0, 0, 0, 0, 0x13}};

constexpr unsigned kVariants = 256;
constexpr unsigned kRingSize = 4096;
// A TX ring holds four RX rings' worth: while the generator's thread is not running the worker
// moves at most its RX ring's frames into it, which a ring of kRingSize (with what it already
// held) could not always take: 96 frames a case were dropped as tx_full after such stalls
// (perf/RESULTS.md, 2026-11-23). The generator only adds frames to an RX ring and drains every
// TX ring each turn, so a TX ring never holds more than an RX ring's worth and a burst.
constexpr unsigned kTxRingSize = 4 * kRingSize;
// Latency samples kept per phase (8 bytes each): every frame of a 2-second phase at 2 M/s.
constexpr size_t kMaxSamples = size_t{1} << 22;

struct Frame {
  std::vector<uint8_t> bytes;
};

struct Case {
  std::string name;
  size_t message_bytes = 0;  // SIP message size of the first frame
  std::vector<Frame> frames;  // sent in order, cycling
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// udp_cksum: the UDP checksum filled in, as every Linux sender does (false: 0, "none").
Frame frame(rte_mempool* pool, const std::string& msg, const char* src, const MacAddr& mac,
            bool udp_cksum) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  Frame f;
  if (m == nullptr) {
    return f;
  }
  test::fill_udp_frame(m, mac, kOur, test::ipv4(src), 5060, test::ipv4("10.0.0.2"), 5060, msg);
  if (udp_cksum) {
    auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(iph + 1);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(iph, udp);
  }
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  f.bytes.assign(p, p + rte_pktmbuf_data_len(m));
  rte_pktmbuf_free(m);
  return f;
}

// Call-ID and branch of variant k, so dispatching and branches vary like real traffic.
std::string variant(const std::string& msg, unsigned k) {
  std::string s = replace_all(msg, "1-4242@10.0.0.10", std::to_string(k + 1) + "-4242@10.0.0.10");
  s = replace_all(s, "options-1@", "options-" + std::to_string(k + 1) + "@");
  return replace_all(s, "z9hG4bK-4242-1-0", "z9hG4bK-4242-" + std::to_string(k + 1) + "-0");
}

std::string reply_for(const std::string& status_line, const std::string& cseq) {
  // kReply with another status line and CSeq, body dropped for provisional replies.
  std::string r = viaduct::perf::kReply;
  r.replace(0, r.find("\r\n"), status_line);
  r = replace_all(r, "CSeq: 1 INVITE", "CSeq: " + cseq);
  if (status_line.find(" 200 ") == std::string::npos || cseq != "1 INVITE") {
    const size_t hdr_end = r.find("\r\n\r\n") + 4;
    r = r.substr(0, hdr_end);
    const size_t cl = r.find("Content-Length: ");
    r.replace(cl, r.find("\r\n", cl) - cl, "Content-Length: 0");
    r = replace_all(r, "Content-Type: application/sdp\r\n", "");
  }
  return r;
}

std::vector<Case> make_cases(rte_mempool* pool, const std::vector<std::string>& wanted,
                             bool udp_cksum) {
  using namespace viaduct::perf;
  std::vector<Case> out;
  auto want = [&](const char* n) {
    return std::find(wanted.begin(), wanted.end(), n) != wanted.end();
  };
  const std::string ack =
      "ACK sip:service@10.0.0.2:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-2\r\n"
      "From: sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001\r\n"
      "To: service <sip:service@10.0.0.2:5060>;tag=9876SIPpTag011\r\n"
      "Call-ID: 1-4242@10.0.0.10\r\n"
      "CSeq: 1 ACK\r\n"
      "Contact: sip:sipp@10.0.0.10:5060\r\n"
      "Max-Forwards: 70\r\n"
      "Subject: Performance Test\r\n"
      "Content-Length: 0\r\n\r\n";
  std::string bye = replace_all(replace_all(ack, "ACK sip:", "BYE sip:"), "CSeq: 1 ACK",
                                "CSeq: 2 BYE");
  bye = replace_all(bye, "branch=z9hG4bK-4242-1-2", "branch=z9hG4bK-4242-1-3");
  struct Msg {
    std::string text;
    bool from_client;
  };
  auto add = [&](const char* name, const std::vector<Msg>& msgs) {
    Case c;
    c.name = name;
    c.message_bytes = msgs[0].text.size();
    for (unsigned k = 0; k < kVariants; ++k) {
      for (const Msg& m : msgs) {
        const std::string t = variant(m.text, k);
        c.frames.push_back(m.from_client ? frame(pool, t, "10.0.0.10", kClient, udp_cksum)
                                         : frame(pool, t, "10.0.0.11", kB1, udp_cksum));
      }
    }
    out.push_back(std::move(c));
  };
  if (want("invite")) {
    add("invite", {{kInvite, true}});
  }
  if (want("options")) {
    add("options", {{kOptions, true}});
  }
  if (want("reply")) {
    add("reply", {{kReply, false}});
  }
  if (want("mix")) {
    add("mix", {{kInvite, true},
                {reply_for("SIP/2.0 100 Trying", "1 INVITE"), false},
                {reply_for("SIP/2.0 180 Ringing", "1 INVITE"), false},
                {kReply, false},
                {ack, true},
                {bye, true},
                {reply_for("SIP/2.0 200 OK", "2 BYE"), false}});
  }
  return out;
}

struct Options {
  unsigned workers = 1;
  double seconds = 2.0;
  std::vector<std::string> cases = {"invite", "options", "reply", "mix"};
  double load = 0.8;
  uint16_t burst = 32;
  bool json = false;
  // Latency phase: after a stall of the generator's thread, send what the schedule missed as
  // fast as it can (the old behaviour: a burst of thousands of frames that only the stall
  // made), instead of skipping it.
  bool catch_up = false;
  // How received frames come: "nic" (default): UDP checksums filled in and the mbufs marked
  // checked (RX_IP/L4_CKSUM_GOOD) as a NIC with RX checksum offload hands them over, the path
  // real traffic takes on such a NIC; "sw": filled in, not marked (the worker checks them in
  // software, as on net_af_packet); "none": UDP checksum 0 (the worker sums the forward whole).
  std::string rx_cksum = "nic";
  // How sent frames leave: "sw" (default): the worker computes the IPv4 and UDP checksums, as
  // on net_ring (no TX offload); "nic": the interface is marked as offloading them (as most
  // NICs do: the worker writes the pseudo-header sum and the TX flags, and the NIC finishes
  // the sums), the path a worker takes on such a port. Nothing here checks those sums.
  std::string tx_cksum = "sw";
  // The EAL's memory: false (default): --no-huge, 4 KiB pages (what CI and a machine without
  // hugepages have); true: hugepages (--in-memory, 2 MiB pages reserved beforehand, e.g.
  // `echo 1024 > /proc/sys/vm/nr_hugepages`), as viaduct runs in production. The mbufs then
  // sit on a few TLB entries instead of thousands.
  bool huge = false;
  // A fourth phase per case with this many generator lcores of their own (0: none), each
  // feeding and draining the rings of every G-th worker: the workers' aggregate rate when one
  // generator no longer caps it (needs workers + generators + 1 CPUs).
  unsigned generators = 0;
  // A third phase per case: the workers saturated (run_saturated()).
  bool saturated = false;
};

struct PhaseResult {
  uint64_t offered = 0;
  uint64_t processed = 0;   // worker RX
  uint64_t out = 0;         // frames that came out of the workers' TX
  uint64_t busy_tsc = 0;
  // The workers' drops during the phase, by reason (dp::Drop): a frame processed but not out.
  std::array<uint64_t, static_cast<size_t>(dp::Drop::kCount)> drops{};
  uint64_t drops_total() const {
    uint64_t n = 0;
    for (const uint64_t d : drops) {
      n += d;
    }
    return n;
  }
  // The time frames were offered (the settle after it left out) and what the workers
  // processed in it: the sustained rate. Before 2026-11-23 the 200 ms settle was counted in,
  // which made a 1-second phase's rate 1/1.2 of the real one (and the latency phase's "80%"
  // 67% of it).
  double wall_s = 0;
  uint64_t wall_processed = 0;
  uint64_t wall_busy_tsc = 0;  // the workers' busy time in that period
  // Latency samples whose TX time from the log came before their RX stamp (TxLog): none
  // unless the log and the TX ring's order disagree.
  uint64_t misaligned = 0;
  std::vector<uint64_t> lat_cycles;
  std::vector<uint64_t> worker_lat_cycles;  // RX-ring enqueue to the worker's TX burst
  std::vector<uint64_t> in_tsc;             // each sample's RX-ring enqueue stamp
  // The workers' stalls: [start, end) TSC of every gap of more than kStallUs between two
  // consecutive RX polls of a worker (its thread was not running: preempted, an interrupt,
  // the hypervisor), and the worker latency of the samples no stall touched (see clean()).
  std::vector<std::pair<uint64_t, uint64_t>> stalls;
  std::vector<uint64_t> clean_worker_lat_cycles;
  double steal_s = 0;  // CPU time the hypervisor took from this guest during the phase
  double worker_wait_s = 0;  // the workers' threads runnable but not running during the phase
  // Longest time between two turns of the generator's loop: a turn is a few microseconds, so
  // a long gap is the generator's thread not running (preempted, or the hypervisor's steal),
  // and frames wait in the TX ring meanwhile: latency the workers did not add.
  uint64_t max_gap_cycles = 0;
  // Frames the schedule skipped because the generator was more than one burst late (a stall
  // of its thread); the load the workers saw is then offered / seconds, below the target.
  uint64_t skipped = 0;
};

// Steal time of all CPUs so far (the 8th value of /proc/stat's "cpu" line, in USER_HZ ticks),
// in seconds: time the hypervisor ran something else while this guest wanted the CPU. 0 where
// the kernel does not report it.
double steal_seconds() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long long v[8] = {};
  const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                              &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  std::fclose(f);
  const long hz = sysconf(_SC_CLK_TCK);
  return got == 8 && hz > 0 ? static_cast<double>(v[7]) / static_cast<double>(hz) : 0;
}

// Time the worker lcores' threads spent runnable but not running (the 2nd value of
// /proc/self/task/TID/schedstat, ns), in seconds: another thread of this machine had their CPU.
double workers_wait_seconds() {
  double total = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) {
    return 0;
  }
  while (const dirent* e = readdir(d)) {
    const std::string task = std::string("/proc/self/task/") + e->d_name;
    char comm[64] = {};
    std::FILE* f = std::fopen((task + "/comm").c_str(), "r");
    if (f == nullptr) {
      continue;
    }
    const bool worker = std::fgets(comm, sizeof comm, f) != nullptr &&
                        std::strstr(comm, "worker") != nullptr;
    std::fclose(f);
    if (!worker || (f = std::fopen((task + "/schedstat").c_str(), "r")) == nullptr) {
      continue;
    }
    unsigned long long run = 0;
    unsigned long long wait = 0;
    if (std::fscanf(f, "%llu %llu", &run, &wait) == 2) {
      total += static_cast<double>(wait) * 1e-9;
    }
    std::fclose(f);
  }
  closedir(d);
  return total;
}

// A gap between two RX polls of a worker longer than this is a stall: a poll turn is at most
// a burst of 32 messages (~10 us); longer means the thread was not running.
constexpr double kStallUs = 20;
// A sample enqueued during a stall, or after it for kStallShadow times its length, is left
// out of the clean percentiles: at load L the backlog a stall of S leaves drains in
// S * L / (1 - L), 4 S at 80%.
constexpr uint64_t kStallShadow = 5;

// Per worker queue, written by the RX callback on the worker's lcore during the latency phase.
struct StallLog {
  uint64_t min_gap = 0;  // cycles
  uint64_t last = 0;
  std::vector<std::pair<uint64_t, uint64_t>> stalls;  // reserved before, never grown past
};
uint16_t log_stalls(uint16_t, uint16_t, rte_mbuf**, uint16_t n, uint16_t, void* arg) {
  auto* l = static_cast<StallLog*>(arg);
  const uint64_t now = rte_rdtsc();
  if (l->last != 0 && now - l->last > l->min_gap && l->stalls.size() < l->stalls.capacity()) {
    l->stalls.emplace_back(l->last, now);
  }
  l->last = now;
  return n;
}

// The worker's TX times, per queue: a TX callback (inside rte_eth_tx_burst, on the worker's
// lcore) logs each burst's TSC and frame count, in the worker's own memory. A TX ring hands
// the frames back in the order they were sent, so the drain gives each frame its burst's time
// by counting. Until 2026-11-23 the callback wrote the time into each mbuf: a cache line the
// generator had written, fetched by the worker for every frame. (Not what makes a message
// ~20% dearer in the latency phase than in the capacity phase: that stayed with the log. The
// smaller bursts of a paced load do; perf/RESULTS.md.)
struct TxLog {
  std::vector<uint64_t> tsc;  // sized before the phase, never grown
  std::vector<uint16_t> n;
  std::atomic<size_t> len{0};  // written by the worker (release), read by the drain (acquire)
  size_t at = 0;               // the drain's place: burst `at`, `used` of its frames matched
  uint16_t used = 0;
  // The TX time of the next frame out of this queue's ring; false when the log has none
  // (full).
  bool next(uint64_t& t) {
    const size_t have = len.load(std::memory_order_acquire);
    while (at < have && used == n[at]) {
      ++at;
      used = 0;
    }
    if (at >= have) {
      return false;
    }
    ++used;
    t = tsc[at];
    return true;
  }
};
uint16_t log_tx(uint16_t, uint16_t, rte_mbuf**, uint16_t n, void* arg) {
  auto* l = static_cast<TxLog*>(arg);
  const size_t k = l->len.load(std::memory_order_relaxed);
  if (n != 0 && k < l->tsc.size()) {
    l->tsc[k] = rte_rdtsc();
    l->n[k] = n;
    l->len.store(k + 1, std::memory_order_release);
  }
  return n;
}

class Bench {
 public:
  Bench(const Options& o, rte_mempool* pool, uint16_t port, std::vector<rte_ring*> rx,
        std::vector<rte_ring*> tx, std::vector<std::unique_ptr<dp::Worker>>& workers,
        int ts_off)
      : o_(o), pool_(pool), port_(port), rx_(std::move(rx)), tx_(std::move(tx)),
        workers_(workers), ts_off_(ts_off),
        rx_flags_(o.rx_cksum == "nic" ? RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD
                                      : 0) {}

  // rate: frames per second offered in all; 0 = as fast as possible.
  PhaseResult run(const Case& c, double rate, bool sample_latency) {
    PhaseResult r;
    const uint64_t hz = rte_get_tsc_hz();
    const Counts start = counts();
    const uint64_t t0 = rte_rdtsc();
    const uint64_t end = t0 + static_cast<uint64_t>(o_.seconds * static_cast<double>(hz));
    size_t next = 0;
    unsigned q = 0;
    rte_mbuf* burst[dp::kMaxBurst];
    std::vector<const rte_eth_rxtx_callback*> cbs;
    std::vector<const rte_eth_rxtx_callback*> rx_cbs;
    std::vector<std::unique_ptr<StallLog>> logs;
    if (sample_latency) {
      r.lat_cycles.reserve(kMaxSamples);
      r.worker_lat_cycles.reserve(kMaxSamples);
      r.in_tsc.reserve(kMaxSamples);
      // The TX rings are empty here (the last phase's settle drained every frame it
      // offered), so the logs and the rings start together.
      tx_logs_.clear();
      for (uint16_t q = 0; q < tx_.size(); ++q) {
        auto l = std::make_unique<TxLog>();
        l->tsc.resize(kMaxSamples / tx_.size() + 1);
        l->n.resize(l->tsc.size());
        cbs.push_back(rte_eth_add_tx_callback(port_, q, log_tx, l.get()));
        tx_logs_.push_back(std::move(l));
      }
      for (uint16_t q = 0; q < rx_.size(); ++q) {
        auto l = std::make_unique<StallLog>();
        l->min_gap = static_cast<uint64_t>(kStallUs * 1e-6 * static_cast<double>(hz));
        l->stalls.reserve(1 << 16);
        rx_cbs.push_back(rte_eth_add_rx_callback(port_, q, log_stalls, l.get()));
        logs.push_back(std::move(l));
      }
      r.steal_s = steal_seconds();
      r.worker_wait_s = workers_wait_seconds();
    }
    uint64_t last = t0;
    while (true) {
      const uint64_t now = rte_rdtsc();
      if (now >= end) {
        break;
      }
      r.max_gap_cycles = std::max(r.max_gap_cycles, now - last);
      last = now;
      uint64_t want = o_.burst;
      if (rate > 0) {
        const double due = static_cast<double>(now - t0) / static_cast<double>(hz) * rate;
        const uint64_t sched = r.offered + r.skipped;  // frames the schedule has accounted for
        want = due > static_cast<double>(sched)
                   ? static_cast<uint64_t>(due) - sched + 1
                   : 0;
        if (want > o_.burst && !o_.catch_up) {
          // Late by more than a burst: the generator's thread was not running. Frames that
          // arrived during the stall would have been spread over it; sent now they would be
          // one burst of thousands, a queue the stall made, not the load. Skip them.
          r.skipped += want - o_.burst;
        }
        want = std::min<uint64_t>(o_.burst, want);
      }
      if (want != 0 && rte_pktmbuf_alloc_bulk(pool_, burst, static_cast<unsigned>(want)) == 0) {
        fill(c, next, burst, want);
        if (sample_latency) {
          // One stamp per burst, just before the enqueue on the RX ring: nothing in the
          // capacity phase, and the generator's copy-in is not counted as latency.
          const uint64_t stamp = rte_rdtsc();
          for (uint64_t i = 0; i < want; ++i) {
            *RTE_MBUF_DYNFIELD(burst[i], ts_off_, uint64_t*) = stamp;
          }
        }
        const unsigned n = rte_ring_enqueue_burst(rx_[q], reinterpret_cast<void**>(burst),
                                                  static_cast<unsigned>(want), nullptr);
        if (n < want) {
          rte_pktmbuf_free_bulk(burst + n, static_cast<unsigned>(want) - n);
        }
        r.offered += n;
        q = q + 1 == rx_.size() ? 0 : q + 1;
      }
      drain(r, sample_latency);
    }
    offered_until_now(r, start, t0);
    settle(r, sample_latency);
    if (sample_latency) {
      r.steal_s = steal_seconds() - r.steal_s;
      r.worker_wait_s = workers_wait_seconds() - r.worker_wait_s;
      for (uint16_t q = 0; q < cbs.size(); ++q) {
        // Removed, not freed: DPDK leaves the memory to the caller, as a worker may still be
        // inside it; a few bytes a case.
        if (cbs[q] != nullptr) {
          rte_eth_remove_tx_callback(port_, q, cbs[q]);
        }
      }
      for (uint16_t q = 0; q < rx_cbs.size(); ++q) {
        if (rx_cbs[q] != nullptr) {
          rte_eth_remove_rx_callback(port_, q, rx_cbs[q]);
        }
      }
      // The worker may be inside the callback still: wait a moment before reading the logs.
      rte_delay_ms(10);
      for (const auto& l : logs) {
        r.stalls.insert(r.stalls.end(), l->stalls.begin(), l->stalls.end());
      }
      clean(r);
      // Kept to the end: DPDK leaves a removed callback's memory to the caller, as a worker
      // may still be inside it.
      for (auto& l : logs) {
        stall_logs_.push_back(std::move(l));
      }
      for (auto& l : tx_logs_) {
        tx_log_graveyard_.push_back(std::move(l));
      }
      tx_logs_.clear();
    }
    since(start, r);
    return r;
  }

  // The workers saturated (--saturated): each RX ring filled at once with a ring's worth of
  // frames, built before the enqueue (the generator's copy-in is not in the workers' busy
  // time), which the workers drain while the generator only drains TX; repeated for the
  // phase's seconds. The frames wait in the ring, as in a NIC's RX ring at full load: the
  // worker reads them from the shared cache or memory (where a NIC's DMA leaves them), and
  // takes full bursts. The capacity phase instead hands them over as the generator writes
  // them, from its core's cache, in whatever bursts its pace gives.
  PhaseResult run_saturated(const Case& c) {
    PhaseResult r;
    const uint64_t hz = rte_get_tsc_hz();
    const Counts start = counts();
    const uint64_t t0 = rte_rdtsc();
    const uint64_t end = t0 + static_cast<uint64_t>(o_.seconds * static_cast<double>(hz));
    size_t next = 0;
    std::vector<rte_mbuf*> batch(kRingSize - 1);
    while (rte_rdtsc() < end) {
      for (rte_ring* ring : rx_) {
        const unsigned want = static_cast<unsigned>(batch.size());
        if (rte_pktmbuf_alloc_bulk(pool_, batch.data(), want) != 0) {
          continue;  // mbufs still in flight: drained below
        }
        fill(c, next, batch.data(), want);
        const unsigned n = rte_ring_enqueue_burst(ring, reinterpret_cast<void**>(batch.data()),
                                                  want, nullptr);
        if (n < want) {
          rte_pktmbuf_free_bulk(batch.data() + n, want - n);
        }
        r.offered += n;
      }
      // Until the workers have taken all of it; a second at most (a worker that stopped).
      const uint64_t give_up = rte_rdtsc() + hz;
      while (sum_rx() - start.rx < r.offered && rte_rdtsc() < give_up) {
        drain(r, false);
      }
      drain(r, false);
    }
    offered_until_now(r, start, t0);
    settle(r, false);
    since(start, r);
    return r;
  }

  // The workers fed by generators of their own (--generators G, on the lcores gen_lcores):
  // generator g offers full bursts, as fast as it can, to the RX rings of workers g, g + G,
  // ... in turn and drains their TX rings. The main lcore only waits. wall_processed over
  // wall_s is the workers' aggregate rate; out counts what the generators drained.
  PhaseResult run_parallel(const Case& c, const std::vector<unsigned>& gen_lcores) {
    PhaseResult r;
    const uint64_t hz = rte_get_tsc_hz();
    const Counts start = counts();
    const uint64_t t0 = rte_rdtsc();
    const uint64_t end = t0 + static_cast<uint64_t>(o_.seconds * static_cast<double>(hz));
    std::vector<GenArg> args(gen_lcores.size());
    for (size_t g = 0; g < args.size(); ++g) {
      args[g] = GenArg{this, &c, static_cast<unsigned>(g),
                       static_cast<unsigned>(gen_lcores.size()), end, 0, 0};
      rte_eal_remote_launch(&Bench::gen_main, &args[g], gen_lcores[g]);
    }
    while (rte_rdtsc() < end) {
      rte_delay_us_sleep(500);  // the main lcore's CPU left to others (a shared small machine)
    }
    offered_until_now(r, start, t0);
    for (const unsigned l : gen_lcores) {
      rte_eal_wait_lcore(l);  // each drains until its frames are out, 2 s at most
    }
    for (const GenArg& a : args) {
      r.offered += a.offered;
      r.out += a.out;
    }
    since(start, r);
    return r;
  }

 private:
  struct GenArg {
    Bench* bench;
    const Case* c;
    unsigned g;
    unsigned n;
    uint64_t end;
    uint64_t offered;
    uint64_t out;
  };
  static int gen_main(void* p) {
    auto* a = static_cast<GenArg*>(p);
    a->bench->gen_loop(*a);
    return 0;
  }
  void gen_loop(GenArg& a) const {
    std::vector<size_t> mine;
    for (size_t q = a.g; q < rx_.size(); q += a.n) {
      mine.push_back(q);
    }
    size_t next = (a.g * 37) % a.c->frames.size();
    rte_mbuf* burst[dp::kMaxBurst];
    const unsigned want = std::min<unsigned>(o_.burst, dp::kMaxBurst);
    auto drain_mine = [&] {
      rte_mbuf* out[dp::kMaxBurst];
      for (const size_t q : mine) {
        const unsigned n = rte_ring_dequeue_burst(tx_[q], reinterpret_cast<void**>(out),
                                                  dp::kMaxBurst, nullptr);
        a.out += n;
        rte_pktmbuf_free_bulk(out, n);
      }
    };
    size_t k = 0;
    while (rte_rdtsc() < a.end) {
      if (rte_pktmbuf_alloc_bulk(pool_, burst, want) == 0) {
        fill(*a.c, next, burst, want);
        const unsigned n =
            rte_ring_enqueue_burst(rx_[mine[k]], reinterpret_cast<void**>(burst), want, nullptr);
        if (n < want) {
          rte_pktmbuf_free_bulk(burst + n, want - n);
        }
        a.offered += n;
        k = k + 1 == mine.size() ? 0 : k + 1;
      }
      drain_mine();
    }
    const uint64_t give_up = rte_rdtsc() + 2 * rte_get_tsc_hz();
    while (a.out < a.offered && rte_rdtsc() < give_up) {
      drain_mine();
    }
  }

  // Let the workers finish what is queued, then stop counting: 200 ms of draining, then on
  // until every frame offered has come out, 2 s at most (a worker that dropped frames, or a
  // loaded host that did not run it).
  void settle(PhaseResult& r, bool sample) {
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t t = rte_rdtsc();
    while (rte_rdtsc() < t + hz / 5 || (r.out < r.offered && rte_rdtsc() < t + 2 * hz)) {
      drain(r, sample);
    }
  }
  void drain(PhaseResult& r, bool sample) {
    rte_mbuf* out[dp::kMaxBurst];
    for (size_t qi = 0; qi < tx_.size(); ++qi) {
      rte_ring* t = tx_[qi];
      TxLog* log = sample && qi < tx_logs_.size() ? tx_logs_[qi].get() : nullptr;
      const unsigned n =
          rte_ring_dequeue_burst(t, reinterpret_cast<void**>(out), dp::kMaxBurst, nullptr);
      if (n == 0) {
        continue;
      }
      const uint64_t now = rte_rdtsc();
      for (unsigned i = 0; log != nullptr && i < n; ++i) {
        // The RX stamp survives the rewrite (the worker clears ol_flags, so the flag does not).
        uint64_t tx = 0;
        if (log->next(tx) && r.lat_cycles.size() < kMaxSamples) {
          const uint64_t in = *RTE_MBUF_DYNFIELD(out[i], ts_off_, uint64_t*);
          if (tx < in) {
            ++r.misaligned;  // sent before it was offered: the log and the ring disagree
            continue;
          }
          r.lat_cycles.push_back(now - in);
          r.worker_lat_cycles.push_back(tx - in);
          r.in_tsc.push_back(in);
        }
      }
      r.out += n;
      rte_pktmbuf_free_bulk(out, n);
    }
  }
  // The samples no worker stall touched: enqueued neither during a stall nor in its shadow
  // (kStallShadow times its length after it).
  static void clean(PhaseResult& r) {
    std::vector<std::pair<uint64_t, uint64_t>> shadow;
    for (const auto& [a, b] : r.stalls) {
      shadow.emplace_back(a, b + kStallShadow * (b - a));
    }
    std::sort(shadow.begin(), shadow.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& iv : shadow) {
      if (!merged.empty() && iv.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, iv.second);
      } else {
        merged.push_back(iv);
      }
    }
    r.clean_worker_lat_cycles.reserve(r.worker_lat_cycles.size());
    for (size_t i = 0; i < r.in_tsc.size(); ++i) {
      const uint64_t t = r.in_tsc[i];
      auto it = std::upper_bound(merged.begin(), merged.end(),
                                 std::make_pair(t, std::numeric_limits<uint64_t>::max()));
      const bool touched = it != merged.begin() && t <= std::prev(it)->second;
      if (!touched) {
        r.clean_worker_lat_cycles.push_back(r.worker_lat_cycles[i]);
      }
    }
  }
  uint64_t sum_rx() const {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += w->counters().rx_packets.read();
    }
    return s;
  }
  // The workers' counters a phase reads at its start and end.
  struct Counts {
    uint64_t rx = 0;
    uint64_t busy = 0;
    std::array<uint64_t, static_cast<size_t>(dp::Drop::kCount)> drops{};
  };
  Counts counts() const {
    Counts n;
    n.rx = sum_rx();
    n.busy = sum_busy();
    for (const auto& w : workers_) {
      for (size_t d = 0; d < n.drops.size(); ++d) {
        n.drops[d] += w->counters().drops[d].read();
      }
    }
    return n;
  }
  // The end of a phase's offering (started at t0): its time, and what the workers processed
  // and were busy in it.
  void offered_until_now(PhaseResult& r, const Counts& start, uint64_t t0) const {
    r.wall_s = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz());
    r.wall_processed = sum_rx() - start.rx;
    r.wall_busy_tsc = sum_busy() - start.busy;
  }
  // What the workers did since `start`: frames processed, busy time, drops.
  void since(const Counts& start, PhaseResult& r) const {
    const Counts now = counts();
    r.processed = now.rx - start.rx;
    r.busy_tsc = now.busy - start.busy;
    for (size_t d = 0; d < r.drops.size(); ++d) {
      r.drops[d] = now.drops[d] - start.drops[d];
    }
  }
  // n mbufs at m: the case's next frames, as a PMD hands them over.
  void fill(const Case& c, size_t& next, rte_mbuf** m, uint64_t n) const {
    for (uint64_t i = 0; i < n; ++i) {
      const Frame& f = c.frames[next];
      next = next + 1 == c.frames.size() ? 0 : next + 1;
      char* d = rte_pktmbuf_append(m[i], static_cast<uint16_t>(f.bytes.size()));
      if (d != nullptr) {
        std::memcpy(d, f.bytes.data(), f.bytes.size());
      }
      m[i]->port = port_;  // net_ring does not set it; a real PMD does
      m[i]->ol_flags = rx_flags_;
    }
  }
  uint64_t sum_busy() const {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += w->counters().busy_tsc.read();
    }
    return s;
  }

  const Options& o_;
  rte_mempool* pool_;
  uint16_t port_;
  std::vector<rte_ring*> rx_;
  std::vector<rte_ring*> tx_;
  std::vector<std::unique_ptr<dp::Worker>>& workers_;
  int ts_off_;
  std::vector<std::unique_ptr<StallLog>> stall_logs_;
  std::vector<std::unique_ptr<TxLog>> tx_logs_;  // the latency phase's, per TX queue
  std::vector<std::unique_ptr<TxLog>> tx_log_graveyard_;  // as stall_logs_: kept to the end
  // What a NIC's RX checksum offload reports for each frame (Options::rx_cksum).
  uint64_t rx_flags_ = 0;
};

double percentile(std::vector<uint64_t>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) * 1e9 / static_cast<double>(rte_get_tsc_hz());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"viaduct-pipeline-bench: the dataplane's workers over net_ring ports"};
  Options o;
  std::string cases;
  app.add_option("--workers", o.workers, "worker lcores (needs workers + 1 CPUs)")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--seconds", o.seconds, "seconds per phase");
  app.add_option("--cases", cases, "comma-separated: invite,options,reply,mix");
  app.add_option("--load", o.load, "offered load for the latency phase, share of capacity")
      ->check(CLI::Range(0.05, 1.0));
  app.add_option("--burst", o.burst, "RX and generator burst")->check(CLI::Range(1, 256));
  app.add_option("--tx-cksum", o.tx_cksum,
                 "sent frames: sw (the worker computes the checksums, default), nic (the port "
                 "marked as offloading them, as a NIC with TX checksum offload)")
      ->check(CLI::IsMember({"sw", "nic"}));
  app.add_option("--rx-cksum", o.rx_cksum,
                 "received frames: nic (sums filled in, marked checked as by a NIC's RX offload), "
                 "sw (filled in, checked in software), none (UDP checksum 0)")
      ->check(CLI::IsMember({"nic", "sw", "none"}));
  app.add_flag("--json", o.json, "print one JSON line");
  app.add_option("--generators", o.generators,
                 "a fourth phase per case: this many generator lcores of their own, each "
                 "feeding every G-th worker (parallel_wall_msgs_per_sec: the aggregate rate); "
                 "needs workers + generators + 1 CPUs")
      ->check(CLI::Range(0u, 64u));
  app.add_flag("--huge", o.huge,
               "EAL memory on hugepages (--in-memory; reserve 2 MiB pages first) instead of "
               "--no-huge");
  app.add_flag("--saturated", o.saturated,
               "a third phase per case: the workers' RX rings filled a ring at a time and "
               "drained (saturated_msgs_per_sec_per_worker)");
  app.add_flag("--catch-up", o.catch_up,
               "latency phase: after a stall of the generator, send the frames its schedule "
               "missed at once (default: skip them, counted as latency_skipped)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!cases.empty()) {
    o.cases.clear();
    std::stringstream ss(cases);
    for (std::string c; std::getline(ss, c, ',');) {
      o.cases.push_back(c);
    }
  }
  if (o.generators > o.workers) {
    std::fprintf(stderr, "viaduct-pipeline-bench: --generators %u is more than --workers %u\n",
                 o.generators, o.workers);
    return 2;
  }
  // lcore i on CPU i; with more lcores than CPUs (a smoke test on a small machine), lcore i on
  // CPU i mod CPUs, said on stderr: the rates then measure the sharing.
  const unsigned n_lcores = o.workers + o.generators + 1;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::string lcores = "0-" + std::to_string(n_lcores - 1);
  const char* lcore_flag = "-l";
  if (cpus > 0 && n_lcores > static_cast<unsigned long>(cpus)) {
    std::fprintf(stderr, "viaduct-pipeline-bench: %u lcores on %ld CPUs: they share CPUs\n",
                 n_lcores, cpus);
    lcore_flag = "--lcores";
    lcores.clear();
    for (unsigned i = 0; i < n_lcores; ++i) {
      lcores += (i == 0 ? "" : ",") + std::to_string(i) + "@" +
                std::to_string(i % static_cast<unsigned long>(cpus));
    }
  }
  std::vector<const char*> eal = {"viaduct-pipeline-bench", "-m", "1024", "--no-pci",
                                  "--log-level=error", lcore_flag, lcores.c_str()};
  if (o.huge) {
    eal.push_back("--in-memory");
  } else {
    eal.push_back("--no-huge");
    eal.push_back("--no-shconf");
  }
  if (rte_eal_init(static_cast<int>(eal.size()), const_cast<char**>(eal.data())) < 0) {
    std::fprintf(stderr, "viaduct-pipeline-bench: EAL init failed (lcores %s)\n", lcores.c_str());
    return 1;
  }
  int ts_off = -1;
  uint64_t ts_flag = 0;
  if (rte_mbuf_dyn_rx_timestamp_register(&ts_off, &ts_flag) != 0) {
    std::fprintf(stderr, "viaduct-pipeline-bench: no mbuf timestamp field\n");
    return 1;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("bench", 4 * kRingSize * o.workers + 4095, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  std::string error;
  auto snap = test::make_snapshot(kScript,
                                  "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n1 sip:10.0.0.13:5060\n",
                                  "10.0.0.2", kOur,
                                  {{"10.0.0.10", kClient},
                                   {"10.0.0.11", kB1},
                                   {"10.0.0.12", kB2},
                                   {"10.0.0.13", kB3}},
                                  error);
  if (pool == nullptr || snap == nullptr) {
    std::fprintf(stderr, "viaduct-pipeline-bench: setup failed: %s\n", error.c_str());
    return 1;
  }
  // One net_ring port, one queue pair per worker: RX rings fed by the generator, TX rings
  // drained by it.
  std::vector<rte_ring*> rx;
  std::vector<rte_ring*> tx;
  for (unsigned i = 0; i < o.workers; ++i) {
    rx.push_back(rte_ring_create(("brx" + std::to_string(i)).c_str(), kRingSize,
                                 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ));
    tx.push_back(rte_ring_create(("btx" + std::to_string(i)).c_str(), kTxRingSize,
                                 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ));
  }
  const int port = rte_eth_from_rings("bench", rx.data(), static_cast<unsigned>(rx.size()),
                                      tx.data(), static_cast<unsigned>(tx.size()),
                                      rte_socket_id());
  if (port != 0) {  // the snapshot's interface is port 0
    std::fprintf(stderr, "viaduct-pipeline-bench: net_ring port is %d, expected 0\n", port);
    return 1;
  }
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(0, static_cast<uint16_t>(o.workers), static_cast<uint16_t>(o.workers),
                            &conf) != 0) {
    std::fprintf(stderr, "viaduct-pipeline-bench: port configure failed\n");
    return 1;
  }
  for (uint16_t q = 0; q < o.workers; ++q) {
    if (rte_eth_rx_queue_setup(0, q, kRingSize, rte_socket_id(), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(0, q, kRingSize, rte_socket_id(), nullptr) != 0) {
      std::fprintf(stderr, "viaduct-pipeline-bench: queue setup failed\n");
      return 1;
    }
  }
  if (rte_eth_dev_start(0) != 0) {
    std::fprintf(stderr, "viaduct-pipeline-bench: port start failed\n");
    return 1;
  }

  if (o.tx_cksum == "nic") {
    snap->snap.ifaces[0].tx_cksum_offload = true;
  }
  dp::SnapshotSlot slot;
  slot.exchange(&snap->snap);
  const size_t qs_size = rte_rcu_qsbr_get_memsize(o.workers);
  auto* qsv = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE,
      (qs_size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE));
  rte_rcu_qsbr_init(qsv, o.workers);
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<dp::Worker>> workers;
  std::vector<rte_ring*> events;
  for (uint16_t i = 0; i < o.workers; ++i) {
    rte_ring* ev = rte_ring_create_elem(("bev" + std::to_string(i)).c_str(), sizeof(dp::Event),
                                        1024, static_cast<int>(rte_socket_id()),
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
    events.push_back(ev);
    workers.push_back(std::make_unique<dp::Worker>(i, slot, qsv,
                                                   std::vector<dp::WorkerQueue>{{0, i}}, ev,
                                                   nullptr, stop, o.burst));
  }
  unsigned w = 0;
  unsigned lcore = 0;
  std::vector<unsigned> gen_lcores;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w < workers.size()) {
      rte_eal_remote_launch(&dp::Worker::launch, workers[w++].get(), lcore);
    } else if (gen_lcores.size() < o.generators) {
      gen_lcores.push_back(lcore);
    }
  }

  Bench bench(o, pool, 0, rx, tx, workers, ts_off);
  const std::vector<Case> all = make_cases(pool, o.cases, o.rx_cksum != "none");
  std::string json = "{\"workers\": " + std::to_string(o.workers) +
                     ", \"memory\": \"" + (o.huge ? "hugepages" : "4k") + "\", \"rx_cksum\": \"" +
                     o.rx_cksum + "\", \"tx_cksum\": \"" + o.tx_cksum + "\", \"cases\": [";
  for (size_t i = 0; i < all.size(); ++i) {
    const Case& c = all[i];
    PhaseResult cap = bench.run(c, 0, false);
    const double busy_s = static_cast<double>(cap.busy_tsc) / static_cast<double>(rte_get_tsc_hz());
    const double per_worker = busy_s > 0 ? static_cast<double>(cap.processed) / busy_s : 0;
    const double wall_rate = static_cast<double>(cap.wall_processed) / cap.wall_s;
    // 80% of what the whole setup sustained (the generator shares the machine), not of the
    // workers' CPU capacity: above the sustained rate the queues only grow.
    const double offered = wall_rate * o.load;
    PhaseResult sat;
    double sat_per_worker = 0;
    if (o.saturated) {
      sat = bench.run_saturated(c);
      const double sat_busy_s =
          static_cast<double>(sat.busy_tsc) / static_cast<double>(rte_get_tsc_hz());
      sat_per_worker = sat_busy_s > 0 ? static_cast<double>(sat.processed) / sat_busy_s : 0;
    }
    PhaseResult par;
    if (o.generators > 0) {
      par = bench.run_parallel(c, gen_lcores);
    }
    PhaseResult lat = bench.run(c, offered, true);
    const double p50 = percentile(lat.lat_cycles, 0.50);
    const double p90 = percentile(lat.lat_cycles, 0.90);
    const double p99 = percentile(lat.lat_cycles, 0.99);
    const double p999 = percentile(lat.lat_cycles, 0.999);
    const double w50 = percentile(lat.worker_lat_cycles, 0.50);
    const double w90 = percentile(lat.worker_lat_cycles, 0.90);
    const double w99 = percentile(lat.worker_lat_cycles, 0.99);
    const double w999 = percentile(lat.worker_lat_cycles, 0.999);
    const double c50 = percentile(lat.clean_worker_lat_cycles, 0.50);
    const double c90 = percentile(lat.clean_worker_lat_cycles, 0.90);
    const double c99 = percentile(lat.clean_worker_lat_cycles, 0.99);
    const double c999 = percentile(lat.clean_worker_lat_cycles, 0.999);
    const double hz = static_cast<double>(rte_get_tsc_hz());
    uint64_t stall_cycles = 0;
    uint64_t max_stall = 0;
    for (const auto& [a, b] : lat.stalls) {
      stall_cycles += b - a;
      max_stall = std::max(max_stall, b - a);
    }
    const double clean_share =
        lat.worker_lat_cycles.empty()
            ? 0
            : static_cast<double>(lat.clean_worker_lat_cycles.size()) /
                  static_cast<double>(lat.worker_lat_cycles.size());
    char stall_json[400];
    std::snprintf(stall_json, sizeof stall_json,
                  ", \"worker_stalls\": %zu, \"worker_stall_ms\": %.2f, "
                  "\"worker_max_stall_us\": %.0f, \"clean_samples_share\": %.4f, "
                  "\"clean_worker_latency_ns\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, "
                  "\"p999\": %.0f}}",
                  lat.stalls.size(), static_cast<double>(stall_cycles) * 1e3 / hz,
                  static_cast<double>(max_stall) * 1e6 / hz, clean_share, c50, c90, c99, c999);
    char buf[1200];
    std::snprintf(buf, sizeof buf,
                  "%s{\"name\": \"%s\", \"message_bytes\": %zu, \"msgs_per_sec_per_worker\": %.0f, "
                  "\"ns_per_msg\": %.1f, \"wall_msgs_per_sec\": %.0f, \"processed\": %llu, "
                  "\"out\": %llu, \"latency_load\": %.2f, \"latency_offered_per_sec\": %.0f, "
                  "\"latency_samples\": %zu, \"generator_max_gap_ns\": %.0f, "
                  "\"latency_ns\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, \"p999\": %.0f}, "
                  "\"worker_latency_ns\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, "
                  "\"p999\": %.0f}, \"latency_phase_steal_ms\": %.1f, "
                  "\"latency_phase_worker_wait_ms\": %.1f, \"latency_skipped\": %llu, "
                  "\"latency_achieved_per_sec\": %.0f",
                  i == 0 ? "" : ", ", c.name.c_str(), c.message_bytes, per_worker,
                  per_worker > 0 ? 1e9 / per_worker : 0.0, wall_rate,
                  static_cast<unsigned long long>(cap.processed),
                  static_cast<unsigned long long>(cap.out), o.load,
                  offered, lat.lat_cycles.size(),
                  static_cast<double>(lat.max_gap_cycles) * 1e9 /
                      static_cast<double>(rte_get_tsc_hz()),
                  p50, p90, p99, p999, w50, w90, w99, w999, lat.steal_s * 1e3,
                  lat.worker_wait_s * 1e3, static_cast<unsigned long long>(lat.skipped),
                  static_cast<double>(lat.offered) / o.seconds);
    const uint64_t cap_drops = cap.drops_total();
    std::string drop_text;
    for (size_t d = 0; d < cap.drops.size(); ++d) {
      if (cap.drops[d] != 0) {
        drop_text += std::string(drop_text.empty() ? "" : ", ") +
                     dp::drop_name(static_cast<dp::Drop>(d)) + " " +
                     std::to_string(cap.drops[d]);
      }
    }
    json += buf;
    json += ", \"drops\": " + std::to_string(cap_drops);
    // The latency phase's own cost per message and the share of the worker's time it used: a
    // paced load gives smaller bursts, in which a message costs more than in the capacity
    // phase's, so the load it puts on the worker is above latency_load.
    const double lat_busy_s =
        static_cast<double>(lat.wall_busy_tsc) / static_cast<double>(rte_get_tsc_hz());
    // The capacity phase's share too: the workers' busy time while frames were offered, per
    // worker, against that period (at most ~1: it is what makes the wall rate comparable).
    const double cap_busy_s =
        static_cast<double>(cap.wall_busy_tsc) / static_cast<double>(rte_get_tsc_hz());
    char lbuf[260];
    std::snprintf(lbuf, sizeof lbuf,
                  ", \"latency_phase_ns_per_msg\": %.1f, \"latency_phase_busy_share\": %.3f, "
                  "\"latency_misaligned\": %llu, \"capacity_busy_share\": %.3f",
                  lat.wall_processed > 0
                      ? lat_busy_s * 1e9 / static_cast<double>(lat.wall_processed)
                      : 0.0,
                  lat.wall_s > 0 ? lat_busy_s / lat.wall_s : 0.0,
                  static_cast<unsigned long long>(lat.misaligned),
                  cap.wall_s > 0 ? cap_busy_s / (cap.wall_s * o.workers) : 0.0);
    json += lbuf;
    if (o.saturated) {
      const uint64_t sat_drops = sat.drops_total();
      char sbuf[300];
      std::snprintf(sbuf, sizeof sbuf,
                    ", \"saturated_msgs_per_sec_per_worker\": %.0f, \"saturated_ns_per_msg\": "
                    "%.1f, \"saturated_processed\": %llu, \"saturated_out\": %llu, "
                    "\"saturated_drops\": %llu",
                    sat_per_worker, sat_per_worker > 0 ? 1e9 / sat_per_worker : 0.0,
                    static_cast<unsigned long long>(sat.processed),
                    static_cast<unsigned long long>(sat.out),
                    static_cast<unsigned long long>(sat_drops));
      json += sbuf;
    }
    if (o.generators > 0) {
      const double par_busy_s =
          static_cast<double>(par.busy_tsc) / static_cast<double>(rte_get_tsc_hz());
      char pbuf[300];
      std::snprintf(pbuf, sizeof pbuf,
                    ", \"generators\": %u, \"parallel_wall_msgs_per_sec\": %.0f, "
                    "\"parallel_msgs_per_sec_per_worker\": %.0f, \"parallel_offered\": %llu, "
                    "\"parallel_out\": %llu, \"parallel_drops\": %llu",
                    o.generators,
                    par.wall_s > 0 ? static_cast<double>(par.wall_processed) / par.wall_s : 0.0,
                    par_busy_s > 0 ? static_cast<double>(par.processed) / par_busy_s : 0.0,
                    static_cast<unsigned long long>(par.offered),
                    static_cast<unsigned long long>(par.out),
                    static_cast<unsigned long long>(par.drops_total()));
      json += pbuf;
    }
    json += stall_json;
    if (!o.json) {
      std::printf("%-8s %5zu B  %10.0f msgs/s per worker (%6.1f ns/msg)  wall %10.0f msgs/s  "
                  "latency at %.0f%%: p50 %.0f ns  p90 %.0f ns  p99 %.0f ns  p99.9 %.0f ns "
                  "(%zu samples, generator max gap %.0f us)\n",
                  c.name.c_str(), c.message_bytes, per_worker,
                  per_worker > 0 ? 1e9 / per_worker : 0.0, wall_rate, o.load * 100, p50, p90,
                  p99, p999, lat.lat_cycles.size(),
                  static_cast<double>(lat.max_gap_cycles) * 1e6 /
                      static_cast<double>(rte_get_tsc_hz()));
      std::printf("         worker latency (RX ring to the worker's TX burst): p50 %.0f ns  "
                  "p90 %.0f ns  p99 %.0f ns  p99.9 %.0f ns\n"
                  "         during the phase: hypervisor steal %.1f ms, workers runnable but not "
                  "running %.1f ms; %llu frames skipped after generator stalls, %.0f msgs/s "
                  "offered\n",
                  w50, w90, w99, w999, lat.steal_s * 1e3, lat.worker_wait_s * 1e3,
                  static_cast<unsigned long long>(lat.skipped),
                  static_cast<double>(lat.offered) / o.seconds);
      std::printf("         worker stalls (RX polls more than %.0f us apart): %zu, %.2f ms in all, "
                  "longest %.0f us; the %.2f%% of samples no stall touched: p50 %.0f ns  "
                  "p90 %.0f ns  p99 %.0f ns  p99.9 %.0f ns\n",
                  kStallUs, lat.stalls.size(), static_cast<double>(stall_cycles) * 1e3 / hz,
                  static_cast<double>(max_stall) * 1e6 / hz, clean_share * 100, c50, c90, c99,
                  c999);
      if (o.saturated) {
        std::printf("         saturated (RX rings filled a ring at a time): %10.0f msgs/s per "
                    "worker (%6.1f ns/msg), %llu processed, %llu out\n",
                    sat_per_worker, sat_per_worker > 0 ? 1e9 / sat_per_worker : 0.0,
                    static_cast<unsigned long long>(sat.processed),
                    static_cast<unsigned long long>(sat.out));
      }
      if (o.generators > 0) {
        const double pb = static_cast<double>(par.busy_tsc) / hz;
        std::printf("         %u generators of their own: %10.0f msgs/s in all (%.0f msgs/s per "
                    "worker CPU-second), %llu offered, %llu out\n",
                    o.generators,
                    par.wall_s > 0 ? static_cast<double>(par.wall_processed) / par.wall_s : 0.0,
                    pb > 0 ? static_cast<double>(par.processed) / pb : 0.0,
                    static_cast<unsigned long long>(par.offered),
                    static_cast<unsigned long long>(par.out));
      }
      if (cap.out < cap.processed) {
        std::printf("         (%llu of %llu processed frames did not come out; the workers "
                    "dropped %llu: %s)\n",
                    static_cast<unsigned long long>(cap.processed - cap.out),
                    static_cast<unsigned long long>(cap.processed),
                    static_cast<unsigned long long>(cap_drops),
                    drop_text.empty() ? "none" : drop_text.c_str());
      }
    }
  }
  json += "]}";
  if (o.json) {
    std::printf("%s\n", json.c_str());
  }
  stop.store(true);
  rte_eal_mp_wait_lcore();
  rte_eth_dev_stop(0);
  std::free(qsv);
  rte_eal_cleanup();
  return 0;
}
