// SPDX-License-Identifier: Apache-2.0
// tests/control/prober_test.cpp: the probing state machine (Kamailio's ds_update_state) and the
// blocklist, on a fake clock: thresholds, reply codes, timeouts, the T state, probing modes,
// dispatcher.ping_active, carry-over by set + URI.
#include "control/prober.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "cfg/dslist.hpp"
#include "control/rpc.hpp"
#include "dataplane/pipeline.hpp"

namespace viaduct::ctl {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kI = cfg::kDsInactive;
constexpr uint32_t kT = cfg::kDsTrying;
constexpr uint32_t kD = cfg::kDsDisabled;
constexpr uint32_t kP = cfg::kDsProbing;

class ProberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProbeConfig c;
    c.interval_s = 1;
    c.mode = 1;
    prober_.configure(c);
    base_ = {{1, "sip:10.0.0.11:5060", 0, 11, 5060, "", {}},
             {1, "sip:10.0.0.12:5060", 0, 12, 5060, "", {}}};
  }
  void configure(int mode, int probing_threshold = 1, int inactive_threshold = 1) {
    ProbeConfig c = prober_.config();
    c.mode = mode;
    c.probing_threshold = probing_threshold;
    c.inactive_threshold = inactive_threshold;
    prober_.configure(c);
  }
  // The live targets: base flags with what the prober learned (what a publish does).
  std::vector<ProbeTarget> targets() const {
    std::vector<ProbeTarget> t = base_;
    for (ProbeTarget& x : t) {
      x.flags = prober_.apply(x.set, x.uri, x.flags);
    }
    return t;
  }
  // Advances the clock to the next round; returns the probes sent.
  ProbeTick round() {
    now_ += seconds(1);
    return last_ = prober_.tick(now_, targets(), active_);
  }
  uint32_t state(size_t i) const {
    return prober_.apply(base_[i].set, base_[i].uri, base_[i].flags);
  }
  std::string letters(size_t i) const { return ds_state_letters(state(i)); }
  // The list file's lines for base_ (what the daemon passes to list_loaded at a reload).
  std::vector<cfg::DsDestination> file() const {
    std::vector<cfg::DsDestination> f;
    for (const ProbeTarget& t : base_) {
      cfg::DsDestination d;
      d.set = t.set;
      d.uri = t.uri;
      d.flags = t.flags;
      f.push_back(d);
    }
    return f;
  }
  uint32_t ip_of(size_t target) const { return base_[target].ip_be; }
  // Answers every probe of the last round with `code`, except those to target `skip`.
  void answer(int code, size_t skip = SIZE_MAX) {
    for (const ProbeSend& s : last_.send) {
      if (s.target != skip) {
        prober_.on_reply(s.seq, code, now_ + milliseconds(3), ip_of(s.target));
      }
    }
  }

  Prober prober_;
  std::vector<ProbeTarget> base_;
  ProbeTime now_{};
  ProbeTick last_;
  bool active_ = true;
};

TEST_F(ProberTest, FirstRoundComesOneIntervalAfterStart) {
  EXPECT_TRUE(prober_.tick(now_, targets(), true).send.empty());
  EXPECT_EQ(round().send.size(), 2u);
  EXPECT_EQ(prober_.outstanding(), 2u);
}

TEST_F(ProberTest, IntervalZeroProbesNothing) {
  ProbeConfig c = prober_.config();
  c.interval_s = 0;
  prober_.configure(c);
  round();
  EXPECT_TRUE(round().send.empty());
  EXPECT_EQ(letters(0), "AX");
}

TEST_F(ProberTest, TimeoutMarksInactiveWithDefaultThresholdAndSuccessRestores) {
  round();
  round();  // first probes
  answer(200, /*skip=*/1);
  EXPECT_EQ(letters(0), "AP");
  const ProbeTick t = round();  // the unanswered probe times out after one interval
  ASSERT_EQ(t.timed_out.size(), 1u);
  EXPECT_EQ(t.timed_out[0].uri, "sip:10.0.0.12:5060");
  EXPECT_EQ(t.timed_out[0].ip_be, 12u);
  EXPECT_TRUE(t.changed);
  EXPECT_TRUE(t.timed_out[0].changed);
  EXPECT_EQ(letters(1), "IP");
  EXPECT_EQ(letters(0), "AP");
  answer(200);
  EXPECT_EQ(letters(1), "AP");
}

