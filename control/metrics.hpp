// SPDX-License-Identifier: Apache-2.0
// control/metrics.hpp: the Prometheus /metrics endpoint. One Collectable sums the per-worker
// counters at scrape time; workers never call prometheus-cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

#include "cfg/result.hpp"
#include "dataplane/counters.hpp"

namespace prometheus {
class Exposer;
}

namespace viaduct::ctl {

// Counters the control thread itself keeps.
struct ControlCounters {
  std::atomic<uint64_t> arp_requests_sent{0};
  std::atomic<uint64_t> reloads{0};
  std::atomic<uint64_t> reload_failures{0};
  std::atomic<uint64_t> generation{0};
  std::atomic<uint64_t> retired_snapshots{0};
  std::atomic<uint64_t> neighbours{0};
  std::atomic<uint64_t> probes_sent{0};
  std::atomic<uint64_t> probe_replies{0};     // final replies matched to a probe
  std::atomic<uint64_t> probe_timeouts{0};
  std::atomic<uint64_t> blocklist_entries{0};
  std::atomic<uint64_t> blocklist_additions{0};
  std::atomic<uint64_t> blocklist_send_failures{0};  // additions for a send failure
  // The script interpreter's run-time errors, summed over the workers by the control loop
  // (dp::VmState), by reason: kScriptErrorReasons order.
  std::atomic<uint64_t> script_errors[7] = {};
  std::atomic<uint64_t> script_log_dropped{0};  // xlog/log lines lost to a full ring
  // Regex lookups answered from the workers' memo, and scanned with Hyperscan (dp::VmState).
  std::atomic<uint64_t> regex_memo_hits{0};
  std::atomic<uint64_t> regex_memo_misses{0};
};
inline constexpr const char* kScriptErrorReasons[7] = {
    "scratch_overflow", "var_overflow", "while_limit", "depth_limit",
    "stack_overflow",   "regex",        "other"};

struct DestinationLabel {
  uint32_t id = 0;
  int set = 0;
  std::string uri;
  bool usable = true;
  uint32_t flags = 0;  // cfg::DsFlag bits (the state letters of dispatcher.list)
};

// Upper bounds (seconds) of the probe round-trip histogram's buckets.
inline constexpr double kProbeRttBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

class MetricsCollector : public prometheus::Collectable {
 public:
  MetricsCollector(std::vector<const dp::WorkerCounters*> workers, const ControlCounters& ctl);

  // Control thread, after each publish: the destinations the labels come from. Probe
  // histograms of destinations no longer among them are dropped.
  void set_destinations(std::vector<DestinationLabel> d);

  // Control thread, before publishing a snapshot that gives these ids to destinations new to
  // the list (ctl::DestinationIds::take_fresh()): an id may have counted for an earlier
  // destination, so the new one's series count from what the workers hold now, from 0.
  void rebase(const std::vector<uint32_t>& ids);

  // Control thread: one probe round trip of a destination.
  void observe_probe_rtt(int set, const std::string& uri, double seconds);

  // Scrape thread (civetweb).
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<const dp::WorkerCounters*> workers_;
  const ControlCounters& ctl_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;  // guards dests_; control thread vs scrape thread, never a worker
  std::vector<DestinationLabel> dests_;
  struct Rtt {
    uint64_t buckets[std::size(kProbeRttBuckets)] = {};  // not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::pair<int, std::string>, Rtt> rtt_;  // guarded by mu_
  struct Base {  // what an id's counters held when it was given to its destination
    uint64_t selected = 0;
    uint64_t forwarded = 0;
    uint64_t replies[dp::kReplyClasses] = {};
  };
  std::vector<Base> base_ = std::vector<Base>(dp::kMaxDestinations);  // by id; guarded by mu_
};

// Starts the HTTP exposer on "host:port" serving /metrics from `collector`.
Result<std::unique_ptr<prometheus::Exposer>> start_exposer(
    const std::string& listen, const std::shared_ptr<MetricsCollector>& collector);

// Stops and destroys `exposer` (started on `listen`) without waiting out civetweb's 2 s poll
// (control/http_stop.hpp). Nothing happens when it is null.
void stop_exposer(std::unique_ptr<prometheus::Exposer>& exposer, const std::string& listen);

// The text exposition format of a collector's families (for tests and `viaduct-check`).
std::string render_text(const prometheus::Collectable& c);

}  // namespace viaduct::ctl
