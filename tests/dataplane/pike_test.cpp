// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/pike_test.cpp: pike_check_req(), the per-worker table with a fake clock, and a
// script through the compiler and vm_run(). No EAL.
//
// Measured on Kamailio 5.6.3 (loopback, sampling_time_unit 2, reqs_density_per_unit 10,
// remove_latency 4; one UDP OPTIONS sender per source, each answered 200 or 503 "pike $rc"):
// - 4/s (8 a window) for 6 s: never blocked.
// - 20/s: blocked on the 12th request (-2; the byte tree takes a few hits first), -1 after,
//   blocked for as long as the rate stays.
// - 20/s for 3 s then 3/s: blocked until 6.3 s, the end of the first window entirely at 3/s
//   (the window holding the switch at 3 s still counted over 10).
// - 7/s (14 a window): blocked at 2.6 s on the 19th request; stays blocked.
// viaduct blocks on the 10th hit of a window (Kamailio's lower bound; see dataplane/pike.hpp).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cfg/compile.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/pike.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/vm.hpp"

namespace viaduct {
namespace {

constexpr uint32_t kA = 0x0A02000C;  // addresses as the pipeline hands them (network order:
constexpr uint32_t kB = 0x0B02000C;  // the table only hashes and compares them)

// x = 10 per 2 s window, forgotten after 4 s without a hit: the parameters measured above.
std::unique_ptr<dp::PikeTable> table(uint32_t unit = 2, uint32_t density = 10,
                                     uint32_t latency = 4) {
  auto t = std::make_unique<dp::PikeTable>();
  t->configure({unit, density, latency});
  return t;
}

// `n` hits of `ip` spread over [from_ms, from_ms + 1000): returns the results in order.
std::vector<int32_t> burst(dp::PikeTable& t, uint32_t ip, uint64_t from_ms, int n) {
  std::vector<int32_t> r;
  for (int i = 0; i < n; ++i) {
    r.push_back(t.check(ip, from_ms + static_cast<uint64_t>(i) * 1000 / n));
  }
  return r;
}

// The clock: a TSC the caller already read (the worker's per burst) is used instead of the
// TSC; the same value converts to the same milliseconds, a later one to no fewer.
TEST(PikeTable, ClockTakesTheBurstTsc) {
  auto t = table();
  const uint64_t at = 1ull << 40;
  const uint64_t ms = t->now_ms(at);
  EXPECT_EQ(t->now_ms(at), ms);
  EXPECT_GT(t->now_ms(at * 3), ms);
  EXPECT_EQ(t->now_ms(at), ms);  // not a cache of the last call only
  EXPECT_LT(t->now_ms(1ull << 20), t->now_ms(0));  // a tiny given clock, not the machine's
}

TEST(PikeTable, UnderTheDensityIsNeverBlocked) {
  auto t = table();
  // 9 hits in each of 6 windows (the first starts at 10 s: a window boundary).
  for (uint64_t w = 0; w < 6; ++w) {
    for (int32_t r : burst(*t, kA, 10000 + w * 2000, 9)) {
      EXPECT_EQ(r, 1) << "window " << w;
    }
  }
}

TEST(PikeTable, TheHitThatReachesTheDensityBlocks) {
  auto t = table();
  const std::vector<int32_t> r = burst(*t, kA, 10000, 12);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(r[i], 1) << i;
  }
  EXPECT_EQ(r[9], -2);  // the 10th: newly blocked
  EXPECT_EQ(r[10], -1);  // then: blocked before
  EXPECT_EQ(r[11], -1);
  EXPECT_EQ(t->check(kB, 10999), 1) << "another source is not blocked";
}

TEST(PikeTable, StaysBlockedWhileTheRateStaysAtTheDensity) {
  auto t = table();
  burst(*t, kA, 10000, 10);
  for (uint64_t w = 1; w < 5; ++w) {
    for (int32_t r : burst(*t, kA, 10000 + w * 2000, 10)) {
      EXPECT_EQ(r, -1) << "window " << w;
    }
  }
}

TEST(PikeTable, ReleasedAtTheEndOfAWindowUnderTheDensity) {
  auto t = table();
  burst(*t, kA, 10000, 10);  // blocked in [10 s, 12 s)
  // [12 s, 14 s): 5 hits. Still blocked: the window that ended at 12 s had 10.
  for (int32_t r : burst(*t, kA, 12000, 5)) {
    EXPECT_EQ(r, -1);
  }
  // [14 s, 16 s): the window that ended had 5: released.
  EXPECT_EQ(t->check(kA, 14000), 1);
  EXPECT_EQ(t->check(kA, 14500), 1);
}

TEST(PikeTable, ReleasedAfterSilence) {
  auto t = table();
  burst(*t, kA, 10000, 10);
  EXPECT_EQ(t->check(kA, 11999), -1);
  // Nothing for more than a window: the next window end found an empty window.
  EXPECT_EQ(t->check(kA, 14100), 1);
}

TEST(PikeTable, EachWindowCountsFromZero) {
  // 9 hits late in one window and 9 early in the next: 18 within 2 s, but no window reached
  // 10 (nor their mean): not blocked, as in Kamailio, whose windows are fixed, not sliding.
  auto t = table();
  burst(*t, kA, 11000, 9);                 // [10 s, 12 s): 9
  EXPECT_EQ(t->check(kA, 12000), 1);       // [12 s, 14 s): 1, previous 9
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t->check(kA, 12100 + static_cast<uint64_t>(i)), 1);
  }
  EXPECT_EQ(t->check(kA, 12200), -2) << "the 10th hit of [12 s, 14 s)";
}

