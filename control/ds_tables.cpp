// SPDX-License-Identifier: Apache-2.0
#include "control/ds_tables.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <memory>
#include <utility>

#include "cfg/dslist.hpp"
#include "dataplane/counters.hpp"

namespace viaduct::ctl {
namespace {

// Every weight line's total must fit the 32-bit scaling in dispatch.cpp's weighted_pick().
static_assert(uint64_t{dp::kMaxDestinations} * cfg::kDsMaxWeight < (uint64_t{1} << 32));

constexpr uint64_t kOffsetSeed = 0x7669616475637431ULL;  // "viaductO"
constexpr uint64_t kSkipSeed = 0x7669616475637432ULL;
constexpr uint16_t kEmpty = 0xFFFF;

// next_prime(2^k) for k = 16.., the Maglev table sizes.
constexpr std::array<uint32_t, 5> kMaglevSizes = {65537, 131101, 262147, 524309, 1048583};

// Kamailio's rand() stand-in for the 100-slot shuffle: fixed seed per set (see DestSet).
struct SplitMix {
  uint64_t s;
  uint32_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return static_cast<uint32_t>((z ^ (z >> 31)) >> 33);
  }
};

// Kamailio's shuffle_uint100array().
void shuffle100(std::vector<uint16_t>& a, int set_id) {
  SplitMix rng{0x6b616d61696c696fULL ^ static_cast<uint64_t>(static_cast<uint32_t>(set_id))};
  for (uint32_t j = 0; j < a.size(); ++j) {
    const uint32_t k = j + rng.next() % static_cast<uint32_t>(a.size() - j);
    std::swap(a[j], a[k]);
  }
}

// Kamailio keeps `weight`/`rweight` only in 1..100 (a percentage); anything else is 0.
uint32_t kamailio_percent(uint32_t w) { return w >= 1 && w <= 100 ? w : 0; }

// Kamailio's dp_init_weights(): each destination, in index order, takes `weight` slots until
// 100 are taken; the last destination fills what the others left; nothing at all (every slot
// 0, so always the first entry) when the first destination has no weight.
std::vector<uint16_t> kamailio_weights(const dp::Snapshot& s, const dp::DestSet& set) {
  if (set.count == 0 || kamailio_percent(s.destinations[set.first].weight) == 0) {
    return {};
  }
  std::vector<uint16_t> slots;
  for (uint32_t j = 0; j < set.count && slots.size() < dp::kKamailioWeightSlots; ++j) {
    const uint32_t w = kamailio_percent(s.destinations[set.first + j].weight);
    for (uint32_t k = 0; k < w && slots.size() < dp::kKamailioWeightSlots; ++k) {
      slots.push_back(static_cast<uint16_t>(j));
    }
  }
  slots.resize(dp::kKamailioWeightSlots, static_cast<uint16_t>(set.count - 1));
  shuffle100(slots, set.id);
  return slots;
}

// Kamailio's dp_init_relative_weights(): over the usable destinations, rweight * 100 / sum
// slots each (truncated), the last one inserted filling the rest. Sets of one destination and
// sets whose usable rweights sum to 0 get no array (always the first entry).
std::vector<uint16_t> kamailio_rweights(const dp::Snapshot& s, const dp::DestSet& set) {
  if (set.count < 2) {
    return {};
  }
  uint32_t sum = 0;
  for (uint32_t j = 0; j < set.count; ++j) {
    const dp::Destination& d = s.destinations[set.first + j];
    sum += d.usable() ? kamailio_percent(d.rweight) : 0;
  }
  if (sum == 0) {
    return {};
  }
  std::vector<uint16_t> slots;
  for (uint32_t j = 0; j < set.count; ++j) {
    const dp::Destination& d = s.destinations[set.first + j];
    if (!d.usable()) {
      continue;
    }
    const uint32_t slice = kamailio_percent(d.rweight) * 100 / sum;
    for (uint32_t k = 0; k < slice && slots.size() < dp::kKamailioWeightSlots; ++k) {
      slots.push_back(static_cast<uint16_t>(j));
    }
  }
  const uint16_t last = slots.empty() ? static_cast<uint16_t>(set.count - 1) : slots.back();
  slots.resize(dp::kKamailioWeightSlots, last);
  shuffle100(slots, set.id);
  return slots;
}

// An exact weight line over `members` (indexes in the set). Members of weight 0 are left out,
// unless every member weighs 0: then they share evenly.
dp::WeightedPick weight_line(const std::vector<uint16_t>& members,
                             const std::vector<uint32_t>& weights) {
  dp::WeightedPick p;
  const bool all_zero =
      std::all_of(members.begin(), members.end(), [&](uint16_t i) { return weights[i] == 0; });
  uint64_t sum = 0;
  for (uint16_t i : members) {
    const uint32_t w = all_zero ? 1 : weights[i];
    if (w == 0) {
      continue;
    }
    sum += w;
    p.cum.push_back(sum);
    p.local.push_back(i);
  }
  return p;
}

}  // namespace

