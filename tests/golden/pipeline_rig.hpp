// SPDX-License-Identifier: Apache-2.0
// tests/golden/pipeline_rig.hpp: a worker's per-packet state around handle_packet() for inputs
// nobody wrote by hand: GoldenMutations (random mutations of the golden frames), the pipeline
// fuzz target (pipeline_fuzz.cpp, clang + libFuzzer) and the replay of its seed corpus. One
// input is a few frames through one fresh context (reassembly table, hold, events ring), then
// the hold released or expired; run() returns the first property the pipeline broke:
//   - what it sends is well formed: lengths as the IP header says, IPv4 header checksums right,
//     UDP (and ICMP, ICMPv6) checksums right where the frame holds the whole datagram;
//   - at most kMaxFragments fragments, each well formed;
//   - nothing held once the hold has expired;
//   - no mbuf lost: both pools are full again after the input.
// A crash or a sanitizer report is the other way to fail.
//
// Fuzz input encoding (encode() writes it): byte 0 flags, byte 1 the script, then frames, each a
// 2-byte big-endian length and that many bytes (a length past the end takes what is left). At
// most kMaxFrames.
//   flags bit 0: checksums put right again (fix_checksums) before each frame goes in
//   flags bit 1: the snapshot does not know 10.0.0.11's nor 2001:db8::11's MAC (frames to them
//                are held)
//   flags bit 2: after the frames, a snapshot that knows every MAC releases what is held
//                (else the hold expires)
//   flags bits 3-7: unused
//   script: which script (RigSet, rig_set.hpp: 0 the golden cases' one, then the differential
//           test's, modulo their count); one PipelineRig runs one script. (Until session 20 it
//           was flags bits 3-7, which held 32 scripts.)
#pragma once

#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tests/golden/golden_world.hpp"
#include "tests/support/corpus.hpp"

