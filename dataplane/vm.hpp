// SPDX-License-Identifier: Apache-2.0
// dataplane/vm.hpp: the interpreter of the compiled routing script (cfg::Program).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "dataplane/counters.hpp"
#include "dataplane/dispatch.hpp"
#include "dataplane/pike.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// What the script decided for one request. Kamailio sends at the moment forward() or
// sl_send_reply() runs and then carries on with the script; viaduct records the first send
// and performs it when the script ends, which gives the same packets on the wire as long as
// the script sends once (a second send in the same run returns -1 to the script).
inline constexpr size_t kVmDsList = 16;    // failover list entries (ds_select_* limit)
// append_hf/insert_hf records per run; more lines join a record (dataplane/vm.cpp
// add_header_line), bounded by the run's arena and the message's room, not by a count.
inline constexpr size_t kVmMaxAppend = 8;
inline constexpr size_t kVmMaxRemove = 8;   // remove_hf per run

// An array that a default-constructed VmResult leaves uninitialised: the per-message result
// is built on the stack for every packet, and clearing its header lines and names (256 bytes,
// ~50 instructions per message) is waste when only the first n_append / n_remove are read.
template <class T, size_t N>
struct UninitArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  union {
    T v[N];
  };
  UninitArray() noexcept {}  // NOLINT: leaves v uninitialised on purpose
  T& operator[](size_t i) noexcept { return v[i]; }
  const T& operator[](size_t i) const noexcept { return v[i]; }
};

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
  std::string_view reply_hdrs;    // whole header lines the reply carries (sanity's Unsupported:)
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
  // append_hf: whole header lines ("Name: value\r\n"), appended after the last header, in order;
  // one record may hold several lines that go to the same place (past kVmMaxAppend lines).
  UninitArray<std::string_view, kVmMaxAppend> append_hf;  // [0, n_append) set
  uint8_t n_append = 0;
  // remove_hf: header names; every instance goes (case-insensitive, compact forms too).
  UninitArray<std::string_view, kVmMaxRemove> remove_hf;  // [0, n_remove) set
  uint8_t n_remove = 0;
  bool record_route = false;    // record_route(): our Record-Route (;lr) on top
  bool route_pop = false;       // loose_route() matched: the top Route (ours) is removed
  // loose_route() removing more than that, as Kamailio's rr does: route_cut[0, route_cuts & 3)
  // are Route values removed from the top, contiguous (sip::route_cut_edits; route_cut[0] is
  // the top): our double Record-Route's second value, a strict router's value (RFC 3261 16.6
  // step 6: its URI went into the R-URI). With kRouteCutLast, route_cut[3] is the bytes that
  // remove the last Route value (sip::route_last_value: after a strict router, RFC 3261 16.4,
  // it went back into the R-URI). route_cuts 0: route_pop alone says what goes (one test on
  // the common path, and nothing else here to clear per message).
  static constexpr uint8_t kRouteCutLast = 4;
  UninitArray<sip::Span, 4> route_cut;
  uint8_t route_cuts = 0;
  bool force_rport = false;     // force_rport(): act as if the top Via had ;rport
  bool add_local_rport = false; // add_local_rport(): our Via carries ;rport
  std::string_view adv_addr;    // set_advertised_address(): host in our Via / Record-Route
  uint16_t adv_port = 0;        // set_advertised_port(); 0: unchanged
  int16_t send_socket = -1;     // force_send_socket(): index into snapshot.listeners
  bool mtu_try_proto = false;   // udp_mtu_try_proto() ran (the slow path owns larger messages)
  uint32_t flags = 0;           // message flags (setflag) when the script ended
  // ds_mark_dst(): a destination (index into snapshot.destinations) and the state bits
  // (cfg::DsFlag) the control thread is asked to give it; -1: none.
  int32_t mark_dst = -1;
  uint32_t mark_state = 0;
  // The value the run ended with: a `return`'s (reply_route: also its last function call's),
  // 1 on exit or at the end. Kamailio relays a reply only when reply_route's is positive.
  int32_t route_rc = 1;
  // append_hf(line, name): where each append_hf line goes, the offset just past the last field
  // named `name` (Kamailio 5.6.3: after its last instance); 0: after the last header.
  uint16_t append_at[kVmMaxAppend] = {};
  // record_route(params): appended as written after ;ftag=... inside our Record-Route's <>
  // (Kamailio adds no ';': "ftag=1;p=x" needs its own); empty: none.
  std::string_view rr_params;
  // insert_hf(line[, name]) shares the append_hf lines: before the first field named `name`
  // (append_at), or above every header field when there is no name or no such field. Kamailio
  // puts everything inserted on top (insert_hf lines, the Max-Forwards maxfwd adds, our
  // Record-Route) in the order the script asked for it, then our Via (measured, 5.6.3): those
  // are numbered 1..n_top here; 0 is "not on top" (an appended line) or, for mf_seq/rr_seq,
  // "unnumbered" (they then go first, Max-Forwards before Record-Route).
  uint8_t append_top[kVmMaxAppend] = {};
  uint8_t n_top = 0;
  uint8_t mf_seq = 0;
  uint8_t rr_seq = 0;
};