TEST_F(ProberTest, ProbingThresholdGoesThroughTrying) {
  configure(1, /*probing_threshold=*/3);
  round();
  round();
  round();  // 1st failure
  EXPECT_EQ(letters(0), "TP");
  EXPECT_EQ(state(0) & kT, kT);
  round();  // 2nd
  EXPECT_EQ(letters(0), "TP");
  round();  // 3rd: inactive
  EXPECT_EQ(letters(0), "IP");
  EXPECT_EQ(state(0) & kT, 0u);
}

TEST_F(ProberTest, SuccessWhileTryingIsActiveAgain) {
  configure(1, /*probing_threshold=*/2);
  round();
  round();
  round();
  EXPECT_EQ(letters(0), "TP");
  answer(200);
  EXPECT_EQ(letters(0), "AP");
  round();  // counts start over: one failure is trying again, not inactive
  round();
  EXPECT_EQ(letters(0), "TP");
}

TEST_F(ProberTest, InactiveThresholdNeedsConsecutiveSuccesses) {
  configure(1, 1, /*inactive_threshold=*/2);
  round();
  round();
  round();
  EXPECT_EQ(letters(0), "IP");
  answer(200);
  EXPECT_EQ(letters(0), "IP");
  round();
  answer(200);
  EXPECT_EQ(letters(0), "AP");
}

TEST_F(ProberTest, ReplyCodesDefaultToTwoHundredClassAndAcceptConfiguredOnes) {
  ProbeConfig c;
  EXPECT_TRUE(c.accepts(200));
  EXPECT_TRUE(c.accepts(202));
  EXPECT_FALSE(c.accepts(404));
  EXPECT_FALSE(c.accepts(503));
  cfg::Program p;
  p.modparams.push_back({"dispatcher", "ds_ping_reply_codes", "class=4;code=503", false});
  p.modparams.push_back({"dispatcher", "ds_ping_interval", "5", true});
  p.modparams.push_back({"dispatcher", "ds_probing_mode", "1", true});
  p.use_dst_blocklist = true;
  const ProbeConfig pc = probe_config(p);
  EXPECT_EQ(pc.interval_s, 5);
  EXPECT_EQ(pc.mode, 1);
  EXPECT_TRUE(pc.use_blocklist);
  EXPECT_EQ(pc.blocklist_expire_s, 60);
  EXPECT_TRUE(pc.accepts(404));
  EXPECT_TRUE(pc.accepts(503));
  EXPECT_FALSE(pc.accepts(500));
}

TEST_F(ProberTest, ReplyCodesIgnoreSpacesAsKamailiosParseParams) {
  for (const char* v : {"class=3; code=404", "code=404 ;class=3", " code = 404 ; class = 3 ",
                        "class=3;\tcode=404"}) {
    cfg::Program p;
    p.modparams.push_back({"dispatcher", "ds_ping_reply_codes", v, false});
    const ProbeConfig pc = probe_config(p);
    EXPECT_TRUE(pc.accepts(404)) << v;
    EXPECT_TRUE(pc.accepts(302)) << v;
    EXPECT_FALSE(pc.accepts(403)) << v;
  }
  cfg::Program p;
  p.modparams.push_back({"dispatcher", "ds_ping_reply_codes", "code=40 4;class=x", false});
  const ProbeConfig pc = probe_config(p);
  EXPECT_FALSE(pc.accepts(404));  // a value that is not a number still counts for nothing
  EXPECT_TRUE(pc.reply_classes.empty());
}

