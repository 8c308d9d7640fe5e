// SPDX-License-Identifier: Apache-2.0
// control/metrics.hpp: the Prometheus /metrics endpoint. One Collectable sums the per-worker
// counters at scrape time; workers never call prometheus-cpp.
#pragma once

#include <atomic>
#include <chrono>
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
};

struct DestinationLabel {
  uint32_t id = 0;
  int set = 0;
  std::string uri;
  bool usable = true;
};

class MetricsCollector : public prometheus::Collectable {
 public:
  MetricsCollector(std::vector<const dp::WorkerCounters*> workers, const ControlCounters& ctl);

  // Control thread, after each publish: the destinations the labels come from.
  void set_destinations(std::vector<DestinationLabel> d);

  // Scrape thread (civetweb).
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<const dp::WorkerCounters*> workers_;
  const ControlCounters& ctl_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;  // guards dests_; control thread vs scrape thread, never a worker
  std::vector<DestinationLabel> dests_;
};

// Starts the HTTP exposer on "host:port" serving /metrics from `collector`.
Result<std::unique_ptr<prometheus::Exposer>> start_exposer(
    const std::string& listen, const std::shared_ptr<MetricsCollector>& collector);

// The text exposition format of a collector's families (for tests and `viaduct-check`).
std::string render_text(const prometheus::Collectable& c);

}  // namespace viaduct::ctl
