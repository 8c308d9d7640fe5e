// SPDX-License-Identifier: Apache-2.0
#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>
#include <string>

namespace viaduct::dp {

Worker::Worker(uint16_t id, SnapshotSlot& slot, rte_rcu_qsbr* qsv,
               std::vector<WorkerQueue> queues, rte_ring* events, rte_ring* inject,
               const std::atomic<bool>& stop, uint16_t burst)
    : id_(id),
      slot_(slot),
      qsv_(qsv),
      queues_(std::move(queues)),
      inject_(inject),
      burst_(burst == 0 ? kBurst : (burst > kMaxBurst ? kMaxBurst : burst)),
      rx_stall_cycles_(rte_get_tsc_hz() / 1000000 * kRxStallUs),
      stop_(stop),
      ctx_(std::make_unique<Ctx>()) {
  ctx_->pipeline.worker_id = id;
  ctx_->pipeline.counters = &ctx_->counters[0];
  ctx_->pipeline.events = events;
  ctx_->pipeline.neigh_hold_cycles = rte_get_tsc_hz() * kNeighHoldSeconds;
  for (const WorkerQueue& q : queues_) {
    if (q.port < kMaxPorts) {
      tx_[q.port].queue = q.queue;
      tx_[q.port].owned = true;
    }
  }
}

int Worker::launch(void* arg) {
  static_cast<Worker*>(arg)->run();
  return 0;
}

void Worker::flush_tx() noexcept {
  WorkerCounters& c = ctx_->counters[0];
  for (uint16_t p = 0; p < kMaxPorts; ++p) {
    TxBuf& t = tx_[p];
    if (t.n == 0) {
      continue;
    }
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < t.n; ++i) {
      bytes += rte_pktmbuf_pkt_len(t.pkts[i]);
    }
    const uint16_t sent = rte_eth_tx_burst(p, t.queue, t.pkts, t.n);
    for (uint16_t i = sent; i < t.n; ++i) {
      bytes -= rte_pktmbuf_pkt_len(t.pkts[i]);
    }
    c.tx_packets.add(sent);
    c.tx_bytes.add(bytes);
    if (sent < t.n) {
      c.drops[static_cast<size_t>(Drop::kTxFull)].add(t.n - sent);
      rte_pktmbuf_free_bulk(t.pkts + sent, t.n - sent);
    }
    t.n = 0;
  }
}

namespace {

// The first kPrefetchBytes of a frame (or all of a shorter one), a cache line at a time: the
// scanner walks the whole header section, ~8 lines a message, which the generator's or the
// NIC's writes left outside this core's caches. A frame of kPrefetchBytes or more (an INVITE,
// a 200 OK with SDP) gets the lines as straight-line code: the loop with its length tests was
// ~53 instructions a frame (callgrind on viaduct-pipeline-bench, perf/RESULTS.md, W11).
[[gnu::always_inline]] inline void prefetch_frame(const rte_mbuf* m) noexcept {
  const char* p = rte_pktmbuf_mtod(m, const char*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len >= kPrefetchBytes) [[likely]] {
#pragma GCC unroll 16
    for (uint32_t off = 0; off < kPrefetchBytes; off += RTE_CACHE_LINE_SIZE) {
      rte_prefetch0(p + off);
    }
    return;
  }
  for (uint32_t off = 0; off < len; off += RTE_CACHE_LINE_SIZE) {
    rte_prefetch0(p + off);
  }
}

}  // namespace