uint32_t maglev_table_size(uint32_t count) {
  for (uint32_t m : kMaglevSizes) {
    if (m >= uint64_t{100} * count) {
      return m;
    }
  }
  return kMaglevSizes.back();
}

std::vector<uint16_t> maglev_table(const std::vector<std::string>& names, uint32_t m) {
  const size_t n = names.size();
  if (n == 0) {
    return {};
  }
  if (n == 1) {
    return std::vector<uint16_t>(m, 0);
  }
  struct Member {
    uint16_t index;
    uint64_t order;
    uint32_t pos;   // next preferred slot: offset + j * skip (mod m)
    uint32_t skip;  // 1..m-1, coprime with the prime m: the permutation covers every slot
  };
  std::vector<Member> ms;
  ms.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = names[i];
    const uint64_t off = XXH3_64bits_withSeed(s.data(), s.size(), kOffsetSeed);
    const uint64_t skip = XXH3_64bits_withSeed(s.data(), s.size(), kSkipSeed);
    ms.push_back(Member{static_cast<uint16_t>(i), off, static_cast<uint32_t>(off % m),
                        static_cast<uint32_t>(skip % (m - 1) + 1)});
  }
  // Turn order by name hash (then name, then index: duplicates of a name alternate).
  std::sort(ms.begin(), ms.end(), [&](const Member& a, const Member& b) {
    if (a.order != b.order) {
      return a.order < b.order;
    }
    if (names[a.index] != names[b.index]) {
      return names[a.index] < names[b.index];
    }
    return a.index < b.index;
  });
  std::vector<uint16_t> table(m, kEmpty);
  uint32_t filled = 0;
  while (true) {
    for (Member& x : ms) {
      uint32_t c = x.pos;
      while (table[c] != kEmpty) {
        c += x.skip;
        c = c >= m ? c - m : c;
      }
      table[c] = x.index;
      c += x.skip;
      x.pos = c >= m ? c - m : c;
      if (++filled == m) {
        return table;
      }
    }
  }
}

int latency_priority(int priority, int latency, bool congestion_control) {
  const int est = congestion_control ? 0 : latency;
  const int handicap = (est > priority && priority > 0) ? est / priority : 0;
  int p = priority - handicap;
  if (p < 1 && priority > 0) {
    p = 1;
  }
  return p;
}

namespace {

// The Maglev table `previous` built for set `set_id` over exactly `names` (in that order) with
// `m` slots, or null. The table depends on nothing else, so a publication that changes no
// set's membership (a probe's verdict, an API state, a neighbour learned) shares every table
// instead of building it again (~0.8 ms each).
std::shared_ptr<const std::vector<uint16_t>> reusable_maglev(
    const dp::Snapshot* previous, int set_id, const std::vector<std::string>& names, uint32_t m) {
  if (previous == nullptr || previous->dispatcher.mode != dp::DsHashMode::kMaglev) {
    return nullptr;
  }
  const auto it = std::lower_bound(previous->sets.begin(), previous->sets.end(), set_id,
                                   [](const dp::DestSet& a, int id) { return a.id < id; });
  if (it == previous->sets.end() || it->id != set_id || it->maglev.size() != m ||
      it->pool != names.size()) {
    return nullptr;
  }
  for (uint32_t i = 0; i < it->pool; ++i) {
    if (previous->destinations[it->first + i].uri != names[i]) {
      return nullptr;
    }
  }
  const size_t index = static_cast<size_t>(it - previous->sets.begin());
  return index < previous->maglev_tables.size() ? previous->maglev_tables[index] : nullptr;
}

}  // namespace