TEST_F(ProberTest, RejectedReplyIsAFailureAndProvisionalIsIgnored) {
  round();
  round();
  for (const ProbeSend& s : last_.send) {
    prober_.on_reply(s.seq, 100, now_, ip_of(s.target));  // provisional: still waiting
  }
  EXPECT_EQ(prober_.outstanding(), 2u);
  answer(503);
  EXPECT_EQ(prober_.outstanding(), 0u);
  EXPECT_EQ(letters(0), "IP");
  EXPECT_EQ(letters(1), "IP");
}

TEST_F(ProberTest, RoundTripAndUnknownReplies) {
  round();
  round();
  EXPECT_FALSE(prober_.on_reply(last_.send[0].seq, 200, now_, 99).matched);  // not from it
  const ProbeReplyResult r =
      prober_.on_reply(last_.send[0].seq, 200, now_ + milliseconds(7), ip_of(0));
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.rtt, milliseconds(7));
  EXPECT_EQ(r.uri, "sip:10.0.0.11:5060");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.ip_be, 11u);
  EXPECT_EQ(r.port_be, 5060);
  EXPECT_FALSE(prober_.on_reply(last_.send[0].seq, 200, now_, ip_of(0)).matched);  // again
  EXPECT_FALSE(prober_.on_reply(last_.send[0].seq + 1000, 200, now_, ip_of(0)).matched);
}

TEST_F(ProberTest, DisabledIsNeverProbedNorOverridden) {
  base_[0].flags = kD;
  round();
  const ProbeTick t = round();
  ASSERT_EQ(t.send.size(), 1u);
  EXPECT_EQ(t.send[0].target, 1u);
  // Was "DP": Kamailio sets P only through probe results, and never probes a disabled one.
  EXPECT_EQ(letters(0), "DX");
}

TEST_F(ProberTest, NoPingFlagIsNeverProbed) {
  base_[0].flags = cfg::kDsNoPing;
  round();
  const ProbeTick t = round();
  ASSERT_EQ(t.send.size(), 1u);
  EXPECT_EQ(t.send[0].target, 1u);
}

TEST_F(ProberTest, ModeZeroProbesFlaggedOnlyAndClearsTheFlagOnSuccess) {
  configure(0);
  base_[0].flags = kP;
  round();
  ProbeTick t = round();
  ASSERT_EQ(t.send.size(), 1u);
  EXPECT_EQ(t.send[0].target, 0u);
  EXPECT_EQ(letters(1), "AX");
  answer(200);
  EXPECT_EQ(letters(0), "AX");
  EXPECT_TRUE(round().send.empty());
}

TEST_F(ProberTest, ModeZeroKeepsProbingAfterAFailureUntilItRecovers) {
  configure(0);
  base_[0].flags = kP;
  round();
  round();
  round();  // timeout
  EXPECT_EQ(letters(0), "IP");
  EXPECT_EQ(last_.send.size(), 1u);
  answer(200);
  EXPECT_EQ(letters(0), "AX");
}

TEST_F(ProberTest, ModeTwoProbesOnlyInactiveAndProbing) {
  configure(2);
  base_[0].flags = kI | kP;
  base_[1].flags = kP;
  round();
  ProbeTick t = round();
  ASSERT_EQ(t.send.size(), 1u);
  EXPECT_EQ(t.send[0].target, 0u);
  answer(200);
  // Was "AP": Kamailio's ds_options_callback sets an active state without P in mode 2.
  EXPECT_EQ(letters(0), "AX");
  EXPECT_TRUE(round().send.empty());
}

TEST_F(ProberTest, ModeThreeKeepsTheFlag) {
  configure(3);
  base_[0].flags = kP;
  round();
  round();
  answer(200);
  EXPECT_EQ(letters(0), "AP");
  EXPECT_EQ(round().send.size(), 1u);
}

TEST_F(ProberTest, PingInactiveStopsProbingAndForgetsPendingProbes) {
  round();
  round();
  active_ = false;
  const ProbeTick t = round();
  EXPECT_TRUE(t.send.empty());
  EXPECT_TRUE(t.timed_out.empty());
  EXPECT_EQ(prober_.outstanding(), 0u);
  // Was "AP": no probe result yet, and Kamailio shows mode 1's P only after one.
  EXPECT_EQ(letters(0), "AX");
  round();
  EXPECT_TRUE(last_.send.empty());
  active_ = true;
  round();  // the next round is one interval after probing is back on
  EXPECT_EQ(round().send.size(), 2u);
}

