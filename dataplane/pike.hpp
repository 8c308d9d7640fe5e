// SPDX-License-Identifier: Apache-2.0
// dataplane/pike.hpp: pike_check_req(), Kamailio's per-source-IP flood detector, as a
// per-worker table the fast path can afford (no allocation, lock or syscall per packet).
//
// Kamailio's rule (modules/pike, measured on Kamailio 5.6.3, see pike_test.cpp): hits of a
// source are counted in the current sampling window; a global timer ends a window every
// sampling_time_unit seconds (the current count becomes the previous one). A source turns red
// (blocked) on the hit that makes it hot: current >= reqs_density_per_unit, or previous >= it,
// or (previous + current) / 2 >= it. That hit returns -2, every hit while red -1, others 1.
// Red is cleared at a window end when the window just ended had fewer than
// reqs_density_per_unit hits: a source stays blocked while it keeps sending at the limit.
// A source not seen for remove_latency seconds is forgotten (its counts restart from 0).
//
// Where viaduct differs:
// - Kamailio keeps sources in a byte tree and spends hits building the address's branch first,
//   so it blocks after between x and 3x hits in a window (x = reqs_density_per_unit; 12 hits
//   measured with x = 10 on 127.0.0.3). viaduct keeps whole IPv4 addresses and blocks on the
//   x-th hit: the lower bound.
// - Windows end at multiples of sampling_time_unit on the worker's clock (TSC), not on a timer
//   started with the process: the same rule, a different phase.
// - The table is per worker. With RSS spreading one source over several workers (a source's
//   packets normally hash to one queue, but not when the hash covers ports and the source uses
//   several), each worker counts only its share, so the source is blocked later than in
//   Kamailio, where all processes share one tree. Per-worker counting is an approximation.
// - The table is fixed-size (kPikeSlots); when a source's probe run is full, the entry seen
//   least recently is evicted (Kamailio grows its tree in shared memory instead).
#pragma once

#include <cstddef>
#include <cstdint>

namespace viaduct::cfg {
struct Program;
}

namespace viaduct::dp {

inline constexpr size_t kPikeSlots = 4096;  // per worker; a power of two
inline constexpr size_t kPikeProbe = 16;    // slots looked at per lookup (linear probing)

struct PikeParams {
  uint32_t sampling_time_unit = 2;  // seconds (Kamailio's defaults)
  uint32_t reqs_density_per_unit = 30;
  uint32_t remove_latency = 120;  // seconds
};

struct PikeEntry {
  uint64_t last_ms = 0;  // time of the last hit (expiry, eviction)
  uint32_t ip_be = 0;
  uint32_t window = 0;   // index of the window `curr` counts (time / sampling_time_unit)
  uint16_t curr = 0;     // hits in that window
  uint16_t prev = 0;     // hits in the window before it
  uint8_t used = 0;
  uint8_t red = 0;       // blocked
};

// The script's modparam("pike", ...) values over Kamailio's defaults (control plane: called
// when a worker first runs a new program).
PikeParams pike_params(const cfg::Program& prog) noexcept;

class PikeTable {
 public:
  // The first run of a new program on the worker (start, reload): new limits. The counts are
  // kept, unless sampling_time_unit changed (window indexes would not mean the same).
  void configure(const PikeParams& p) noexcept;
  const PikeParams& params() const noexcept { return params_; }

  // One request from `ip_be` at `now_ms` (a monotonic clock in milliseconds). Returns 1 (not
  // blocked), -2 (blocked by this hit) or -1 (blocked before). Per packet: no allocation.
  int32_t check(uint32_t ip_be, uint64_t now_ms) noexcept;

  // The clock pike_check_req() uses: TSC in milliseconds, or fake_ms when non-zero (tests).
  // `tsc`: the TSC already read (the worker's per-burst clock, DispatchState::burst_tsc); 0:
  // read it here. The division is done once per distinct TSC value.
  uint64_t now_ms(uint64_t tsc = 0) noexcept;

  uint64_t fake_ms = 0;
  uint64_t evictions = 0;  // a live entry replaced because its probe run was full
  uint64_t configured_for = 0;  // the serial of the cfg::Program the params were read from

 private:
  PikeParams params_;
  uint64_t unit_ms_ = 2000;
  uint64_t latency_ms_ = 120000;
  uint64_t tsc_per_ms_ = 0;  // 0: rte_get_tsc_hz() on first use
  uint64_t last_tsc_ = 0;    // now_ms()'s last conversion
  uint64_t last_ms_ = 0;
  PikeEntry slots_[kPikeSlots] = {};
};

}  // namespace viaduct::dp