inline constexpr uint32_t kVmStepBudget = 100000;

// A script value: $null, an int or a string (pointing into the message, the program, a $var's
// buffer or the scratch arena).
// No default member initialisers: the interpreter's stack of them is not cleared per run;
// VmVal{} is $null.
struct VmVal {
  enum class Kind : uint8_t { kNull, kInt, kStr };
  Kind kind;
  int64_t i;
  const char* p;
  uint32_t len;
  std::string_view s() const noexcept { return {p, len}; }
};

// The values the interpreter and the transformations build (both used to have their copies).
inline VmVal int_val(int64_t i) noexcept {
  VmVal v{};
  v.kind = VmVal::Kind::kInt;
  v.i = i;
  return v;
}
inline VmVal str_val(std::string_view s) noexcept {
  VmVal v{};
  v.kind = VmVal::Kind::kStr;
  v.p = s.data();
  v.len = static_cast<uint32_t>(s.size());
  return v;
}

// Longest string a $var keeps (Kamailio has no limit; 1 KiB holds the header values and URIs
// scripts copy; 64 KiB of slots per worker). Longer: a counted run-time error (var_overflow).
inline constexpr size_t kVmVarLen = 1024;
inline constexpr size_t kVmScratch = 8192;   // per-run arena for strings the script builds
inline constexpr size_t kVmLogRecords = 64;  // xlog ring (power of two)
inline constexpr size_t kVmLogLen = 240;     // longest log line kept (longer: truncated)

// One xlog/log line, formatted by the worker, printed by the control thread.
struct VmLogRecord {
  int32_t level = 0;
  uint16_t len = 0;
  char text[kVmLogLen];
};

// Single producer (the worker), single consumer (the control thread); full -> counted drop.
struct VmLogRing {
  std::atomic<uint32_t> head{0};  // next record the worker writes
  std::atomic<uint32_t> tail{0};  // next record the control thread reads
  std::atomic<uint64_t> dropped{0};
  VmLogRecord rec[kVmLogRecords];

  // Control thread: calls `fn(record)` for every pending record; returns how many.
  template <typename F>
  size_t drain(F&& fn) {
    uint32_t t = tail.load(std::memory_order_relaxed);
    const uint32_t h = head.load(std::memory_order_acquire);
    size_t n = 0;
    for (; t != h; ++t, ++n) {
      fn(rec[t % kVmLogRecords]);
    }
    tail.store(t, std::memory_order_release);
    return n;
  }
};

// The interpreter's per-worker state: $var slots (they persist across messages, as Kamailio's
// per-process script variables do), the scratch arena, the log ring and run-time error counts.
// Regex answers remembered across messages, per worker (VmState::rx_memo): operands up to this
// long, in this many direct-mapped slots. A User-Agent repeats from message to message (the peers
// of an SBC front are a few device models), and a Hyperscan call costs ~35 ns where the lookup
// costs ~5 (perf/RESULTS.md).
inline constexpr size_t kRegexMemoSlots = 64;
inline constexpr size_t kRegexMemoText = 128;

