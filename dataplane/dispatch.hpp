// SPDX-License-Identifier: Apache-2.0
// dataplane/dispatch.hpp: dispatcher destination selection (ds_select_dst), worker side.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// Kamailio's ds_get_hash() over one string, bit for bit (including its sign extension of bytes
// >= 0x80, since Kamailio reads them through a plain, signed, char). Never returns 0.
uint32_t kamailio_ds_hash(std::string_view x) noexcept;

inline constexpr size_t kMaxRoundRobinSets = 256;

// Per-worker selection state (Kamailio keeps one round-robin cursor per set in shared memory
// behind a lock; viaduct keeps one per worker, so the rotation is per worker).
struct DispatchState {
  uint32_t rr[kMaxRoundRobinSets] = {};
};

// Selects a destination of `set` (an index into snap.sets) with Kamailio algorithm `alg`
// (0: hash over `call_id`, 4: round robin), skipping inactive and disabled destinations the way
// Kamailio does (modulo, then the next entry). Returns an index into snap.destinations, or -1
// when the set has no usable destination. Worker, per packet; no allocation.
int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg,
                       std::string_view call_id, DispatchState& st) noexcept;

}  // namespace viaduct::dp
