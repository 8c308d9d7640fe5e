// SPDX-License-Identifier: Apache-2.0
// dataplane/snapshot.hpp: the contract between the control thread and the workers.
//
// Everything a worker reads to decide is in one immutable Snapshot. The control thread builds a
// new one off to the side, publishes it with one atomic store (SnapshotSlot::exchange), and frees
// the old one only after every worker has reported a quiescent state (rte_rcu_qsbr). Workers never
// write to a snapshot, never free it, and never keep a pointer to it across their quiescent call.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cfg/dspvar.hpp"
#include "cfg/program.hpp"

namespace viaduct::dp {

struct MacAddr {
  uint8_t b[6] = {0, 0, 0, 0, 0, 0};
  bool is_zero() const noexcept { return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0; }
  bool operator==(const MacAddr&) const = default;
};

// An IPv6 address in network order. IPv6 lives beside the IPv4 fields below (a family flag and
// these 16 bytes), never in them: the IPv4 hot path reads what it read before.
struct Ip6 {
  alignas(8) uint8_t b[16] = {};
  bool is_zero() const noexcept {
    uint64_t w[2];
    __builtin_memcpy(w, b, 16);
    return (w[0] | w[1]) == 0;
  }
  bool operator==(const Ip6& o) const noexcept { return __builtin_memcmp(b, o.b, 16) == 0; }
  bool operator<(const Ip6& o) const noexcept { return __builtin_memcmp(b, o.b, 16) < 0; }
  bool is_link_local() const noexcept { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
  bool is_multicast() const noexcept { return b[0] == 0xff; }
  // Same first `prefix_len` bits as o.
  bool same_prefix(const Ip6& o, uint8_t prefix_len) const noexcept {
    size_t i = 0;
    for (; i < 16 && (i + 1) * 8 <= prefix_len; ++i) {
      if (b[i] != o.b[i]) {
        return false;
      }
    }
    if (i < 16 && prefix_len % 8 != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff00 >> (prefix_len % 8));
      return ((b[i] ^ o.b[i]) & mask) == 0;
    }
    return true;
  }
};

// The solicited-node multicast address of `a` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX.
inline Ip6 solicited_node(const Ip6& a) noexcept {
  Ip6 s;
  s.b[0] = 0xff;
  s.b[1] = 0x02;
  s.b[11] = 0x01;
  s.b[12] = 0xff;
  s.b[13] = a.b[13];
  s.b[14] = a.b[14];
  s.b[15] = a.b[15];
  return s;
}

// The link-local address of a MAC by modified EUI-64 (RFC 4291 appendix A): fe80::/64 with
// the MAC's universal/local bit flipped and ff:fe in the middle.
inline Ip6 link_local_of(const MacAddr& m) noexcept {
  Ip6 a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = static_cast<uint8_t>(m.b[0] ^ 0x02);
  a.b[9] = m.b[1];
  a.b[10] = m.b[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = m.b[3];
  a.b[14] = m.b[4];
  a.b[15] = m.b[5];
  return a;
}

// One port viaduct owns, with its address.
struct Iface {
  uint16_t port_id = 0;
  uint32_t ip_be = 0;
  uint32_t mask_be = 0;
  uint32_t gateway_be = 0;  // 0: none
  MacAddr mac;
  uint16_t mtu = 1500;
  uint16_t vlan = 0;        // 802.1Q VLAN id; 0: untagged. Several ifaces may share a port.
  uint16_t exception_port = UINT16_MAX;  // TAP port to the kernel for what is not ours; none
  bool tx_cksum_offload = false;  // the port computes IPv4 and UDP checksums (port.hpp)
  bool rx_cksum_offload = false;  // the port checks received UDP checksums (RX flags; port.hpp)
  // Received UDP checksums the port did not check are summed in software (settings
  // `verify_udp_checksum`); false trusts a feed known to carry partial sums.
  bool rx_cksum_verify = true;
  // IPv6 (settings `address6` / `gateway6`): a global address and prefix, and the link-local
  // address derived from the MAC (EUI-64, set by the snapshot builder once the MAC is known).
  bool has_ip6 = false;
  uint8_t prefix6 = 64;
  bool has_gateway6 = false;
  Ip6 ip6;
  Ip6 ll6;
  Ip6 gateway6;

  bool on_link(uint32_t ip_be_other) const noexcept {
    return ((ip_be_other ^ ip_be) & mask_be) == 0;
  }
  // Link-local addresses are on every link; a global one when it shares our prefix.
  bool on_link6(const Ip6& a) const noexcept {
    return has_ip6 && (a.is_link_local() || a.same_prefix(ip6, prefix6));
  }
  // One of our unicast addresses.
  bool is_ours6(const Ip6& a) const noexcept { return has_ip6 && (a == ip6 || a == ll6); }
  // Ethernet header length on this iface (with the tag when tagged).
  size_t l2_len() const noexcept { return vlan != 0 ? 18 : 14; }
};

// A UDP socket the fast path answers on (from `listen=udp:IP:PORT`).
struct Listener {
  uint32_t ip_be = 0;
  uint16_t port_be = 0;
  uint16_t iface = 0;        // index into Snapshot::ifaces
  std::string via_host;      // what goes into our Via (advertised address when set)
  uint16_t via_port = 5060;
  bool v6 = false;           // an IPv6 socket: ip6 holds its address, ip_be is 0
  Ip6 ip6;
};

// A `myself` entry: a host as it appears in URIs, and a port (0: any).
struct MyselfEntry {
  std::string host;  // lower case; IPv6 with brackets
  uint16_t port = 0;
};

// One dispatcher destination, stored the way the worker writes it into a packet.
struct Destination {
  uint32_t id = 0;           // stable id (> 0) for counters; 0 is reserved for "none"
  int set = 0;
  uint32_t ip_be = 0;
  uint16_t port_be = 0;
  uint32_t flags = 0;        // cfg::DsFlag bits
  std::string uri;           // for metrics and the management API
  int priority = 0;          // from the list (the set is ordered by it, Kamailio's way)
  uint32_t weight = 0;       // `weight` attribute (algorithms 9, 15)
  uint32_t rweight = 0;      // `rweight` attribute (algorithm 11)
  int latency_priority = 0;  // algorithm 13: priority lowered by the latency estimate
  int16_t socket = -1;       // `socket` attribute: index into Snapshot::listeners; -1: none
  std::string ping_from;     // `ping_from` attribute: the From of its probes; "": modparam
  std::string attrs;         // the attributes as written ($xavp(_dsdst_=>attrs)); "": none
  bool v6 = false;           // an IPv6 destination: ip6 holds its address, ip_be is 0
  Ip6 ip6;
  bool usable() const noexcept { return (flags & (1u | 4u)) == 0; }  // not inactive/disabled
};

// Exact weighted choice among some destinations of a set: entry i is picked for a point t in
// [cum[i-1], cum[i]) of [0, cum.back()). Empty when no destination qualifies.
struct WeightedPick {
  std::vector<uint64_t> cum;    // running sum of the weights
  std::vector<uint16_t> local;  // index in the set (0..count-1) of each entry
};

// Size of Kamailio's weight arrays (wlist, rwlist): weights are percentages.
inline constexpr size_t kKamailioWeightSlots = 100;

// A dispatcher set and everything the selection algorithms read, built by the control thread
// (control/ds_tables.cpp) for this snapshot's destination states; a state change publishes a
// new snapshot, so "usable" below is always current.
struct DestSet {
  int id = 0;
  uint32_t first = 0;  // into Snapshot::destinations
  uint32_t count = 0;
  uint32_t usable = 0; // destinations of the set usable in this snapshot
  // With modparam use_default (and more than one entry) the last entry is the set's default:
  // the algorithms choose among the first `pool` entries (count - 1) and take the default only
  // when none of them is usable. Without it, pool == count.
  uint32_t pool = 0;
  uint32_t pool_usable = 0;  // usable destinations among the first `pool`

  // Hash algorithms (0-3, 5, 7) and random (6) in Maglev mode: slot -> index in the set. Built
  // over every destination of the pool (the set but its default) whatever its state, so the
  // table depends on the list alone; a key whose slot holds an unusable destination probes
  // further slots (dispatch.cpp).
  // Its size is a prime from a fixed ladder (>= 100 x count), so adding a destination does not
  // change it and moves only about 1/N of the keys. Empty in Kamailio mode and for a pool of one.
  // The slots are Snapshot::maglev_tables[this set's index], shared with every snapshot whose
  // set had the same members (a publication for a state change copies no table).
  std::span<const uint16_t> maglev;

  // Exact weights over the usable destinations of the pool: `weight` (algorithm 9), `rweight`
  // (11), and `weight` within the lowest usable priority value (15). Destinations without the
  // attribute weigh 0 unless none has it, then all weigh 1.
  WeightedPick weight;
  WeightedPick rweight;
  WeightedPick priority_weight;

  // Kamailio mode: Kamailio's 100-slot arrays (dp_init_weights, dp_init_relative_weights), with
  // the same number of slots per destination, shuffled with a fixed seed (Kamailio shuffles
  // with kam_rand() at start-up, so no two Kamailio processes agree on the order either).
  std::vector<uint16_t> kamailio_weight;   // kKamailioWeightSlots entries, or empty
  std::vector<uint16_t> kamailio_rweight;  // kKamailioWeightSlots entries, or empty

  bool round_robin_serial = false;  // algorithm 14: every priority equal and > 0 -> round robin
};

// How hash algorithms map a key to a destination: modparam("dispatcher", "ds_hash_mode", ...).
enum class DsHashMode : uint8_t {
  kMaglev,    // "maglev" (default): consistent hashing, see DestSet::maglev
  kKamailio,  // "kamailio": Kamailio's ds_get_hash() % count, then the next usable entry;
              //   weights through Kamailio's 100-slot arrays. Bit-for-bit parity.
};

// Dispatcher module parameters the workers read.
struct DsConfig {
  DsHashMode mode = DsHashMode::kMaglev;
  bool hash_user_only = false;              // modparam flags bit 1 (DS_HASH_USER_ONLY)
  bool failover = false;                    // modparam flags bit 2 (DS_FAILOVER_ON): ds_select_*
                                            //   keep the rest of the set for ds_next_*
  bool use_default = false;                 // modparam use_default: each set's last entry is
                                            //   its default (DestSet::pool)
  std::vector<cfg::DsPvPart> hash_pvar;     // modparam hash_pvar; empty when unset
  bool xavp_dst_attrs = true;               // modparam xavp_dst_mode bit 1 clears it: no
                                            //   $xavp(_dsdst_=>attrs)
  bool xavp_ctx_cnt = true;                 // modparam xavp_ctx_mode bit 1 clears it: no
                                            //   $xavp(_dsctx_=>cnt)
};

// Keys of the neighbour tables: an IPv4 address (network order) or an IPv6 one; zero is no
// address (an empty slot).
inline bool addr_empty(uint32_t ip_be) noexcept { return ip_be == 0; }
inline bool addr_empty(const Ip6& ip) noexcept { return ip.is_zero(); }
inline size_t addr_hash(uint32_t ip_be) noexcept { return (ip_be * 0x9E3779B1u) >> 7; }
inline size_t addr_hash(const Ip6& ip) noexcept {
  uint64_t w[2];
  __builtin_memcpy(w, ip.b, 16);
  return static_cast<size_t>(((w[0] ^ w[1]) * 0x9E3779B97F4A7C15ull) >> 40);
}

// Address -> MAC for next hops on our links (ARP for IPv4, Neighbor Discovery for IPv6: two
// tables, so that neither widens the other). Open addressing, power-of-two size, built by
// control.
template <class Addr>
class NeighMap {
 public:
  struct Entry {
    Addr ip{};  // zero: empty slot
    MacAddr mac;
  };
  NeighMap() : slots_(16) {}
  explicit NeighMap(size_t n_entries) {
    size_t n = 16;
    while (n < n_entries * 2) {
      n <<= 1;
    }
    slots_.assign(n, Entry{});
  }
  // Control only, before publication.
  void insert(const Addr& ip, const MacAddr& mac) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = addr_hash(ip) & mask;; i = (i + 1) & mask) {
      if (addr_empty(slots_[i].ip) || slots_[i].ip == ip) {
        slots_[i] = {ip, mac};
        return;
      }
    }
  }
  // Worker, per packet.
  const MacAddr* find(const Addr& ip) const noexcept {
    const size_t mask = slots_.size() - 1;
    for (size_t i = addr_hash(ip) & mask;; i = (i + 1) & mask) {
      if (slots_[i].ip == ip) {
        return &slots_[i].mac;
      }
      if (addr_empty(slots_[i].ip)) {
        return nullptr;
      }
    }
  }
  size_t capacity() const noexcept { return slots_.size(); }

