// SPDX-License-Identifier: Apache-2.0
// perf/control_bench.cpp: what one publication costs the control thread. The daemon builds a
// whole snapshot (ctl::build_snapshot) for every change the workers must see: a probe's verdict,
// an API state change, a neighbour learned, a blocklist entry, a reload. A dispatcher list of
// 100 sets of 50 destinations, each set with its Maglev table of 65,537 slots:
//   BM_publish_first: a snapshot built from nothing (start-up, reload);
//   BM_publish_health_change: the next one, after one destination went down, with the live
//     snapshot given as BuildInputs::previous (what the daemon does).
// No EAL: the builder needs none.
#include <benchmark/benchmark.h>
#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "control/snapshot_builder.hpp"

namespace viaduct {
namespace {

constexpr int kSets = 100;
constexpr int kPerSet = 10;  // 1,000 destinations: dp::kMaxDestinations is 1,024

struct Inputs {
  ctl::BuildInputs in;
  ctl::DestinationIds ids;
};

Inputs make_inputs() {
  Inputs x;
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  if (!cfg::compile_string("listen=udp:10.0.0.2:5060\nloadmodule \"dispatcher.so\"\n"
                           "request_route { ds_select_dst(\"1\", \"0\"); forward(); }\n",
                           "bench.cfg", "/tmp", {}, *prog, diags)) {
    std::fprintf(stderr, "control-bench: %s\n", diags.empty() ? "?" : diags[0].str().c_str());
    std::exit(1);
  }
  std::string list;
  for (int s = 1; s <= kSets; ++s) {
    for (int d = 0; d < kPerSet; ++d) {
      list += std::to_string(s) + " sip:10." + std::to_string(s) + "." + std::to_string(d / 200) +
              "." + std::to_string(d % 200 + 1) + ":5060 0 0\n";
    }
  }
  if (!cfg::parse_dispatcher_list(list, "bench.list", x.in.destinations, diags)) {
    std::fprintf(stderr, "control-bench: the list does not parse\n");
    std::exit(1);
  }
  x.in.program = prog;
  dp::Iface f;
  f.ip_be = htonl(0x0a000002u);
  f.mask_be = htonl(0xff000000u);
  x.in.ifaces = {f};
  return x;
}

void BM_publish_first(benchmark::State& state) {
  Inputs x = make_inputs();
  for (auto _ : state) {
    auto snap = ctl::build_snapshot(x.in, x.ids);
    if (!snap) {
      state.SkipWithError(snap.error().str().c_str());
      return;
    }
    benchmark::DoNotOptimize(snap);
  }
}
BENCHMARK(BM_publish_first)->Unit(benchmark::kMillisecond);

void BM_publish_health_change(benchmark::State& state) {
  Inputs x = make_inputs();
  auto live = ctl::build_snapshot(x.in, x.ids);
  if (!live) {
    state.SkipWithError(live.error().str().c_str());
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    // One destination goes down (flag 1: inactive) and the one before it comes back.
    x.in.destinations[i].flags &= ~1u;
    i = (i + 1) % x.in.destinations.size();
    x.in.destinations[i].flags |= 1u;
    x.in.previous = &(*live)->snap;
    auto snap = ctl::build_snapshot(x.in, x.ids);
    if (!snap) {
      state.SkipWithError(snap.error().str().c_str());
      return;
    }
    live = std::move(snap);
  }
}
BENCHMARK(BM_publish_health_change)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace viaduct

BENCHMARK_MAIN();
