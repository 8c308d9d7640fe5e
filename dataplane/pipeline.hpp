// SPDX-License-Identifier: Apache-2.0
// dataplane/pipeline.hpp: the one per-packet entry point, handle_packet(). A free function over
// (snapshot, mbuf, worker context) so tests and benchmarks call exactly what the workers call.
#pragma once

#include <rte_byteorder.h>

#include <bit>
#include <cstdint>
#include <string_view>

#include "dataplane/counters.hpp"
#include "dataplane/dispatch.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"
#include "dataplane/vm.hpp"

struct rte_ether_hdr;
struct rte_ip_frag_death_row;
struct rte_ip_frag_tbl;
struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace viaduct::dp {

// Worker -> control events. 32 bytes, carried in an rte_ring of elements; when the ring is full
// the event is dropped and counted.
//   kNeighLearned / kNeighMiss: iface, ip_be (the neighbour), mac (learned only).
//   kNeigh6Learned / kNeigh6Miss: the same for an IPv6 neighbour: ip6 the neighbour's address.
//   kProbeReply: a final or provisional reply to one of the control thread's probes: ip_be is
//     the probe's sequence number (from its branch), aux the status code, mac.b[0..3] the
//     reply's source address (network order) and mac.b[4..5] its source port; from an IPv6
//     source, ip6 holds its address (and mac.b[0..3] is zero).
//   kIcmpUnreachable: an ICMP port/host unreachable about a datagram we sent: ip_be and aux are
//     the quoted destination address and UDP port (network order). From ICMPv6 (address/port
//     unreachable): ip_be 0 and ip6 the quoted destination.
//   kSendFailed: a forward to a dispatcher destination failed before it left (Kamailio's send
//     error): ip_be and aux its address and port (network order), pad the reason (the Drop:
//     no_route or no_neighbour), mac.b[0..3] the next hop that has no MAC (no_neighbour). An
//     IPv6 destination: ip_be 0, ip6 its address (control derives the next hop: iface's link
//     or gateway6). pad | kSendFailedWaited: the datagram was held for the next hop's MAC for
//     the whole hold time (ARP or ND has had its chance: control need not wait any longer).
// The IPv6 address widened the element from 16 to 32 bytes: events are rare (a miss, a new
// neighbour, a probe reply), so the wider copy costs the hot path nothing.
struct Event {
  enum class Type : uint8_t {
    kNeighLearned,
    kNeighMiss,
    kProbeReply,
    kIcmpUnreachable,
    kSendFailed,
    kMarkDst,  // ds_mark_dst(): mac.b[0..3] the destination's id, iface its new state bits
    kNeigh6Learned,
    kNeigh6Miss,
  };
  Type type = Type::kNeighLearned;
  uint8_t pad = 0;
  uint16_t iface = 0;
  uint32_t ip_be = 0;
  MacAddr mac;
  uint16_t aux = 0;
  uint8_t ip6[16] = {};
};
static_assert(sizeof(Event) == 32);
inline constexpr uint8_t kSendFailedWaited = 0x80;

// The branch of the control thread's probes: this prefix, then 8 lowercase hex digits of the
// probe's sequence number (control/prober.hpp builds them). Forwarded requests get "z9hG4bK" +
// 16 hex digits, so the two never collide ('v' is not a hex digit).
inline constexpr std::string_view kProbeBranchPrefix = "z9hG4bKvdprb";

inline constexpr size_t kReplyScratch = 65536;
// Fragments one datagram may be cut into on egress (65535 / 1480 < 45).
inline constexpr size_t kMaxFragments = 48;

// Neighbours this worker learned from frames it received (and, for IPv6, from NS and NA),
// consulted when the published snapshot does not know a next hop yet. It closes the gap between
// a sender's first frame and the snapshot that carries its MAC (one control-loop turn): without
// it, a backend's immediate reply to a new client would be dropped. Direct-mapped, worker-local,
// never shared.
template <class Addr, size_t N>
class LocalNeighbourCache {
 public:
  static constexpr size_t kSize = N;
  const MacAddr* find(const Addr& ip) const noexcept {
    const Entry& e = e_[addr_hash(ip) % kSize];
    return e.ip == ip && !addr_empty(ip) ? &e.mac : nullptr;
  }
  void put(const Addr& ip, const MacAddr& mac) noexcept { e_[addr_hash(ip) % kSize] = {ip, mac}; }

 private:
  struct Entry {
    Addr ip{};
    MacAddr mac;
  };
  Entry e_[kSize];
};
using LocalNeighbours = LocalNeighbourCache<uint32_t, 256>;
using LocalNeighbours6 = LocalNeighbourCache<Ip6, 64>;

// The dotted-decimal text of recent sources' IPv4 addresses (a forward compares it with the top
// Via's host and writes it into received=): direct-mapped on the address's last byte. Senders
// are few at an SBC farm's edge; a miss formats it (format_ipv4), as every forward did before.
struct Ipv4TextCache {
  static constexpr size_t kSize = 16;
  struct Entry {
    uint32_t ip_be = 0;
    uint8_t len = 0;  // 0: empty
    char text[19];    // format_ipv4 writes up to 16 bytes
  };
  Entry e[kSize];
};

// Frames whose next hop had no MAC yet, held until ARP or Neighbor Discovery answers (the
// kernel's neighbour queue, which Kamailio's sends go through: a first INVITE to a new backend
// waits for the ARP reply instead of being lost to a 500 ms retransmission). Each frame is
// complete but for its destination MAC. Bounded per worker (kMax frames, kPerHop of them for
// one next hop, so one dead hop cannot take all of it) and in time: a frame not sent within
// WorkerCtx::neigh_hold_cycles is dropped as no_neighbour, a send failure for its destination
// (Linux gives up after 3 solicitations a second apart, so does viaduct by default). FIFO: one
// hold time for all, so the first frame expires first.
struct HeldFrame {
  rte_mbuf* m = nullptr;
  uint64_t deadline = 0;     // TSC
  uint32_t hop_be = 0;       // the IPv4 next hop (v6: hop6)
  uint32_t dest_id = 0;      // the dispatcher destination (0: none), for a send failure
  uint32_t dst_ip_be = 0;    // the datagram's destination, for a send failure
  uint16_t dst_port_be = 0;
  uint16_t iface = 0;        // egress iface
  uint16_t tx_port = 0;
  bool v6 = false;
  bool first = true;         // the datagram's first frame (fragments: one send failure each)
  bool fragment = false;     // a fragment: fragments_sent counts it when it leaves
  Ip6 hop6;
  Ip6 dst6;                  // v6: the datagram's destination, for a send failure
};
struct NeighHold {
  static constexpr uint16_t kMax = 64;
  static constexpr uint16_t kPerHop = 16;
  uint16_t n = 0;
  uint32_t learned_seen = 0;       // WorkerCtx::neigh_learned when the frames were last looked up
  uint64_t generation_seen = ~uint64_t{0};  // the snapshot they were last looked up in
  HeldFrame f[kMax];
};

// Per-worker state the pipeline may write. Owned by one worker.
struct WorkerCtx {
  uint16_t worker_id = 0;
  WorkerCounters* counters = nullptr;
  rte_ring* events = nullptr;     // single producer (this worker), single consumer (control)
  // IPv4 Identification of what this worker sends: ip_id, then ip_id + ip_id_step... The
  // worker takes its index and steps by the number of workers (Worker::set_ip_id_space), so
  // two workers never give one destination the same ID at once: a backend reassembling
  // fragments of two datagrams with one ID would drop both.
  uint16_t ip_id = 0;
  uint16_t ip_id_step = 1;
  bool in_atomic_fragment = false;  // handling the datagram of an IPv6 atomic fragment
  DispatchState dispatch;
  LocalNeighbours neigh;
  LocalNeighbours6 neigh6;
  Ip6 hop6;                       // scratch: an IPv6 next hop parsed from a URI
  uint32_t ip6_frag_id = 0;       // identification of the IPv6 datagrams we fragment
  // IPv4 fragments: reassembly (a per-worker rte_ip_frag table, bounded in datagrams and time;
  // whole datagrams are copied into one mbuf of big_pool) and egress fragmentation (fragments
  // are fresh mbufs of pool). Null: fragments are dropped (ip_fragment) and messages above
  // the MTU too (too_big).
  rte_mempool* pool = nullptr;
  rte_mempool* big_pool = nullptr;
  rte_ip_frag_tbl* frag_tbl = nullptr;
  rte_ip_frag_death_row* death_row = nullptr;
  uint16_t n_frags = 0;           // kTxMany: frag_out[0, n_frags)
  rte_mbuf* frag_out[kMaxFragments];
  char reply_buf[kReplyScratch];  // stateless replies are built here
  VmState vm;                     // the script interpreter's $var slots, scratch and log ring
  Ipv4TextCache src_text;
  // Frames waiting for their next hop's MAC; neigh_hold_cycles 0: none are held (a miss is a
  // no_neighbour drop at once). The worker sets kNeighHoldSeconds in TSC cycles, or the
  // settings' [neighbours] hold.
  uint64_t neigh_hold_cycles = 0;
  uint32_t neigh_learned = 0;  // bumped when neigh or neigh6 learns a MAC (held frames look again)
  NeighHold hold;
};

inline constexpr uint32_t kNeighHoldSeconds = 3;

// The IPv4 Identification step of n workers: n rounded up to a power of two, which divides
// 65536, so a worker's IDs stay in its own class modulo the step when they wrap.
constexpr uint16_t ip_id_step_for(uint16_t workers) noexcept {
  uint16_t step = 1;
  while (step < workers && step < 0x8000) {
    step = static_cast<uint16_t>(step * 2);
  }
  return step;
}

struct Verdict {
  // consumed: used up here, not a drop (the caller frees it). held: the pipeline kept the mbuf
  // (a fragment waiting for the rest of its datagram, a frame waiting for its next hop's MAC;
  // the caller must not touch it). tx_many:
  // send ctx.frag_out[0, ctx.n_frags) on tx_port, then free the mbuf.
  enum class Kind : uint8_t { kTx, kDrop, kConsumed, kHeld, kTxMany };
  Kind kind = Kind::kDrop;
  Drop drop = Drop::kRuntFrame;
  uint16_t tx_port = 0;

  static Verdict tx(uint16_t port) noexcept { return {Kind::kTx, Drop::kRuntFrame, port}; }
  static Verdict tx_many(uint16_t port) noexcept {
    return {Kind::kTxMany, Drop::kRuntFrame, port};
  }
  static Verdict dropped(Drop d) noexcept { return {Kind::kDrop, d, 0}; }
  static Verdict consumed() noexcept { return {Kind::kConsumed, Drop::kRuntFrame, 0}; }
  static Verdict held() noexcept { return {Kind::kHeld, Drop::kRuntFrame, 0}; }
  bool is_drop() const noexcept { return kind == Kind::kDrop; }
  bool is_tx() const noexcept { return kind == Kind::kTx; }
};

// Handles one received frame. On kTx the mbuf has been rewritten in place into the frame to send
// on tx_port; on kDrop the caller frees it and counts the reason; on kConsumed (an ARP reply
// that taught us a neighbour) the caller frees it; on kHeld the pipeline keeps it (a fragment
// waiting for the rest, or a frame waiting for its next hop's MAC: ctx.hold); on kTxMany
// the fragments in ctx.frag_out go out and the caller frees the mbuf. `m` may be replaced (by
// the reassembled datagram): use it, not the pointer passed in, after the call. Worker, per
// packet: never allocates from the heap, locks, logs or makes a syscall (fragments take mbufs
// from the worker's pools).
Verdict handle_packet(const Snapshot& snap, rte_mbuf*& m, WorkerCtx& ctx) noexcept;

// Looks the held frames up again when something could have taught their MAC (a new snapshot,
// a neighbour this worker learned) and expires those past their time (dropped as no_neighbour,
// a send failure reported for a dispatcher destination, freed). Frames whose MAC is now known
// get it and go into out[0, returned) with m->port the port to send them on (at most cap; the
// rest are looked at on a later call). Worker, once per loop iteration while ctx.hold.n != 0;
// per-packet rules.
uint16_t service_held(const Snapshot& snap, WorkerCtx& ctx, uint64_t now_tsc, rte_mbuf** out,
                      uint16_t cap) noexcept;
// Frees every held frame without counting it (the worker stops).
void free_held(WorkerCtx& ctx) noexcept;

// Frees the mbufs on ctx.death_row, counted as fragment_discarded drops: fragments the
// reassembly table gave up on. handle_packet drains it after every fragment.
void drain_death_row(WorkerCtx& ctx) noexcept;
// Frees the partial datagrams of ctx.frag_tbl older than the table's timeout (DPDK frees a
// timed-out datagram only when a later fragment lands in its bucket, or the table is full:
// without this call, fragments that never complete would keep their mbufs after the traffic
// stopped). Counted as fragment_discarded; returns the number of fragments freed. Worker,
// every kFragExpiryMs or so; cheap when nothing is due (one look at the oldest datagram).
uint32_t expire_fragments(WorkerCtx& ctx, uint64_t now_tsc) noexcept;
inline constexpr uint32_t kFragExpiryMs = 100;

// Where a received SIP message sits and who sent it, as handle_packet() found it.
struct PacketInfo {
  uint16_t iface = 0;                 // receiving iface (index into snapshot.ifaces)
  const Listener* listener = nullptr; // receiving socket
  uint32_t src_ip_be = 0;
  uint16_t src_port_be = 0;
  size_t sip_off = 0;  // offset of the UDP payload from buf_addr
  size_t sip_len = 0;
  bool v6 = false;     // received over IPv6: src_ip6 is the source, src_ip_be is 0
  // IPv4: the UDP checksum field is non-zero and was checked (by the port: RX_L4_CKSUM_GOOD,
  // or summed here), so the payload's sum follows from the headers and a forward's checksum
  // from the edits (cksum.hpp edited_sum). The UDP header is then still in front of sip_off
  // until the rewrite moves the message.
  bool rx_sum_known = false;
  Ip6 src_ip6;
};

// rte_be_to_cpu_16 and rte_cpu_to_be_16 (the same swap): DPDK 22.11 swaps a non-constant on x86
// with inline asm (xchgb), which the compiler can neither fold into a compare nor schedule
// around; the builtin costs a forwarded INVITE ~10 instructions less (callgrind).
[[gnu::always_inline]] inline uint16_t be16(uint16_t x) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    return __builtin_bswap16(x);
  } else {
    return x;
  }
}