 private:
  std::vector<Entry> slots_;
};
using NeighTable = NeighMap<uint32_t>;
using NeighTable6 = NeighMap<Ip6>;

// A blocked IPv6 destination (Snapshot::blocked6), ordered by address then port.
struct Blocked6 {
  Ip6 ip;
  uint16_t port_be = 0;
  bool operator<(const Blocked6& o) const noexcept {
    const int c = __builtin_memcmp(ip.b, o.ip.b, 16);
    return c < 0 || (c == 0 && port_be < o.port_be);
  }
  bool operator==(const Blocked6& o) const noexcept {
    return port_be == o.port_be && ip == o.ip;
  }
};

struct Snapshot {
  uint64_t generation = 0;
  const cfg::Program* program = nullptr;  // never null once published
  std::vector<Iface> ifaces;
  std::vector<Listener> listeners;
  // What the script's set_advertised_address() / set_advertised_port() may write into our Via
  // in place of a listener's (their arguments are constants): a reply's top Via with them is
  // ours too.
  std::vector<std::string> adv_hosts;
  std::vector<uint16_t> adv_ports;
  std::vector<MyselfEntry> myself;
  std::vector<Destination> destinations;  // grouped by set, in Kamailio's index order
  std::vector<DestSet> sets;              // sorted by id
  // Owners of the sets' Maglev slots (DestSet::maglev), by set index; null where a set has none.
  std::vector<std::shared_ptr<const std::vector<uint16_t>>> maglev_tables;
  NeighTable neigh;
  NeighTable6 neigh6;
  uint32_t maxfwd_limit = 70;             // modparam("maxfwd", "max_limit")
  uint8_t ttl = 64;                       // udp4_raw_ttl
  // The Server line of local replies (sip::build_reply) when the script set server_header
  // ("Server: name\r\n") or server_signature=no (empty); unused while server_default
  // (viaduct's own line).
  bool server_default = true;
  std::string server_line;
  uint8_t tos = 0x10;                     // tos
  uint16_t raw_mtu = 1500;                // udp4_raw_mtu: fragments above it (and the iface's)
  DsConfig dispatcher;                    // modparam("dispatcher", ...) the selection reads
  // The destination blocklist (use_dst_blocklist): (ip_be << 16) | port_be of every blocked
  // destination, sorted; empty when the blocklist is off or holds nothing, so the check before
  // each forward costs one test then.
  std::vector<uint64_t> blocked;

  bool is_blocked(uint32_t ip_be, uint16_t port_be) const noexcept {
    const uint64_t k = (static_cast<uint64_t>(ip_be) << 16) | port_be;
    return std::binary_search(blocked.begin(), blocked.end(), k);
  }

  // Its IPv6 destinations, sorted: a table of their own, read only on the IPv6 send path, so
  // the IPv4 check above costs what it cost before.
  std::vector<Blocked6> blocked6;

  bool is_blocked6(const Ip6& ip, uint16_t port_be) const noexcept {
    return std::binary_search(blocked6.begin(), blocked6.end(), Blocked6{ip, port_be});
  }
};

// The one mutable word shared by both sides.
class SnapshotSlot {
 public:
  // Worker, once per loop iteration.
  const Snapshot& current() const noexcept { return *cur_.load(std::memory_order_acquire); }
  // Control thread only. Returns the previous snapshot, which stays readable until every worker
  // has reported a quiescent state.
  const Snapshot* exchange(const Snapshot* next) noexcept {
    return cur_.exchange(next, std::memory_order_acq_rel);
  }

 private:
  alignas(64) std::atomic<const Snapshot*> cur_{nullptr};
};

}  // namespace viaduct::dp
