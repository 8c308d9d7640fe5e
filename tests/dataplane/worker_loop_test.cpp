// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/worker_loop_test.cpp: the worker's own loop (Worker::run) on an lcore, over a
// net_ring port: its busy-time accounting. A worker polls at 100%, so its CPU-seconds are the
// TSC cycles of non-empty bursts; a burst whose RX call lasted kRxStallUs or more (the thread
// was not running: here an RX callback that spins, as a preempted vCPU would look from the
// TSC) is counted from the RX call's end, and counted as a stall. Also dp::eal_start's log levels
// (EalStart).
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/pipeline.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
#include "perf/messages.hpp"
#include "tests/support/packet_builder.hpp"

namespace viaduct {
namespace {

rte_mempool* g_pool = nullptr;
// One net_ring port for every test (the snapshot's interface is port 0): RX ring fed by the
// test, TX ring read by it.
rte_ring* g_rx = nullptr;
rte_ring* g_tx = nullptr;
const rte_eth_rxtx_callback* g_cb = nullptr;

uint16_t spin_once(uint16_t, uint16_t, rte_mbuf**, uint16_t n, uint16_t, void*);

class EalEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    // Two lcores: the worker runs on the second (both on CPU 0 where there is one CPU only).
    // Through viaduct's own start (dp::eal_start), as the daemon does.
    const bool two = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
    ASSERT_TRUE(dp::eal_start({"--no-huge", "-m", "128", "--no-pci", "--no-shconf",
                               "--log-level=error", "--log-level=lib.eal:notice", "--lcores",
                               two ? "0@0,1@1" : "0@0,1@0"})
                    .has_value());
    g_pool = rte_pktmbuf_pool_create("loop_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(g_pool, nullptr);
    g_rx = rte_ring_create("lrx", 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    g_tx = rte_ring_create("ltx", 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_TRUE(g_rx != nullptr && g_tx != nullptr);
    ASSERT_EQ(rte_eth_from_rings("loop", &g_rx, 1, &g_tx, 1, 0), 0);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_configure(0, 1, 1, &conf), 0);
    ASSERT_EQ(rte_eth_rx_queue_setup(0, 0, 256, 0, nullptr, g_pool), 0);
    ASSERT_EQ(rte_eth_tx_queue_setup(0, 0, 256, 0, nullptr), 0);
    ASSERT_EQ(rte_eth_dev_start(0), 0);
    g_cb = rte_eth_add_rx_callback(0, 0, spin_once, nullptr);
    ASSERT_NE(g_cb, nullptr);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new EalEnv);

const dp::MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x02}};
const dp::MacAddr kClientMac{{0x02, 0, 0, 0, 0, 0x10}};
const dp::MacAddr kB1Mac{{0x02, 0, 0, 0, 0, 0x11}};

// Spins g_spin_us microseconds inside the next RX call that returns frames, once.
std::atomic<uint32_t> g_spin_us{0};
uint16_t spin_once(uint16_t, uint16_t, rte_mbuf**, uint16_t n, uint16_t, void*) {
  if (n != 0) {
    if (const uint32_t us = g_spin_us.exchange(0); us != 0) {
      rte_delay_us_block(us);
    }
  }
  return n;
}

// A fresh worker on lcore 1 per test, on port 0's only queue, the perf script's snapshot.
class WorkerLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    ev_ = rte_ring_create_elem(("lev" + std::to_string(n++)).c_str(), sizeof(dp::Event), 256, 0,
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(ev_, nullptr);

    std::string error;
    snap_ = test::make_snapshot(perf::kScript, "1 sip:10.0.0.11:5060\n", "10.0.0.2", kOurMac,
                                {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}}, error);
    ASSERT_NE(snap_, nullptr) << error;
    slot_.exchange(&snap_->snap);
    const size_t sz = rte_rcu_qsbr_get_memsize(1);
    qsv_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE,
        (sz + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE));
    ASSERT_EQ(rte_rcu_qsbr_init(qsv_, 1), 0);
    worker_ = std::make_unique<dp::Worker>(0, slot_, qsv_, std::vector<dp::WorkerQueue>{{0, 0}},
                                           ev_, nullptr, stop_);
    const unsigned lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    ASSERT_LT(lcore, RTE_MAX_LCORE);
    ASSERT_EQ(rte_eal_remote_launch(&dp::Worker::launch, worker_.get(), lcore), 0);
    lcore_ = lcore;
  }
  void TearDown() override {
    stop_.store(true);
    if (lcore_ != RTE_MAX_LCORE) {
      rte_eal_wait_lcore(lcore_);
    }
    worker_.reset();
    std::free(qsv_);
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(g_tx, reinterpret_cast<void**>(&m)) == 0) {
      rte_pktmbuf_free(m);
    }
    rte_ring_free(ev_);
  }

  // Puts one INVITE on the RX ring and waits (up to 5 s) for the worker to have received it
  // and sent its forward.
  bool send_one() {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    const uint64_t rx0 = worker_->counters().rx_packets.read();
    const uint64_t out0 = rte_ring_count(g_tx);
    if (m == nullptr ||
        !test::fill_udp_frame(m, kClientMac, kOurMac, test::ipv4("10.0.0.10"), 5060,
                              test::ipv4("10.0.0.2"), 5060, perf::kInvite) ||
        rte_ring_enqueue(g_rx, m) != 0) {
      rte_pktmbuf_free(m);
      return false;
    }
    const uint64_t end = rte_get_tsc_cycles() + 5 * rte_get_tsc_hz();
    while (rte_get_tsc_cycles() < end) {
      if (worker_->counters().rx_packets.read() == rx0 + 1 && rte_ring_count(g_tx) == out0 + 1) {
        // The forward is sent inside the burst; its busy time is added after it, before the
        // iteration's loop count: one more loop and the burst is accounted.
        const uint64_t loops = worker_->counters().loops.read();
        while (worker_->counters().loops.read() <= loops && rte_get_tsc_cycles() < end) {
          rte_pause();
        }
        return worker_->counters().loops.read() > loops;
      }
      rte_delay_us_sleep(100);
    }
    return false;
  }
  double busy_us() const {
    return static_cast<double>(worker_->counters().busy_tsc.read()) * 1e6 /
           static_cast<double>(rte_get_tsc_hz());
  }

  rte_ring* ev_ = nullptr;
  std::unique_ptr<ctl::OwnedSnapshot> snap_;
  dp::SnapshotSlot slot_;
  rte_rcu_qsbr* qsv_ = nullptr;
  std::atomic<bool> stop_{false};
  std::unique_ptr<dp::Worker> worker_;
  unsigned lcore_ = RTE_MAX_LCORE;
};

