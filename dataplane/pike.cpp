// SPDX-License-Identifier: Apache-2.0
// dataplane/pike.cpp: the per-worker pike table (see pike.hpp for the rule and where it
// differs from Kamailio's).
#include "dataplane/pike.hpp"

#include <rte_cycles.h>

#include <charconv>

#include "cfg/program.hpp"

namespace viaduct::dp {
namespace {

bool hot(const PikeEntry& e, uint32_t x) noexcept {
  // Kamailio's is_hot_leaf: either window at the limit, or their mean.
  return e.prev >= x || e.curr >= x || ((uint32_t{e.prev} + e.curr) >> 1) >= x;
}

size_t home(uint32_t ip_be) noexcept {
  // Fibonacci hashing: sources of one subnet differ in the low bits of the address.
  return static_cast<size_t>((uint64_t{ip_be} * 0x9E3779B97F4A7C15ull) >> 40) & (kPikeSlots - 1);
}

}  // namespace

PikeParams pike_params(const cfg::Program& prog) noexcept {
  PikeParams p;
  for (const cfg::ModParam& m : prog.modparams) {
    if (m.module != "pike") {
      continue;
    }
    uint32_t* field = m.name == "sampling_time_unit"      ? &p.sampling_time_unit
                      : m.name == "reqs_density_per_unit" ? &p.reqs_density_per_unit
                      : m.name == "remove_latency"        ? &p.remove_latency
                                                          : nullptr;
    uint32_t v = 0;
    const char* end = m.value.data() + m.value.size();
    // The compiler checked the values (non-negative integers); anything else keeps the default.
    if (field != nullptr && std::from_chars(m.value.data(), end, v).ptr == end) {
      *field = v;
    }
  }
  return p;
}

void PikeTable::configure(const PikeParams& p) noexcept {
  const bool same_unit = p.sampling_time_unit == params_.sampling_time_unit;
  params_ = p;
  // A unit of 0 would never end a window: the compiler rejects it, a library caller gets 1 s.
  unit_ms_ = uint64_t{p.sampling_time_unit == 0 ? 1u : p.sampling_time_unit} * 1000;
  latency_ms_ = uint64_t{p.remove_latency} * 1000;
  if (same_unit) {
    return;  // a reload keeps the counts (and the blocked sources) under the new limits
  }
  // Window indexes depend on the unit: start every source afresh rather than mix units.
  for (PikeEntry& e : slots_) {
    e.window = 0;
    e.curr = e.prev = 0;
    e.red = 0;
  }
}

uint64_t PikeTable::now_ms(uint64_t tsc) noexcept {
  if (fake_ms != 0) {
    return fake_ms;
  }
  if (tsc_per_ms_ == 0) {
    const uint64_t hz = rte_get_tsc_hz();
    tsc_per_ms_ = hz >= 1000 ? hz / 1000 : 1000000;  // no EAL (tools): a plausible 1 GHz
  }
  if (tsc == 0) {
    tsc = rte_rdtsc();
  }
  if (tsc != last_tsc_) {  // one division per burst when the worker's clock is given
    last_tsc_ = tsc;
    last_ms_ = tsc / tsc_per_ms_;
  }
  return last_ms_;
}

int32_t PikeTable::check(uint32_t ip_be, uint64_t now_ms) noexcept {
  const size_t h = home(ip_be);
  PikeEntry* e = nullptr;
  PikeEntry* victim = nullptr;
  // Entries are replaced, never emptied: an empty slot ends the probe run.
  for (size_t i = 0; i < kPikeProbe; ++i) {
    PikeEntry& s = slots_[(h + i) & (kPikeSlots - 1)];
    if (!s.used) {
      victim = &s;
      break;
    }
    if (s.ip_be == ip_be) {
      e = &s;
      break;
    }
    if (victim == nullptr || s.last_ms < victim->last_ms) {
      victim = &s;  // the least recently seen (an expired one first, being the oldest)
    }
  }
  const uint32_t window = static_cast<uint32_t>(now_ms / unit_ms_);
  // (A clock behind the entry, as on a TSC not synchronised across cores, counts as no time.)
  if (e != nullptr && now_ms > e->last_ms && now_ms - e->last_ms > latency_ms_) {
    e->used = 0;  // forgotten after remove_latency without a hit: start again below
  }
  if (e == nullptr || !e->used) {
    if (e == nullptr) {
      e = victim;
      if (e->used && (now_ms <= e->last_ms || now_ms - e->last_ms <= latency_ms_)) {
        ++evictions;
      }
    }
    *e = PikeEntry{};
    e->used = 1;
    e->ip_be = ip_be;
    e->window = window;
  } else if (window > e->window) {
    // The windows that ended since the last hit: the first takes `curr` as its previous
    // count, any further one finds an empty window. Red ends at the first window end whose
    // finished window was under the limit (Kamailio's swap timer, one window at a time).
    const bool next = window - e->window == 1;
    e->prev = next ? e->curr : 0;
    e->curr = 0;
    e->window = window;
    if (e->red && (!next || !hot(*e, params_.reqs_density_per_unit))) {
      e->red = 0;
    }
  }
  if (now_ms > e->last_ms) {
    e->last_ms = now_ms;
  }
  if (e->curr != UINT16_MAX) {
    ++e->curr;
  }
  if (e->red) {
    return -1;
  }
  if (hot(*e, params_.reqs_density_per_unit)) {
    e->red = 1;
    return -2;
  }
  return 1;
}

}  // namespace viaduct::dp