TEST_F(ProberTest, LearnedStateSurvivesAReloadBySetAndUri) {
  round();
  round();
  answer(200, /*skip=*/1);
  round();
  EXPECT_EQ(letters(1), "IP");
  // A reload: a new list with the same destination in another order, plus a new one.
  base_ = {{1, "sip:10.0.0.13:5060", 0, 13, 5060, "", {}},
           {1, "sip:10.0.0.12:5060", 0, 12, 5060, "", {}}};
  EXPECT_EQ(letters(1), "IP");
  EXPECT_EQ(letters(0), "AX");  // was "AP": not probed yet (Kamailio shows P after a result)
  round();
  EXPECT_EQ(letters(1), "IP");
  // A destination that left the list loses its learned state.
  base_ = {{1, "sip:10.0.0.13:5060", 0, 13, 5060, "", {}}};
  round();
  base_.push_back({1, "sip:10.0.0.12:5060", 0, 12, 5060, "", {}});
  EXPECT_EQ(letters(1), "AX");  // was "AP", as above
}

TEST_F(ProberTest, ForgetHandsTheStateBackToTheApi) {
  round();
  round();
  round();
  EXPECT_EQ(letters(0), "IP");
  prober_.forget(1, "SIP:10.0.0.11:5060");
  EXPECT_EQ(letters(0), "AX");  // was "AP": the list's flags, no P before a probe result
  prober_.forget(1, "all");
  EXPECT_EQ(letters(1), "AX");
}

TEST_F(ProberTest, AReloadThatChangesALinesStateTakesItFromTheFile) {
  // Mode 3, a destination flagged 8 answers a probe; the operator sets its line to 1
  // (inactive) and reloads: Kamailio's reload takes every flag from the file.
  configure(3);
  base_[0].flags = kP;
  base_[1].flags = kP;
  prober_.list_loaded(file());
  round();
  round();
  answer(200, /*skip=*/1);
  round();  // target 1 timed out: learned inactive
  EXPECT_EQ(letters(0), "AP");
  EXPECT_EQ(letters(1), "IP");
  base_[0].flags = kI;
  prober_.list_loaded(file());
  EXPECT_EQ(letters(0), "IX");
  // The line whose bits did not change keeps what probing learned (carried across reloads).
  EXPECT_EQ(letters(1), "IP");
  // What is learned after the reload is held against the new line, and kept while it stays.
  base_[0].flags = kI | kP;
  prober_.list_loaded(file());
  EXPECT_EQ(letters(0), "IP");
  configure(3);
  round();
  round();
  answer(200);
  EXPECT_EQ(letters(0), "AP");
  prober_.list_loaded(file());
  EXPECT_EQ(letters(0), "AP");
}

TEST_F(ProberTest, AReloadThatDisablesAndReenablesALineForgetsLearnedState) {
  prober_.list_loaded(file());
  round();
  round();
  round();  // both time out
  EXPECT_EQ(letters(0), "IP");
  base_[0].flags = kD;
  prober_.list_loaded(file());
  EXPECT_EQ(letters(0), "DX");
  base_[0].flags = 0;
  prober_.list_loaded(file());
  EXPECT_EQ(letters(0), "AX");  // the file's state, not the inactive learned before
  EXPECT_EQ(letters(1), "IP");
}

TEST_F(ProberTest, ProbingTurnedOffForgetsLearnedStateAndProbes) {
  round();
  round();
  round();  // both time out; new probes go out
  EXPECT_EQ(letters(0), "IP");
  ASSERT_EQ(prober_.outstanding(), 2u);
  ProbeConfig off = prober_.config();
  off.interval_s = 0;  // cfg.reload with ds_ping_interval 0
  prober_.configure(off);
  EXPECT_EQ(letters(0), "AX");
  EXPECT_EQ(letters(1), "AX");
  EXPECT_EQ(prober_.outstanding(), 0u);
  round();
  EXPECT_TRUE(last_.send.empty());
  EXPECT_EQ(letters(0), "AX");
}