// What the script sees of where a received message came from and arrived (vm_run's packet).
inline VmPacket vm_packet(const PacketInfo& pi, uint16_t worker_id) noexcept {
  VmPacket pkt{pi.src_ip_be, be16(pi.src_port_be), pi.listener->ip_be,
               be16(pi.listener->port_be), worker_id};
  if (pi.v6) [[unlikely]] {
    pkt.src_ip6 = pi.src_ip6.b;
    pkt.dst_ip6 = pi.listener->ip6.b;
  }
  return pkt;
}

struct VmResult;

// Carries out the script's decision for one request received in m (pi, msg and v as
// handle_packet found them; eth: the received frame's Ethernet header): a local reply, a drop,
// or the forward with every message edit and routing choice VmResult holds, the way
// Kamailio's stateless forward() does. handle_packet calls it after the script; tests call it
// with a hand-made VmResult. Same per-packet rules as handle_packet.
Verdict apply_request_result(const Snapshot& snap, rte_mbuf* m, const rte_ether_hdr* eth,
                             const PacketInfo& pi, const char* msg, const sip::SipView& v,
                             const VmResult& r, WorkerCtx& ctx) noexcept;

// Writes an IPv4 address as dotted decimal into out (at least 16 bytes); returns the length.
size_t format_ipv4(uint32_t ip_be, char* out) noexcept;
// Parses a dotted-decimal IPv4 literal; false when it is not one.
bool parse_ipv4(std::string_view s, uint32_t& ip_be) noexcept;
// Writes an IPv6 address in RFC 5952 form (lower case, the longest run of zero groups as "::")
// into out (at least 40 bytes), without brackets; returns the length.
size_t format_ipv6(const Ip6& a, char* out) noexcept;
// Parses an IPv6 literal, with or without brackets ("[2001:db8::1]", "::ffff:10.0.0.1");
// false when it is not one. No allocation (the fast path parses Via hosts with it).
bool parse_ipv6(std::string_view s, Ip6& out) noexcept;

}  // namespace viaduct::dp
