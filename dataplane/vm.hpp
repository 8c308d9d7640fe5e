// SPDX-License-Identifier: Apache-2.0
// dataplane/vm.hpp: the interpreter of the compiled routing script (cfg::Program).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/counters.hpp"
#include "dataplane/dispatch.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// What the script decided for one request. Kamailio sends at the moment forward() or
// sl_send_reply() runs and then carries on with the script; viaduct records the first send
// and performs it when the script ends, which gives the same packets on the wire as long as
// the script sends once (a second send in the same run returns -1 to the script).
inline constexpr size_t kVmMaxAppend = 8;   // append_hf per run
inline constexpr size_t kVmMaxRemove = 8;   // remove_hf per run

// Every string_view below points into the message, into the program's strings, or into the
// worker's VM scratch; all stay valid until the next vm_run on that worker.
struct VmResult {
  enum class Action : uint8_t { kNone, kForward, kReply };
  enum class MaxFwd : uint8_t { kLeave, kDecrement, kInsert };

  Action action = Action::kNone;
  bool dropped = false;        // the script ran `drop`
  bool error = false;          // a run-time limit was hit (route depth, step budget)
  uint16_t reply_code = 0;
  std::string_view reply_reason;  // sl_send_reply / send_reply reason phrase
  int32_t du = -1;             // $du: index into snapshot.destinations, -1 when unset
  MaxFwd maxfwd = MaxFwd::kLeave;
  uint32_t maxfwd_value = 0;   // the value to write (decremented or inserted)

  // ---- message edits and routing the pipeline applies when it forwards ----
  // Next hop given as a URI rather than a dispatcher destination: forward(host[, port]),
  // `$du = "sip:..."`, ds_set_dst, loose_route's next Route. Wins over `du` when set (the VM
  // keeps only the last assignment: setting one clears the other).
  std::string_view du_uri;
  // The whole new Request-URI after $ru/$rU/$rd/$rp assignments, sethost, setuser, setport,
  // rewriteuri, prefix, strip (revert_uri empties it again). Empty: unchanged.
  std::string_view new_ruri;
  // append_hf: whole header lines ("Name: value\r\n"), appended after the last header, in order.
  std::string_view append_hf[kVmMaxAppend];
  uint8_t n_append = 0;
  // remove_hf: header names; every instance goes (case-insensitive, compact forms too).
  std::string_view remove_hf[kVmMaxRemove];
  uint8_t n_remove = 0;
  bool record_route = false;    // record_route(): our Record-Route (;lr) on top
  bool route_pop = false;       // loose_route() matched: the top Route (ours) is removed
  bool force_rport = false;     // force_rport(): act as if the top Via had ;rport
  bool add_local_rport = false; // add_local_rport(): our Via carries ;rport
  std::string_view adv_addr;    // set_advertised_address(): host in our Via / Record-Route
  uint16_t adv_port = 0;        // set_advertised_port(); 0: unchanged
  int16_t send_socket = -1;     // force_send_socket(): index into snapshot.listeners
  bool mtu_try_proto = false;   // udp_mtu_try_proto() ran (the slow path owns larger messages)
};

inline constexpr uint32_t kVmStepBudget = 100000;

// Runs request_route for one request. Worker, per packet: no allocation, no syscalls.
void vm_run(const Snapshot& snap, const char* msg, const sip::SipView& v, DispatchState& ds,
            WorkerCounters& counters, VmResult& out) noexcept;

// True when the URI host[:port] is one of ours (listen addresses, aliases).
bool uri_is_myself(const Snapshot& snap, const char* msg, sip::Span uri) noexcept;

}  // namespace viaduct::dp