TEST_F(ProberTest, AnotherProbingModeForgetsLearnedState) {
  round();
  round();
  round();
  EXPECT_EQ(letters(0), "IP");
  configure(1);  // the same configuration again keeps it
  EXPECT_EQ(letters(0), "IP");
  EXPECT_EQ(prober_.outstanding(), 2u);
  configure(3);
  EXPECT_EQ(letters(0), "AX");
  EXPECT_EQ(prober_.outstanding(), 0u);
}

TEST_F(ProberTest, FlagsTextAsKamailiosProbeResults) {
  // Mode 1 before the first probe: the list's flags.
  EXPECT_EQ(letters(0), "AX");
  round();
  round();
  answer(200, /*skip=*/1);
  EXPECT_EQ(letters(0), "AP");  // mode 1: a success sets P
  round();
  EXPECT_EQ(letters(1), "IP");
  // Mode 2: still inactive below ds_inactive_threshold keeps P, active again has none.
  configure(2, 1, /*inactive_threshold=*/2);
  base_[0].flags = kI | kP;
  round();
  round();
  answer(200);
  EXPECT_EQ(letters(0), "IP");
  round();
  answer(200);
  EXPECT_EQ(letters(0), "AX");
  EXPECT_TRUE(round().send.empty());  // routing as before: active is not probed in mode 2
}

TEST(ProbeRequest, IsAnOptionsWithOurViaAndTheSequenceInTheBranch) {
  ProbeConfig c;
  const std::string m = build_probe_request(c, "sip:10.0.0.11:5060", "10.0.0.2", 5060, 0x2a);
  EXPECT_EQ(m.rfind("OPTIONS sip:10.0.0.11:5060 SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(m.find("Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKvdprb0000002a\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("From: <sip:dispatcher@localhost>;tag="), std::string::npos);
  EXPECT_NE(m.find("To: <sip:10.0.0.11:5060>\r\n"), std::string::npos);
  EXPECT_NE(m.find("CSeq: 10 OPTIONS\r\n"), std::string::npos);
  EXPECT_EQ(m.substr(m.size() - 23), "\r\nContent-Length: 0\r\n\r\n");
  // A destination's ping_from attribute replaces modparam ds_ping_from for its probes.
  const std::string o =
      build_probe_request(c, "sip:10.0.0.11:5060", "10.0.0.2", 5060, 1, "sip:probe@lb.example");
  EXPECT_NE(o.find("From: <sip:probe@lb.example>;tag="), std::string::npos) << o;
}

TEST(BlocklistTest, AddOrsReasonsRefreshesAndExpires) {
  Blocklist b;
  const ProbeTime t0{};
  EXPECT_TRUE(b.add(1, 2, kBlstIcmpRcvd, t0, seconds(60)));
  EXPECT_FALSE(b.add(1, 2, kBlstErrTimeout, t0 + seconds(30), seconds(60)));
  EXPECT_TRUE(b.add(0, 9, kBlstIcmpRcvd, t0, seconds(60)));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.keys(), (std::vector<uint64_t>{blocklist_key(0, 9), blocklist_key(1, 2)}));
  EXPECT_EQ(b.entries()[1].flags, kBlstIcmpRcvd | kBlstErrTimeout);
  EXPECT_FALSE(b.expire(t0 + seconds(59)));
  EXPECT_TRUE(b.expire(t0 + seconds(60)));  // the first add's entry was refreshed
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b.entries()[0].ip_be, 1u);
  EXPECT_FALSE(b.remove(7, 7));
  EXPECT_TRUE(b.add(7, 7, kBlstErrTimeout, t0, seconds(60)));
  EXPECT_TRUE(b.remove(7, 7));
  EXPECT_EQ(b.clear(), 1u);
  EXPECT_EQ(b.size(), 0u);
}

