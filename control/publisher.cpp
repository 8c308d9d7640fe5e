// SPDX-License-Identifier: Apache-2.0
#include "control/publisher.hpp"

#include <rte_rcu_qsbr.h>

namespace viaduct::ctl {

void Publisher::publish(std::unique_ptr<OwnedSnapshot> next) {
  next->snap.generation = ++generation_;
  next->snap.program = next->program.get();
  const dp::Snapshot* old = slot_.exchange(&next->snap);
  if (old != nullptr && live_ != nullptr) {
    retired_.push_back({rte_rcu_qsbr_start(qsv_), std::move(live_)});
  }
  live_ = std::move(next);
}

void Publisher::reclaim() {
  while (!retired_.empty() && rte_rcu_qsbr_check(qsv_, retired_.front().token, false) == 1) {
    retired_.pop_front();
  }
}

void Publisher::synchronize() {
  rte_rcu_qsbr_synchronize(qsv_, RTE_QSBR_THRID_INVALID);
  retired_.clear();
}

}  // namespace viaduct::ctl
