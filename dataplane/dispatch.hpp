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
bool ds_alg_hashes(uint32_t alg) noexcept;

// Kamailio's get_uri_hash_keys(): for the URI held in buf[uri]: user, and host[:port] with the
// port only when it is present and differs from 5060 (5061 for sips:) unless `user_only`.
// False when the URI does not parse or has no host (tel:).
bool ds_uri_key(const char* buf, sip::Span uri, bool user_only, DsKey& out) noexcept;

inline constexpr size_t kMaxRoundRobinSets = 256;
inline constexpr size_t kDsKeyMax = 1024;  // longest printed hash_pvar (Kamailio fails too)

// Per-worker selection state. Cursors are indexed by set index modulo kMaxRoundRobinSets.
struct DispatchState {
  uint32_t rr[kMaxRoundRobinSets] = {};           // round robin: 4, 5 without credentials, 13, 14
  uint64_t weight[kMaxRoundRobinSets] = {};       // algorithm 9 sequence
  uint64_t rweight[kMaxRoundRobinSets] = {};      // algorithm 11 sequence
  uint64_t prio_weight[kMaxRoundRobinSets] = {};  // algorithm 15 sequence
  uint64_t rng = 0;                               // algorithm 6; seeded on first use
  char key[kDsKeyMax];                            // algorithm 7: the printed hash_pvar
};

// Reads the key of hash algorithm `alg` from a scanned request. kNoKey: algorithm 5 without
// credentials (round robin follows, as in Kamailio); kError: the header the algorithm needs is
// missing or malformed (Kamailio's ds_select_dst fails too). The key points into msg or into
// st.key.
enum class DsKeyStatus : uint8_t { kKey, kNoKey, kError };
DsKeyStatus ds_request_key(const Snapshot& snap, uint32_t alg, const char* msg,
                           const sip::SipView& v, DispatchState& st, DsKey& out) noexcept;

// Selects a destination of `set` (an index into snap.sets) with algorithm `alg`, `key` being
// the hash input for the hash algorithms (nullptr: none; a hash algorithm then selects nothing,
// except 5, which falls back to round robin). Returns an index into snap.destinations, or -1
// when the set has no usable destination. Worker, per packet: no allocation, no locks.
int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const DsKey* key,
                       DispatchState& st) noexcept;

// The same, reading the key from the request (ds_select_dst in the script).
int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const char* msg,
                       const sip::SipView& v, DispatchState& st) noexcept;

}  // namespace viaduct::dp
