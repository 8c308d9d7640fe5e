// SPDX-License-Identifier: Apache-2.0
// perf/vm_bench.cpp: the routing-script interpreter alone (vm_run on an already scanned
// message), for a typical front-end script: sanity_check, a User-Agent scanner regex (a literal
// set, cfg/regex_literal.hpp, behind the worker's memo), Max-Forwards, a method switch and
// ds_select_dst. Issue 4's goal: <= 100 ns per message.
// No EAL: the VM needs none.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/vm.hpp"
#include "perf/messages.hpp"

namespace viaduct {
namespace {

constexpr const char* kFrontEnd = R"(
listen=udp:10.0.0.2:5060
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
loadmodule "sanity.so"
modparam("dispatcher", "list_file", "unused.list")
request_route {
    if (!sanity_check("1511", "7")) {
        exit;
    }
    if ($ua =~ "friendly-scanner|sipvicious|sipcli|sip-scan|iWar|VaxSIPUserAgent") {
        sl_send_reply("403", "Forbidden");
        exit;
    }
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    switch ($rm) {
        case "OPTIONS":
            if (uri == myself) {
                sl_send_reply("200", "Keepalive");
                exit;
            }
            break;
        case "INVITE":
        case "ACK":
        case "BYE":
        case "CANCEL":
            route(DISPATCH);
            break;
        default:
            sl_send_reply("405", "Method Not Allowed");
            exit;
    }
    route(DISPATCH);
}
route[DISPATCH] {
    if (!ds_select_dst(1, 4)) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
    exit;
}
)";

struct Fixture {
  cfg::Program prog;
  std::unique_ptr<dp::Snapshot> snap;
  std::unique_ptr<dp::VmState> st = std::make_unique<dp::VmState>();
  dp::DispatchState ds;
  dp::WorkerCounters counters;
  std::string msg;
  sip::SipView v;