namespace viaduct::test {

struct RigInput {
  uint8_t flags = 0;
  uint8_t script = 0;
  std::vector<std::vector<uint8_t>> frames;
};

inline constexpr size_t kRigMaxFrames = 32;
inline constexpr uint8_t kRigFixChecksums = 1;
inline constexpr uint8_t kRigHold = 2;
inline constexpr uint8_t kRigRelease = 4;

inline RigInput decode(const uint8_t* data, size_t size) {
  RigInput in;
  if (size == 0) {
    return in;
  }
  in.flags = data[0];
  if (size == 1) {
    return in;
  }
  in.script = data[1];
  size_t at = 2;
  while (at + 2 <= size && in.frames.size() < kRigMaxFrames) {
    size_t len = static_cast<size_t>(data[at] << 8 | data[at + 1]);
    at += 2;
    len = std::min({len, size - at, size_t{RTE_MBUF_DEFAULT_DATAROOM}});
    in.frames.emplace_back(data + at, data + at + len);
    at += len;
  }
  return in;
}

inline std::vector<uint8_t> encode(const RigInput& in) {
  std::vector<uint8_t> out{in.flags, in.script};
  for (const std::vector<uint8_t>& f : in.frames) {
    out.push_back(static_cast<uint8_t>(f.size() >> 8));
    out.push_back(static_cast<uint8_t>(f.size()));
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

// Every file of a corpus directory, decoded, with its path.
inline std::vector<std::pair<std::string, RigInput>> read_corpus(
    const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, RigInput>> out;
  for (const CorpusFile& f : read_corpus_dir(dir)) {
    out.emplace_back(f.path.string(),
                     decode(reinterpret_cast<const uint8_t*>(f.bytes.data()), f.bytes.size()));
  }
  return out;
}

// `in` with each combination of flags bits 0-2, its script kept.
inline std::vector<RigInput> with_every_low_flag(const RigInput& in) {
  std::vector<RigInput> out(8, in);
  for (uint8_t low = 0; low < 8; ++low) {
    out[low].flags = static_cast<uint8_t>((in.flags & ~uint8_t{7}) | low);
  }
  return out;
}

// One to four random edits of a frame: a bit flipped, a byte set to an interesting or a random
// value, the frame cut short, or random bytes appended. Headers draw half the edits (the first
// 80 bytes hold Ethernet, IP, UDP and the start line).
inline void mutate_frame(std::vector<uint8_t>& f, std::mt19937& rng) {
  static constexpr uint8_t kInteresting[] = {0x00, 0xff, 0x7f, 0x80, 0x20, '\r', '\n', ':',
                                             ';',  ',',  '<',  '>',  '[',  ']',  '0',  '9'};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !f.empty(); ++e) {
    const size_t span = (rng() % 2 == 0) ? std::min<size_t>(f.size(), 80) : f.size();
    const size_t at = rng() % span;
    switch (rng() % 5) {
      case 0:
        f[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        f[at] = kInteresting[rng() % std::size(kInteresting)];
        break;
      case 2:
        f[at] = static_cast<uint8_t>(rng());
        break;
      case 3:
        f.resize(at);  // truncated
        break;
      default:
        for (size_t k = rng() % 48; k > 0 && f.size() < RTE_MBUF_DEFAULT_DATAROOM; --k) {
          f.push_back(static_cast<uint8_t>(rng()));
        }
        break;
    }
  }
}

// Null when the frame handle_packet() says to send is well formed, else what is wrong.
inline const char* frame_fault(const rte_mbuf* m) {
  if (m->nb_segs != 1) {
    return "a frame to send in more than one segment";
  }
  const auto* b = rte_pktmbuf_mtod(m, const uint8_t*);
  const size_t len = rte_pktmbuf_data_len(m);
  if (len < 14) {
    return "a frame to send shorter than an Ethernet header";
  }
  size_t l2 = 14;
  uint16_t type = static_cast<uint16_t>(b[12] << 8 | b[13]);
  if (type == RTE_ETHER_TYPE_VLAN) {
    if (len < 18) {
      return "a tagged frame to send shorter than its tag";
    }
    l2 = 18;
    type = static_cast<uint16_t>(b[16] << 8 | b[17]);
  }
  if (type == RTE_ETHER_TYPE_ARP) {
    return len >= l2 + 28 ? nullptr : "an ARP frame shorter than an ARP packet";
  }
  if (type == RTE_ETHER_TYPE_IPV4) {
    if (len < l2 + 20) {
      return "an IPv4 frame shorter than its header";
    }
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(b + l2);
    if (static_cast<size_t>(ntohs(ip->total_length)) != len - l2) {
      return "an IPv4 total length that is not the frame's";
    }
    const size_t ihl = static_cast<size_t>(ip->version_ihl & 0x0f) * 4;
    if ((ip->version_ihl >> 4) != 4 || ihl < 20 || ihl > len - l2) {
      return "a bad IPv4 version or header length";
    }
    if (rte_raw_cksum(ip, ihl) != 0xffff) {
      return "a wrong IPv4 header checksum";
    }
    const bool whole = (ntohs(ip->fragment_offset) & 0x3fff) == 0;  // no MF, offset 0
    const size_t l4 = len - l2 - ihl;
    if (whole && ip->next_proto_id == IPPROTO_UDP) {
      if (l4 < 8) {
        return "a UDP datagram shorter than its header";
      }
      const auto* udp = reinterpret_cast<const rte_udp_hdr*>(b + l2 + ihl);
      if (static_cast<size_t>(ntohs(udp->dgram_len)) != l4) {
        return "a UDP length that is not the datagram's";
      }
      if (udp->dgram_cksum != 0 && rte_ipv4_udptcp_cksum_verify(ip, udp) != 0) {
        return "a wrong UDP checksum (IPv4)";
      }
    } else if (whole && ip->next_proto_id == IPPROTO_ICMP && rte_raw_cksum(b + l2 + ihl, l4) !=
                                                                    0xffff) {
      return "a wrong ICMP checksum";
    }
    return nullptr;
  }
  if (type == RTE_ETHER_TYPE_IPV6) {
    if (len < l2 + 40) {
      return "an IPv6 frame shorter than its header";
    }
    const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(b + l2);
    if (static_cast<size_t>(ntohs(ip->payload_len)) != len - l2 - 40) {
      return "an IPv6 payload length that is not the frame's";
    }
    if (ip->proto == IPPROTO_UDP || ip->proto == IPPROTO_ICMPV6) {
      if (ip->proto == IPPROTO_UDP &&
          ntohs(reinterpret_cast<const rte_udp_hdr*>(ip + 1)->dgram_len) != len - l2 - 40) {
        return "a UDP length that is not the datagram's (IPv6)";
      }
      if (rte_ipv6_udptcp_cksum_verify(ip, ip + 1) != 0) {
        return "a wrong UDP or ICMPv6 checksum (IPv6)";
      }
    }
    return nullptr;
  }
  return "a frame to send that is not ARP, IPv4 or IPv6";
}

class PipelineRig {
 public:
  // pool: input frames and fragments (every mbuf in it must be free); big_pool: reassembled
  // datagrams. `error` says why when ok() is false. The golden cases' snapshots.
  PipelineRig(rte_mempool* pool, rte_mempool* big_pool, std::string& error)
      : PipelineRig(pool, big_pool, golden_snapshot(error),
                    golden_snapshot(error, {"no-neighbour 10.0.0.11", "no-neighbour 2001:db8::11"}),
                    error) {}
  // Other snapshots: `full` knows every next hop's MAC, `held` (kRigHold) not all of them.
  PipelineRig(rte_mempool* pool, rte_mempool* big_pool, std::unique_ptr<ctl::OwnedSnapshot> full,
              std::unique_ptr<ctl::OwnedSnapshot> held, std::string& error)
      : pool_(pool), big_pool_(big_pool), full_(std::move(full)), held_(std::move(held)) {
    static int n_rings = 0;
    const std::string name = "rig_ev" + std::to_string(n_rings++);
    events_ = rte_ring_create_elem(name.c_str(), sizeof(dp::Event), 64, 0,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
    death_row_ = static_cast<rte_ip_frag_death_row*>(
        rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
    if (full_ && held_ && (events_ == nullptr || death_row_ == nullptr)) {
      error = "no events ring or death row";
    }
    if (ok()) {
      full_->snap.generation = 2;
      held_->snap.generation = 1;
      pool_free_ = rte_mempool_avail_count(pool_);
      big_free_ = rte_mempool_avail_count(big_pool_);
    }
  }
  ~PipelineRig() {
    rte_ring_free(events_);
    rte_free(death_row_);
  }
  PipelineRig(const PipelineRig&) = delete;
  PipelineRig& operator=(const PipelineRig&) = delete;

  bool ok() const { return full_ && held_ && events_ != nullptr && death_row_ != nullptr; }
  uint64_t sent() const { return sent_; }
  // Called with true just before each handle_packet() and service_held() call, with false just
  // after (pipeline_alloc_test counts the heap allocations in between).
  void (*around_pipeline)(bool entering) = [](bool) {};

  // One input through a fresh worker context. Null: every property held.
  const char* run(const RigInput& in) {
    // Made anew in the same memory: a WorkerCtx is 1.3 MB, and allocating one per input (mapped
    // and unmapped each time) took most of the fuzz target's time.
    dp::WorkerCtx* const ctx = ctx_.get();
    std::destroy_at(ctx);
    std::construct_at(ctx);
    dp::WorkerCounters counters;
    ctx->counters = &counters;
    ctx->events = events_;
    ctx->pool = pool_;
    ctx->big_pool = big_pool_;
    ctx->neigh_hold_cycles = rte_get_tsc_hz();
    ctx->death_row = death_row_;
    ctx->frag_tbl = rte_ip_frag_table_create(16, 8, 64, rte_get_tsc_hz() * 2, 0);
    if (ctx->frag_tbl == nullptr) {
      return "no reassembly table";
    }
    const char* fault = frames(in, *ctx);
    if (fault == nullptr && (in.flags & kRigRelease) != 0) {
      fault = drain_hold(full_->snap, *ctx, rte_rdtsc());
    }
    if (fault == nullptr) {
      fault = drain_hold(snap(in), *ctx, UINT64_MAX);  // what is left expires
    }
    if (fault == nullptr && ctx->hold.n != 0) {
      fault = "frames still held after the hold time";
    }
    dp::free_held(*ctx);
    rte_ip_frag_table_destroy(ctx->frag_tbl);
    rte_ip_frag_free_death_row(death_row_, 0);
    for (dp::Event ev; rte_ring_sc_dequeue_elem(events_, &ev, sizeof(ev)) == 0;) {
    }
    if (fault == nullptr && rte_mempool_avail_count(pool_) != pool_free_) {
      fault = "mbufs lost";
    }
    if (fault == nullptr && rte_mempool_avail_count(big_pool_) != big_free_) {
      fault = "big (reassembly) mbufs lost";
    }
    return fault;
  }

 private:
  const dp::Snapshot& snap(const RigInput& in) const {
    return (in.flags & kRigHold) != 0 ? held_->snap : full_->snap;
  }

  const char* frames(const RigInput& in, dp::WorkerCtx& ctx) {
    for (const std::vector<uint8_t>& f : in.frames) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool_);
      if (m == nullptr) {
        return "the pool ran dry";
      }
      if (!f.empty()) {
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
      }
      m->port = 0;
      if ((in.flags & kRigFixChecksums) != 0) {
        fix_checksums(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m));
      }
      around_pipeline(true);
      const dp::Verdict v = dp::handle_packet(snap(in), m, ctx);
      around_pipeline(false);
      const char* fault = nullptr;
      if (v.is_tx()) {
        ++sent_;
        fault = frame_fault(m);
      } else if (v.kind == dp::Verdict::Kind::kTxMany) {
        ++sent_;
        if (ctx.n_frags > dp::kMaxFragments) {
          return "more fragments than kMaxFragments";  // frag_out overflowed already
        }
        for (uint16_t k = 0; k < ctx.n_frags && fault == nullptr; ++k) {
          fault = frame_fault(ctx.frag_out[k]);
        }
        rte_pktmbuf_free_bulk(ctx.frag_out, ctx.n_frags);
      }
      if (v.kind != dp::Verdict::Kind::kHeld) {
        rte_pktmbuf_free(m);
      }
      rte_ip_frag_free_death_row(death_row_, 0);
      if (fault != nullptr) {
        return fault;
      }
    }
    return nullptr;
  }

  // service_held() against `s` at `now`: checks and frees what it releases.
  const char* drain_hold(const dp::Snapshot& s, dp::WorkerCtx& ctx, uint64_t now) {
    rte_mbuf* out[dp::NeighHold::kMax];
    around_pipeline(true);
    const uint16_t n = dp::service_held(s, ctx, now, out, dp::NeighHold::kMax);
    around_pipeline(false);
    const char* fault = nullptr;
    for (uint16_t i = 0; i < n; ++i) {
      fault = fault != nullptr ? fault : frame_fault(out[i]);
    }
    rte_pktmbuf_free_bulk(out, n);
    return fault;
  }

  rte_mempool* pool_;
  rte_mempool* big_pool_;
  std::unique_ptr<ctl::OwnedSnapshot> full_;
  std::unique_ptr<ctl::OwnedSnapshot> held_;
  std::unique_ptr<dp::WorkerCtx> ctx_ = std::make_unique<dp::WorkerCtx>();
  rte_ring* events_ = nullptr;
  rte_ip_frag_death_row* death_row_ = nullptr;
  unsigned pool_free_ = 0;
  unsigned big_free_ = 0;
  uint64_t sent_ = 0;
};

}  // namespace viaduct::test
