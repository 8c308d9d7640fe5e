// SPDX-License-Identifier: Apache-2.0
// dataplane/snapshot.hpp: the contract between the control thread and the workers.
//
// Everything a worker reads to decide is in one immutable Snapshot. The control thread builds a
// new one off to the side, publishes it with one atomic store (SnapshotSlot::exchange), and frees
// the old one only after every worker has reported a quiescent state (rte_rcu_qsbr). Workers never
// write to a snapshot, never free it, and never keep a pointer to it across their quiescent call.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "cfg/program.hpp"

namespace viaduct::dp {

struct MacAddr {
  uint8_t b[6] = {0, 0, 0, 0, 0, 0};
  bool is_zero() const noexcept { return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0; }
  bool operator==(const MacAddr&) const = default;
};

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

  bool on_link(uint32_t ip_be_other) const noexcept {
    return ((ip_be_other ^ ip_be) & mask_be) == 0;
  }
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
  bool usable() const noexcept { return (flags & (1u | 4u)) == 0; }  // not inactive/disabled
};

struct DestSet {
  int id = 0;
  uint32_t first = 0;  // into Snapshot::destinations
  uint32_t count = 0;
};

// IPv4 -> MAC for next hops on our links. Open addressing, power-of-two size, built by control.
class NeighTable {
 public:
  struct Entry {
    uint32_t ip_be = 0;  // 0: empty slot
    MacAddr mac;
  };
  NeighTable() : slots_(16) {}
  explicit NeighTable(size_t n_entries) {
    size_t n = 16;
    while (n < n_entries * 2) {
      n <<= 1;
    }
    slots_.assign(n, Entry{});
  }
  // Control only, before publication.
  void insert(uint32_t ip_be, const MacAddr& mac) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash(ip_be) & mask;; i = (i + 1) & mask) {
      if (slots_[i].ip_be == 0 || slots_[i].ip_be == ip_be) {
        slots_[i] = {ip_be, mac};
        return;
      }
    }
  }
  // Worker, per packet.
  const MacAddr* find(uint32_t ip_be) const noexcept {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash(ip_be) & mask;; i = (i + 1) & mask) {
      if (slots_[i].ip_be == ip_be) {
        return &slots_[i].mac;
      }
      if (slots_[i].ip_be == 0) {
        return nullptr;
      }
    }
  }
  size_t capacity() const noexcept { return slots_.size(); }

 private:
  static size_t hash(uint32_t x) noexcept { return (x * 0x9E3779B1u) >> 7; }
  std::vector<Entry> slots_;
};

struct Snapshot {
  uint64_t generation = 0;
  const cfg::Program* program = nullptr;  // never null once published
  std::vector<Iface> ifaces;
  std::vector<Listener> listeners;
  std::vector<MyselfEntry> myself;
  std::vector<Destination> destinations;  // grouped by set, in Kamailio's index order
  std::vector<DestSet> sets;              // sorted by id
  NeighTable neigh;
  uint32_t maxfwd_limit = 70;             // modparam("maxfwd", "max_limit")

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
