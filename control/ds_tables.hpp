// SPDX-License-Identifier: Apache-2.0
// control/ds_tables.hpp: the dispatcher's per-set selection tables (Maglev lookup table, exact
// weight lines, Kamailio's 100-slot weight arrays), built into a snapshot by the control thread
// and read by dataplane/dispatch.cpp. Control thread / tools only; allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/snapshot.hpp"

namespace viaduct::ctl {

// Size of a set's Maglev table: the smallest prime of a fixed ladder (65537, 131101, 262147,
// ...) that is at least 100 x `count`. The ladder keeps the size, and so every key's slot,
// unchanged while destinations come and go (up to 655 destinations in the first rung).
uint32_t maglev_table_size(uint32_t count);

// Maglev's lookup table (Eisenbud et al., NSDI 2016) of `m` slots (a prime) over destinations
// named `names`: slot -> index into `names`. Each destination's preference permutation comes
// from XXH3 of its name, and destinations take turns in the order of their name hashes, so the
// table depends on the set of names, not on their order in the list.
std::vector<uint16_t> maglev_table(const std::vector<std::string>& names, uint32_t m);

// Algorithm 13's priority: Kamailio's PRIORITY - EST_LATENCY_MS / PRIORITY (when the latency
// exceeds the priority), at least 1 for a positive priority. The estimate is the `latency`
// attribute (Kamailio's initial estimate; viaduct has no probe latency statistics yet), and 0
// with cc=1 (congestion = estimate - average, both that same initial value).
int latency_priority(int priority, int latency, bool congestion_control);

// Fills every DestSet of `s` (pool and usable counts, Maglev table, weight lines, Kamailio
// arrays, round-robin-serial flag) from s.destinations, whose flags say which are usable now,
// and s.dispatcher (with use_default the Maglev table and the weight lines leave out each
// set's last entry). A set whose pool has the same URIs in the same order as the same set of
// `previous` (the live snapshot) shares its Maglev table, which depends on nothing else.
// Returns the number of Maglev tables built (tests, the bench).
size_t build_dispatch_tables(dp::Snapshot& s, const dp::Snapshot* previous = nullptr);

}  // namespace viaduct::ctl
