// SPDX-License-Identifier: Apache-2.0
// control/publisher.hpp: publishes snapshots to the workers and frees old ones after RCU.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "cfg/program.hpp"
#include "dataplane/snapshot.hpp"

struct rte_rcu_qsbr;

namespace viaduct::ctl {

// The memory behind one published dp::Snapshot.
struct OwnedSnapshot {
  dp::Snapshot snap;
  std::shared_ptr<const cfg::Program> program;  // snap.program points into it
};

// Control thread only. Not thread-safe: there is one control thread.
class Publisher {
 public:
  Publisher(dp::SnapshotSlot& slot, rte_rcu_qsbr* qsv) : slot_(slot), qsv_(qsv) {}

  // Makes `next` visible to all workers at once and retires the previous snapshot; it is freed
  // by reclaim() once every worker has passed a quiescent state. Sets the generation.
  void publish(std::unique_ptr<OwnedSnapshot> next);

  // Frees retired snapshots every worker has moved past. Never blocks on a worker.
  void reclaim();

  // Waits for all workers, then frees everything retired (shutdown and tests).
  void synchronize();

  const OwnedSnapshot* live() const noexcept { return live_.get(); }
  uint64_t generation() const noexcept { return generation_; }
  size_t retired_count() const noexcept { return retired_.size(); }

 private:
  struct Retired {
    uint64_t token;
    std::unique_ptr<OwnedSnapshot> snapshot;
  };
  dp::SnapshotSlot& slot_;
  rte_rcu_qsbr* qsv_;
  uint64_t generation_ = 0;
  std::unique_ptr<OwnedSnapshot> live_;
  std::deque<Retired> retired_;
};

}  // namespace viaduct::ctl