// Forged ICMP errors (their source forged too) could add entries without end, each carried by
// every snapshot. Past kMaxEntries a new one takes the place of the one closest to expiring.
TEST(BlocklistTest, ItHoldsAtMostKMaxEntriesAndDropsTheSoonestToExpire) {
  Blocklist b;
  const ProbeTime t0{};
  for (uint32_t i = 0; i < Blocklist::kMaxEntries; ++i) {
    ASSERT_TRUE(b.add(1000 + i, 1, kBlstIcmpRcvd, t0 + seconds(i), seconds(60)));
  }
  ASSERT_EQ(b.size(), Blocklist::kMaxEntries);
  EXPECT_FALSE(b.add(1000, 1, kBlstErrTimeout, t0 + seconds(5000), seconds(60)));  // refreshed
  EXPECT_TRUE(b.add(7, 7, kBlstIcmpRcvd, t0 + seconds(5000), seconds(60)));
  EXPECT_EQ(b.size(), Blocklist::kMaxEntries);
  const std::vector<uint64_t> keys = b.keys();
  EXPECT_TRUE(std::binary_search(keys.begin(), keys.end(), blocklist_key(7, 7)));
  EXPECT_TRUE(std::binary_search(keys.begin(), keys.end(), blocklist_key(1000, 1)));
  EXPECT_FALSE(std::binary_search(keys.begin(), keys.end(), blocklist_key(1001, 1)));  // soonest
}

dp::Ip6 ip6(const char* s) {
  dp::Ip6 a;
  EXPECT_TRUE(dp::parse_ipv6(s, a)) << s;
  return a;
}

TEST(BlocklistTest, Ipv6EntriesAreATableOfTheirOwnWithKamailiosIpv6Flag) {
  Blocklist b;
  const ProbeTime t0{};
  const dp::Ip6 a = ip6("2001:db8::11");
  const dp::Ip6 c = ip6("2001:db8::9");
  EXPECT_TRUE(b.add(a, 5060, kBlstIcmpRcvd, t0, seconds(60)));
  EXPECT_FALSE(b.add(a, 5060, kBlstErrTimeout, t0 + seconds(30), seconds(60)));
  EXPECT_TRUE(b.add(a, 5062, kBlstErrSend, t0, seconds(60)));  // another port: another entry
  EXPECT_TRUE(b.add(c, 5060, kBlstErrTimeout, t0, seconds(60)));
  EXPECT_TRUE(b.add(11, 5060, kBlstErrTimeout, t0, seconds(60)));  // IPv4 beside it
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b.keys(), (std::vector<uint64_t>{blocklist_key(11, 5060)}));
  // IPv4 entries first, then IPv6 ones in the fast path's order; BLST_IS_IPV6 (1) in their flags
  // (dst_blocklist.view prints it, as Kamailio's does).
  const std::vector<Blocklist::Entry> e = b.entries();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_FALSE(e[0].v6());
  EXPECT_EQ(e[0].flags, kBlstErrTimeout);
  EXPECT_TRUE(e[1].v6() && e[2].v6() && e[3].v6());
  EXPECT_TRUE(e[1].ip6 == c);
  EXPECT_TRUE(e[2].ip6 == a && e[2].port_be == 5060);
  EXPECT_EQ(e[2].flags, kBlstIsIpv6 | kBlstIcmpRcvd | kBlstErrTimeout);
  EXPECT_TRUE(e[3].ip6 == a && e[3].port_be == 5062);

  // What control publishes is what a worker looks up.
  dp::Snapshot snap;
  snap.blocked = b.keys();
  snap.blocked6 = b.keys6();
  ASSERT_EQ(snap.blocked6.size(), 3u);
  EXPECT_TRUE(std::is_sorted(snap.blocked6.begin(), snap.blocked6.end()));
  EXPECT_TRUE(snap.is_blocked6(a, 5060));
  EXPECT_TRUE(snap.is_blocked6(a, 5062));
  EXPECT_TRUE(snap.is_blocked6(c, 5060));
  EXPECT_FALSE(snap.is_blocked6(c, 5062));
  EXPECT_FALSE(snap.is_blocked6(ip6("2001:db8::12"), 5060));
  EXPECT_FALSE(snap.is_blocked(0, 5060));  // the IPv4 table knows nothing of them
  EXPECT_TRUE(snap.is_blocked(11, 5060));

  // Expiry and removal as for IPv4: the entry refreshed at 30 s outlives the others.
  EXPECT_TRUE(b.expire(t0 + seconds(60)));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(b.entries()[0].ip6 == a);
  EXPECT_FALSE(b.remove(c, 5060));
  EXPECT_TRUE(b.remove(a, 5060));
  EXPECT_TRUE(b.keys6().empty());
  EXPECT_TRUE(b.add(c, 5060, kBlstIcmpRcvd, t0, seconds(60)));
  EXPECT_EQ(b.clear(), 1u);
  EXPECT_EQ(b.size(), 0u);
}

