// SPDX-License-Identifier: Apache-2.0
// dataplane/worker.hpp: the per-lcore run-to-completion loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/counters.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/snapshot.hpp"

struct rte_ip_frag_death_row;
struct rte_ip_frag_tbl;
struct rte_mempool;
struct rte_rcu_qsbr;
struct rte_ring;

namespace viaduct::dp {

inline constexpr uint16_t kBurst = 32;      // default RX burst
inline constexpr uint16_t kMaxBurst = 256;  // [dpdk] burst upper bound
inline constexpr uint16_t kPrefetchAhead = 3;
// How much of a frame kPrefetchAhead ahead is prefetched: the headers up to the SIP header
// section's usual end (a sipp INVITE's is ~470 bytes into the frame, 8 cache lines; its body
// is not read: the forward's checksum comes from the received one).
inline constexpr uint32_t kPrefetchBytes = 512;
inline constexpr uint16_t kMaxPorts = 8;

inline constexpr uint16_t kNoPort = UINT16_MAX;

struct WorkerQueue {
  uint16_t port = 0;
  uint16_t queue = 0;
  // kNoPort: frames go through the pipeline. Otherwise a queue of an exception TAP: its frames
  // (the kernel's) are sent unchanged on this port.
  uint16_t forward_to = kNoPort;
};

// An RX call that returns frames after this long did not spend the time polling: the worker's
// thread was not running (preempted, an interrupt, the hypervisor). A real RX call of a full
// burst copies at most a few microseconds of frames.
constexpr uint64_t kRxStallUs = 50;

// One worker: RX queues it polls, the TX queue it owns on each port, the rings it shares with the
// control thread. Created by control before launch; run() on its own lcore.
class Worker {
 public:
  Worker(uint16_t id, SnapshotSlot& slot, rte_rcu_qsbr* qsv, std::vector<WorkerQueue> queues,
         rte_ring* events, rte_ring* inject, const std::atomic<bool>& stop,
         uint16_t burst = kBurst);

  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // IPv4 fragments: a reassembly table of `max_datagrams` entries that expire after
  // `timeout_ms`, a pool of large mbufs for reassembled datagrams, and `pool` for egress
  // fragments. Init time, before launch; false when DPDK cannot provide them.
  bool enable_ip_frag(rte_mempool* pool, uint32_t max_datagrams, uint32_t timeout_ms) noexcept;

  // How long a frame whose next hop has no MAC waits for it (WorkerCtx::hold); 0: not at all,
  // a no_neighbour drop. kNeighHoldSeconds unless set. Init time, before launch.
  void set_neigh_hold(uint32_t seconds) noexcept;
  // IPv4 Identifications first, first + step, ... (this worker's index, and the number of
  // workers: no two workers hand out the same ID until they wrap).
  void set_ip_id_space(uint16_t first, uint16_t step) noexcept;

  // Entry point for rte_eal_remote_launch; `arg` is the Worker.
  static int launch(void* arg);

  // The loop: once per iteration it reads the snapshot slot, polls every RX queue, transmits,
  // drains the inject ring and reports a quiescent state. Returns when `stop` is set.
  void run() noexcept;

  const WorkerCounters& counters() const noexcept { return ctx_->counters[0]; }
  uint16_t id() const noexcept { return id_; }
  // The script's xlog/log lines this worker wrote; the control thread drains them.
  VmLogRing& vm_log() noexcept { return ctx_->pipeline.vm.log; }
  // The interpreter's state (its error counters, read by the control thread).
  const VmState& vm_state() const noexcept { return ctx_->pipeline.vm; }

 private:
  void process_burst(const Snapshot& snap, rte_mbuf** pkts, uint16_t n) noexcept;
  void flush_tx() noexcept;
  void forward_raw(uint16_t port, rte_mbuf** pkts, uint16_t n) noexcept;
  // Frames that name their TX port in m->port (held frames released, the control thread's
  // injected ones): queued on the port and sent; a port this worker has no TX queue on is a
  // no_route drop.
  void send_by_port(rte_mbuf** pkts, uint16_t n) noexcept;

  struct Ctx {
    WorkerCounters counters[1];
    WorkerCtx pipeline;
  };
  struct TxBuf {
    uint16_t queue = 0;
    uint16_t n = 0;
    bool owned = false;
    rte_mbuf* pkts[kMaxBurst * 2];
  };

  uint16_t id_;
  SnapshotSlot& slot_;
  rte_rcu_qsbr* qsv_;
  std::vector<WorkerQueue> queues_;
  rte_ring* inject_;
  uint16_t burst_;
  uint64_t rx_stall_cycles_;  // kRxStallUs in TSC cycles
  uint64_t next_frag_expiry_ = 0;  // TSC of the next expire_fragments()
  uint32_t expiry_poll_ = 0;       // loop iterations, to read the clock for it now and then
  const std::atomic<bool>& stop_;
  std::unique_ptr<Ctx> ctx_;  // large (reply scratch), cache-line aligned
  rte_mempool* big_pool_ = nullptr;
  rte_ip_frag_tbl* frag_tbl_ = nullptr;
  rte_ip_frag_death_row* death_row_ = nullptr;
  TxBuf tx_[kMaxPorts];
};

}  // namespace viaduct::dp