TEST_F(WorkerLoop, BurstTimeIsCountedAsBusy) {
  ASSERT_TRUE(send_one());
  EXPECT_GT(busy_us(), 0.0);
  // A short RX call is the worker's work, counted whole (unless the host really stalled the
  // thread for 50 us inside that very call, which the stall counter then shows).
  g_spin_us.store(dp::kRxStallUs / 5);
  const double before = busy_us();
  ASSERT_TRUE(send_one());
  if (worker_->counters().rx_stalls.read() == 0) {
    EXPECT_GE(busy_us() - before, static_cast<double>(dp::kRxStallUs / 5));
  }
}

TEST_F(WorkerLoop, AStalledRxCallIsNotBusyTime) {
  // 50 ms inside the RX call that returns the INVITE: counted as a stall, not as busy time
  // (without the stall rule the burst counted >= 50,000 us; the bound leaves room for the host
  // taking the thread away while it handles the frame).
  g_spin_us.store(50000);
  ASSERT_TRUE(send_one());
  EXPECT_EQ(g_spin_us.load(), 0u) << "the RX callback did not run";
  EXPECT_EQ(worker_->counters().rx_stalls.read(), 1u);
  EXPECT_LT(busy_us(), 25000.0);
  EXPECT_GT(busy_us(), 0.0);
}