void Worker::process_burst(const Snapshot& snap, rte_mbuf** pkts, uint16_t n) noexcept {
  WorkerCounters& c = ctx_->counters[0];
  rte_mbuf* dropped[kMaxBurst];
  uint16_t n_dropped = 0;
  // The mbuf headers twice as far ahead as the frames: prefetch_frame() reads a header's data
  // pointer and length, and a header not in cache there stalls the loop on that load.
  for (uint16_t i = 0; i < n && i < 2 * kPrefetchAhead; ++i) {
    rte_prefetch0(pkts[i]);
  }
  for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i) {
    prefetch_frame(pkts[i]);
  }
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 2 * kPrefetchAhead < n) {
      rte_prefetch0(pkts[i + 2 * kPrefetchAhead]);
    }
    if (i + kPrefetchAhead < n) {
      prefetch_frame(pkts[i + kPrefetchAhead]);
    }
    c.rx_bytes.add(rte_pktmbuf_pkt_len(pkts[i]));
    const Verdict v = handle_packet(snap, pkts[i], ctx_->pipeline);
    if (!v.is_tx() || v.tx_port >= kMaxPorts || !tx_[v.tx_port].owned) [[unlikely]] {
      if (v.kind == Verdict::Kind::kHeld) {
        continue;  // a fragment the reassembly table keeps
      }
      if (v.kind == Verdict::Kind::kTxMany && v.tx_port < kMaxPorts && tx_[v.tx_port].owned) {
        WorkerCtx& pc = ctx_->pipeline;
        for (uint16_t k = 0; k < pc.n_frags; ++k) {
          TxBuf& t = tx_[v.tx_port];
          t.pkts[t.n++] = pc.frag_out[k];
          if (t.n == kMaxBurst * 2) {
            flush_tx();
          }
        }
        dropped[n_dropped++] = pkts[i];  // the datagram the fragments were cut from
        continue;
      }
      if (v.is_drop()) {
        c.drop(v.drop);
      } else if (v.is_tx() || v.kind == Verdict::Kind::kTxMany) {
        c.drop(Drop::kNoRoute);  // a port this worker has no TX queue on
        if (v.kind == Verdict::Kind::kTxMany) {
          rte_pktmbuf_free_bulk(ctx_->pipeline.frag_out, ctx_->pipeline.n_frags);
        }
      }
      dropped[n_dropped++] = pkts[i];
      continue;
    }
    TxBuf& t = tx_[v.tx_port];
    t.pkts[t.n++] = pkts[i];
    if (t.n == kMaxBurst * 2) {
      flush_tx();
    }
  }
  if (n_dropped != 0) {
    rte_pktmbuf_free_bulk(dropped, n_dropped);
  }
  flush_tx();
  drain_death_row(ctx_->pipeline);  // handle_packet leaves it empty; kept as a backstop
}

void Worker::send_by_port(rte_mbuf** pkts, uint16_t n) noexcept {
  for (uint16_t i = 0; i < n; ++i) {
    const uint16_t p = pkts[i]->port;
    if (p >= kMaxPorts || !tx_[p].owned) {
      ctx_->counters[0].drop(Drop::kNoRoute);  // a port this worker has no TX queue on
      rte_pktmbuf_free(pkts[i]);
      continue;
    }
    TxBuf& t = tx_[p];
    t.pkts[t.n++] = pkts[i];
    if (t.n == kMaxBurst * 2) {
      flush_tx();
    }
  }
  flush_tx();
}

void Worker::forward_raw(uint16_t port, rte_mbuf** pkts, uint16_t n) noexcept {
  WorkerCounters& c = ctx_->counters[0];
  if (port >= kMaxPorts || !tx_[port].owned) {
    c.drops[static_cast<size_t>(Drop::kNoRoute)].add(n);
    rte_pktmbuf_free_bulk(pkts, n);
    return;
  }
  c.exception_out.add(n);
  TxBuf& t = tx_[port];
  for (uint16_t i = 0; i < n; ++i) {
    t.pkts[t.n++] = pkts[i];
    if (t.n == kMaxBurst * 2) {
      flush_tx();
    }
  }
  flush_tx();
}

void Worker::set_ip_id_space(uint16_t first, uint16_t step) noexcept {
  ctx_->pipeline.ip_id = first;
  ctx_->pipeline.ip_id_step = step == 0 ? 1 : step;
}

void Worker::set_neigh_hold(uint32_t seconds) noexcept {
  ctx_->pipeline.neigh_hold_cycles = rte_get_tsc_hz() * seconds;
}