TEST(PikeTable, ForgottenAfterRemoveLatency) {
  // A long window (10 s) so that only remove_latency (4 s) can reset the count.
  auto t = table(10, 10, 4);
  burst(*t, kA, 20000, 9);
  EXPECT_EQ(t->check(kA, 25000), 1) << "more than 4 s since the last hit: counted from 0";
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t->check(kA, 25001 + static_cast<uint64_t>(i)), 1);
  }
  EXPECT_EQ(t->check(kA, 25100), -2) << "10 hits since it was forgotten";

  auto u = table(10, 10, 4);
  burst(*u, kA, 20000, 9);
  EXPECT_EQ(u->check(kA, 23900), -2) << "within 4 s: the 10th hit of the window";
}

TEST(PikeTable, AFullTableEvictsTheOldest) {
  auto t = table(10, 10, 60);
  burst(*t, kA, 20000, 9);  // kA: 9 hits, the oldest entry of the table
  // Many more sources than slots, each seen once, later than kA.
  for (uint32_t i = 0; i < 8 * dp::kPikeSlots; ++i) {
    EXPECT_EQ(t->check(0x0C000000u + i, 21500), 1);
  }
  EXPECT_GT(t->evictions, 0u);
  EXPECT_EQ(t->check(kA, 21600), 1) << "kA was evicted: its 10th hit counts as its first";
  // The table still counts: a source seen 10 times now is blocked.
  EXPECT_EQ(burst(*t, kB, 21700, 10).back(), -2);
}

TEST(PikeTable, ReconfigureAppliesTheNewLimits) {
  // Same unit (a reload that changes the density): the counts carry over.
  auto t = table();
  burst(*t, kA, 10000, 5);
  t->configure({2, 7, 4});
  EXPECT_EQ(burst(*t, kA, 11000, 2), (std::vector<int32_t>{1, -2}));  // 6th, then 7th hit
  // Another unit: every source starts again.
  t->configure({3, 3, 4});
  EXPECT_EQ(burst(*t, kA, 12000, 3), (std::vector<int32_t>{1, 1, -2}));
}

// ---- through the compiler and vm_run ----

constexpr const char* kScript =
    "listen=udp:10.0.0.2:5060\n"
    "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"pike.so\"\n"
    "modparam(\"pike\", \"sampling_time_unit\", 2)\n"
    "modparam(\"pike\", \"reqs_density_per_unit\", 10)\n"
    "modparam(\"pike\", \"remove_latency\", 4)\n"
    "request_route {\n"
    "    if (!pike_check_req()) {\n"
    "        if ($rc == -2) { sl_send_reply(\"503\", \"pike new\"); exit; }\n"
    "        sl_send_reply(\"503\", \"pike\");\n"
    "        exit;\n"
    "    }\n"
    "    sl_send_reply(\"200\", \"OK\");\n"
    "}\n";

class Script {
 public:
  explicit Script(const std::string& text) {
    cfg::Diagnostics d;
    ok_ = cfg::compile_string(text, "t.cfg", "/tmp", {}, prog_, d);
    for (const auto& x : d) {
      diags_ += x.str() + "\n";
    }
    snap_ = ctl::dispatcher_snapshot({}, {});
    snap_->program = &prog_;
    ds_ = std::make_unique<dp::DispatchState>();
    ds_->tsc_hz = 1000000000;
    ds_->fake_tsc = 1;
  }
  bool ok() const { return ok_; }
  const std::string& diags() const { return diags_; }
  dp::VmState& state() { return *st_; }

