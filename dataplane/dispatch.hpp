// SPDX-License-Identifier: Apache-2.0
// dataplane/dispatch.hpp: dispatcher destination selection (ds_select_dst), worker side.
//
// Kamailio's algorithm numbers with Kamailio's meaning (the compiler rejects 10 and 12, and
// anything else Kamailio does not define). What each reads:
//   0 Call-ID, 1 From URI, 2 To URI, 3 R-URI (user + host[:port], the port only when it is not
//   the scheme's default; user only with modparam flags=1), 5 Proxy-Authorization/Authorization
//   digest username (round robin when there is none), 7 modparam hash_pvar: hashed, see below.
//   4 round robin; 6 random; 8 first usable entry in priority order; 9 `weight`; 11 `rweight`
//   over the usable destinations; 13 round robin among the highest latency-adjusted priority;
//   14 round robin when every priority is equal and > 0, else 8; 15 `weight` among the usable
//   destinations with the lowest priority value.
// Hash mode (Snapshot::dispatcher.mode): Maglev (default) or Kamailio's modulo and next entry.
// modparam use_default (DestSet::pool): every algorithm chooses among all but the set's last
// entry, as above (Kamailio mode: the hash or slot modulo nr - 1, probing modulo nr - 1), and
// takes the last entry only when none of the others is usable.
// Per-worker state (round-robin cursors, weight sequences) lives in DispatchState, where
// Kamailio keeps one shared cursor per set behind a lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// Kamailio's ds_get_hash() over one string, bit for bit (including its sign extension of bytes
// >= 0x80, since Kamailio reads them through a plain, signed, char). Never returns 0.
uint32_t kamailio_ds_hash(std::string_view x) noexcept;
// ds_get_hash(x, y): both strings folded into one value (the URI algorithms' user and host).
uint32_t kamailio_ds_hash(std::string_view x, std::string_view y) noexcept;

// What a hash algorithm hashes, in Kamailio's two parts: the Call-ID, auth username or printed
// hash_pvar in `first`; for URIs the user in `first` and host[:port] in `second`.
struct DsKey {
  std::string_view first;
  std::string_view second;
};

// The 64-bit key hash of the Maglev mode (XXH3 over both parts).
uint64_t ds_key_hash(const DsKey& key) noexcept;

// True for the algorithms that hash a key read from the request (0, 1, 2, 3, 5, 7).
inline bool ds_alg_hashes(uint32_t alg) noexcept {
  return alg <= 3 || alg == 5 || alg == 7;
}

// Kamailio's get_uri_hash_keys(): for the URI held in buf[uri]: user, and host[:port] with the
// port only when it is present and differs from 5060 (5061 for sips:) unless `user_only`.
// False when the URI does not parse or has no host (tel:).
bool ds_uri_key(const char* buf, sip::Span uri, bool user_only, DsKey& out) noexcept;

inline constexpr size_t kMaxRoundRobinSets = 256;
inline constexpr size_t kDsKeyMax = 1024;  // longest printed hash_pvar (Kamailio fails too)

// Transaction affinity (CANCEL and the ACK of a non-2xx reach the INVITE's destination with the
// algorithms that do not hash the request): a set-associative table of INVITE transactions,
// 4 ways x 16384 buckets = 65536 per worker (1 MiB), the oldest entry of a full bucket evicted.
// A bucket is one 64-byte cache line (the table is aligned), so remembering or finding an INVITE
// touches one line, and the ways are a short loop (8 ways were two lines and twice the compares
// on every INVITE).
// An entry lives kDsAffinityTtlSeconds (Timer C: an INVITE may ring that long before its
// CANCEL); past about 360 INVITEs/s on one worker the capacity, not the TTL, bounds its life.
inline constexpr size_t kDsAffinityWays = 4;
inline constexpr size_t kDsAffinityBuckets = 16384;
inline constexpr uint32_t kDsAffinityTtlSeconds = 180;
// The cache's clock: TSC cycles >> this (0.35 ms at 3 GHz), kept in 32 bits with wrap-safe
// comparisons (an entry is valid for less than 2^31 ticks, days).
inline constexpr unsigned kDsTickShift = 20;

struct DsAffinityEntry {
  uint64_t key = 0;       // set, Call-ID, CSeq number, top-Via branch (CRC32-C, dispatch.cpp)
  uint32_t dest_id = 0;   // Destination::id (stable across reloads); 0: empty
  uint32_t expires = 0;   // coarse ticks
};

// Reply source -> destination, rebuilt by the worker from the snapshot when a new one is
// published (replies are counted per destination by class). Open addressing, 2x the most
// destinations counters exist for.
struct DsAddrSlot {
  uint32_t ip_be = 0;
  uint16_t port_be = 0;
  uint16_t used = 0;
  uint32_t dest_id = 0;
};
inline constexpr size_t kDsAddrSlots = 2048;