TEST(SendFailuresTest, AnUnresolvedIpv6NextHopBlocksAfterThreeSeconds) {
  SendFailures f;
  const ProbeTime t0{};
  const dp::Ip6 hop = ip6("2001:db8::11");
  EXPECT_FALSE(f.on_failure(false, hop, t0));
  EXPECT_FALSE(f.on_failure(false, hop, t0 + seconds(2)));
  EXPECT_TRUE(f.on_failure(false, hop, t0 + seconds(3)));
  // The IPv4 episodes are apart: an IPv4 hop failing now starts its own.
  EXPECT_FALSE(f.on_failure(false, uint32_t{11}, t0 + seconds(3)));
  EXPECT_EQ(f.size(), 2u);
  // Neighbor Discovery answered: the episode is over, the next miss starts a new one.
  f.resolved(hop);
  EXPECT_FALSE(f.on_failure(false, hop, t0 + seconds(4)));
  // No route fails at once.
  EXPECT_TRUE(f.on_failure(true, ip6("2001:db8:1::1"), t0));
}

TEST_F(ProberTest, Ipv6DestinationsTimeOutWithTheirAddress) {
  ProbeTarget t{1, "sip:[2001:db8::11]:5060", 0, 0, htons(5060), "", {}};
  t.ip6 = ip6("2001:db8::11");
  base_.push_back(t);
  round();  // the first round is one interval after start
  round();
  ASSERT_EQ(last_.send.size(), 3u);
  answer(200, 2);  // the IPv6 destination does not answer
  const ProbeTick next = round();
  ASSERT_EQ(next.timed_out.size(), 1u);
  EXPECT_EQ(next.timed_out[0].ip_be, 0u);
  EXPECT_TRUE(next.timed_out[0].ip6 == t.ip6);
  EXPECT_EQ(next.timed_out[0].port_be, htons(5060));
  // Its reply carries the address back (control removes the blocklist entry with it).
  const ProbeTick again = round();
  uint32_t seq = 0;
  for (const ProbeSend& s : again.send) {
    if (s.target == 2) {
      seq = s.seq;
    }
  }
  const ProbeReplyResult r = prober_.on_reply(seq, 200, now_ + milliseconds(2), 0);
  ASSERT_TRUE(r.matched);
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.ip6 == t.ip6);
}

TEST(LatencyStats, EstimateAverageStdevMax) {
  // Started at the list's latency attribute, moved by (1 - alpha) of each sample.
  LatencyStats a;
  a.add(100, 900, 40);
  EXPECT_DOUBLE_EQ(a.estimate, 0.9 * 40 + 0.1 * 100);
  a.add(100, 900, 40);
  EXPECT_DOUBLE_EQ(a.estimate, 0.9 * (0.9 * 40 + 0.1 * 100) + 0.1 * 100);
  EXPECT_EQ(a.count, 2u);
  EXPECT_DOUBLE_EQ(a.average, 100);
  EXPECT_DOUBLE_EQ(a.stdev(), 0);
  // Without the attribute the first sample is the estimate; alpha 0 follows the last sample.
  LatencyStats b;
  b.add(10, 0, 0);
  b.add(30, 0, 0);
  EXPECT_DOUBLE_EQ(b.estimate, 30);
  EXPECT_DOUBLE_EQ(b.average, 20);
  EXPECT_NEAR(b.stdev(), 14.1421356, 1e-6);
  EXPECT_DOUBLE_EQ(b.max, 30);
}