bool Worker::enable_ip_frag(rte_mempool* pool, uint32_t max_datagrams,
                            uint32_t timeout_ms) noexcept {
  const std::string big = "vd_big_" + std::to_string(id_);
  // Whole datagrams up to 64 KiB plus room for our Via; few in flight at once per worker.
  big_pool_ = rte_pktmbuf_pool_create(big.c_str(), 63, 0, 0,
                                      UINT16_MAX, rte_socket_id());
  const uint64_t cycles = rte_get_tsc_hz() / 1000 * timeout_ms;
  const uint32_t buckets = max_datagrams / 8 < 16 ? 16 : max_datagrams / 8;
  frag_tbl_ = rte_ip_frag_table_create(buckets, 8, max_datagrams, cycles,
                                       static_cast<int>(rte_socket_id()));
  death_row_ = static_cast<rte_ip_frag_death_row*>(
      rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
  if (big_pool_ == nullptr || frag_tbl_ == nullptr || death_row_ == nullptr) {
    return false;
  }
  WorkerCtx& pc = ctx_->pipeline;
  pc.pool = pool;
  pc.big_pool = big_pool_;
  pc.frag_tbl = frag_tbl_;
  pc.death_row = death_row_;
  return true;
}

Worker::~Worker() {
  if (frag_tbl_ != nullptr) {
    rte_ip_frag_table_destroy(frag_tbl_);
  }
  if (death_row_ != nullptr) {
    rte_ip_frag_free_death_row(death_row_, 0);
    rte_free(death_row_);
  }
  if (big_pool_ != nullptr) {
    rte_mempool_free(big_pool_);
  }
}

void Worker::run() noexcept {
  rte_rcu_qsbr_thread_register(qsv_, id_);
  rte_rcu_qsbr_thread_online(qsv_, id_);
  WorkerCounters& c = ctx_->counters[0];
  rte_mbuf* rx[kMaxBurst];
  while (!stop_.load(std::memory_order_relaxed)) {
    // One snapshot per iteration: every packet of the iteration sees the same tables, and
    // nothing below keeps `snap` past the quiescent call.
    const Snapshot& snap = slot_.current();
    c.snapshot_generation.set(snap.generation);
    for (const WorkerQueue& q : queues_) {
      // Busy time starts before the RX burst: a burst that returns frames is work (a PMD such
      // as net_af_packet copies each one), and viaduct's CPU-seconds must count it. Unless the
      // call took kRxStallUs or more: the worker spends nearly all its idle time inside the RX
      // call, so that is where a descheduled thread resumes, and frames queued meanwhile make
      // the burst non-empty. Such a burst's time counts from the end of the RX call.
      uint64_t t0 = rte_rdtsc();
      const uint16_t n = rte_eth_rx_burst(q.port, q.queue, rx, burst_);
      if (n == 0) {
        continue;
      }
      if (const uint64_t t1 = rte_rdtsc(); t1 - t0 >= rx_stall_cycles_) [[unlikely]] {
        c.rx_stalls.add();
        t0 = t1;
      }
      if (q.forward_to != kNoPort) [[unlikely]] {
        forward_raw(q.forward_to, rx, n);
        c.busy_tsc.add(rte_rdtsc() - t0);
        continue;
      }
      c.rx_packets.add(n);
      ctx_->pipeline.dispatch.burst_tsc = t0;
      process_burst(snap, rx, n);
      c.busy_tsc.add(rte_rdtsc() - t0);
    }
    if (ctx_->pipeline.hold.n != 0) [[unlikely]] {
      // Frames waiting for a next hop's MAC: sent once it is known, dropped when too old.
      const uint64_t t0 = rte_rdtsc();
      const uint16_t n = service_held(snap, ctx_->pipeline, t0, rx, kMaxBurst);
      if (n != 0) {
        send_by_port(rx, n);
        c.busy_tsc.add(rte_rdtsc() - t0);
      }
    }
    if (ctx_->pipeline.frag_tbl != nullptr && (++expiry_poll_ & 255u) == 0) {
      // Partial datagrams past their time: DPDK frees them only when a later fragment lands
      // in their bucket, so without this a flood of fragments that never complete would keep
      // the mbuf pool's buffers for good. The clock is read every 256th iteration.
      if (const uint64_t now = rte_rdtsc(); now >= next_frag_expiry_) {
        next_frag_expiry_ = now + rte_get_tsc_hz() / 1000 * kFragExpiryMs;
        expire_fragments(ctx_->pipeline, now);
      }
    }
    if (inject_ != nullptr) {
      // Frames the control thread wants sent (ARP requests), on the queues this worker owns.
      const unsigned n = rte_ring_sc_dequeue_burst(inject_, reinterpret_cast<void**>(rx), kBurst,
                                                   nullptr);
      if (n != 0) {
        send_by_port(rx, static_cast<uint16_t>(n));
      }
    }
    c.loops.add();
    rte_rcu_qsbr_quiescent(qsv_, id_);
  }
  flush_tx();
  free_held(ctx_->pipeline);
  rte_rcu_qsbr_thread_offline(qsv_, id_);
  rte_rcu_qsbr_thread_unregister(qsv_, id_);
}

}  // namespace viaduct::dp
