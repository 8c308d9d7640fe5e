// SPDX-License-Identifier: Apache-2.0
// dataplane/vm.hpp: the interpreter of the compiled routing script (cfg::Program).
#pragma once

#include <cstdint>

#include "dataplane/counters.hpp"
#include "dataplane/dispatch.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// What the script decided for one request. Kamailio sends at the moment forward() or
// sl_send_reply() runs and then carries on with the script; viaduct records the first send
// and performs it when the script ends, which gives the same packets on the wire as long as
// the script sends once (a second send in the same run returns -1 to the script).
struct VmResult {
  enum class Action : uint8_t { kNone, kForward, kReply };
  enum class MaxFwd : uint8_t { kLeave, kDecrement, kInsert };

  Action action = Action::kNone;
  bool dropped = false;        // the script ran `drop`
  bool error = false;          // a run-time limit was hit (route depth, step budget)
  uint16_t reply_code = 0;
  uint16_t reply_reason = 0;   // index into program->strings
  int32_t du = -1;             // $du: index into snapshot.destinations, -1 when unset
  MaxFwd maxfwd = MaxFwd::kLeave;
  uint32_t maxfwd_value = 0;   // the value to write (decremented or inserted)
};

inline constexpr uint32_t kVmStepBudget = 100000;

// Runs request_route for one request. Worker, per packet: no allocation, no syscalls.
void vm_run(const Snapshot& snap, const char* msg, const sip::SipView& v, DispatchState& ds,
            WorkerCounters& counters, VmResult& out) noexcept;

// True when the URI host[:port] is one of ours (listen addresses, aliases).
bool uri_is_myself(const Snapshot& snap, const char* msg, sip::Span uri) noexcept;

}  // namespace viaduct::dp