  // One OPTIONS from `src` at `now_ms`: the reply code and reason the script chose.
  std::string run(uint32_t src, uint64_t now_ms) {
    const std::string msg =
        "OPTIONS sip:10.0.0.2 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1\r\n"
        "From: <sip:a@example.org>;tag=1\r\nTo: <sip:b@example.com>\r\n"
        "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sip::SipView v;
    EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk);
    dp::VmResult r;
    dp::VmPacket pkt;
    pkt.src_ip_be = src;
    pkt.src_port = 5070;
    pkt.dst_ip_be = __builtin_bswap32(0x0A000002);
    pkt.dst_port = 5060;
    st_->pike.fake_ms = now_ms;
    dp::vm_run(*snap_, msg.data(), v, pkt, *st_, *ds_, counters_, r);
    return std::to_string(r.reply_code) + " " + std::string(r.reply_reason);
  }

 private:
  bool ok_ = false;
  std::string diags_;
  cfg::Program prog_;
  std::unique_ptr<dp::Snapshot> snap_;
  std::unique_ptr<dp::DispatchState> ds_;
  std::unique_ptr<dp::VmState> st_ = std::make_unique<dp::VmState>();
  dp::WorkerCounters counters_;
};

TEST(PikeScript, BlocksAndReleasesAsKamailioDoes) {
  Script s(kScript);
  ASSERT_TRUE(s.ok()) << s.diags();
  EXPECT_EQ(s.diags(), "");
  // The modparams reached the worker's table on the first run.
  EXPECT_EQ(s.run(kA, 10000), "200 OK");
  EXPECT_EQ(s.state().pike.params().sampling_time_unit, 2u);
  EXPECT_EQ(s.state().pike.params().reqs_density_per_unit, 10u);
  EXPECT_EQ(s.state().pike.params().remove_latency, 4u);
  for (uint64_t i = 1; i < 9; ++i) {
    EXPECT_EQ(s.run(kA, 10000 + i * 100), "200 OK") << i;
  }
  EXPECT_EQ(s.run(kA, 11000), "503 pike new");  // the 10th in [10 s, 12 s)
  EXPECT_EQ(s.run(kA, 11100), "503 pike");
  EXPECT_EQ(s.run(kB, 11200), "200 OK");        // per source
  EXPECT_EQ(s.run(kA, 12500), "503 pike");      // the ended window had 11
  EXPECT_EQ(s.run(kA, 14000), "200 OK");        // the ended window had 1: released
}

TEST(PikeScript, DefaultsWithoutModparams) {
  Script s(
      "listen=udp:10.0.0.2:5060\nloadmodule \"sl.so\"\nloadmodule \"pike.so\"\n"
      "request_route { if (!pike_check_req()) { sl_send_reply(\"503\", \"pike\"); exit; }\n"
      "  sl_send_reply(\"200\", \"OK\"); }\n");
  ASSERT_TRUE(s.ok()) << s.diags();
  // Kamailio's defaults: 30 per 2 s.
  for (uint64_t i = 0; i < 29; ++i) {
    EXPECT_EQ(s.run(kA, 10000 + i), "200 OK") << i;
  }
  EXPECT_EQ(s.run(kA, 10100), "503 pike");
  EXPECT_EQ(s.state().pike.params().remove_latency, 120u);
}

TEST(PikeScript, CheckTimeErrorsAndWarnings) {
  const std::string head = "listen=udp:10.0.0.2:5060\nloadmodule \"sl.so\"\n";
  const std::string route = "request_route { if (!pike_check_req()) { drop; } }\n";
  {
    Script s(head + route);  // pike not loaded
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.diags().find("pike"), std::string::npos) << s.diags();
  }
  {
    Script s(head + "loadmodule \"pike.so\"\nmodparam(\"pike\", \"sampling_time_unit\", 0)\n" +
             route);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.diags().find("sampling_time_unit must be at least 1"), std::string::npos)
        << s.diags();
  }
  {
    Script s(head + "loadmodule \"pike.so\"\nmodparam(\"pike\", \"reqs_density\", 3)\n" + route);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.diags().find("unknown parameter 'reqs_density' of module 'pike'"),
              std::string::npos)
        << s.diags();
  }
  {
    Script s(head + "loadmodule \"pike.so\"\nmodparam(\"pike\", \"pike_log_level\", -1)\n" +
             route);
    EXPECT_TRUE(s.ok()) << s.diags();
    EXPECT_NE(s.diags().find("warning: modparam(\"pike\", \"pike_log_level\") is ignored"),
              std::string::npos)
        << s.diags();
  }
  {
    Script s(head + "loadmodule \"pike.so\"\n" +
             "request_route { if (!pike_check_ip(\"$si\")) { drop; } }\n");
    EXPECT_TRUE(s.ok()) << s.diags();  // pike_check_ip: Kamailio 5.6.3's pike has it
  }
}

}  // namespace
}  // namespace viaduct