TEST(LatencyStats, WhatTheStatisticsChangeInADestination) {
  cfg::DsDestination d;
  d.priority = 10;
  d.weight = 50;
  d.rweight = 7;
  d.latency = 40;
  LatencyStats none;
  cfg::DsDestination same = d;
  apply_latency(none, same);
  EXPECT_EQ(same.latency, 40);  // no sample yet: the list's values
  EXPECT_EQ(same.rweight, 7u);
  LatencyStats s;
  s.add(20, 500, 0);  // estimate 20
  s.add(60, 500, 0);  // estimate 40, average 40
  s.add(80, 500, 0);  // estimate 60, average 53.3: congestion 7 ms
  cfg::DsDestination plain = d;
  apply_latency(s, plain);
  EXPECT_EQ(plain.latency, 60);
  EXPECT_EQ(plain.rweight, 7u);
  cfg::DsDestination cc = d;
  cc.congestion_control = true;
  apply_latency(s, cc);
  EXPECT_EQ(cc.latency, 7);
  EXPECT_EQ(cc.rweight, 43u);  // weight 50 lowered by 7 ms of congestion
  EXPECT_FALSE(cc.congestion_control);
  cc = d;
  cc.congestion_control = true;
  cc.weight = 5;
  apply_latency(s, cc);
  EXPECT_EQ(cc.rweight, 0u);  // never below 0
}

TEST(LatencyTable, HoldsOnlyTheDestinationsOfTheLoadedList) {
  auto dest = [](int set, const char* uri) {
    cfg::DsDestination d;
    d.set = set;
    d.uri = uri;
    return d;
  };
  LatencyTable t;
  t.list_loaded({dest(1, "sip:a"), dest(1, "sip:b")});
  EXPECT_EQ(t.find(1, "sip:a"), nullptr);  // nothing before the first sample or timeout
  ASSERT_NE(t.at(1, "sip:a"), nullptr);
  t.at(1, "sip:a")->add(10, 900, 0);
  ++t.at(1, "sip:b")->timeouts;
  // A probe to a destination no longer in the list times out: no entry is made for it.
  EXPECT_EQ(t.at(2, "sip:a"), nullptr);
  EXPECT_EQ(t.at(1, "sip:c"), nullptr);
  EXPECT_EQ(t.size(), 2u);
  // A reload: kept for the destination still there, erased for the one that left.
  t.list_loaded({dest(1, "sip:a"), dest(1, "sip:c")});
  EXPECT_EQ(t.size(), 1u);
  ASSERT_NE(t.find(1, "sip:a"), nullptr);
  EXPECT_EQ(t.find(1, "sip:a")->count, 1u);
  EXPECT_EQ(t.find(1, "sip:b"), nullptr);
  EXPECT_EQ(t.at(1, "sip:b"), nullptr);
  EXPECT_NE(t.at(1, "sip:c"), nullptr);
  t.list_loaded({});
  EXPECT_EQ(t.size(), 0u);
}

TEST(LatencyStats, ModparamsReachTheProbeConfig) {
  cfg::Program p;
  p.modparams.push_back({"dispatcher", "ds_ping_latency_stats", "1", true});
  p.modparams.push_back({"dispatcher", "ds_latency_estimator_alpha", "750", true});
  const ProbeConfig c = probe_config(p);
  EXPECT_TRUE(c.latency_stats);
  EXPECT_EQ(c.latency_alpha, 750);
  EXPECT_FALSE(probe_config(cfg::Program{}).latency_stats);
}

}  // namespace
}  // namespace viaduct::ctl