// Per-worker selection state. Cursors are indexed by set index modulo kMaxRoundRobinSets.
struct DispatchState {
  uint32_t rr[kMaxRoundRobinSets] = {};           // round robin: 4, 5 without credentials, 13, 14
  uint64_t weight[kMaxRoundRobinSets] = {};       // algorithm 9 sequence
  uint64_t rweight[kMaxRoundRobinSets] = {};      // algorithm 11 sequence
  uint64_t prio_weight[kMaxRoundRobinSets] = {};  // algorithm 15 sequence
  uint64_t rng = 0;                               // algorithm 6; seeded on first use
  char key[kDsKeyMax];                            // algorithm 7: the printed hash_pvar

  // Transaction affinity; see kDsAffinityWays.
  alignas(64) DsAffinityEntry affinity[kDsAffinityWays * kDsAffinityBuckets] = {};
  uint64_t tsc_hz = 0;    // 0: rte_get_tsc_hz() on first use (tests set it)
  uint64_t fake_tsc = 0;  // tests: when non-zero, the clock instead of rte_rdtsc()
  // The worker's TSC at the start of the burst being handled (Worker::run sets it): the clock
  // of the affinity records and of pike, read once per burst instead of an RDTSC per request
  // (a burst lasts microseconds; those clocks count in milliseconds). 0: read the TSC.
  uint64_t burst_tsc = 0;
  uint64_t affinity_hits = 0;  // CANCEL/ACK sent where their INVITE went (tests, debugging)

  // Reply source -> destination id; see DsAddrSlot.
  DsAddrSlot addr[kDsAddrSlots] = {};
  const void* addr_snap = nullptr;  // the snapshot `addr` was built from
  uint64_t addr_generation = UINT64_MAX;
};

// Reads the key of hash algorithm `alg` from a scanned request. kNoKey: algorithm 5 without
// credentials (round robin follows, as in Kamailio); kError: the header the algorithm needs is
// missing or malformed (Kamailio's ds_select_dst fails too). The key points into msg or into
// st.key. `v` is sip::scan()'s view of msg here and below: header values come trimmed of LWS
// (SipView::hdr), so the Call-ID (algorithm 0, the affinity key) is used as it is.
enum class DsKeyStatus : uint8_t { kKey, kNoKey, kError };
DsKeyStatus ds_request_key(const Snapshot& snap, uint32_t alg, const char* msg,
                           const sip::SipView& v, DispatchState& st, DsKey& out) noexcept;

// Selects a destination of `set` (an index into snap.sets) with algorithm `alg`, `key` being
// the hash input for the hash algorithms (nullptr: none; a hash algorithm then selects nothing,
// except 5, which falls back to round robin). Returns an index into snap.destinations, or -1
// when the set has no usable destination. Worker, per packet: no allocation, no locks.
int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const DsKey* key,
                       DispatchState& st) noexcept;

// The same, reading the key from the request (ds_select_dst in the script). With an algorithm
// that does not hash the request (4, 6, 8, 9, 11, 13, 14, 15) and with 5 (an INVITE's
// credentials are hashed, its CANCEL has none and falls back to round robin), an INVITE's
// choice is remembered by transaction (Call-ID, CSeq number, top-Via branch) and a CANCEL or an
// ACK of the same transaction (they carry the INVITE's branch) goes to the same destination
// while it is usable, whatever the cursors say; the cursors do not move for it. An INVITE
// retransmission is dispatched anew (Kamailio's stateless behaviour).
int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const char* msg,
                       const sip::SipView& v, DispatchState& st) noexcept;

// ds_select_dst(set, alg, limit) with failover: the destinations Kamailio puts into
// $xavp(_dsdst_), in its order, usable ones only, at most `max` (0 writes nothing but still
// selects): out[0] is what select_destination above returns for this request (the cursors move
// once), then the entries after it in the set's index order, wrapping to the first (Kamailio's
// ds_manage_routes_fill_xavp); for algorithm 13, by latency-adjusted priority, highest first,
// ties in round-robin order from the cursor (ds_manage_route_algo13). Measured against
// Kamailio 5.6 for 4, 6, 8, 9, 11 and 13 with a limit and an inactive entry. With use_default
// the default comes last (within `max`), whatever its state, as Kamailio 5.6.3 appends it
// (measured with 0, 4, 8, 9), unless it is out[0] itself. Returns the
// number written; 0 when nothing is selected. Indices into snap.destinations.
size_t select_candidates(const Snapshot& snap, uint32_t set_index, uint32_t alg, const char* msg,
                         const sip::SipView& v, DispatchState& st, int32_t* out,
                         size_t max) noexcept;

// The destination (Destination::id) a datagram from ip:port came from, 0 when none: the first
// destination of the snapshot with that address. Rebuilds st.addr when `snap` is not the
// snapshot it was built from (once per publish per worker, O(destinations)). Worker.
uint32_t destination_by_address(const Snapshot& snap, DispatchState& st, uint32_t ip_be,
                                uint16_t port_be) noexcept;

}  // namespace viaduct::dp