struct RegexMemo {
  uint32_t epoch = 0;  // valid while equal to VmState::rx_epoch (0: never filled)
  uint32_t set = 0;
  uint32_t len = 0;
  cfg::RegexMatches m;
  char text[kRegexMemoText];
};

struct VmState {
  struct Var {
    VmVal v;  // kNull never: an unset $var is the int 0 (Kamailio)
    char buf[kVmVarLen];
  };
  Var vars[cfg::kMaxScriptVars];
  char scratch[kVmScratch];
  VmLogRing log;
  // Run-time errors, counted (the message is dropped and counted as a script error).
  uint64_t scratch_overflow = 0;  // a string result did not fit in the arena
  uint64_t var_overflow = 0;      // a string longer than kVmVarLen assigned to a $var
  uint64_t while_limit = 0;       // max_while_loops exceeded
  uint64_t depth_limit = 0;       // route() nesting deeper than kMaxRouteDepth
  uint64_t stack_overflow = 0;    // expression deeper than kVmStackDepth
  uint64_t regex_errors = 0;      // a Hyperscan scan failed (or no scratch for this worker)
  uint64_t other_errors = 0;      // division by zero, bad run-time argument, step budget
  // The serial of the program last run (cfg::Program::serial, never 0): vars reset when it
  // changes (reload). Not its address: a freed program's address may come back.
  uint64_t program_serial = 0;
  bool program_closed = false;            // code_is_closed(*program) (vm.cpp)
  uint32_t program_routes = 0;            // program->routes.size()
  PikeTable pike;  // pike_check_req(): this worker's sources (dataplane/pike.hpp)
  // The message flags the last vm_run ended with: onsend_route, run on the request that
  // request_route has just run on, starts from them (dataplane/reply_route.cpp).
  uint32_t msg_flags = 0;
  // The scratch arena across two runs on one message: a run starts using it at scratch_from
  // and leaves in scratch_used how far it got. onsend_route runs while the request_route
  // result it is about to send (its append_hf lines, URIs...) still lives in the arena, so it
  // starts above them (dataplane/reply_route.cpp); every other run starts at 0.
  uint32_t scratch_from = 0;
  uint32_t scratch_used = 0;
  // The regex memo: its entries hold for one program and one snapshot generation (a reload or
  // any republish starts a new epoch, so a changed pattern list is never answered from memory).
  uint32_t rx_epoch = 0;
  uint64_t rx_memo_gen = 0;
  const cfg::Program* rx_memo_prog = nullptr;
  uint64_t regex_memo_hits = 0;    // answered from the memo
  uint64_t regex_memo_misses = 0;  // scanned (operands longer than kRegexMemoText included)
  RegexMemo rx_memo[kRegexMemoSlots];
};

// What the VM reads of the packet around the SIP message.
struct VmPacket {
  uint32_t src_ip_be = 0;
  uint16_t src_port = 0;  // host order
  uint32_t dst_ip_be = 0;
  uint16_t dst_port = 0;  // host order
  uint16_t worker = 0;    // the worker's id: its Hyperscan scratch (cfg::RegexTables::pool)
  const uint8_t* src_ip6 = nullptr;  // received over IPv6: the source (16 bytes), else null
  const uint8_t* dst_ip6 = nullptr;  // received over IPv6: the receiving address
  // onsend_route: the destination of the request about to leave ($snd); port 0 elsewhere.
  uint32_t snd_ip_be = 0;
  uint16_t snd_port = 0;  // host order
};

// Runs request_route for one request. Worker, per packet: no allocation, no syscalls.
// `route` is the index in program->routes to start at: 0, request_route, for packets; the
// control thread runs the event routes (cfg::Program::event_dst_down...) the same way.
void vm_run(const Snapshot& snap, const char* msg, const sip::SipView& v, const VmPacket& pkt,
            VmState& st, DispatchState& ds, WorkerCounters& counters, VmResult& out,
            uint32_t route = 0) noexcept;

// True when the URI host[:port] is one of ours (listen addresses, aliases).
bool uri_is_myself(const Snapshot& snap, const char* msg, sip::Span uri) noexcept;

}  // namespace viaduct::dp
