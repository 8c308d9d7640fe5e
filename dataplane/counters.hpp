// SPDX-License-Identifier: Apache-2.0
// dataplane/counters.hpp: per-worker counters. Written only by their worker, read by the
// metrics exposer at scrape time (relaxed loads); no lock, no shared cache line.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/sip/sip.hpp"

namespace viaduct::dp {

// One list gives the enum, the metric label and the README table.
#define VD_DROP_REASONS(X)                                 \
  X(kRuntFrame, "runt_frame")                              \
  X(kUnsupportedL2, "unsupported_l2")                      \
  X(kUnknownVlan, "unknown_vlan")                          \
  X(kArpIgnored, "arp_ignored")                            \
  X(kBadIpv4, "bad_ipv4")                                  \
  X(kNotForUs, "not_for_us")                               \
  X(kIpFragment, "ip_fragment")                            \
  X(kNotUdp, "not_udp")                                    \
  X(kIcmpIgnored, "icmp_ignored")                          \
  X(kBadUdp, "bad_udp")                                    \
  X(kNoListener, "no_listener")                            \
  X(kMultiSegment, "multi_segment")                        \
  X(kMalformedSip, "malformed_sip")                        \
  X(kScriptDrop, "script_drop")                            \
  X(kScriptError, "script_error")                          \
  X(kUnresolvable, "unresolvable")                         \
  X(kNoRoute, "no_route")                                  \
  X(kNoNeighbour, "no_neighbour")                          \
  X(kNoHeadroom, "no_headroom")                            \
  X(kReplyNotOurs, "reply_not_ours")                       \
  X(kReplyNoVia2, "reply_no_second_via")                   \
  X(kBlocklisted, "blocklisted")                           \
  X(kTooBig, "too_big")                                    \
  X(kNoMbuf, "no_mbuf")                                    \
  X(kTxFull, "tx_full")                                    \
  X(kNeedsSlowPath, "needs_slow_path")                     \
  X(kEditConflict, "edit_conflict")                        \
  X(kReplyRouteDrop, "reply_route_drop")                   \
  X(kOnSendDrop, "onsend_route_drop")                     \
  X(kBadIpv6, "bad_ipv6")                                  \
  X(kIpv6ExtHeader, "ipv6_ext_header")                     \
  X(kNdInvalid, "nd_invalid")                              \
  X(kIpv6BadExt, "ipv6_bad_ext")                           \
  X(kIpv4BadChecksum, "ipv4_bad_checksum")                 \
  X(kUdpBadChecksum, "udp_bad_checksum")                   \
  X(kToSelf, "to_self")                                    \
  X(kFragmentDiscarded, "fragment_discarded")

enum class Drop : uint8_t {
#define VD_X(e, s) e,
  VD_DROP_REASONS(VD_X)
#undef VD_X
  kCount,
};
const char* drop_name(Drop d) noexcept;

inline constexpr size_t kScanStatusCount = 0
#define VD_X(e, s) +1
    VD_SCAN_STATUS(VD_X)
#undef VD_X
    ;

// Single writer (the owning worker), any number of readers. A relaxed load + store compiles to
// a plain add: no lock prefix.
class Counter {
 public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
  uint64_t read() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Destinations get an id (0 reserved) for per-destination counters, kept while they stay in
// the list and given again once they have left it (ctl::DestinationIds).
inline constexpr size_t kMaxDestinations = 1024;
// Reply classes counted per destination: 1xx .. 6xx.
inline constexpr size_t kReplyClasses = 6;

struct alignas(64) WorkerCounters {
  Counter rx_packets;
  Counter tx_packets;
  Counter rx_bytes;
  Counter tx_bytes;
  Counter arp_replies_sent;
  Counter arp_requests_sent;
  Counter icmp_echo_replies;      // pings to our addresses answered
  Counter fragments_received;     // IPv4 fragments to us, into reassembly
  Counter datagrams_reassembled;
  Counter fragments_sent;         // egress fragments of datagrams above the MTU
  Counter exception_in;           // frames handed to the kernel (exception path)
  Counter exception_out;          // frames from the kernel sent on the wire
  Counter sip_requests;           // valid SIP requests received
  Counter sip_replies;            // valid SIP replies received
  Counter requests_forwarded;
  Counter replies_forwarded;
  Counter local_replies;          // sl_send_reply
  Counter sl_filtered_acks;       // ACKs of local replies, absorbed before the script (sl)
  Counter events_dropped;         // worker -> control ring full
  Counter probe_replies;          // replies to the control thread's probes, handed to control
  Counter icmp_unreachable;       // ICMP port/host unreachable about our datagrams, to control
  Counter send_failures;          // forwards to a destination with no route / no neighbour
  Counter neigh_held;             // frames held for their next hop's MAC (WorkerCtx::hold)
  Counter neigh_held_sent;        // held frames sent once the MAC was known
  Counter busy_tsc;               // TSC cycles spent on non-empty bursts
  Counter rx_stalls;              // RX calls that returned frames after kRxStallUs or more
  Counter loops;
  Counter snapshot_generation;    // generation this worker last used
  Counter drops[static_cast<size_t>(Drop::kCount)];
  Counter parse_errors[kScanStatusCount];
  Counter selected[kMaxDestinations];   // ds_select_dst choices, by destination id
  Counter forwarded_to[kMaxDestinations];
  Counter replies_from[kMaxDestinations][kReplyClasses];  // replies received, by class

  void drop(Drop d) noexcept { drops[static_cast<size_t>(d)].add(); }
};

}  // namespace viaduct::dp