size_t build_dispatch_tables(dp::Snapshot& s, const dp::Snapshot* previous) {
  size_t built = 0;
  s.maglev_tables.assign(s.sets.size(), nullptr);
  for (size_t set_index = 0; set_index < s.sets.size(); ++set_index) {
    dp::DestSet& set = s.sets[set_index];
    // use_default: the last entry is the default, outside everything the algorithms choose
    // from (Maglev table, weight lines); a set of one has no default (Kamailio: nr != 1).
    set.pool = s.dispatcher.use_default && set.count > 1 ? set.count - 1 : set.count;
    std::vector<std::string> names;
    std::vector<uint32_t> weights;
    std::vector<uint32_t> rweights;
    std::vector<uint16_t> usable;  // usable entries of the pool
    bool any_weight = false;
    bool any_rweight = false;
    set.usable = 0;
    for (uint32_t i = 0; i < set.count; ++i) {
      const dp::Destination& d = s.destinations[set.first + i];
      set.usable += d.usable() ? 1 : 0;
      if (i >= set.pool) {
        continue;
      }
      names.push_back(d.uri);
      weights.push_back(d.weight);
      rweights.push_back(d.rweight);
      any_weight = any_weight || d.weight != 0;
      any_rweight = any_rweight || d.rweight != 0;
      if (d.usable()) {
        usable.push_back(static_cast<uint16_t>(i));
      }
    }
    set.pool_usable = static_cast<uint32_t>(usable.size());
    // Kamailio mode hashes with modulo; a pool of one needs no table (dispatch.cpp).
    set.maglev = {};
    if (s.dispatcher.mode == dp::DsHashMode::kMaglev && set.pool > 1) {
      const uint32_t m = maglev_table_size(set.pool);
      auto table = reusable_maglev(previous, set.id, names, m);
      if (table == nullptr) {
        table = std::make_shared<const std::vector<uint16_t>>(maglev_table(names, m));
        ++built;
      }
      set.maglev = *table;
      s.maglev_tables[set_index] = std::move(table);
    }

    // A set where no destination carries the attribute shares evenly.
    if (!any_weight) {
      std::fill(weights.begin(), weights.end(), 1u);
    }
    if (!any_rweight) {
      std::fill(rweights.begin(), rweights.end(), 1u);
    }
    set.weight = weight_line(usable, weights);
    set.rweight = weight_line(usable, rweights);
    // Algorithm 15: the usable destinations with the lowest priority value.
    auto priority = [&](uint16_t i) { return s.destinations[set.first + i].priority; };
    std::vector<uint16_t> level;
    if (!usable.empty()) {
      const int best = priority(*std::min_element(
          usable.begin(), usable.end(),
          [&](uint16_t a, uint16_t b) { return priority(a) < priority(b); }));
      std::copy_if(usable.begin(), usable.end(), std::back_inserter(level),
                   [&](uint16_t i) { return priority(i) == best; });
    }
    set.priority_weight = weight_line(level, weights);

    // Over the whole set, default included, as Kamailio builds them; with use_default the
    // slot is taken modulo the pool when picking (dispatch.cpp), as Kamailio does.
    set.kamailio_weight = kamailio_weights(s, set);
    set.kamailio_rweight = kamailio_rweights(s, set);

    set.round_robin_serial = set.count > 0;
    for (uint32_t i = 0; i < set.count; ++i) {
      const int p = s.destinations[set.first + i].priority;
      set.round_robin_serial = set.round_robin_serial && p > 0 &&
                               p == s.destinations[set.first].priority;
    }
  }
  return built;
}

}  // namespace viaduct::ctl