// A forward to a backend whose MAC no snapshot has is held by the worker, not dropped, and
// leaves as soon as a snapshot with the MAC is published (what control does on the ARP reply).
TEST_F(WorkerLoop, AHeldForwardLeavesWhenTheMacIsPublished) {
  std::string error;
  auto unresolved = test::make_snapshot(perf::kScript, "1 sip:10.0.0.11:5060\n", "10.0.0.2",
                                        kOurMac, {{"10.0.0.10", kClientMac}}, error);
  auto resolved = test::make_snapshot(perf::kScript, "1 sip:10.0.0.11:5060\n", "10.0.0.2",
                                      kOurMac, {{"10.0.0.10", kClientMac}, {"10.0.0.11", kB1Mac}},
                                      error);
  ASSERT_TRUE(unresolved != nullptr && resolved != nullptr) << error;
  unresolved->snap.generation = 10;
  resolved->snap.generation = 11;
  // Waits (up to 5 s) until the worker has run `n` more loop iterations.
  auto loops = [&](uint64_t n) {
    const uint64_t want = worker_->counters().loops.read() + n;
    const uint64_t end = rte_get_tsc_cycles() + 5 * rte_get_tsc_hz();
    while (worker_->counters().loops.read() < want && rte_get_tsc_cycles() < end) {
      rte_pause();
    }
    return worker_->counters().loops.read() >= want;
  };
  slot_.exchange(&unresolved->snap);
  ASSERT_TRUE(loops(2));  // the worker uses it
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(test::fill_udp_frame(m, kClientMac, kOurMac, test::ipv4("10.0.0.10"), 5060,
                                   test::ipv4("10.0.0.2"), 5060, perf::kInvite));
  ASSERT_EQ(rte_ring_enqueue(g_rx, m), 0);
  const uint64_t end = rte_get_tsc_cycles() + 5 * rte_get_tsc_hz();
  while (worker_->counters().neigh_held.read() == 0 && rte_get_tsc_cycles() < end) {
    rte_delay_us_sleep(100);
  }
  ASSERT_EQ(worker_->counters().neigh_held.read(), 1u);
  ASSERT_TRUE(loops(100));
  EXPECT_EQ(rte_ring_count(g_tx), 0u) << "sent without a MAC";
  EXPECT_EQ(worker_->counters().drops[static_cast<size_t>(dp::Drop::kNoNeighbour)].read(), 0u);

  slot_.exchange(&resolved->snap);
  while (rte_ring_count(g_tx) == 0 && rte_get_tsc_cycles() < end + 5 * rte_get_tsc_hz()) {
    rte_delay_us_sleep(100);
  }
  rte_mbuf* out = nullptr;
  ASSERT_EQ(rte_ring_dequeue(g_tx, reinterpret_cast<void**>(&out)), 0);
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(out, const char*), kB1Mac.b, 6), 0);
  rte_pktmbuf_free(out);
  EXPECT_EQ(worker_->counters().neigh_held_sent.read(), 1u);
  EXPECT_EQ(worker_->counters().tx_packets.read(), 1u);
  // Back to the fixture's snapshot before these two go away.
  slot_.exchange(&snap_->snap);
  ASSERT_TRUE(loops(2));
}


// DPDK's start-up chatter (telemetry's "No legacy callbacks" warning, rte_ip_frag's info lines
// under USER1) is kept out of viaduct's log; telemetry's errors and USER1's warnings still show,
// and eal_args' own --log-level options win (this test's "lib.eal:notice" and global "error").
TEST(EalStart, QuietsDpdkStartUpChatterAndKeepsTheOperatorsLevels) {
  EXPECT_EQ(rte_log_get_level(RTE_LOGTYPE_USER1), static_cast<int>(RTE_LOG_WARNING));
  const int telemetry = rte_log_register("lib.telemetry");  // its id: already registered
  ASSERT_GE(telemetry, 0);
  EXPECT_EQ(rte_log_get_level(static_cast<uint32_t>(telemetry)), static_cast<int>(RTE_LOG_ERR));
  EXPECT_EQ(rte_log_get_level(RTE_LOGTYPE_EAL), static_cast<int>(RTE_LOG_NOTICE));
  EXPECT_EQ(rte_log_get_global_level(), static_cast<uint32_t>(RTE_LOG_ERR));
  const std::vector<std::string> argv = dp::eal_argv({"--log-level=user1:debug"});
  ASSERT_EQ(argv.size(), 4u);
  EXPECT_EQ(argv.front(), "viaduct");
  EXPECT_EQ(argv.back(), "--log-level=user1:debug");  // after the defaults: it wins
}

}  // namespace
}  // namespace viaduct