  bool init(const char* script, const std::string& message, bool failover = false) {
    cfg::Diagnostics d;
    if (!cfg::compile_string(script, "bench.cfg", "/tmp", {}, prog, d)) {
      for (const auto& x : d) {
        std::fprintf(stderr, "%s\n", x.str().c_str());
      }
      return false;
    }
    std::vector<cfg::DsDestination> dests;
    if (!cfg::parse_dispatcher_list(
            "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n1 sip:10.0.0.13:5060\n", "ds.list",
            dests, d)) {
      return false;
    }
    dp::DsConfig dsc;
    dsc.failover = failover;  // modparam("dispatcher", "flags", 2)
    snap = ctl::dispatcher_snapshot(dests, dsc);
    snap->program = &prog;
    snap->myself.push_back({"10.0.0.2", 5060});
    ds.tsc_hz = 1000000000;
    ds.fake_tsc = 1;
    msg = message;
    return sip::scan(msg.data(), msg.size(), v) == sip::ScanStatus::kOk;
  }
};

void run(benchmark::State& s, const char* script, const std::string& message) {
  Fixture f;
  if (!f.init(script, message)) {
    s.SkipWithError("setup failed");
    return;
  }
  dp::VmPacket pkt{0x0A00000A, 5060, 0x0200000A, 5060, 0};
  for (auto _ : s) {
    dp::VmResult r;
    dp::vm_run(*f.snap, f.msg.data(), f.v, pkt, *f.st, f.ds, f.counters, r);
    benchmark::DoNotOptimize(r);
  }
}

// A 900-byte INVITE through the whole front-end script (forwarded to a destination).
void BM_front_end_invite(benchmark::State& s) { run(s, kFrontEnd, perf::kInvite); }
// The same INVITE with a User-Agent (perf::kInvite, as sipp sends it, has none): the regex set
// then looks a real operand up: scanned with Hyperscan the first time, then answered from the
// worker's regex memo, as a repeating User-Agent is (see BM_front_end_invite_ua_unique).
std::string with_user_agent(std::string m) {
  const size_t at = m.find("Max-Forwards:");
  return m.insert(at, "User-Agent: Linphone-Desktop/5.2.4 (belle-sip/5.2.37)\r\n");
}
void BM_front_end_invite_ua(benchmark::State& s) {
  static const std::string msg = with_user_agent(perf::kInvite);
  run(s, kFrontEnd, msg);
}
// The worst case for the worker's regex memo (dp::VmState::rx_memo): 256 INVITEs whose
// User-Agents all differ, in turn, so nearly every lookup misses the 64-slot memo and scans.
// The 256 messages (~240 KB, scanned at set-up) do not fit in L1: each run also pays for
// reading a message (and its SipView) from L2, which the pipeline does not, as vm_run runs
// right after sip::scan read the message (BM_front_end_invite_ua_unique_hot measures that).
void BM_front_end_invite_ua_unique(benchmark::State& s) {
  constexpr size_t kMessages = 256;
  std::vector<std::string> msgs;
  std::vector<sip::SipView> views(kMessages);
  for (size_t i = 0; i < kMessages; ++i) {
    std::string m = perf::kInvite;
    m.insert(m.find("Max-Forwards:"),
             "User-Agent: Linphone-Desktop/5.2." + std::to_string(i) + " (belle-sip/5.2.37)\r\n");
    msgs.push_back(std::move(m));
  }
  Fixture f;
  if (!f.init(kFrontEnd, msgs[0])) {
    s.SkipWithError("setup failed");
    return;
  }
  for (size_t i = 0; i < kMessages; ++i) {
    if (sip::scan(msgs[i].data(), msgs[i].size(), views[i]) != sip::ScanStatus::kOk) {
      s.SkipWithError("scan failed");
      return;
    }
  }
  dp::VmPacket pkt{0x0A00000A, 5060, 0x0200000A, 5060, 0};
  size_t i = 0;
  for (auto _ : s) {
    dp::VmResult r;
    dp::vm_run(*f.snap, msgs[i].data(), views[i], pkt, *f.st, f.ds, f.counters, r);
    benchmark::DoNotOptimize(r);
    i = (i + 1) % kMessages;
  }
  s.counters["memo_hit_ratio"] =
      static_cast<double>(f.st->regex_memo_hits) /
      static_cast<double>(f.st->regex_memo_hits + f.st->regex_memo_misses);
}
// The same worst case with the message hot, as in the pipeline: one INVITE whose User-Agent's
// three digits ("Linphone-Desktop/5.2.NNN") are rewritten in place before each run, 256 values
// in turn (same length: the scanned SipView stays valid; the 64-slot memo never holds the next
// value). The rewrite is three byte stores, which the measured time includes.
void BM_front_end_invite_ua_unique_hot(benchmark::State& s) {
  constexpr size_t kValues = 256;
  std::string m = perf::kInvite;
  m.insert(m.find("Max-Forwards:"),
           "User-Agent: Linphone-Desktop/5.2.100 (belle-sip/5.2.37)\r\n");
  Fixture f;
  if (!f.init(kFrontEnd, m)) {
    s.SkipWithError("setup failed");
    return;
  }
  const size_t at = f.msg.find("5.2.100") + 4;
  dp::VmPacket pkt{0x0A00000A, 5060, 0x0200000A, 5060, 0};
  size_t i = 0;
  for (auto _ : s) {
    const size_t v = 100 + i;
    f.msg[at] = static_cast<char>('0' + v / 100);
    f.msg[at + 1] = static_cast<char>('0' + v / 10 % 10);
    f.msg[at + 2] = static_cast<char>('0' + v % 10);
    dp::VmResult r;
    dp::vm_run(*f.snap, f.msg.data(), f.v, pkt, *f.st, f.ds, f.counters, r);
    benchmark::DoNotOptimize(r);
    i = (i + 1) % kValues;
  }
  s.counters["memo_hit_ratio"] =
      static_cast<double>(f.st->regex_memo_hits) /
      static_cast<double>(f.st->regex_memo_hits + f.st->regex_memo_misses);
}
// The INVITE with modparam flags 2 (failover): the script reads no failover list, so
// ds_select_dst keeps the selection alone (cfg::Program::reads_ds_list); `_list_read` forces
// the flag, as a script with ds_next_dst or $xavp(_dsdst_) would, to show the walk's cost.
void failover_case(benchmark::State& s, bool list_read) {
  Fixture f;
  if (!f.init(kFrontEnd, perf::kInvite, true)) {
    s.SkipWithError("setup failed");
    return;
  }
  f.prog.reads_ds_list = list_read;
  dp::VmPacket pkt{0x0A00000A, 5060, 0x0200000A, 5060, 0};
  for (auto _ : s) {
    dp::VmResult r;
    dp::vm_run(*f.snap, f.msg.data(), f.v, pkt, *f.st, f.ds, f.counters, r);
    benchmark::DoNotOptimize(r);
  }
}
void BM_front_end_invite_failover(benchmark::State& s) { failover_case(s, false); }
void BM_front_end_invite_failover_list_read(benchmark::State& s) { failover_case(s, true); }
// The same script on an OPTIONS to us (answered locally).
void BM_front_end_options(benchmark::State& s) { run(s, kFrontEnd, perf::kOptions); }
// The same script without sanity_check (its URI parsing is most of the cost).
std::string without_sanity() {
  std::string s = kFrontEnd;
  const size_t a = s.find("    if (!sanity_check");
  const size_t b = s.find("    if ($ua");
  return s.erase(a, b - a);
}
void BM_front_end_no_sanity_invite(benchmark::State& s) {
  static const std::string script = without_sanity();
  run(s, script.c_str(), perf::kInvite);
}
// The README's skeleton (maxfwd, is_method, ds_select_dst), for comparison.
void BM_skeleton_invite(benchmark::State& s) { run(s, perf::kScript, perf::kInvite); }

// The floor: a script that only exits (vm_run's set-up, the result, the benchmark loop).
void BM_exit_only(benchmark::State& s) {
  run(s, "listen=udp:10.0.0.2:5060\nrequest_route {\n    exit;\n}\n", perf::kInvite);
}

BENCHMARK(BM_front_end_invite);
BENCHMARK(BM_front_end_invite_ua);
BENCHMARK(BM_front_end_invite_ua_unique);
BENCHMARK(BM_front_end_invite_ua_unique_hot);
BENCHMARK(BM_front_end_invite_failover);
BENCHMARK(BM_front_end_invite_failover_list_read);
BENCHMARK(BM_front_end_options);
BENCHMARK(BM_front_end_no_sanity_invite);
BENCHMARK(BM_skeleton_invite);
BENCHMARK(BM_exit_only);

}  // namespace
}  // namespace viaduct

BENCHMARK_MAIN();
