// SPDX-License-Identifier: Apache-2.0
// tests/dataplane/vm_test.cpp: the routing-script semantics, table-driven: script x SIP message
// -> what the interpreter decided (VmResult), through the real compiler and vm_run(). No EAL.
//
// Kamailio's behaviour the cases pin (Kamailio 5.6 as reference; see the comments on the cases):
// return 0 ends the script, a negative return is false, drop in a sub-route ends everything,
// switch falls through without break, an unset $var is the int 0 and an unset $avp is $null,
// the left operand's type decides a comparison, `myself` matches host and port.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "cfg/net.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/vm.hpp"
#include "dataplane/vm_memo.hpp"

namespace viaduct {
namespace {

using dp::VmResult;

constexpr const char* kHeader =
    "listen=udp:10.0.0.2:5060\n"
    "alias=sip.example.com:5080\n"
    "loadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"maxfwd.so\"\n"
    "loadmodule \"dispatcher.so\"\nloadmodule \"siputils.so\"\nloadmodule \"rr.so\"\n"
    "loadmodule \"sanity.so\"\nloadmodule \"ipops.so\"\nloadmodule \"xlog.so\"\n"
    "loadmodule \"kex.so\"\n"
    "modparam(\"dispatcher\", \"list_file\", \"unused.list\")\n";

constexpr const char* kList = "1 sip:10.0.0.11:5060\n2 sip:10.0.0.12:5080\n";

std::string invite(const std::string& ruri = "sip:bob@10.0.0.2:5060",
                   const std::string& extra = "", const std::string& method = "INVITE") {
  return method + " " + ruri + " SIP/2.0\r\n" +
         "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1\r\n"
         "From: \"Alice\" <sip:alice@example.org>;tag=ft1\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: abc@192.0.2.10\r\n"
         "CSeq: 1 " + method + "\r\n"
         "Max-Forwards: 70\r\n"
         "User-Agent: Friendly-Scanner 1.0\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

std::string with_to_tag(std::string m) {
  const std::string to = "To: <sip:bob@example.com>";
  return m.replace(m.find(to), to.size(), to + ";tag=tt");
}

// What a run decided, as owned strings.
struct Outcome {
  VmResult::Action action = VmResult::Action::kNone;
  bool dropped = false;
  bool error = false;
  int code = 0;
  std::string reason;
  int du = -1;
  std::string du_uri;
  std::string new_ruri;
  std::vector<std::string> append;
  std::vector<std::string> remove;
  uint32_t flags = 0;
  bool record_route = false;
  bool route_pop = false;
  std::string socket;  // force_rport, add_local_rport, advertised address:port, send socket,
                       // udp_mtu_try_proto, in one readable string
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{action=" << static_cast<int>(o.action) << " dropped=" << o.dropped
     << " error=" << o.error << " code=" << o.code << " reason='" << o.reason << "' du=" << o.du
     << " du_uri='" << o.du_uri << "' new_ruri='" << o.new_ruri << "' append=[";
  for (const auto& a : o.append) {
    os << "'" << a << "' ";
  }
  os << "] remove=[";
  for (const auto& a : o.remove) {
    os << "'" << a << "' ";
  }
  return os << "] flags=" << o.flags << " rr=" << o.record_route << " pop=" << o.route_pop
            << " socket='" << o.socket << "'}";
}

// A compiled script with the snapshot a worker would read.
class Harness {
 public:
  explicit Harness(const std::string& routes, const std::string& params = "",
                   const char* list = kList, dp::DsConfig dsc = {}) {
    cfg::Diagnostics d;
    ok_ = cfg::compile_string(params + kHeader + routes, "t.cfg", "/tmp", {}, prog_, d);
    for (const auto& x : d) {
      diags_ += x.str() + "\n";
    }
    std::vector<cfg::DsDestination> dests;
    cfg::Diagnostics dd;
    EXPECT_TRUE(cfg::parse_dispatcher_list(list, "t.list", dests, dd));
    snap_ = ctl::dispatcher_snapshot(dests, std::move(dsc));
    for (dp::Destination& d : snap_->destinations) {  // what resolution gives (IPv4 literals)
      std::string host = d.uri.substr(4);
      host = host.substr(0, host.find(':'));
      EXPECT_TRUE(cfg::parse_ipv4(host, d.ip_be)) << d.uri;
    }
    snap_->program = &prog_;
    for (const cfg::ListenSocket& l : prog_.listens) {
      snap_->myself.push_back({l.addr, l.port});
    }
    for (const cfg::Alias& a : prog_.aliases) {
      snap_->myself.push_back({a.host, a.port});
    }
    ds_ = std::make_unique<dp::DispatchState>();
    ds_->tsc_hz = 1000000000;
    ds_->fake_tsc = 1;
  }
  bool ok() const { return ok_; }
  const std::string& diags() const { return diags_; }
  dp::VmState& state() { return *st_; }

  const cfg::Program& program() const { return prog_; }
  cfg::Program& mutable_program() { return prog_; }  // before the first run only

  // The run's raw result (its views valid until the next run).
  VmResult run_raw(const std::string& msg, uint32_t route = 0, int32_t du = -1) {
    sip::SipView v;
    EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk) << msg;
    VmResult r;
    r.du = du;
    dp::VmPacket pkt;
    pkt.src_ip_be = htonl_(0xC000020A);  // 192.0.2.10
    pkt.src_port = 5070;
    pkt.dst_ip_be = htonl_(0x0A000002);  // 10.0.0.2
    pkt.dst_port = 5060;
    dp::vm_run(*snap_, msg.data(), v, pkt, *st_, *ds_, counters_, r, route);
    return r;
  }
  Outcome run(const std::string& msg, uint32_t route = 0, int32_t du = -1) {
    const VmResult r = run_raw(msg, route, du);
    Outcome o;
    o.action = r.action;
    o.dropped = r.dropped;
    o.error = r.error;
    o.code = r.reply_code;
    o.reason = std::string(r.reply_reason);
    o.du = r.du;
    o.du_uri = std::string(r.du_uri);
    o.new_ruri = std::string(r.new_ruri);
    for (size_t i = 0; i < r.n_append; ++i) {
      o.append.emplace_back(r.append_hf[i]);
    }
    for (size_t i = 0; i < r.n_remove; ++i) {
      o.remove.emplace_back(r.remove_hf[i]);
    }
    o.flags = r.flags;
    o.record_route = r.record_route;
    o.route_pop = r.route_pop;
    last_mark_dst = r.mark_dst;
    last_mark_state = r.mark_state;
    if (r.force_rport || r.add_local_rport || !r.adv_addr.empty() || r.adv_port != 0 ||
        r.send_socket >= 0 || r.mtu_try_proto) {
      o.socket = std::string(r.force_rport ? "force_rport " : "") +
                 (r.add_local_rport ? "add_local_rport " : "") + "adv=" + std::string(r.adv_addr) +
                 ":" + std::to_string(r.adv_port) + " sock=" + std::to_string(r.send_socket) +
                 (r.mtu_try_proto ? " mtu" : "");
    }
    return o;
  }

  const dp::Snapshot& snap() const { return *snap_; }
  dp::Snapshot& mutable_snap() { return *snap_; }  // what the control thread would resolve
  int32_t last_mark_dst = -1;
  uint32_t last_mark_state = 0;

 private:
  static uint32_t htonl_(uint32_t h) { return __builtin_bswap32(h); }
  bool ok_ = false;
  std::string diags_;
  cfg::Program prog_;
  std::unique_ptr<dp::Snapshot> snap_;
  std::unique_ptr<dp::DispatchState> ds_;
  std::unique_ptr<dp::VmState> st_ = std::make_unique<dp::VmState>();
  dp::WorkerCounters counters_;
};

constexpr auto kFwd = VmResult::Action::kForward;
constexpr auto kReply = VmResult::Action::kReply;

Outcome reply(int code, std::string reason, uint32_t flags = 0) {
  Outcome o;
  o.action = kReply;
  o.code = code;
  o.reason = std::move(reason);
  o.flags = flags;
  return o;
}
Outcome flags(uint32_t f) {
  Outcome o;
  o.flags = f;
  return o;
}
uint32_t bits(std::initializer_list<int> b) {
  uint32_t f = 0;
  for (int x : b) {
    f |= 1u << x;
  }
  return f;
}

struct Case {
  const char* name;
  std::string script;  // routes (and core parameters before the header in `params`)
  std::string msg;
  Outcome want;
  std::string params = "";
};

std::vector<Case> cases() {
  std::vector<Case> c;
  // ---- control flow ----
  // Kamailio cookbook: route(ZERO) with `return 0` ends the whole script.
  c.push_back({"ReturnZeroEndsScript",
               "request_route { setflag(1); if (route(ZERO)) { setflag(2); } setflag(3); "
               "sl_send_reply(\"500\", \"x\"); }\nroute[ZERO] { return 0; }",
               invite(), flags(bits({1}))});
  c.push_back({"NegativeReturnIsFalse",
               "request_route { if (!route(NEG)) setflag(1); route(NEG); if ($rc == -8) setflag(2);"
               " if (route(POS)) setflag(3); route(POS); if ($retcode == 10) setflag(4);"
               " route(NONE); if ($rc == 1) setflag(5); }\n"
               "route[NEG] { return -8; }\nroute[POS] { return 10; }\nroute[NONE] { }",
               invite(), flags(bits({1, 2, 3, 4, 5}))});
  {
    Outcome o;
    o.dropped = true;
    o.flags = bits({1});
    c.push_back({"DropInsideSubRoute",
                 "request_route { route(D); setflag(2); forward(); }\n"
                 "route[D] { setflag(1); drop; }",
                 invite(), o});
  }
  {
    Outcome o;
    o.action = kFwd;
    c.push_back({"ExitKeepsTheForward", "request_route { forward(); exit; drop; }", invite(), o});
    o.dropped = true;
    c.push_back({"DropAfterForward", "request_route { forward(); drop; }", invite(), o});
  }
  c.push_back({"ImplicitEndOfRequestRoute", "request_route { setflag(0); }", invite(),
               flags(bits({0}))});
  c.push_back({"ReturnInMainEndsScript", "request_route { setflag(0); return; setflag(1); }",
               invite(), flags(bits({0}))});
  // switch: C-style fall-through until break; string and int cases.
  const std::string sw =
      "request_route { switch ($rm) { case \"INVITE\": setflag(1); case \"BYE\": setflag(2);"
      " break; case \"OPTIONS\": setflag(3); default: setflag(4); } }";
  c.push_back({"SwitchFallsThroughWithoutBreak", sw, invite(), flags(bits({1, 2}))});
  c.push_back({"SwitchOptionsFallsIntoDefault", sw, invite("sip:bob@10.0.0.2", "", "OPTIONS"),
               flags(bits({3, 4}))});
  c.push_back({"SwitchDefault", sw, invite("sip:bob@10.0.0.2", "", "MESSAGE"),
               flags(bits({4}))});
  // A method switch of string labels compares exact bytes (as `==`): no case folding.
  c.push_back({"SwitchMethodLabelIsCaseSensitive",
               "request_route { switch ($rm) { case \"invite\": setflag(1); break;"
               " case \"INVITE\": setflag(2); } }",
               invite(), flags(bits({2}))});
  c.push_back({"SwitchMethodMixedLabels",
               "request_route { switch ($rm) { case /\"^BYE\": setflag(1); break;"
               " case \"INVITE\": setflag(2); } }",
               invite(), flags(bits({2}))});
  c.push_back({"SwitchIntCases",
               "request_route { $var(x) = 2; switch ($var(x)) { case 1: setflag(1); break;"
               " case 2: setflag(2); break; case -1: setflag(3); } setflag(5); }",
               invite(), flags(bits({2, 5}))});
  c.push_back({"SwitchNoMatchNoDefault",
               "request_route { switch ($rU) { case \"x\": setflag(1); } setflag(2); }", invite(),
               flags(bits({2}))});
  c.push_back({"SwitchRegexCase",
               "request_route { switch ($ua) { case /\"^friendly\": setflag(1); break;"
               " default: setflag(2); } }",
               invite(), flags(bits({1}))});
  // while: bounded by max_while_loops (Kamailio default 100).
  c.push_back({"WhileCounts",
               "request_route { $var(i) = 0; while ($var(i) < 5) { $var(i) = $var(i) + 1; }"
               " sl_send_reply(\"200\", \"i=$var(i)\"); }",
               invite(), reply(200, "i=5")});
  // A sub-route's own while must not restart the caller's loop count: max_while_loops bounds
  // each while on its own (Kamailio keeps the count per while statement being run).
  c.push_back({"WhileBoundNotResetBySubRouteLoop",
               "request_route { $var(n) = 0; while (1) { $var(n) = $var(n) + 1; route(B); }"
               " sl_send_reply(\"200\", \"n=$var(n)\"); }\n"
               "route[B] { $var(j) = 0; while ($var(j) < 1) { $var(j) = $var(j) + 1; } }",
               invite(), reply(200, "n=5"), "max_while_loops=5\n"});
  c.push_back({"WhileBoundNotResetByComputedRouteLoop",
               "request_route { $var(n) = 0; $var(r) = \"B\"; while (1) {"
               " $var(n) = $var(n) + 1; route($var(r)); }"
               " sl_send_reply(\"200\", \"n=$var(n)\"); }\n"
               "route[B] { $var(j) = 0; while ($var(j) < 1) { $var(j) = $var(j) + 1; } }",
               invite(), reply(200, "n=5"), "max_while_loops=5\n"});
  // Each while has its bound, the callee's runaway loops included: 5 outer turns, each with
  // a sub-route whose endless loop stops at 5 (Kamailio: "runaway while" and on).
  c.push_back({"WhileBoundsPerLoopAcrossRouteCalls",
               "request_route { $var(n) = 0; $var(t) = 0; while (1) { $var(n) = $var(n) + 1;"
               " switch ($var(n)) { case 2: route(B); break; default: route(B); } }"
               " sl_send_reply(\"200\", \"n=$var(n) t=$var(t)\"); }\n"
               "route[B] { while (1) { $var(t) = $var(t) + 1; } }",
               invite(), reply(200, "n=5 t=25"), "max_while_loops=5\n"});
  c.push_back({"WhileBreak",
               "request_route { $var(i) = 0; while (1) { $var(i) = $var(i) + 1;"
               " if ($var(i) >= 3) break; } sl_send_reply(\"200\", \"i=$var(i)\"); }",
               invite(), reply(200, "i=3")});
  {
    Outcome o;
    o.error = true;
    // Measured on Kamailio 5.6.3: "runaway while (...): more then 5 loops", the loop is left
    // and the script goes on (the reply said i=5).
    c.push_back({"WhileBoundLeavesTheLoop",
                 "request_route { $var(i) = 0; while ($var(i) < 10) { $var(i) = $var(i) + 1; }"
                 " sl_send_reply(\"200\", \"i=$var(i)\"); }",
                 invite(), reply(200, "i=5"), "max_while_loops=5\n"});
    c.push_back({"RecursionBound", "request_route { route(R); }\nroute[R] { route(R); }",
                 invite(), o});
    c.push_back({"DivisionByZero", "request_route { $var(z) = 0; $var(x) = 1 / $var(z); }",
                 invite(), o});
  }
  // ---- values, typing, undefined ----
  // Measured on Kamailio 5.6.3 (kamailio -E -e -dd -n 1 on loopback, xlog per condition):
  // an unset $var is the int 0 (== 0 true, defined true); "" does not convert to an int, so
  // `$var(u) == ""` and `$var(u) != ""` are both false, and so is `$var(u) == $null`; an unset
  // $avp is $null: == $null, == "" and == 0 are true, `defined` false.
  c.push_back({"UndefinedVarAndAvp",
               "request_route { if ($var(u) == 0) setflag(1); if ($var(u) == \"\") setflag(2);"
               " if ($avp(a) == $null) setflag(3); if ($avp(a) == \"\") setflag(4);"
               " if ($avp(a) == 0) setflag(5); if (defined $avp(a)) setflag(6);"
               " if (defined $var(u)) setflag(7); if ($hdr(X-None) == $null) setflag(8);"
               " if (strempty($hdr(X-None))) setflag(9); if ($var(u) != \"\") setflag(10);"
               " if ($var(u) == $null) setflag(11); if ($avp(a) != 0) setflag(12);"
               " if (!($var(u) == \"\")) setflag(13); if (strempty($var(u))) setflag(14);"
               " if ($avp(a) < 1) setflag(15); }",
               invite(), flags(bits({1, 3, 4, 5, 7, 8, 9, 13, 15}))});
  // Measured on Kamailio 5.6.3: == and != follow the left operand's type; <, >, <=, >= are
  // always integer comparisons ("10" > 9 is true); "abc" converts to 0 (with a warning), so
  // `0 == "abc"` (through a $var) is true and `"abc" < 1` is true.
  c.push_back({"StringVersusInteger",
               "request_route { $var(s) = \"10\"; if ($var(s) == 10) setflag(1);"
               " if ($var(s) > 9) setflag(2); $var(i) = 10; $var(t) = \"9\";"
               " if ($var(i) > $var(t)) setflag(3); if (\"abc\" == 0) setflag(4);"
               " $var(z) = 0; if ($var(z) == \"abc\") setflag(5);"
               " if ($rp == 5060) setflag(6); if ($rp == \"5060\") setflag(7);"
               " if ($var(s) eq \"10\") setflag(8); if (\"a\" ieq \"b\") setflag(9);"
               " if (0 eq \"\") setflag(10); if ($var(z) == \"0\") setflag(11);"
               " if ($rU == 0) setflag(12); $var(a) = \"abc\"; if ($var(a) < 1) setflag(13);"
               " if ($var(a) > 1) setflag(14); }",
               invite(), flags(bits({1, 2, 3, 5, 6, 7, 8, 9, 11, 13}))});
  c.push_back({"Arithmetic",
               "request_route { $var(a) = 4 + (7 & (~2)); if ($var(a) == 9) setflag(1);"
               " if (7 / 2 * 2 + 7 % 2 == 7) setflag(2); if ((1 << 4) == 16) setflag(3);"
               " if ((256 >> 4 | 1) == 17) setflag(4); if ((5 ^ 1) == 4) setflag(5);"
               " if (-3 + 1 == -2) setflag(6); $var(n) = \"5\"; if ($var(n) + 1 == \"51\")"
               " setflag(7); if ((int)$var(n) + 1 == 6) setflag(8); if (strlen($rU) == 3)"
               " setflag(9); if ($var(a) & 8) setflag(10); }",
               invite(), flags(bits({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))});
  c.push_back({"BareValuesInConditions",
               "request_route { $var(s) = \"abc\"; if ($var(s)) setflag(1); $var(s) = \"5\";"
               " if ($var(s)) setflag(2); if ($var(none)) setflag(3); if ($avp(none)) setflag(4);"
               " if (!$var(none)) setflag(5); }",
               invite(), flags(bits({2, 5}))});
  // A sub-route that runs off its end has the value of the last action it ran (Kamailio 5.6.3,
  // measured; differential script 41): a function's, a route()'s, 0 after a switch's or a
  // while's break (which does not end the script), 1 after an assignment, a failed if, a while
  // that never ran or a switch without a matching case.
  c.push_back({"SubRouteValueIsItsLastAction",
               "request_route { $var(o) = \"\"; route(A); $var(o) = $var(o) + \"b\" + $rc;"
               " route(SW); $var(o) = $var(o) + \"c\" + $rc; route(WH); $var(o) = $var(o) + \"d\" + $rc;"
               " route(IFL); $var(o) = $var(o) + \"e\" + $rc; route(ASG); $var(o) = $var(o) + \"g\" + $rc;"
               " route(IFF); $var(o) = $var(o) + \"h\" + $rc; route(WH0); $var(o) = $var(o) + \"i\" + $rc;"
               " route(WHB); $var(o) = $var(o) + \"j\" + $rc; route(SWN); $var(o) = $var(o) + \"k\" + $rc;"
               " route(SWF); $var(o) = $var(o) + \"l\" + $rc; route(NESTW); $var(o) = $var(o) + \"n\" + $rc;"
               " route(WW); $var(o) = $var(o) + \"w\" + $rc; route(TR); $var(o) = $var(o) + \"t\" + $rc;"
               " if (!route(IFL)) { $var(o) = $var(o) + \"p\" + $rc; }"
               " if (route(SW)) { $var(o) = $var(o) + \"qT\"; } else { $var(o) = $var(o) + \"qF\" + $rc; }"
               " sl_send_reply(\"200\", \"r=$var(o)\"); }\n"
               "route[NEG] { return -3; }\nroute[A] { route(NEG); }\nroute[TR] { route(SW); }\n"
               "route[SW] { $var(s) = 1; switch ($var(s)) { case 1: is_present_hf(\"X-Missing\"); break; } }\n"
               "route[WH] { $var(i) = 0; while ($var(i) < 2) { $var(i) = $var(i) + 1; is_present_hf(\"X-Missing\"); } }\n"
               "route[IFL] { if ($var(o) != \"zz\") { is_present_hf(\"X-Missing\"); } }\n"
               "route[ASG] { is_present_hf(\"X-Missing\"); $var(z) = 1; }\n"
               "route[IFF] { is_present_hf(\"X-Missing\"); if ($var(o) == \"zz\") { $var(z) = 2; } }\n"
               "route[WH0] { is_present_hf(\"X-Missing\"); while ($var(o) == \"zz\") { $var(z) = 2; } }\n"
               "route[WHB] { $var(i) = 0; while ($var(i) < 5) { $var(i) = $var(i) + 1;"
               " is_present_hf(\"X-Missing\"); if ($var(i) == 2) { break; } } }\n"
               "route[SWN] { $var(s) = 7; switch ($var(s)) { case 1: is_present_hf(\"X-Missing\"); break; } }\n"
               "route[SWF] { $var(s) = 1; switch ($var(s)) { case 1: is_present_hf(\"X-Missing\");"
               " case 2: is_present_hf(\"X-Missing2\"); } }\n"
               "route[NESTW] { $var(i) = 0; while ($var(i) < 2) { $var(i) = $var(i) + 1; $var(s) = 1;"
               " switch ($var(s)) { case 1: is_present_hf(\"X-M\"); break; } } }\n"
               "route[WW] { $var(i) = 0; while ($var(i) < 2) { $var(i) = $var(i) + 1; $var(j) = 0;"
               " while ($var(j) < 2) { $var(j) = $var(j) + 1; is_present_hf(\"X-M\"); } } }\n",
               invite(), reply(200, "r=b-3c0d-1e-1g1h1i1j0k1l-1n0w-1t0p-1qF0")});
  // `!` on a value is C's (!-2 is false); on a function's or route()'s result it is the
  // opposite of its truth (measured, differential script 41).
  c.push_back({"LogicalNotOfAValue",
               "request_route { $var(r) = \"\"; is_present_hf(\"X-Missing\");"
               " if (!$rc) $var(r) = $var(r) + \"A1\"; else $var(r) = $var(r) + \"A0\";"
               " $var(ret) = -2; if (!$var(ret)) $var(r) = $var(r) + \"B1\"; else $var(r) = $var(r) + \"B0\";"
               " $var(n) = !$var(ret); $var(r) = $var(r) + \"C\" + $var(n); $var(z) = 0;"
               " if (!$var(z)) $var(r) = $var(r) + \"D1\"; else $var(r) = $var(r) + \"D0\";"
               " if (!is_present_hf(\"X-Missing\")) $var(r) = $var(r) + \"E1\"; else $var(r) = $var(r) + \"E0\";"
               " $var(m) = !is_present_hf(\"X-Missing\"); $var(r) = $var(r) + \"F\" + $var(m);"
               " if (!!$var(ret)) $var(r) = $var(r) + \"G1\"; else $var(r) = $var(r) + \"G0\";"
               " if (!-2) $var(r) = $var(r) + \"H1\"; else $var(r) = $var(r) + \"H0\";"
               " if (!0) $var(r) = $var(r) + \"I1\"; else $var(r) = $var(r) + \"I0\";"
               " if (!$hdr(X-None)) $var(r) = $var(r) + \"K1\"; else $var(r) = $var(r) + \"K0\";"
               " if (!route(NEG)) $var(r) = $var(r) + \"M1\"; else $var(r) = $var(r) + \"M0\";"
               " sl_send_reply(\"200\", \"$var(r)\"); }\nroute[NEG] { return -3; }\n",
               invite(), reply(200, "A0B0C0D1E1F1G1H0I1K1M1")});
  // == and != with an int on the left (measured, differential script 41): a $null or "" value
  // on the right is 0; the constant $null is equal to $null only; int == "" is false and
  // int != "" is int != 0; a string is never == $null.
  c.push_back({"IntComparedWithNullAndEmpty",
               "request_route { $var(r) = \"\"; $var(n12) = 12; $var(zero) = 0; $var(em) = \"\";"
               " $var(prio) = $hdr(X-Prio);"
               " if ($var(prio) != $null) $var(r) = $var(r) + \"A1\"; else $var(r) = $var(r) + \"A0\";"
               " if ($var(prio) == $hdr(X-Prio)) $var(r) = $var(r) + \"B1\"; else $var(r) = $var(r) + \"B0\";"
               " if ($sp != $hdr(X-Port)) $var(r) = $var(r) + \"C1\"; else $var(r) = $var(r) + \"C0\";"
               " if ($var(n12) != $null) $var(r) = $var(r) + \"D1\"; else $var(r) = $var(r) + \"D0\";"
               " if (!($var(zero) != $null)) $var(r) = $var(r) + \"E1\"; else $var(r) = $var(r) + \"E0\";"
               " if (!($var(zero) == \"\")) $var(r) = $var(r) + \"F1\"; else $var(r) = $var(r) + \"F0\";"
               " if (!($var(zero) != \"\")) $var(r) = $var(r) + \"G1\"; else $var(r) = $var(r) + \"G0\";"
               " if ($var(n12) != \"\") $var(r) = $var(r) + \"H1\"; else $var(r) = $var(r) + \"H0\";"
               " if ($var(zero) == $var(em)) $var(r) = $var(r) + \"I1\"; else $var(r) = $var(r) + \"I0\";"
               " if ($var(n12) < $var(em)) $var(r) = $var(r) + \"J1\"; else $var(r) = $var(r) + \"J0\";"
               " if ($var(em) == $null) $var(r) = $var(r) + \"K1\"; else $var(r) = $var(r) + \"K0\";"
               " if ($hdr(X-None) == $null) $var(r) = $var(r) + \"L1\"; else $var(r) = $var(r) + \"L0\";"
               " if ($var(n12) == $hdr(X-None)) $var(r) = $var(r) + \"M1\"; else $var(r) = $var(r) + \"M0\";"
               " sl_send_reply(\"200\", \"$var(r)\"); }",
               invite(), reply(200, "A1B1C1D1E0F1G1H1I1J0K0L1M0")});
  // method, uri, from_uri, to_uri == / != "string" ignore case (Kamailio's comp_str uses
  // strncasecmp; measured, differential script 41); $rm, $ru & co do not.
  c.push_back({"KeywordsCompareIgnoringCase",
               "request_route { if (method == \"invite\") setflag(1); if ($rm == \"invite\") setflag(2);"
               " if (uri == \"SIP:BOB@10.0.0.2:5060\") setflag(3); if (from_uri == \"sip:ALICE@example.org\")"
               " setflag(4); if (to_uri != \"sip:bob@EXAMPLE.com\") setflag(5); if (method != \"INVITE\")"
               " setflag(6); if ($ru == \"SIP:BOB@10.0.0.2:5060\") setflag(7); if (method == \"INVITEX\")"
               " setflag(8); $var(u) = \"SIP:BOB@10.0.0.2:5060\"; if (uri == $var(u)) setflag(9); }",
               invite(), flags(bits({1, 3, 4, 9}))});
  // $rp and $cs are strings in Kamailio ("5060" without a port), $sp an int; where an integer
  // is needed (an operand of * or >>, an ordering) + adds integers (measured, differential
  // scripts 26 and 41).
  c.push_back({"PortAndCSeqAreStrings",
               "request_route { $var(x) = $rp; $var(r) = \"A\" + ($var(x) + 1) + \"B\" + ($cs + 1)"
               " + \"C\" + ($sp + 1); if ($rp == 5060) $var(r) = $var(r) + \"D\";"
               " if ($rp > 100) $var(r) = $var(r) + \"E\"; $var(r) = $var(r) + (($var(x) + 1) * 2)"
               " + \"F\" + (($cs + 40) >> 1); if ($var(x) + 1 > 5060) $var(r) = $var(r) + \"G\";"
               " sl_send_reply(\"200\", \"$var(r)\"); }",
               invite("sip:bob@10.0.0.2"), reply(200, "A50601B11C5071DE10122F20G")});
  // {s.select,N,,}: the separator is a comma (Kamailio takes the character after the comma).
  c.push_back({"SelectWithCommaSeparator",
               "request_route { $var(x) = \"a,b;c,d\";"
               " $var(o) = $(var(x){s.select,1,,}) + \"|\" + $(var(x){s.select,0,;});"
               " sl_send_reply(\"200\", \"r=$var(o)\"); }",
               invite(), reply(200, "r=b;c|a,b")});
  c.push_back({"Concatenation",
               "request_route { $var(u) = \"sip:\" + $rU + \"@\" + $rd + \":\" + $rp;"
               " sl_send_reply(\"404\", \"$var(u)\"); }",
               invite(), reply(404, "sip:bob@10.0.0.2:5060")});
  c.push_back({"NullResetsVar",
               "request_route { $var(x) = \"a\"; $var(x) = $null; if ($var(x) == 0) setflag(1);"
               " $avp(y) = \"b\"; $avp(y) = $null; if (!defined $avp(y)) setflag(2); }",
               invite(), flags(bits({1, 2}))});
  // ---- pseudo-variables and keywords ----
  c.push_back({"MessagePvs",
               "request_route { if ($rm == \"INVITE\" && method == \"INVITE\") setflag(1);"
               " if ($fU == \"alice\" && $fd == \"example.org\" &&"
               " $fn == \"\\\"Alice\\\"\") setflag(2);"
               " if ($ft == \"ft1\" && $tt == $null && $tU == \"bob\") setflag(3);"
               " if ($ci == \"abc@192.0.2.10\" && $cs == 1) setflag(4);"
               " if ($si == \"192.0.2.10\" && $sp == 5070 && $Ri == \"10.0.0.2\" && $Rp == 5060)"
               " setflag(5); if ($pr == \"udp\" && proto == UDP && af == INET) setflag(6);"
               " if ($ua == \"Friendly-Scanner 1.0\" && $hdr(user-agent) == $ua) setflag(7);"
               " if ($ml == msg:len && $ml > 100) setflag(8); if ($rz == \"sip\") setflag(9);"
               " if ($fu == \"sip:alice@example.org\" && $tu == \"sip:bob@example.com\")"
               " setflag(10); if ($hdr(X-Two) == \"second\") setflag(11);"
               " if ($(hdr(X-Two)[1]) == \"third\") setflag(12); if (src_port == 5070)"
               " setflag(13); if (dst_ip == 10.0.0.2) setflag(14); }",
               invite("sip:bob@10.0.0.2:5060", "x-two: second\r\nX-Two: third\r\n"),
               flags(bits({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}))});
  c.push_back({"CidrAndSubnets",
               "request_route { if (src_ip == 192.0.2.0/24) setflag(1);"
               " if (src_ip != 10.0.0.0/8) setflag(2); if ($si == 192.0.2.10) setflag(3);"
               " if (is_in_subnet(\"$si\", \"10.0.0.0/8,192.0.2.0/28\")) setflag(4);"
               " if (src_ip == 192.0.2.0/255.255.255.0) setflag(5);"
               " if (src_ip == 192.0.2.16/28) setflag(6); }",
               invite(), flags(bits({1, 2, 3, 4, 5}))});
  // myself: listen 10.0.0.2:5060 and alias sip.example.com:5080; the port must match.
  const std::string me =
      "request_route { if (uri == myself) setflag(1); if (uri != myself) setflag(2);"
      " if (from_uri == myself) setflag(3); if (src_ip == myself) setflag(4);"
      " if (is_myself(\"sip:x@sip.example.com:5080\")) setflag(5); }";
  c.push_back({"MyselfListen", me, invite("sip:bob@10.0.0.2"), flags(bits({1, 5}))});
  c.push_back({"MyselfAliasWithPort", me, invite("sip:bob@SIP.example.com:5080"),
               flags(bits({1, 5}))});
  c.push_back({"MyselfAliasOtherPort", me, invite("sip:bob@sip.example.com"),
               flags(bits({2, 5}))});
  c.push_back({"MyselfListenOtherPort", me, invite("sip:bob@10.0.0.2:5070"),
               flags(bits({2, 5}))});
  // ---- functions ----
  c.push_back({"ReplyWithPvs", "request_route { sl_send_reply(\"404\", \"No $rU here\"); }",
               invite(), reply(404, "No bob here")});
  c.push_back({"SendReplyCodeFromVar",
               "request_route { $var(c) = 486; send_reply(\"$var(c)\", \"Busy\"); }", invite(),
               reply(486, "Busy")});
  c.push_back({"SecondSendFails",
               "request_route { sl_send_reply(\"200\", \"a\"); if (!forward()) setflag(1); }",
               invite(), reply(200, "a", bits({1}))});
  {
    Outcome o;
    o.action = kFwd;
    o.du_uri = "sip:10.1.1.1:5080";
    c.push_back({"ForwardHostPort", "request_route { forward(\"10.1.1.1\", 5080); }", invite(),
                 o});
    c.push_back({"ForwardAddress", "request_route { forward(udp:10.1.1.1:5080); }", invite(), o});
    o.du_uri = "sip:10.9.9.9:5090";
    c.push_back({"DuAssignment", "request_route { $du = \"sip:10.9.9.9:5090\"; forward(); }",
                 invite(), o});
    o.du_uri = "";
    o.du = 0;
    o.reason = "";
    c.push_back({"DsSelectDstSetsDu",
                 "request_route { if (ds_select_dst(1, 4) && $du == \"sip:10.0.0.11:5060\")"
                 " forward(); }",
                 invite(), o});
    o.du = -1;
    c.push_back({"DuNullResets",
                 "request_route { ds_select_dst(1, 4); $du = $null; if ($du == $null) forward();"
                 " }",
                 invite(), o});
  }
  {
    Outcome o;
    o.new_ruri = "sip:alice@example.net:5080";
    c.push_back({"RuriPartsAssigned",
                 "request_route { $rU = \"alice\"; $rd = \"example.net\"; $rp = 5080; }",
                 invite("sip:bob@10.0.0.2:5060"), o});
    o.new_ruri = "sip:0049bob@1.2.3.4:5070;transport=udp";
    c.push_back({"RuriFunctions",
                 "request_route { prefix(\"+0049\"); strip(1); rewritehostport(\"1.2.3.4:5070\");"
                 " }",
                 invite("sip:bob@10.0.0.2:5060;transport=udp"), o});
    // A strip past the user's length deletes the user, '@' and all, and succeeds (Kamailio
    // 5.6: "too long strip asked; deleting username"; differential script 29).
    o.new_ruri = "sip:10.0.0.2:5060";
    o.flags = bits({2});
    c.push_back({"StripPastTheUserDeletesIt",
                 "request_route { if (strip(9)) setflag(2); }", invite("sip:bob@10.0.0.2:5060"),
                 o});
    o.new_ruri = "sip:carol@h.example";
    o.flags = bits({1});
    c.push_back({"RuriWholeAndRead",
                 "request_route { $ru = \"sip:carol@h.example\"; if ($rU == \"carol\" &&"
                 " uri != myself) setflag(1); }",
                 invite(), o});
    o.new_ruri = "sip:dave@10.0.0.2:5060";
    o.flags = 0;
    c.push_back({"SetUserHostPort",
                 "request_route { sethost(\"x.example\"); setport(\"99\"); revert_uri();"
                 " setuser(\"dave\"); }",
                 invite(), o});
  }
  {
    Outcome o;
    o.append = {"X-A: 1\r\n", "X-From: alice\r\n"};
    o.remove = {"User-Agent"};
    o.flags = bits({1, 2, 3});
    o.record_route = true;
    c.push_back({"HeaderFunctions",
                 "request_route { append_hf(\"X-A: 1\\r\\n\"); append_hf(\"X-From: $fU\\r\\n\");"
                 " if (remove_hf(\"User-Agent\")) setflag(1); if (!remove_hf(\"X-None\"))"
                 " setflag(2); if (is_present_hf(\"call-id\") && !is_present_hf(\"X-None\"))"
                 " setflag(3); if (has_totag()) setflag(4); record_route(); }",
                 invite(), o});
  }
  {
    Outcome o;
    o.socket = "force_rport add_local_rport adv=sip.example.com:5099 sock=0 mtu";  // the first UDP listen
    c.push_back({"SocketFunctions",
                 "request_route { force_rport(); add_local_rport();"
                 " set_advertised_address(\"sip.example.com\"); set_advertised_port(5099);"
                 " force_send_socket(\"udp:10.0.0.3:5070\"); udp_mtu_try_proto(\"TCP\"); }",
                 invite(), o,
                 "listen=tcp:10.0.0.2:5060\nlisten=udp:10.0.0.3:5070\n"});
  }
  c.push_back({"FlagDeclarations",
               "flags FLT_ACC:1, FLT_AUTO, FLT_NAT:5;\n"
               "request_route { setflag(FLT_NAT); setflag(FLT_AUTO); if (isflagset(FLT_ACC))"
               " setflag(7); }",
               invite(), flags(bits({0, 5}))});
  c.push_back({"FlagsAndMessageChecks",
               "request_route { setflag(3); setflag(31); resetflag(3); if (isflagset(31))"
               " setflag(0); if (!isflagset(3)) setflag(1); if (is_method(\"INVITE|BYE\"))"
               " setflag(2); if (has_totag()) setflag(4); }",
               invite("sip:bob@10.0.0.2:5060", ""), flags(bits({0, 1, 2, 31}))});
  {
    Outcome o;
    o.route_pop = true;
    o.du_uri = "sip:10.5.5.5;lr";
    o.flags = bits({1});
    c.push_back({"LooseRouteOurs",
                 "request_route { if (loose_route()) setflag(1); }",
                 invite("sip:bob@10.0.0.2", "Route: <sip:10.0.0.2;lr>, <sip:10.5.5.5;lr>\r\n"),
                 o});
    o.du_uri = "sip:10.6.6.6;lr";
    c.push_back({"LooseRouteSecondField",
                 "request_route { if (loose_route()) setflag(1); }",
                 invite("sip:bob@10.0.0.2",
                        "Route: <sip:10.0.0.2;lr>\r\nRoute: <sip:10.6.6.6;lr>\r\n"),
                 o});
    o.route_pop = false;
    o.du_uri = "sip:10.7.7.7;lr";
    c.push_back({"LooseRouteNotOurs",
                 "request_route { if (loose_route()) setflag(1); }",
                 invite("sip:bob@10.0.0.2", "Route: <sip:10.7.7.7;lr>\r\n"), o});
    c.push_back({"LooseRouteNone", "request_route { if (!loose_route()) setflag(1); }", invite(),
                 flags(bits({1}))});
    // Measured through the differential test (Kamailio 5.6, script 07 message 15): an initial
    // INVITE whose only Route is ours: loose_route() is false (and the Route is removed).
    Outcome pre;
    pre.route_pop = true;
    pre.flags = bits({2});
    c.push_back({"LooseRoutePreloadedOnlyOurs",
                 "request_route { if (loose_route()) setflag(1); else setflag(2); }",
                 invite("sip:bob@10.0.0.2", "Route: <sip:10.0.0.2;lr>\r\n"), pre});
    pre.flags = bits({1});
    c.push_back({"LooseRouteInDialogOnlyOurs",
                 "request_route { if (loose_route()) setflag(1); else setflag(2); }",
                 with_to_tag(invite("sip:bob@10.0.0.12", "Route: <sip:10.0.0.2;lr>\r\n")), pre});
    // After a strict router (an in-dialog R-URI of ours): the top Route is the destination and
    // the last one goes back into the R-URI (Kamailio's rr, differential script 39).
    Outcome strict;
    strict.du_uri = "sip:10.5.5.5;lr";
    strict.new_ruri = "sip:bob@10.0.0.12";
    strict.flags = bits({1});
    c.push_back({"LooseRouteAfterAStrictRouter",
                 "request_route { if (loose_route()) setflag(1); else setflag(2); }",
                 with_to_tag(invite("sip:10.0.0.2",
                                    "Route: <sip:10.5.5.5;lr>, <sip:bob@10.0.0.12>\r\n")),
                 strict});
    // To a strict router (no ;lr): its URI is the R-URI, the R-URI kept in a Route line.
    strict.du_uri = "";
    strict.new_ruri = "sip:10.5.5.5";
    strict.route_pop = true;
    strict.append = {"Route: <sip:bob@10.0.0.12>\r\n"};
    c.push_back({"LooseRouteToAStrictRouter",
                 "request_route { if (loose_route()) setflag(1); else setflag(2); }",
                 with_to_tag(invite("sip:bob@10.0.0.12",
                                    "Route: <sip:10.0.0.2;lr>, <sip:10.5.5.5>\r\n")),
                 strict});
  }
  // ---- regular expressions (Hyperscan; Kamailio's =~ is case-insensitive) ----
  c.push_back({"RegexOperators",
               "request_route { if ($ua =~ \"friendly-scanner\") setflag(1);"
               " if ($ua =~ \"^sipvicious\") setflag(2); if ($ua !~ \"sipcli\") setflag(3);"
               " if (search(\"^call-id: abc\")) setflag(4); if (search(\"^X-None:\")) setflag(5);"
               " if ($rU =~ \"^[[:alpha:]]+$\") setflag(6); }",
               invite(), flags(bits({1, 3, 4, 6}))});
  // sanity_check: a CSeq method that is not the request's is answered 400 (Kamailio's sanity).
  c.push_back({"SanityCheckRuri",
               "request_route { if (!sanity_check()) exit; setflag(1); }",
               invite("sip:bob@[bad"), reply(400, "Bad Request URI")});
  c.push_back({"SanityCheckPasses", "request_route { if (sanity_check(\"1511\", \"7\")) setflag(1); }",
               invite(), flags(bits({1}))});
  // ---- fused jumps (Insn::fused_jump): a test and the not and jump after it in one step ----
  // An empty string ordered is 0 (Kamailio 5.6.3, measured: "" > 5 is false, !("" > 5) true);
  // fused with its not and jump, too.
  c.push_back({"FusedNotOfFailedComparison",
               "request_route { $var(e) = \"\"; if (!($var(e) > 5)) setflag(1);"
               " if ($var(e) > 5) setflag(2); if (!($var(x) == 0)) setflag(3); else setflag(4);"
               " if (!is_method(\"BYE\")) setflag(5); if (!($si == \"192.0.2.10\")) setflag(6);"
               " if (!(src_ip == 192.0.2.0/24)) setflag(7); if (!(uri == myself)) setflag(8);"
               " if (!mf_process_maxfwd_header(\"10\")) setflag(9); }",
               invite(), flags(bits({1, 4, 5})), "max_while_loops=10\n"});
  // A comparison used as a value leaves nothing behind: the `!` of a later condition inverts as
  // usual. !("" > 5) is 1 (measured).
  c.push_back({"FailedComparisonAsValueDoesNotReachALaterNot",
               "request_route { $var(e) = \"\"; $var(b) = ($var(e) > 5);"
               " if (!is_method(\"BYE\")) setflag(1); $var(c) = !($var(e) > 5);"
               " if ($var(c) == 0) setflag(2); if (!is_method(\"INVITE\")) setflag(3); }",
               invite(), flags(bits({1}))});
  // A function that returns 0 inside `if (!f())` ends the script before the not.
  c.push_back({"FusedFunctionReturningZeroEndsScript",
               "request_route { setflag(1); if (!route(ZERO)) setflag(2); setflag(3); }\n"
               "route[ZERO] { if (!is_present_hf(\"X-None\")) return 0; setflag(4); }",
               invite(), flags(bits({1}))});
  // `$pv =~ "re"` is one kRegexMatchPv (push_pv and regex_match in one step): the scanner's
  // User-Agent read in place (present, absent), a transformation, $hdr, the R-URI's user, an
  // int converted to text, !~ and `!(...)` (fused with a not), a match used as a value.
  c.push_back({"RegexMatchPvForms",
               "request_route { if ($ua =~ \"scanner\") setflag(1); if ($ua !~ \"scanner\")"
               " setflag(2); if ($(ua{s.tolower}) =~ \"^friendly-s\") setflag(3);"
               " if ($hdr(X-None) =~ \"^$\") setflag(4); if ($rU =~ \"^bo\") setflag(5);"
               " if ($rU =~ \"^ob\") setflag(6); $var(n) = 42;"
               " if ($var(n) =~ \"^4[0-9]$\") setflag(7); if (!($ua =~ \"nomatch\")) setflag(8);"
               " if (!($ua =~ \"friendly\")) setflag(9); $var(m) = $ua =~ \"1[.]0$\";"
               " if ($var(m) == 1) setflag(10); if ($hdr(User-Agent) =~ \"^Friendly\")"
               " setflag(11); }",
               invite(), flags(bits({1, 3, 4, 5, 7, 8, 10, 11}))});
  {
    std::string no_ua = invite();
    const std::string ua = "User-Agent: Friendly-Scanner 1.0\r\n";
    no_ua.erase(no_ua.find(ua), ua.size());
    c.push_back({"RegexMatchPvWithoutUserAgent",
                 "request_route { if ($ua =~ \"^$\") setflag(1); if ($ua =~ \"a\") setflag(2);"
                 " if (!($ua =~ \"a\")) setflag(3); if ($ua !~ \"^$\") setflag(4); }",
                 no_ua, flags(bits({1, 3}))});
  }
  // A chain of known-method `case` labels is one kMethodSwitch: the first case of a method
  // wins (INVITE twice), a name the scanner does not know ends the chain (FOO: the labels after
  // it run as before), methods no case names go past it (default, or after the switch).
  {
    const std::string tsw =
        "request_route { switch ($rm) { case \"OPTIONS\": setflag(1); break;"
        " case \"INVITE\": case \"ACK\": setflag(2); break; case \"INVITE\": setflag(3); break;"
        " case \"FOO\": setflag(4); break; case \"BYE\": setflag(5); break;"
        " default: setflag(6); } setflag(7); }";
    const std::pair<const char*, uint32_t> want[] = {
        {"INVITE", bits({2, 7})}, {"ACK", bits({2, 7})},     {"OPTIONS", bits({1, 7})},
        {"FOO", bits({4, 7})},    {"BYE", bits({5, 7})},     {"MESSAGE", bits({6, 7})},
        {"invite", bits({6, 7})}, {"PUBLISH", bits({6, 7})},
    };
    for (const auto& [m, f] : want) {
      c.push_back({m == std::string("invite") ? "MethodSwitchTableLowerCase"
                   : m == std::string("INVITE") ? "MethodSwitchTableINVITE"
                   : m == std::string("ACK") ? "MethodSwitchTableACK"
                   : m == std::string("OPTIONS") ? "MethodSwitchTableOPTIONS"
                   : m == std::string("FOO") ? "MethodSwitchTableFOO"
                   : m == std::string("BYE") ? "MethodSwitchTableBYE"
                   : m == std::string("MESSAGE") ? "MethodSwitchTableMESSAGE"
                                                 : "MethodSwitchTablePUBLISH",
                   tsw, invite("sip:bob@10.0.0.2", "", m), flags(f)});
    }
    const std::string nodefault =
        "request_route { route(S); setflag(3); }\n"
        "route[S] { switch ($rm) { case \"INVITE\": setflag(1); case \"CANCEL\": setflag(2); } }";
    c.push_back({"MethodSwitchTableNoDefaultHit", nodefault, invite(), flags(bits({1, 2, 3}))});
    c.push_back({"MethodSwitchTableNoDefaultMiss", nodefault,
                 invite("sip:bob@10.0.0.2", "", "BYE"), flags(bits({3}))});
  }
  // A `case` of a method the scanner knows compares its Method value; one it does not know,
  // or another case of a known one, compares bytes: a request's method, a reply's CSeq method.
  {
    const std::string msw =
        "request_route { switch ($rm) { case \"INVITE\": setflag(1); break;"
        " case \"invite\": setflag(2); break; case \"FOO\": setflag(3); break;"
        " case \"PUBLISH\": setflag(4); break; default: setflag(5); } }";
    c.push_back({"SwitchKnownMethodValue", msw, invite(), flags(bits({1}))});
    c.push_back({"SwitchUnknownMethodBytes", msw, invite("sip:bob@10.0.0.2", "", "FOO"),
                 flags(bits({3}))});
    c.push_back({"SwitchKnownMethodLast", msw, invite("sip:bob@10.0.0.2", "", "PUBLISH"),
                 flags(bits({4}))});
    c.push_back({"SwitchLowerCaseMethodIsNotKnown", msw,
                 invite("sip:bob@10.0.0.2", "", "invite"), flags(bits({2}))});
  }
  return c;
}

class VmCase : public ::testing::TestWithParam<Case> {};

TEST_P(VmCase, Outcome) {
  const Case& c = GetParam();
  Harness h(c.script, c.params);
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(c.msg), c.want);
}

INSTANTIATE_TEST_SUITE_P(Scripts, VmCase, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Every case again with the compiler's jump fusion undone (Insn::fused_jump cleared), the
// known-method compare of `case` labels undone (kMethodEq's b cleared) and each
// kRegexMatchPv made the push_pv it was written over again (the regex_match after it then
// runs): the same outcome. The fusions are only a shortcut through the same instructions.
TEST(VmFusion, UnfusedProgramsDecideTheSame) {
  size_t fused1 = 0;
  size_t fused2 = 0;
  size_t methods = 0;
  size_t regex_pv = 0;
  size_t method_switches = 0;
  for (const Case& c : cases()) {
    Harness h(c.script, c.params);
    ASSERT_TRUE(h.ok()) << c.name << h.diags();
    for (cfg::Insn& in : h.mutable_program().code) {
      fused1 += in.fused_jump == 1 ? 1 : 0;
      fused2 += in.fused_jump == 2 ? 1 : 0;
      in.fused_jump = 0;
      in.to = 0;
      in.jump_true = 0;
      if (in.op == cfg::Op::kMethodEq && in.b != 0) {
        ++methods;
        in.b = 0;
      }
      if (in.op == cfg::Op::kMethodSwitch) {
        ++method_switches;
        in.op = cfg::Op::kMethodEq;  // its a and b are the first case's
        in.c = 0;
      }
      if (in.op == cfg::Op::kRegexMatchPv) {
        ++regex_pv;
        in = cfg::Insn{cfg::Op::kPushPv, 0, 0, in.c};
      }
    }
    EXPECT_EQ(h.run(c.msg), c.want) << c.name;
  }
  // The cases exercise each kind.
  EXPECT_GE(fused1, 20u);
  EXPECT_GE(fused2, 10u);
  EXPECT_GE(methods, 5u);
  EXPECT_GE(regex_pv, 15u);
  EXPECT_GE(method_switches, 6u);
}

// The fused jump's target and sense are read from the instruction that takes it (Insn::to,
// jump_true): a program where they are not the jump's own, or a kRegexMatchPv without its
// regex_match after it (hand-made, never the compiler's), is refused once per program.
TEST(VmFusion, FusedTargetOrSenseNotTheJumpsIsRefused) {
  for (int bad = 0; bad < 4; ++bad) {
    Harness h("request_route { if (!($ua =~ \"x\")) setflag(1); setflag(2); }");
    ASSERT_TRUE(h.ok()) << h.diags();
    std::vector<cfg::Insn>& code = h.mutable_program().code;
    ASSERT_EQ(code[0].op, cfg::Op::kRegexMatchPv);
    ASSERT_EQ(code[1].op, cfg::Op::kRegexMatch);
    ASSERT_EQ(code[0].fused_jump, 2);
    ASSERT_EQ(code[0].to, code[3].a);
    ASSERT_EQ(code[0].jump_true, 0);
    if (bad == 0) {
      EXPECT_EQ(h.run(invite()), flags(bits({1, 2})));  // the unchanged program runs
      continue;
    }
    if (bad == 1) {
      code[0].to = 1;
    } else if (bad == 2) {
      code[0].jump_true = 1;
    } else {
      code[1].op = cfg::Op::kNop;
    }
    Outcome o = h.run(invite());
    EXPECT_TRUE(o.error) << bad;
    EXPECT_EQ(o.flags, 0u) << bad;
  }
}

// A fused jump the code does not back (a hand-made program, never the compiler's) is refused
// once per program: the run ends with an error instead of jumping out of the code.
TEST(VmFusion, FusedJumpWithoutItsJumpIsRefused) {
  for (const uint8_t bad : {uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
    Harness h("request_route { if (!is_method(\"INVITE\")) setflag(1); setflag(2); }");
    ASSERT_TRUE(h.ok()) << h.diags();
    std::vector<cfg::Insn>& code = h.mutable_program().code;
    ASSERT_EQ(code[0].op, cfg::Op::kIsMethod);
    ASSERT_EQ(code[0].fused_jump, 2);
    // 1 says a jump follows (a not does); 2 on the not says a not follows (a jump does).
    code[bad == 2 ? 1 : 0].fused_jump = bad;
    Outcome o = h.run(invite());
    EXPECT_TRUE(o.error) << int{bad};
    EXPECT_EQ(o.flags, 0u) << int{bad};
  }
}

// A route call to no route (a hand-made program) is refused once per program, as a jump out
// of the code is: the loop does not check the route per call. A run asked for a route the
// program does not have runs nothing, with no error.
TEST(VmFusion, CallToNoRouteIsRefused) {
  Harness h("request_route { setflag(1); route(R); setflag(2); }\nroute[R] { setflag(3); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite(), 7), Outcome{});
  EXPECT_EQ(h.run(invite()), flags(bits({1, 2, 3})));
  Harness bad("request_route { setflag(1); route(R); setflag(2); }\nroute[R] { setflag(3); }");
  ASSERT_TRUE(bad.ok()) << bad.diags();
  size_t calls = 0;
  for (cfg::Insn& in : bad.mutable_program().code) {
    if (in.op == cfg::Op::kCallRoute) {
      in.a = static_cast<uint32_t>(bad.program().routes.size());
      ++calls;
    }
  }
  ASSERT_EQ(calls, 1u);
  const Outcome o = bad.run(invite());
  EXPECT_TRUE(o.error);
  EXPECT_EQ(o.flags, 0u);
  EXPECT_EQ(bad.state().other_errors, 1u);
}

// $var persists across messages on one worker (Kamailio: per process); $avp and flags do not.
TEST(Vm, VarPersistsAcrossMessagesAvpAndFlagsDoNot) {
  Harness h(
      "request_route { if (isflagset(1)) setflag(2); setflag(1); $var(n) = $var(n) + 1;"
      " if (defined $avp(a)) setflag(3); $avp(a) = 1; sl_send_reply(\"200\", \"n=$var(n)\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()), reply(200, "n=1", bits({1})));
  EXPECT_EQ(h.run(invite()), reply(200, "n=2", bits({1})));
  EXPECT_EQ(h.run(invite()), reply(200, "n=3", bits({1})));
}

TEST(Vm, StringVarKeepsItsOwnCopy) {
  Harness h(
      "request_route { if ($var(last) != \"\" && $var(last) != 0) setflag(1);"
      " sl_send_reply(\"200\", \"$var(last)\"); $var(last) = $ci; }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()), reply(200, "0"));
  std::string other = invite();
  other.replace(other.find("abc@"), 4, "xyz@");
  EXPECT_EQ(h.run(other), reply(200, "abc@192.0.2.10", bits({1})));
}

TEST(Vm, ScratchOverflowIsACountedError) {
  Harness h(
      "request_route { $avp(s) = \"0123456789012345678901234567890123456789\";"
      " while (1) { $avp(s) = $avp(s) + $avp(s); } }",
      "max_while_loops=0\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  Outcome o = h.run(invite());
  EXPECT_TRUE(o.error);
  EXPECT_EQ(h.state().scratch_overflow, 1u);
}

TEST(Vm, VarTooLongIsACountedError) {
  // 280 bytes (a long header value) is kept; past kVmVarLen (1 KiB) it is a counted error.
  Harness h(
      "request_route { $var(s) = \"0123456789012345678901234567890123456789\";"
      " $var(s) = $var(s) + $var(s) + $var(s) + $var(s) + $var(s) + $var(s) + $var(s);"
      " if (strlen($var(s)) == 280) setflag(1); $var(t) = $var(s) + $var(s) + $var(s);"
      " if (strlen($var(t)) == 840) setflag(2); $var(t) = $var(t) + $var(s); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_TRUE(o.error);
  EXPECT_EQ(o.flags, bits({1, 2}));
  EXPECT_EQ(h.state().var_overflow, 1u);
}

// Generated configs chain thousands of branches; Kamailio's parser takes else-if chains of up to
// ~2,500 and `||` chains of 10,000 terms and more (measured with 5.6.3, `kamailio -c -M 512`).
// Both compile here, and the flat program decides as the chain says on every branch tried.
TEST(Vm, LongElseIfAndOrChainsAsKamailio) {
  constexpr int kBranches = 2500;
  constexpr int kTerms = 5000;
  std::string s = "request_route {\n  if ($rU == \"u0\") { sl_send_reply(\"200\", \"b0\"); }\n";
  for (int i = 1; i < kBranches; ++i) {
    s += "  else if ($rU == \"u" + std::to_string(i) + "\") { sl_send_reply(\"200\", \"b" +
         std::to_string(i) + "\"); }\n";
  }
  s += "  else if ($rU == \"x0\"";
  for (int i = 1; i < kTerms; ++i) {
    s += " || $rU == \"x" + std::to_string(i) + "\"";
  }
  s += ") { sl_send_reply(\"201\", \"or\"); }\n  else { sl_send_reply(\"404\", \"none\"); }\n}\n";
  Harness h(s);
  ASSERT_TRUE(h.ok()) << h.diags().substr(0, 2000);
  const auto to = [](const std::string& user) {
    return invite("sip:" + user + "@10.0.0.2:5060");
  };
  for (const int i : {0, 1, 1234, kBranches - 1}) {
    EXPECT_EQ(h.run(to("u" + std::to_string(i))), reply(200, "b" + std::to_string(i))) << i;
  }
  for (const int i : {0, 1, 2500, kTerms - 1}) {
    EXPECT_EQ(h.run(to("x" + std::to_string(i))), reply(201, "or")) << i;
  }
  EXPECT_EQ(h.run(to("u2500")), reply(404, "none"));
  EXPECT_EQ(h.run(to("x5000")), reply(404, "none"));
}

TEST(Vm, XlogWritesTheRingAndCountsDrops) {
  Harness h("request_route { xlog(\"L_INFO\", \"m=$rm u=$rU n=$avp(x)\\n\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  h.run(invite());
  std::vector<std::string> lines;
  h.state().log.drain([&](const dp::VmLogRecord& r) { lines.emplace_back(r.text, r.len); });
  EXPECT_EQ(lines, std::vector<std::string>{"m=INVITE u=bob n=<null>\n"});
  for (size_t i = 0; i < dp::kVmLogRecords + 3; ++i) {
    h.run(invite());
  }
  EXPECT_EQ(h.state().log.dropped.load(), 3u);
  size_t n = h.state().log.drain([](const dp::VmLogRecord&) {});
  EXPECT_EQ(n, dp::kVmLogRecords);
}

TEST(Vm, RuleCheckTimeErrors) {
  // A function used where it is not allowed, or from a module not loaded, is a check-time error.
  cfg::Program p;
  cfg::Diagnostics d;
  EXPECT_FALSE(cfg::compile_string("loadmodule \"sl.so\"\nrequest_route { record_route(); }\n",
                                   "t.cfg", "/tmp", {}, p, d));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "t.cfg:2:17: error: function 'record_route' needs module 'rr' (loadmodule \"rr.so\")");
}

}  // namespace
}  // namespace viaduct

namespace viaduct {
namespace {

// ---- dispatcher functions: failover list, domain rewrite, marks, membership ----

// Set 1: three destinations in Kamailio's index order (equal priorities: reverse file order,
// so .13 is index 0); set 2: one; the source of every test message, 192.0.2.10:5070, is in set 3.
constexpr const char* kFailoverList =
    "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n1 sip:10.0.0.13:5060\n"
    "2 sip:10.0.0.21:5080\n3 sip:192.0.2.10:5070\n";

dp::DsConfig failover_on() {
  dp::DsConfig c;
  c.failover = true;
  return c;
}

std::string dest_uri(const Harness& h, int d) {
  return d < 0 ? std::string("-") : h.snap().destinations[static_cast<size_t>(d)].uri;
}

TEST(VmDispatcher, NextDstWalksTheSetInAlgorithmOrderThenFails) {
  // Round robin (4) with failover on: the chosen entry, then the ones after it, wrapping; a
  // fourth ds_next_dst has nothing left (Kamailio: $xavp(_dsdst_) exhausted).
  Harness h(
      "request_route { ds_select_dst(1, 4); $var(a) = $du;"
      " if (ds_next_dst()) { $var(b) = $du; } if (ds_next_dst()) { $var(c) = $du; }"
      " if (ds_next_dst()) { sl_send_reply(500, \"too many\"); exit; }"
      " sl_send_reply(200, \"r $var(a) $var(b) $var(c)\"); }",
      "", kFailoverList, failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_EQ(o.code, 200) << o;
  // Every destination of set 1 exactly once, the first being the round-robin choice.
  const dp::DestSet& set = h.snap().sets[0];
  std::vector<std::string> uris;
  for (uint32_t i = 0; i < set.count; ++i) {
    uris.push_back(h.snap().destinations[set.first + i].uri);
  }
  std::sort(uris.begin(), uris.end());
  std::vector<std::string> got;
  ASSERT_EQ(o.reason.substr(0, 2), "r ");
  std::string text = o.reason.substr(2) + " ";
  for (size_t p = 0, q; (q = text.find(' ', p)) != std::string::npos; p = q + 1) {
    got.push_back(text.substr(p, q - p));
  }
  ASSERT_EQ(got.size(), 3u) << o.reason;
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, uris);
  // The order is the set's index order starting at the chosen one.
  size_t first = 0;
  for (uint32_t i = 0; i < set.count; ++i) {
    if (h.snap().destinations[set.first + i].uri == got[0]) {
      first = i;
    }
  }
  for (uint32_t k = 0; k < set.count; ++k) {
    EXPECT_EQ(got[k], h.snap().destinations[set.first + (first + k) % set.count].uri) << k;
  }
}

// The failover list is only built as far as the script can see it (cfg::Program::
// reads_ds_list): a script that never reads past the selection gets it alone even with flags
// 2; one that reads the list only inside a reply's format string sees it whole.
TEST(VmDispatcher, TheListIsBuiltWhereTheScriptReadsIt) {
  Harness plain("request_route { ds_select_dst(1, 4); forward(); }", "", kFailoverList,
                failover_on());
  ASSERT_TRUE(plain.ok()) << plain.diags();
  EXPECT_FALSE(plain.program().reads_ds_list);
  EXPECT_EQ(plain.run(invite()).action, kFwd);
  const char* readers[] = {
      "request_route { ds_select_dst(1, 4); sl_send_reply(200, \"n=$xavp(_dsctx_=>cnt)\"); }",
      ("request_route { ds_select_dst(1, 4); $var(u) = $(xavp(_dsdst_[2]=>uri){s.len});"
       " sl_send_reply(200, \"n=$var(u)\"); }"),
      "request_route { ds_select_dst(1, 4); if (ds_next_dst()) { sl_send_reply(200, \"n\"); } }",
  };
  for (const char* script : readers) {
    Harness h(script, "", kFailoverList, failover_on());
    ASSERT_TRUE(h.ok()) << h.diags();
    EXPECT_TRUE(h.program().reads_ds_list) << script;
  }
  Harness cnt(readers[0], "", kFailoverList, failover_on());
  const dp::DestSet& set = cnt.snap().sets[0];
  EXPECT_EQ(cnt.run(invite()).reason, "n=" + std::to_string(set.count));
  Harness len(readers[1], "", kFailoverList, failover_on());
  EXPECT_NE(len.run(invite()).reason, "n=0");  // the third entry is there
}

TEST(VmDispatcher, WithoutFailoverFlagThereIsNoNextDestination) {
  Harness h("request_route { ds_select_dst(1, 4); if (ds_next_dst()) { forward(); exit; }"
            " sl_send_reply(503, \"none\"); }",
            "", kFailoverList);
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).code, 503);
}

TEST(VmDispatcher, LimitCutsTheList) {
  Harness h("request_route { ds_select_dst(1, 4, 2); if (!ds_next_dst()) { exit; }"
            " if (ds_next_dst()) { sl_send_reply(500, \"past limit\"); exit; } forward(); }",
            "", kFailoverList, failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_EQ(o.action, kFwd) << o;
  EXPECT_GE(o.du, 0);
}

// ds_select_dst's arguments read at run time are checked as the compiler checks constants
// (fn_ds_select: the usual constant two-argument call has a path of its own, the others are
// evaluated apart): an algorithm Kamailio does not define, a limit below 1 or a set that does
// not exist select nothing; a limit past the failover list's 16 entries keeps 16.
TEST(VmDispatcher, RunTimeArgumentsAreCheckedAsConstantsAre) {
  std::string list = kFailoverList;
  for (int i = 0; i < 20; ++i) {
    list += "4 sip:10.0.4." + std::to_string(i + 1) + ":5060\n";
  }
  auto run = [&](const std::string& set, const std::string& alg, const std::string& lim) {
    Harness h("request_route { $var(s) = " + set + "; $var(a) = " + alg + "; $var(l) = " + lim +
                  "; if (ds_select_dst($var(s), $var(a), $var(l))) {"
                  " sl_send_reply(200, \"n=$xavp(_dsctx_=>cnt)\"); exit; }"
                  " sl_send_reply(503, \"none\"); }",
              "", list.c_str(), failover_on());
    EXPECT_TRUE(h.ok()) << h.diags();
    return h.run(invite());
  };
  EXPECT_EQ(run("1", "4", "2").reason, "n=2");
  EXPECT_EQ(run("1", "8", "3").reason, "n=3");
  for (const char* alg : {"10", "12", "16", "0 - 1", "99"}) {
    EXPECT_EQ(run("1", alg, "2").code, 503) << alg;
  }
  for (const char* lim : {"0", "0 - 3"}) {
    EXPECT_EQ(run("1", "4", lim).code, 503) << lim;
  }
  EXPECT_EQ(run("7", "4", "2").code, 503);  // no set 7
  EXPECT_EQ(run("4", "4", "15").reason, "n=15");
  EXPECT_EQ(run("4", "4", "16").reason, "n=16");
  EXPECT_EQ(run("4", "4", "100").reason, "n=16");
  // Constants: a limit of 0 (the compiler lets it through) selects nothing either.
  Harness zero("request_route { if (ds_select_dst(1, 4, 0)) { forward(); exit; }"
               " sl_send_reply(503, \"none\"); }",
               "", kFailoverList, failover_on());
  ASSERT_TRUE(zero.ok()) << zero.diags();
  EXPECT_EQ(zero.run(invite()).code, 503);
}

TEST(VmDispatcher, SelectDomainRewritesHostPortNotDu) {
  // Kamailio's SET_HOSTALL_T: the destination's URI without its scheme replaces host, port,
  // parameters and headers (measured, differential script 41: ;user=phone is gone).
  Harness h("request_route { if (ds_select_domain(2, 4)) forward(); }", "", kFailoverList,
            failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite("sip:bob@10.0.0.2:5060;transport=udp?X=1"));
  EXPECT_EQ(o.action, kFwd) << o;
  EXPECT_EQ(o.du, -1);
  EXPECT_EQ(o.new_ruri, "sip:bob@10.0.0.21:5080");
  const Outcome p = h.run(invite("sip:+15551234@gw.example.com;user=phone"));
  EXPECT_EQ(p.new_ruri, "sip:+15551234@10.0.0.21:5080");
}

TEST(VmDispatcher, SelectThenSetDstAndNextDomain) {
  // ds_select fills the list only; ds_set_dst applies the current entry; ds_next_domain the
  // next one to the R-URI.
  Harness h("request_route { ds_select(1, 8); if ($du != $null) { sl_send_reply(500, \"du\");"
            " exit; } ds_set_dst(); ds_next_domain(); forward(); }",
            "", kFailoverList, failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_EQ(o.action, kFwd) << o;
  ASSERT_GE(o.du, 0);
  EXPECT_FALSE(o.new_ruri.empty());
  EXPECT_EQ(o.new_ruri.find(dest_uri(h, o.du).substr(4)), std::string::npos)
      << "ds_next_domain must use the entry after $du's: " << o.new_ruri;
}

TEST(VmDispatcher, MarkDstReportsTheCurrentEntryAndState) {
  Harness h("request_route { ds_select_dst(1, 4); ds_next_dst(); ds_mark_dst(\"ip\"); forward(); }",
            "", kFailoverList, failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_EQ(h.last_mark_dst, o.du);
  EXPECT_EQ(h.last_mark_state, uint32_t{cfg::kDsInactive | cfg::kDsProbing});
  Harness none("request_route { ds_mark_dst(); }", "", kFailoverList, failover_on());
  ASSERT_TRUE(none.ok()) << none.diags();
  none.run(invite());
  EXPECT_EQ(none.last_mark_dst, -1) << "no destination in use: nothing to mark";
  // Kamailio 5.6 marks the failover list's entry ($xavp(_dsdst_)) only: without failover
  // there is none, and a $du set by hand is not one.
  Harness off("request_route { ds_select_dst(1, 4); if (ds_mark_dst(\"ip\")) exit; forward(); }",
              "", kFailoverList);
  ASSERT_TRUE(off.ok()) << off.diags();
  EXPECT_EQ(off.run(invite()).action, kFwd);
  EXPECT_EQ(off.last_mark_dst, -1) << "failover off: nothing to mark";
  Harness by_hand("request_route { $du = \"sip:10.0.0.11:5060\"; if (ds_mark_dst()) exit;"
                  " forward(); }",
                  "", kFailoverList, failover_on());
  ASSERT_TRUE(by_hand.ok()) << by_hand.diags();
  EXPECT_EQ(by_hand.run(invite()).action, kFwd);
  EXPECT_EQ(by_hand.last_mark_dst, -1) << "a $du set by hand is no list entry";
}

TEST(VmLimits, LoopCountersOfTheDeepestRecursionStayInTheirArray) {
  // The worst case for the per-call loop-counter bases: request_route and a route that calls
  // itself, each from inside 16 nested whiles, down to the route-depth limit (every frame's
  // counters sit above its caller's 16, the deepest at 256 x 16). It ends as a depth-limit error; ASan builds check no counter is out of
  // bounds on the way.
  std::string body = "route(R);";
  for (uint32_t i = 0; i < cfg::kVmTemps; ++i) {
    body = "while (1) { " + body + " }";
  }
  Harness h("request_route { " + body + " }\nroute[R] { " + body + " }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_TRUE(h.run(invite()).error);
  EXPECT_EQ(h.state().depth_limit, 1u);
}

TEST(VmDispatcher, PastTheLastEntryTheListIsEmpty) {
  // Kamailio removes the current entry before it looks for the next one: once ds_next_dst()
  // fails, $xavp(_dsdst_) is $null and ds_set_dst() false, while $du keeps the last entry
  // (differential script 30).
  Harness h("request_route { ds_select_dst(1, 4); while (ds_next_dst()) { $var(n) = 1; }"
            " if (ds_set_dst()) { sl_send_reply(500, \"set\"); exit; }"
            " if ($xavp(_dsdst_=>uri) != $null) { sl_send_reply(500, \"xavp\"); exit; }"
            " forward(); }",
            "", kFailoverList, failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  EXPECT_EQ(o.action, kFwd) << o;
  EXPECT_GE(o.du, 0) << "$du stays on the last entry";
}

TEST(VmDispatcher, SetDstNeedsTheFailoverList) {
  // Kamailio 5.6 (differential script 25): ds_set_dst/ds_set_domain read $xavp(_dsdst_),
  // which only failover fills; without it they return false and change nothing.
  for (const char* fn : {"ds_set_dst", "ds_set_domain"}) {
    Harness h(std::string("request_route { ds_select(1, 4); if (") + fn +
                  "()) { sl_send_reply(500, \"set\"); exit; } forward(); }",
              "", kFailoverList);
    ASSERT_TRUE(h.ok()) << h.diags();
    const Outcome o = h.run(invite());
    EXPECT_EQ(o.action, kFwd) << fn << " " << o;
    EXPECT_EQ(o.du, -1) << fn;
    EXPECT_TRUE(o.new_ruri.empty()) << fn << " " << o.new_ruri;
  }
}

TEST(VmDispatcher, MarkAddrMarksTheNamedDestination) {
  Harness h("request_route { if (!ds_mark_addr(\"tp\", 2, \"sip:10.0.0.21:5080\")) exit;"
            " if (ds_mark_addr(\"a\", 2, \"sip:10.0.0.99:5080\")) exit; forward(); }",
            "", kFailoverList);
  ASSERT_TRUE(h.ok()) << h.diags();
  h.run(invite());
  ASSERT_GE(h.last_mark_dst, 0);
  EXPECT_EQ(dest_uri(h, h.last_mark_dst), "sip:10.0.0.21:5080");
  EXPECT_EQ(h.last_mark_state, uint32_t{cfg::kDsTrying | cfg::kDsProbing});
  Harness bad("request_route { ds_mark_addr(\"q\", 2, \"sip:10.0.0.21:5080\"); }", "",
              kFailoverList);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.diags().find("ds_mark_addr state must be"), std::string::npos) << bad.diags();
}

TEST(VmDispatcher, MarkDstStateIsCheckedAtCompileTime) {
  Harness h("request_route { ds_mark_dst(\"x\"); }", "", kFailoverList);
  EXPECT_FALSE(h.ok());
  EXPECT_NE(h.diags().find("ds_mark_dst state"), std::string::npos) << h.diags();
}

TEST(VmDispatcher, IsFromListListExistsIsActive) {
  Harness h(
      "request_route {"
      " $var(r) = \"\";"
      " if (ds_is_from_list()) $var(r) = $var(r) + \"any \";"
      " if (ds_is_from_list(3)) $var(r) = $var(r) + \"g3 \";"
      " if (ds_is_from_list(1)) $var(r) = $var(r) + \"g1 \";"
      " if (ds_is_from_list(2, 1, \"sip:10.0.0.21:9999\")) $var(r) = $var(r) + \"noport \";"
      " if (ds_is_from_list(2, 0, \"sip:10.0.0.21:9999\")) $var(r) = $var(r) + \"port \";"
      " if (ds_list_exists(2)) $var(r) = $var(r) + \"e2 \";"
      " if (ds_list_exists(9)) $var(r) = $var(r) + \"e9 \";"
      " if (ds_is_active(1)) $var(r) = $var(r) + \"a1 \";"
      " if (ds_is_active(2, \"sip:10.0.0.21:5080\")) $var(r) = $var(r) + \"a2u \";"
      " if (ds_is_active(2, \"sip:10.0.0.99:5080\")) $var(r) = $var(r) + \"a2x \";"
      " sl_send_reply(200, \"$var(r)\"); }",
      "", kFailoverList);
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).reason, "any g3 noport e2 a1 a2u ");
}

TEST(VmReply, ReasonStartingWithAPseudoVariableIsThatVariableAlone) {
  // Kamailio 5.6.3 (differential test, script 04): "$var(t) sum=$var(s)" sends $var(t) only.
  Harness h("request_route { $var(t) = \"m7\"; $var(s) = 20;"
            " sl_send_reply(200, \"$var(t) sum=$var(s)\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_NE(h.diags().find("starts with a pseudo-variable"), std::string::npos) << h.diags();
  EXPECT_EQ(h.run(invite()).reason, "m7");
  Harness later("request_route { $var(s) = 20; sl_send_reply(200, \"sum=$var(s) ok\"); }");
  ASSERT_TRUE(later.ok()) << later.diags();
  EXPECT_EQ(later.run(invite()).reason, "sum=20 ok");
}

TEST(VmPv, HdrMaxForwardsReadsTheValueMaxfwdWrote) {
  // Kamailio's maxfwd rewrites the value in the message buffer, so $hdr(Max-Forwards) read
  // after mf_process_maxfwd_header sees it (differential test, script 12).
  Harness h("request_route { $var(a) = $hdr(Max-Forwards); mf_process_maxfwd_header(\"10\");"
            " sl_send_reply(200, \"mf $var(a) $hdr(Max-Forwards)\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).reason, "mf 70 69");
}

TEST(VmDispatcher, BadAlgorithmsAndSlowPathOnesAreRejected) {
  for (const char* alg : {"10", "12", "16"}) {
    Harness h(std::string("request_route { ds_select_domain(1, ") + alg + "); }", "",
              kFailoverList);
    EXPECT_FALSE(h.ok()) << alg;
    EXPECT_NE(h.diags().find("dispatcher algorithm"), std::string::npos) << h.diags();
  }
}

}  // namespace
}  // namespace viaduct

namespace viaduct {
namespace {

TEST(VmEventRoute, DispatcherDstDownAndUpRunWithTheDestination) {
  // The control thread runs these with an OPTIONS to the destination, $du its index.
  Harness h("request_route { forward(); }\n"
            "event_route[dispatcher:dst-down] { xlog(\"L_ERR\", \"down $rm $ru ($du)\\n\"); }\n"
            "event_route[dispatcher:dst-up] { $var(up) = $var(up) + 1;"
            " xlog(\"up $var(up) $ru\\n\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const cfg::Program& p = h.program();
  ASSERT_GE(p.event_dst_down, 1);
  ASSERT_GE(p.event_dst_up, 1);
  EXPECT_NE(p.event_dst_down, p.event_dst_up);
  const std::string probe =
      "OPTIONS sip:10.0.0.11:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKvdevt1\r\n"
      "From: <sip:dispatcher@localhost>;tag=vdev\r\nTo: <sip:10.0.0.11:5060>\r\n"
      "Call-ID: e1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  std::vector<std::string> lines;
  auto drain = [&] {
    h.state().log.drain([&](const dp::VmLogRecord& r) { lines.emplace_back(r.text, r.len); });
  };
  h.run(probe, static_cast<uint32_t>(p.event_dst_down), 0);
  h.run(probe, static_cast<uint32_t>(p.event_dst_up), 0);
  h.run(probe, static_cast<uint32_t>(p.event_dst_up), 0);
  drain();
  EXPECT_EQ(lines, (std::vector<std::string>{"down OPTIONS sip:10.0.0.11:5060 (sip:10.0.0.11:5060)\n",
                                             "up 1 sip:10.0.0.11:5060\n",
                                             "up 2 sip:10.0.0.11:5060\n"}));
}

TEST(VmEventRoute, OnlyDispatcherEventsAndNoSendingFunctions) {
  // Other modules' events: checked, accepted, never run (--explain says so).
  Harness other("request_route { forward(); }\nevent_route[xhttp:request] { exit; }\n");
  EXPECT_TRUE(other.ok()) << other.diags();
  EXPECT_FALSE(other.program().routes.back().not_run.empty());
  Harness send("request_route { forward(); }\n"
               "event_route[dispatcher:dst-down] { sl_send_reply(500, \"x\"); }\n");
  EXPECT_FALSE(send.ok());
  EXPECT_NE(send.diags().find("cannot be used in"), std::string::npos) << send.diags();
}

}  // namespace
}  // namespace viaduct

// ---- The regex memo (VmState::rx_memo): a worker remembers a regex set's answer for an operand
// text across messages. It must answer exactly what a scan answers, and forget on a reload or a
// republished snapshot.
namespace viaduct {
namespace {

std::string ua_msg(const std::string& ua) {
  return "INVITE sip:bob@10.0.0.2:5060 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1\r\n"
         "From: <sip:alice@example.org>;tag=ft1\r\nTo: <sip:bob@example.com>\r\n"
         "Call-ID: abc@192.0.2.10\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
         "User-Agent: " + ua + "\r\nContent-Length: 0\r\n\r\n";
}

constexpr const char* kUaScript =
    "request_route { if ($ua =~ \"sipvicious|friendly-scanner\") { sl_send_reply(\"403\", \"F\"); "
    "exit; } if ($ua =~ \"^Linphone\") setflag(2); setflag(1); }";

// A set of plain literals (cfg/regex_literal.hpp): the literal matcher answers as Kamailio
// (case-insensitive), the memo serves its repeats, and operands past the memo's 128 bytes and
// the matcher's 256 (Hyperscan) answer the same.
TEST(VmRegexLiteral, LiteralSetsAnswerAsKamailioWithTheMemoInFront) {
  Harness h("request_route { if ($ua =~ \"friendly-scanner|sipvicious|sipcli|VaxSIPUserAgent\") {"
            " sl_send_reply(\"403\", \"F\"); exit; } setflag(1); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  const dp::VmState& st = h.state();
  const Outcome blocked = reply(403, "F");
  const Outcome other = flags(bits({1}));
  const std::vector<std::pair<std::string, Outcome>> cases = {
      {"friendly-scanner", blocked},
      {"Linphone/5.2.0 (belle-sip/5.2.0) Android/13", other},  // "sip": a candidate, no match
      {"SIPCLI/1.0", blocked},
      {"x vaxsipuseragent/3.1", blocked},
      {"friendly-scanne", other},
      {"sipvicious", blocked},
      {std::string(200, 'a') + "sipcli", blocked},  // beyond the memo's 128 bytes
      {std::string(300, 'a') + "sipcli", blocked},  // beyond the matcher's 256: Hyperscan
      {std::string(300, 'a') + "sipcl", other},
  };
  for (int round = 0; round < 2; ++round) {
    for (const auto& [ua, want] : cases) {
      EXPECT_EQ(h.run(ua_msg(ua)), want) << round << " " << ua.substr(0, 50);
    }
  }
  // The six short ones are remembered after the first round; the three long ones never.
  EXPECT_EQ(st.regex_memo_hits, 6u);
  EXPECT_EQ(st.regex_memo_misses, cases.size() + 3);
}

TEST(VmRegexMemo, RepeatedOperandsAnswerFromMemoryAsAScanWould) {
  Harness h(kUaScript);
  ASSERT_TRUE(h.ok()) << h.diags();
  const dp::VmState& st = h.state();
  const Outcome blocked = reply(403, "F");
  const Outcome linphone = flags(bits({1, 2}));
  const Outcome other = flags(bits({1}));
  const std::string long_ua(dp::kRegexMemoText + 1, 'x');  // too long to remember
  struct Case {
    std::string ua;
    Outcome want;
  };
  const std::vector<Case> cases = {
      {"friendly-scanner", blocked},
      {"Linphone/5.2 (belle-sip)", linphone},
      {"friendly_scanner", other},  // one byte apart from a remembered text
      {"friendly-scanne", other},   // a prefix of a remembered text
      {"friendly-scannerX", blocked},
      {long_ua, other},
      {long_ua + " sipvicious", blocked},
  };
  // First round: every operand scanned. Second and third: every remembered one answered from
  // memory, with the same outcome.
  for (int round = 0; round < 3; ++round) {
    const uint64_t hits = st.regex_memo_hits;
    const uint64_t misses = st.regex_memo_misses;
    for (const Case& c : cases) {
      EXPECT_EQ(h.run(ua_msg(c.ua)), c.want) << "round " << round << " ua " << c.ua.substr(0, 40);
    }
    // Two regex sets? No: both regexes read $ua, one set, one lookup per message (the run's own
    // cache answers the second regex).
    const uint64_t remembered = cases.size() - 2;
    EXPECT_EQ(st.regex_memo_hits - hits, round == 0 ? 0 : remembered) << round;
    EXPECT_EQ(st.regex_memo_misses - misses, round == 0 ? cases.size() : 2u) << round;
  }
}

// The memo's slot hash and compare take the text in 4-, 8- and 16-byte words with an
// overlapping last one (dataplane/vm.cpp memo_slot, memo_text_equal): at every length around
// those sizes, texts one byte apart at the start, the middle or the end are told apart.
TEST(VmRegexMemo, TextsOneByteApartAtAnyLengthAreToldApart) {
  Harness h("request_route { if ($ua =~ \"#\") { sl_send_reply(\"403\", \"F\"); exit; }"
            " setflag(1); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  const dp::VmState& st = h.state();
  const Outcome plain = flags(bits({1}));
  const Outcome marked = reply(403, "F");
  for (const size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 47, 48, 49, 100,
                         127, 128}) {
    std::string base;
    for (size_t i = 0; i < n; ++i) {
      base += static_cast<char>('a' + (i * 7 + n) % 25);  // a..y: no '#'
    }
    std::vector<std::string> texts = {base};
    for (const size_t at : {size_t{0}, n / 2, n - 1}) {
      std::string t = base;
      t[at] = '#';
      texts.push_back(t);
    }
    for (int round = 0; round < 2; ++round) {
      const uint64_t hits = st.regex_memo_hits;
      for (const std::string& t : texts) {
        EXPECT_EQ(h.run(ua_msg(t)), t == base ? plain : marked) << n << " '" << t << "'";
      }
      if (round == 1) {  // all remembered (distinct texts; at most 4 in 64 slots may collide)
        EXPECT_GE(st.regex_memo_hits - hits, 1u) << n;
      }
    }
  }
}

// memo_text_equal at every length it takes and every byte: equal texts are equal, a text one
// byte apart anywhere is not; memo_hash changes with any one byte (CRC32-C catches every
// single-byte change; the two chains sit in separate halves before the multiply).
TEST(VmRegexMemo, TextCompareAndHashSeeEveryByte) {
  alignas(16) char text[dp::kRegexMemoText];
  for (size_t n = 0; n <= dp::kRegexMemoText; ++n) {
    std::memset(text, 0, sizeof text);
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) {
      s[i] = static_cast<char>('A' + (i * 11) % 53);
      text[i] = s[i];
    }
    EXPECT_TRUE(dp::memo_text_equal(text, s.data(), n)) << n;
    const uint64_t h = dp::memo_hash(s.data(), n, 3);
    EXPECT_NE(h, dp::memo_hash(s.data(), n, 4)) << n;  // the set is in the hash
    for (size_t i = 0; i < n; ++i) {
      std::string t = s;
      t[i] = static_cast<char>(t[i] ^ 0x01);
      EXPECT_FALSE(dp::memo_text_equal(text, t.data(), n)) << n << " at " << i;
      EXPECT_NE(dp::memo_hash(t.data(), n, 3), h) << n << " at " << i;
      t[i] = static_cast<char>(s[i] ^ 0x80);
      EXPECT_FALSE(dp::memo_text_equal(text, t.data(), n)) << n << " at " << i;
    }
    EXPECT_LT(dp::memo_slot(s.data(), n, 3), dp::kRegexMemoSlots);
  }
}

// memo_text_copy (a miss fills its slot with it) at every length the memo takes: the n bytes
// copied, nothing written past them; memo_text_equal then sees the copy equal.
TEST(VmRegexMemo, TextCopyWritesExactlyTheText) {
  alignas(16) char text[dp::kRegexMemoText + 16];
  for (size_t n = 0; n <= dp::kRegexMemoText; ++n) {
    std::memset(text, '#', sizeof text);
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) {
      s[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    }
    dp::memo_text_copy(text, s.data(), n);
    EXPECT_EQ(std::string_view(text, n), s) << n;
    for (size_t i = n; i < sizeof text; ++i) {
      ASSERT_EQ(text[i], '#') << n << " at " << i;
    }
    EXPECT_TRUE(dp::memo_text_equal(text, s.data(), n)) << n;
  }
}

TEST(VmRegexMemo, ForgetsOnANewSnapshotGeneration) {
  Harness h(kUaScript);
  ASSERT_TRUE(h.ok()) << h.diags();
  const dp::VmState& st = h.state();
  h.run(ua_msg("sipvicious"));
  h.run(ua_msg("sipvicious"));
  EXPECT_EQ(st.regex_memo_hits, 1u);
  ++h.mutable_snap().generation;  // what the publisher does on every publish
  EXPECT_EQ(h.run(ua_msg("sipvicious")), reply(403, "F"));
  EXPECT_EQ(st.regex_memo_hits, 1u);
  EXPECT_EQ(st.regex_memo_misses, 2u);
  h.run(ua_msg("sipvicious"));
  EXPECT_EQ(st.regex_memo_hits, 2u);
}

TEST(VmRegexMemo, ANewProgramWithTheSameGenerationIsNotAnsweredFromTheOldOne) {
  // One worker state, two programs (a reload) at the same snapshot generation (tests and tools
  // build snapshots at generation 0): the pattern changed, so must the answer.
  Harness a(kUaScript);
  Harness b(
      "request_route { if ($ua =~ \"^Linphone\") { sl_send_reply(\"403\", \"F\"); exit; } "
      "setflag(1); }");
  ASSERT_TRUE(a.ok() && b.ok()) << a.diags() << b.diags();
  ASSERT_EQ(a.snap().generation, b.snap().generation);
  auto state = std::make_unique<dp::VmState>();
  dp::VmState& st = *state;
  auto dstate = std::make_unique<dp::DispatchState>();
  dp::DispatchState& ds = *dstate;
  dp::WorkerCounters counters;
  const auto run = [&](Harness& h, const std::string& msg) {
    sip::SipView v;
    EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk);
    VmResult r;
    dp::VmPacket pkt;
    dp::vm_run(h.snap(), msg.data(), v, pkt, st, ds, counters, r, 0);
    return r.reply_code;
  };
  const std::string m = ua_msg("Linphone/5.2");
  EXPECT_EQ(run(a, m), 0);
  EXPECT_EQ(run(a, m), 0);
  EXPECT_EQ(st.regex_memo_hits, 1u);
  EXPECT_EQ(run(b, m), 403);
  EXPECT_EQ(run(a, m), 0);
}

}  // namespace
}  // namespace viaduct

// ---- Speed work for issue 4 (perf/RESULTS.md, "front-end script"): sanity_check now reads the
// scanner's From/To addr-specs and parse_uri's fast path, $ua the scanner's User-Agent slot, $fu
// and $tu the same addr-specs, and a regex on an absent header answers from the set's
// precomputed empty-subject result. The same outcomes as before, pinned check bit by check bit.
namespace viaduct {
namespace {

std::string sanity_msg(const std::string& ruri, const std::string& from, const std::string& to,
                       const std::string& cseq_method = "INVITE", const std::string& extra = "") {
  return "INVITE " + ruri + " SIP/2.0\r\n" +
         "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1\r\n"
         "From: " + from + "\r\nTo: " + to + "\r\nCall-ID: abc@192.0.2.10\r\n"
         "CSeq: 1 " + cseq_method + "\r\nMax-Forwards: 70\r\n" + extra +
         "Content-Length: 0\r\n\r\n";
}

Outcome sanity_outcome(const std::string& mask, const std::string& msg) {
  Harness h("request_route { if (!sanity_check(\"" + mask + "\", \"7\")) exit; setflag(1); }");
  EXPECT_TRUE(h.ok()) << h.diags();
  return h.run(msg);
}

TEST(VmSanityFast, ExpiresAndProxyRequireAsKamailio) {
  // Kamailio 5.6.3 (differential script 11): check 256 wants the first Expires to be at most
  // ten digits up to 4294967296 (its str2valid_uint lets that one pass); check 512 answers any
  // Proxy-Require 420 (no extension is supported), naming the first option in Unsupported:.
  const std::string ruri = "sip:bob@10.0.0.2:5060";
  const std::string from = "<sip:alice@example.org>;tag=ft1";
  const std::string to = "<sip:bob@example.com>";
  const auto with = [&](const std::string& extra) {
    return sanity_msg(ruri, from, to, "INVITE", extra);
  };
  const Outcome pass = flags(bits({1}));
  EXPECT_EQ(sanity_outcome("256", with("")), pass);
  EXPECT_EQ(sanity_outcome("256", with("Expires: 3600\r\n")), pass);
  EXPECT_EQ(sanity_outcome("256", with("expires: 4294967296\r\n")), pass);
  EXPECT_EQ(sanity_outcome("256", with("Expires: 4294967297\r\n")),
            reply(400, "Expires value is illegal"));
  EXPECT_EQ(sanity_outcome("256", with("Expires: soon\r\n")),
            reply(400, "Expires value is illegal"));
  EXPECT_EQ(sanity_outcome("256", with("Expires:  \r\n")),
            reply(400, "Missing number in Expires header"));
  EXPECT_EQ(sanity_outcome("512", with("Expires: soon\r\n")), pass) << "not check 512's";
  EXPECT_EQ(sanity_outcome("512", with("Privacy: id\r\n")), pass) << "a P field, not it";
  EXPECT_EQ(sanity_outcome("512", with("Proxy-Require: foo, bar\r\n")),
            reply(420, "Bad Proxy Require Extension"));
  EXPECT_EQ(sanity_outcome("256", with("Proxy-Require: foo\r\n")), pass);
  Harness h("request_route { if (!sanity_check(\"512\", \"7\")) exit; }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(std::string(h.run_raw(with("Proxy-Require: foo , bar\r\n")).reply_hdrs),
            "Unsupported: foo\r\n");
}

TEST(VmSanityFast, EachCheckBitRefusesItsOwnFaultOnly) {
  const std::string ruri = "sip:bob@10.0.0.2:5060";
  const std::string from = "\"Alice\" <sip:alice@example.org>;tag=ft1";
  const std::string to = "<sip:bob@example.com>";
  const Outcome pass = flags(bits({1}));
  const Outcome bad_ruri = reply(400, "Bad Request URI");
  const Outcome bad_from = reply(400, "Invalid From Header");  // Kamailio 5.6.3's phrases
  const Outcome bad_to = reply(400, "Ivalid To Header");
  const Outcome bad_cseq = reply(400, "CSeq method does not match request method");
  // R-URI (bits 2 and 1024): a port out of range (the fast path's shape), an unterminated IPv6
  // reference and an empty user (the general parser's), an empty host.
  for (const std::string bad : {"sip:bob@10.0.0.2:99999", "sip:bob@[bad", "sip::pw@10.0.0.2",
                                "sip:bob@", "sip:bob@10.0.0.2:506a", "sipx:bob@10.0.0.2"}) {
    EXPECT_EQ(sanity_outcome("2", sanity_msg(bad, from, to)), bad_ruri) << bad;
    EXPECT_EQ(sanity_outcome("1024", sanity_msg(bad, from, to)), bad_ruri) << bad;
    EXPECT_EQ(sanity_outcome("32", sanity_msg(bad, from, to)), pass) << bad;
  }
  // From (bit 1024): in <...> and as a bare addr-spec (the scanner's general name-addr path).
  for (const std::string bad :
       {"<sip:alice@>;tag=1", "sip:alice@;tag=1", "<sip:alice@h:65536>;tag=1",
        "\"A \\\"x\\\"\" <sip:@example.org>;tag=1", "<mailto:a@b>;tag=1"}) {
    EXPECT_EQ(sanity_outcome("1024", sanity_msg(ruri, bad, to)), bad_from) << bad;
    EXPECT_EQ(sanity_outcome("2", sanity_msg(ruri, bad, to)), pass) << bad;
  }
  // To (bit 1024), checked after From.
  for (const std::string bad : {"<sip:bob@example.com:123456>", "sip:@example.com",
                                "<sip:bob@exa mple.com>"}) {
    EXPECT_EQ(sanity_outcome("1024", sanity_msg(ruri, from, bad)), bad_to) << bad;
    EXPECT_EQ(sanity_outcome("34", sanity_msg(ruri, from, bad)), pass) << bad;
  }
  EXPECT_EQ(sanity_outcome("1024", sanity_msg(ruri, "<sip:a@>;tag=1", "<sip:b@>")), bad_from);
  EXPECT_EQ(sanity_outcome("1024", sanity_msg("sip:x@", "<sip:a@>;tag=1", to)), bad_ruri);
  // CSeq method (bit 32).
  EXPECT_EQ(sanity_outcome("32", sanity_msg(ruri, from, to, "BYE")), bad_cseq);
  EXPECT_EQ(sanity_outcome("1026", sanity_msg(ruri, from, to, "BYE")), pass);
  // The forms that pass: IPv6, tel, upper-case scheme, password, params and headers, LWS inside
  // the angle brackets, a URI longer than the fast path's 64 bytes.
  const std::string long_ruri = "sip:bob@10.0.0.2:5060;transport=udp;x=" + std::string(60, 'y');
  struct Good {
    std::string ruri, from, to;
  };
  for (const Good& g : std::vector<Good>{
           {"sip:bob@[2001:db8::1]:5060", "<tel:+15550100>;tag=1", "< sip:b@x >"},
           {"SIP:Bob:pw@10.0.0.2;lr?subject=x", "sips:a@b.example;tag=1", "\"B\" <sips:b@c:5061>"},
           {long_ruri, from, to}}) {
    EXPECT_EQ(sanity_outcome("1058", sanity_msg(g.ruri, g.from, g.to)), pass)
        << g.ruri << " " << g.from << " " << g.to;
  }
}

// sanity_check's second argument picks the URIs check 1024 parses (1 R-URI, 2 From, 4 To,
// 8 Contact), as Kamailio 5.6.3 does (measured: each bit alone, and the default 7).
TEST(VmSanityFast, UriChecksPickTheUris) {
  const auto run = [](const std::string& uris, const std::string& msg) {
    Harness h("request_route { if (!sanity_check(\"1024\"" + (uris.empty() ? "" : ", \"" + uris + "\"") +
              ")) exit; setflag(1); }");
    EXPECT_TRUE(h.ok()) << h.diags();
    return h.run(msg);
  };
  const std::string ruri = "sip:bob@10.0.0.2:5060";
  const std::string good = "<sip:a@example.org>;tag=1";
  const std::string bad = "<sip:a@b@c:99999>;tag=1";
  const std::string contact_ok = "Contact: <sip:c@192.0.2.10>\r\n";
  const std::string contact_bad = "Contact: <sip:c@1.2.3.4:99999>\r\n";
  const Outcome pass = flags(bits({1}));
  const Outcome bad_from = reply(400, "Invalid From Header");
  const Outcome bad_to = reply(400, "Ivalid To Header");
  const Outcome bad_contact = reply(400, "Bad Contact URI");
  struct Case {
    std::string uris;
    Outcome bad_from, bad_to, bad_contact;
  };
  for (const Case& k : std::vector<Case>{{"1", pass, pass, pass},
                                         {"2", bad_from, pass, pass},
                                         {"4", pass, bad_to, pass},
                                         {"8", pass, pass, bad_contact},
                                         {"", bad_from, bad_to, pass},
                                         {"15", bad_from, bad_to, bad_contact}}) {
    EXPECT_EQ(run(k.uris, sanity_msg(ruri, bad, good, "INVITE", contact_ok)), k.bad_from) << k.uris;
    EXPECT_EQ(run(k.uris, sanity_msg(ruri, good, bad, "INVITE", contact_ok)), k.bad_to) << k.uris;
    EXPECT_EQ(run(k.uris, sanity_msg(ruri, good, good, "INVITE", contact_bad)), k.bad_contact)
        << k.uris;
    // `Contact: *` and no Contact at all pass the Contact check.
    EXPECT_EQ(run(k.uris, sanity_msg(ruri, good, good, "INVITE", "Contact: *\r\n")), pass) << k.uris;
    EXPECT_EQ(run(k.uris, sanity_msg(ruri, good, good)), pass) << k.uris;
  }
  // An R-URI that does not parse fails check 1024 only when uri_checks has 1.
  EXPECT_EQ(run("1", sanity_msg("sip:bob@", good, good)), reply(400, "Bad Request URI"));
  EXPECT_EQ(run("6", sanity_msg("sip:bob@", good, good)), pass);
}

// sanity_check checks the current R-URI: the message's, one the script wrote (not in the
// message), or one already parsed by an earlier read ($rd).
TEST(VmSanityFast, RequestUriVerdictFollowsTheCurrentUri) {
  const std::string good = "<sip:a@example.org>;tag=1";
  const Outcome pass = flags(bits({1}));
  const Outcome bad = reply(400, "Bad Request URI");
  const auto run = [&](const std::string& before, const std::string& ruri) {
    Harness h("request_route { " + before + " if (!sanity_check(\"2\")) exit; setflag(1); }");
    EXPECT_TRUE(h.ok()) << h.diags();
    return h.run(sanity_msg(ruri, good, good));
  };
  EXPECT_EQ(run("", "sip:bob@10.0.0.2:5060"), pass);
  EXPECT_EQ(run("", "sip:bob@10.0.0.2:99999"), bad);
  // A written R-URI (the assignment parses it: a bad one is never written) is the one checked.
  Outcome rewritten = pass;
  rewritten.new_ruri = "sip:carol@192.0.2.7:5070;transport=udp";
  EXPECT_EQ(run("$ru = \"" + rewritten.new_ruri + "\";", "sip:bob@10.0.0.2:99999"), rewritten);
  EXPECT_EQ(run("$var(d) = $rd;", "sip:bob@10.0.0.2:99999"), bad);  // parsed first, then checked
  EXPECT_EQ(run("$var(d) = $rd;", "sip:bob@10.0.0.2"), pass);
}

TEST(VmSanityFast, NonConstantChecksAreRefused) {
  Harness h("request_route { $var(c) = 1024; if (!sanity_check($var(c), \"7\")) exit; }");
  EXPECT_FALSE(h.ok());
  Harness h2("request_route { if (!sanity_check(\"1024\", \"16\")) exit; }");
  EXPECT_FALSE(h2.ok());
}

// Kamailio 5.6.3's last sanity checks (differential scripts 36 and 37): 2048 digest
// credentials, 8192 Authorization, 4096 duplicated tags, 16384 the first Via (the scanner's).
TEST(VmSanityFast, CredentialsTagsAndTheFirstVia) {
  const std::string ruri = "sip:bob@10.0.0.2:5060";
  const std::string from = "<sip:alice@example.org>;tag=ft1";
  const std::string to = "<sip:bob@example.com>";
  const auto with = [&](const std::string& extra) {
    return sanity_msg(ruri, from, to, "INVITE", extra);
  };
  const auto cred = [](const std::string& field, const std::string& params) {
    return field + ": Digest " + params + "\r\n";
  };
  const std::string full = "username=\"bob\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", "
                           "response=\"0123\"";
  const Outcome pass = flags(bits({1}));
  const Outcome none;  // failed without an answer; autodrop ended the script
  EXPECT_EQ(sanity_outcome("2048", with("")), pass);
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", full))), pass);
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username=bob,realm=r, nonce=n, "
                                                              "uri=\"sip:x\",response=12"))),
            pass);
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username=\"\", realm=\"r\", "
                                                              "nonce=\"n\", uri=\"u\", "
                                                              "response=\"1\""))),
            reply(400, "Auth Empty User"));
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username=\"b\", realm=\"r\", "
                                                              "nonce=\"\", uri=\"u\", "
                                                              "response=\"1\""))),
            reply(400, "Auth Empty Nonce"));
  // Every Authorization, then every Proxy-Authorization.
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", full) +
                                        cred("Proxy-Authorization",
                                             "username=\"b\", realm=\"r\", nonce=\"n\", "
                                             "uri=\"u\", response=\"\""))),
            reply(400, "Auth Empty Response"));
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username=\"b\", nonce=\"n\", "
                                                              "uri=\"u\", response=\"1\""))),
            reply(400, "Bad Auth Credentials"));  // no realm
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", full + ", qop=auth, nc=1"))),
            reply(400, "Bad Auth Credentials"));  // qop=auth wants cnonce and nc
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", full + ", qop=other"))), pass);
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username=\"bob"))),
            reply(400, "Bad Auth Header"));
  EXPECT_EQ(sanity_outcome("2048", with(cred("Authorization", "username"))),
            reply(400, "Bad Auth Header"));
  // Another scheme: check 2048 fails without an answer, 8192 passes.
  EXPECT_EQ(sanity_outcome("2048", with("Authorization: Basic Ym9iOnNlY3JldA==\r\n")), none);
  EXPECT_EQ(sanity_outcome("8192", with("Authorization: Basic Ym9iOnNlY3JldA==\r\n")), pass);
  EXPECT_EQ(sanity_outcome("8192", with(cred("Proxy-Authorization", "username=\"\", realm=r, "
                                                                    "nonce=n, uri=u, "
                                                                    "response=1"))),
            reply(400, "Auth Empty User"));
  EXPECT_EQ(sanity_outcome("1024", with(cred("Authorization", "username=\"\""))), pass);
  // Duplicated tags.
  EXPECT_EQ(sanity_outcome("4096", with("")), pass);
  EXPECT_EQ(sanity_outcome("4096", sanity_msg(ruri, from, to + ";tag=a;x=1;TAG=b")),
            reply(400, "Many To Tag Params"));
  EXPECT_EQ(sanity_outcome("4096", sanity_msg(ruri, from + ";tag=x", to)),
            reply(400, "Many From Tag Params"));
  EXPECT_EQ(sanity_outcome("4096", sanity_msg(ruri, from, to + ";tag=a;tagx=b")), pass);
  // The first Via: every request the scanner passes has one.
  EXPECT_EQ(sanity_outcome("16384", with("")), pass);
  // The default checks (3047) include 2048.
  Harness d("request_route { sanity_check(); setflag(1); }");
  ASSERT_TRUE(d.ok()) << d.diags();
  EXPECT_EQ(d.run(with(cred("Authorization", "username=\"\", realm=r, nonce=n, uri=u, "
                                             "response=1"))),
            reply(400, "Auth Empty User"));
}

// The sanity module's parameters: autodrop (a failed check ends the script; 0: false, the
// script goes on), noreply (nothing sent; sanity_reply() sends it), default_checks,
// uri_checks, proxy_require (Kamailio 5.6.3, differential scripts 36 and 37).
TEST(VmSanityFast, ModuleParameters) {
  const std::string ruri = "sip:bob@10.0.0.2:5060";
  const std::string from = "<sip:alice@example.org>;tag=ft1";
  const std::string to = "<sip:bob@example.com>";
  const std::string bad_cseq = sanity_msg(ruri, from, to, "BYE");
  const std::string script =
      "request_route { if (!sanity_check(\"32\")) { setflag(2);"
      " if (is_present_hf(\"X-Reply\")) { sanity_reply(); exit; } }"
      " setflag(1); sl_send_reply(299, \"after\"); }\n";
  const Outcome cseq = reply(400, "CSeq method does not match request method");
  Harness dflt(script);  // autodrop 1: nothing after the failed check runs
  ASSERT_TRUE(dflt.ok()) << dflt.diags();
  EXPECT_EQ(dflt.run(bad_cseq), cseq);
  EXPECT_EQ(dflt.run(sanity_msg(ruri, from, to)), reply(299, "after", bits({1})));
  Harness go("modparam(\"sanity\", \"autodrop\", 0)\n" + script);
  ASSERT_TRUE(go.ok()) << go.diags();
  EXPECT_EQ(go.run(bad_cseq), reply(400, "CSeq method does not match request method",
                                    bits({1, 2})));  // one answer per request: sanity's
  Harness quiet("modparam(\"sanity\", \"autodrop\", 0)\nmodparam(\"sanity\", \"noreply\", 1)\n" +
                script);
  ASSERT_TRUE(quiet.ok()) << quiet.diags();
  EXPECT_EQ(quiet.run(bad_cseq), reply(299, "after", bits({1, 2})));
  EXPECT_EQ(quiet.run(sanity_msg(ruri, from, to, "BYE", "X-Reply: 1\r\n")),
            reply(400, "CSeq method does not match request method", bits({2})));
  // sanity_reply() without a kept answer: 500; without noreply: nothing.
  Harness kept("modparam(\"sanity\", \"noreply\", 1)\n"
               "request_route { sanity_reply(); }\n");
  ASSERT_TRUE(kept.ok()) << kept.diags();
  EXPECT_EQ(kept.run(sanity_msg(ruri, from, to)), reply(500, "Server Sanity Failure"));
  Harness plain("request_route { sanity_reply(); setflag(1); }\n");
  ASSERT_TRUE(plain.ok()) << plain.diags();
  EXPECT_EQ(plain.run(sanity_msg(ruri, from, to)), flags(bits({1})));
  // default_checks and uri_checks: what sanity_check() without arguments runs.
  Harness defaults("modparam(\"sanity\", \"default_checks\", 1024)\n"
                   "modparam(\"sanity\", \"uri_checks\", 4)\n"
                   "request_route { sanity_check(); setflag(1); }\n");
  ASSERT_TRUE(defaults.ok()) << defaults.diags();
  EXPECT_EQ(defaults.run(bad_cseq), flags(bits({1})));
  EXPECT_EQ(defaults.run(sanity_msg(ruri, "<sip:a@>;tag=1", to)), flags(bits({1})));
  EXPECT_EQ(defaults.run(sanity_msg(ruri, from, "<sip:b@>")), reply(400, "Ivalid To Header"));
  // proxy_require: the extensions a Proxy-Require may name; the Unsupported: line goes with
  // the request's next answer, sanity's or the script's.
  const std::string pr =
      "modparam(\"sanity\", \"proxy_require\", \" foo ,bar\")\n"
      "modparam(\"sanity\", \"autodrop\", 0)\nmodparam(\"sanity\", \"noreply\", 1)\n"
      "request_route { if (!sanity_check(\"512\")) { sl_send_reply(299, \"failed\"); exit; }"
      " setflag(1); }\n";
  Harness ext(pr);
  ASSERT_TRUE(ext.ok()) << ext.diags();
  const auto with_pr = [&](const std::string& v) {
    return sanity_msg(ruri, from, to, "INVITE", "Proxy-Require: " + v + "\r\n");
  };
  EXPECT_EQ(ext.run(with_pr("bar, foo")), flags(bits({1})));
  EXPECT_EQ(ext.run(with_pr("foo, baz")), reply(299, "failed"));
  EXPECT_EQ(std::string(ext.run_raw(with_pr("foo, baz")).reply_hdrs), "Unsupported: baz\r\n");
  EXPECT_EQ(ext.run(with_pr("Foo")), reply(299, "failed"));  // compared case-sensitively
}

TEST(VmSanityFast, ParameterValuesAreChecked) {
  for (const char* bad : {"modparam(\"sanity\", \"default_checks\", 0)\n",
                          "modparam(\"sanity\", \"default_checks\", 32768)\n",
                          "modparam(\"sanity\", \"uri_checks\", 16)\n",
                          "modparam(\"sanity\", \"autodrop\", \"yes\")\n",
                          "modparam(\"sanity\", \"proxy_require\", 1)\n"}) {
    Harness h(std::string(bad) + "request_route { sanity_check(); }\n");
    EXPECT_FALSE(h.ok()) << bad;
  }
  Harness zero("request_route { sanity_check(\"0\"); }\n");  // Kamailio: an error at each call
  EXPECT_FALSE(zero.ok());
  Harness top("request_route { sanity_check(\"17895\", \"7\"); }\n");  // kamailio.cfg's
  EXPECT_TRUE(top.ok()) << top.diags();
}

TEST(VmUaSlot, ValueAbsentEmptyAndFirst) {
  Harness h("request_route { if (defined $ua) setflag(1); if ($ua == \"\") setflag(2);"
            " if ($ua =~ \"^$\") setflag(3); if ($ua =~ \"scanner\") setflag(4);"
            " sl_send_reply(200, \"ua=$ua\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  const std::string ruri = "sip:bob@10.0.0.2";
  const std::string from = "<sip:a@example.org>;tag=1";
  const std::string to = "<sip:b@example.org>";
  EXPECT_EQ(h.run(sanity_msg(ruri, from, to, "INVITE", "User-Agent: Friendly-Scanner 2\r\n")),
            reply(200, "ua=Friendly-Scanner 2", bits({1, 4})));
  // Absent: $null (undefined; equal to "" as Kamailio compares undef, and matched as "" by =~).
  EXPECT_EQ(h.run(sanity_msg(ruri, from, to)).flags, bits({2, 3}));
  // Present and empty: "" (defined).
  EXPECT_EQ(h.run(sanity_msg(ruri, from, to, "INVITE", "User-Agent:\r\n")),
            reply(200, "ua=", bits({1, 2, 3})));
  // The first of two fields, whatever the spelling of the name.
  EXPECT_EQ(h.run(sanity_msg(ruri, from, to, "INVITE",
                             "user-agent : one scanner\r\nUser-Agent: two\r\n")),
            reply(200, "ua=one scanner", bits({1, 4})));
}

TEST(VmHeaders, CompactNamesFindLongFieldsAndBack) {
  // Kamailio 5.6 parses the name a script gives: $hdr(f) is the From field, is_present_hf("v")
  // finds Via:, remove_hf("l") removes Content-Length:; and a long name finds compact fields
  // (differential script 27).
  Harness h("request_route { $var(r) = \"\"; if (is_present_hf(\"v\")) $var(r) = \"v \";"
            " if (is_present_hf(\"k\")) $var(r) = $var(r) + \"k \";"
            " if (remove_hf(\"l\")) $var(r) = $var(r) + \"l \";"
            " if (remove_hf(\"Subject\")) $var(r) = $var(r) + \"s \";"
            " sl_send_reply(200, \"r=$var(r)f=$hdr(f) i=$(hdr(i)[0]) s=$hdr(Subject)\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite("sip:bob@10.0.0.2:5060", "s: hello\r\n")).reason,
            "r=v l s f=\"Alice\" <sip:alice@example.org>;tag=ft1 i=abc@192.0.2.10 s=hello");
}

TEST(VmUaSlot, FromAndToFromTheScannersAddrSpecs) {
  Harness h("request_route { sl_send_reply(200, \"f=$fu $fU $fd $fn $tu $tU $td\"); }");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(sanity_msg("sip:bob@10.0.0.2", "\"Al\" <sip:al@example.org:5070>;tag=1",
                             "sip:bo@example.com"))
                .reason,
            // $fn keeps the quotes, as Kamailio 5.6 (differential script 26).
            "f=sip:al@example.org:5070 al example.org \"Al\" sip:bo@example.com bo example.com");
}

// ---- R4: reply_route's value, onsend_route's $snd, append_hf after a header,
// record_route(params), pike_check_ip ----

namespace {

// Runs `route` of h's program on `msg` with a destination for $snd when snd_port != 0.
VmResult run_route(Harness& h, const std::string& msg, int32_t route, uint32_t snd_ip_be = 0,
                   uint16_t snd_port = 0) {
  sip::SipView v;
  EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk) << msg;
  static dp::DispatchState ds;
  static dp::WorkerCounters counters;
  dp::VmPacket pkt;
  pkt.src_ip_be = __builtin_bswap32(0x0A00000B);  // 10.0.0.11
  pkt.src_port = 5060;
  pkt.dst_ip_be = __builtin_bswap32(0x0A000002);  // 10.0.0.2
  pkt.dst_port = 5060;
  pkt.snd_ip_be = snd_ip_be;
  pkt.snd_port = snd_port;
  VmResult r;
  EXPECT_GE(route, 0);
  dp::vm_run(h.snap(), msg.data(), v, pkt, h.state(), ds, counters, r,
             static_cast<uint32_t>(route));
  return r;
}

std::string reply_msg(int code, const std::string& extra = "") {
  return "SIP/2.0 " + std::to_string(code) + " Whatever\r\n"
         "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKlb\r\n"
         "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1\r\n"
         "From: <sip:alice@example.org>;tag=ft1\r\nTo: <sip:bob@example.com>;tag=tt\r\n"
         "Call-ID: r@x\r\nCSeq: 1 INVITE\r\nX-Foo: a\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

}  // namespace

TEST(VmReplyRoute, ValueDecidesTheRelayAsKamailio) {
  // Measured on Kamailio 5.6.3 (a reply sent through it, relayed or not): drop, return 0,
  // return -1 and a last function call that returns false keep the reply; exit, an if whose
  // condition failed, an assignment and falling off the end relay it.
  struct RcCase {
    const char* route;
    int code;
    bool relayed;
  };
  const RcCase cases[] = {
      {"reply_route { drop; }", 200, false},
      {"reply_route { exit; }", 200, true},
      {"reply_route { return 0; }", 200, false},
      {"reply_route { return -1; }", 200, false},
      {"reply_route { return; }", 200, true},
      {"reply_route { is_present_hf(\"X-None\"); }", 200, false},
      {"reply_route { is_present_hf(\"X-None\"); exit; }", 200, true},
      {"reply_route { is_present_hf(\"X-Foo\"); }", 200, true},
      {"reply_route { if (is_present_hf(\"X-None\")) { xlog(\"x\"); } }", 200, true},
      {"reply_route { if ($rs == 200) { is_present_hf(\"X-None\"); } }", 200, false},
      {"reply_route { if ($rs == 200) { is_present_hf(\"X-None\"); } }", 404, true},
      {"reply_route { if ($rs == 404) drop; }", 404, false},
      {"reply_route { $var(x) = 1; }", 200, true},
      {"reply_route { route(R); }\nroute[R] { return 0; }", 200, false},
      {"reply_route { route(R); }\nroute[R] { return -1; }", 200, false},
      {"reply_route { route(R); xlog(\"after\"); }\nroute[R] { return -1; }", 200, true},
      {"onreply_route { if (status == \"200\") return -2; }", 200, false},
  };
  for (const RcCase& c : cases) {
    Harness h(std::string("request_route { forward(); }\n") + c.route + "\n");
    ASSERT_TRUE(h.ok()) << c.route << "\n" << h.diags();
    const VmResult r = run_route(h, reply_msg(c.code), h.program().reply_route);
    EXPECT_FALSE(r.error) << c.route;
    EXPECT_EQ(!r.dropped && r.route_rc > 0, c.relayed) << c.route << " on " << c.code;
  }
}

TEST(VmReplyRoute, EditsOfTheReply) {
  Harness h("request_route { forward(); }\n"
            "reply_route { remove_hf(\"X-Foo\"); append_hf(\"X-Code: $rs $rr\\r\\n\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const VmResult r = run_route(h, reply_msg(486), h.program().reply_route);
  ASSERT_EQ(r.n_append, 1u);
  EXPECT_EQ(r.append_hf[0], "X-Code: 486 Whatever\r\n");
  EXPECT_EQ(r.append_at[0], 0u);
  ASSERT_EQ(r.n_remove, 1u);
  EXPECT_EQ(r.remove_hf[0], "X-Foo");
}

TEST(VmOnsendRoute, SndIsTheDestinationAndNullElsewhere) {
  Harness h("request_route { if (defined $snd(ip)) setflag(9); forward(); }\n"
            "onsend_route { if ($snd(ip) == \"10.0.0.12\") setflag(1);"
            " if ($snd(port) == 5080) setflag(2); if ($snd(af) == 2) setflag(3);"
            " if ($snd(proto) == 1) setflag(4); if ($snd(ip) == \"10.0.0.13\") drop; }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(run_route(h, invite(), 0).flags, 0u);
  VmResult r = run_route(h, invite(), h.program().onsend_route,
                         __builtin_bswap32(0x0A00000C), 5080);
  EXPECT_EQ(r.flags, bits({1, 2, 3, 4}));
  EXPECT_FALSE(r.dropped);
  r = run_route(h, invite(), h.program().onsend_route, __builtin_bswap32(0x0A00000D), 5060);
  EXPECT_EQ(r.flags, bits({3, 4}));
  EXPECT_TRUE(r.dropped);
}

// onsend_route runs on the request request_route has just run on: it sees the message flags
// that run set (Kamailio 5.6.3, tests/e2e/data/diff/18-corners.cfg: flag 3 set in a route
// keeps the request from leaving). vm_run keeps the flags a run ended with in VmState;
// dataplane/reply_route.cpp starts onsend_route from them (pipeline_test's
// OnsendRouteSeesTheRequestsFlags runs the two together).
TEST(VmOnsendRoute, SeesTheFlagsRequestRouteSet) {
  Harness h("request_route { if (is_present_hf(\"X-Mark\")) setflag(3); setflag(5);"
            " forward(); }\n"
            "onsend_route { if (isflagset(3)) drop; resetflag(5); setflag(7); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const uint32_t b1 = __builtin_bswap32(0x0A00000B);
  const auto onsend = [&](uint32_t flags) {
    const std::string msg = invite();
    sip::SipView v;
    EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk);
    static dp::DispatchState ds;
    static dp::WorkerCounters counters;
    dp::VmPacket pkt;
    pkt.snd_ip_be = b1;
    pkt.snd_port = 5060;
    VmResult r;
    r.flags = flags;
    dp::vm_run(h.snap(), msg.data(), v, pkt, h.state(), ds, counters, r,
               static_cast<uint32_t>(h.program().onsend_route));
    return r;
  };
  EXPECT_EQ(run_route(h, invite("sip:bob@10.0.0.2:5060", "X-Mark: 1\r\n"), 0).flags,
            bits({3, 5}));
  EXPECT_EQ(h.state().msg_flags, bits({3, 5}));
  EXPECT_TRUE(onsend(h.state().msg_flags).dropped);
  EXPECT_EQ(run_route(h, invite(), 0).flags, bits({5}));
  EXPECT_EQ(h.state().msg_flags, bits({5}));
  const VmResult r = onsend(h.state().msg_flags);
  EXPECT_FALSE(r.dropped);
  EXPECT_EQ(r.flags, bits({7}));
  // reply_route starts from no flags (another message).
  Harness rh("request_route { setflag(2); forward(); }\n"
             "reply_route { if (isflagset(2)) drop; }\n");
  ASSERT_TRUE(rh.ok()) << rh.diags();
  EXPECT_EQ(run_route(rh, invite(), 0).flags, bits({2}));
  EXPECT_FALSE(run_route(rh, reply_msg(200), rh.program().reply_route).dropped);
}

// route() with a name computed at run time: $var, $avp, an expression; found by exact name
// (case-sensitive); a name that matches no route is false, leaves $rc, is counted, and the
// script goes on (Kamailio 5.6.3 logs "route ... not found": measured).
TEST(VmRoute, DynamicNameIsLookedUpWhenItRuns) {
  Harness h("request_route { $var(r) = \"R_\" + $rm; route($var(r)); $var(a) = $rc;"
            " $avp(n) = \"R_BYE\"; route($avp(n)); $var(b) = $rc;"
            " route(\"R_\" + $(rm{s.tolower})); $var(c) = $rc;"
            " route($var(r) + \"_NOT\"); $var(d) = $rc; if (route($var(r))) { setflag(9); }"
            " sl_send_reply(200, \"r $var(a) $var(b) $var(c) $var(d)\"); }\n"
            "route[R_INVITE] { setflag(1); return 3; }\n"
            "route[R_BYE] { setflag(2); return -2; }\n"
            "route[R_invite] { setflag(4); return 5; }\n"
            "route[A] { return 1; }\nroute[Z] { return 1; }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const uint64_t errors = h.state().other_errors;
  const Outcome o = h.run(invite());
  EXPECT_EQ(o.code, 200) << o;
  EXPECT_EQ(o.reason, "r 3 -2 5 5") << o;
  EXPECT_EQ(o.flags, bits({1, 2, 4, 9})) << o;
  EXPECT_EQ(h.state().other_errors, errors + 1);
  // No route of that name for this method: false, and the script goes on.
  const Outcome m = h.run(invite("sip:bob@10.0.0.2:5060", "", "MESSAGE"));
  EXPECT_EQ(m.code, 200) << m;
  EXPECT_EQ(m.flags, bits({2})) << m;
  EXPECT_EQ(h.state().other_errors, errors + 5);
  // Each name of the table is found (the binary search's both ends).
  for (const char* name : {"A", "R_BYE", "R_INVITE", "Z", "r_invite"}) {
    Harness one(std::string("request_route { $var(r) = \"") + name + "\";"
                " if (route($var(r))) { sl_send_reply(200, \"found\"); exit; }"
                " sl_send_reply(404, \"missing\"); }\n"
                "route[R_INVITE] { return 3; }\nroute[R_BYE] { return 1; }\n"
                "route[r_invite] { return 5; }\nroute[A] { return 1; }\nroute[Z] { return 1; }\n");
    ASSERT_TRUE(one.ok()) << one.diags();
    EXPECT_EQ(one.run(invite()).code, 200) << name;
  }
  Harness none("request_route { $var(r) = \"X\"; if (!route($var(r))) { sl_send_reply(404, \"no\"); } }\n");
  ASSERT_TRUE(none.ok()) << none.diags();
  EXPECT_EQ(none.run(invite()).code, 404);
}

// $xavp(_dsdst_=>sock): the destination's socket= as proto:addr:port; absent without one.
TEST(VmXavpDispatcher, SockIsTheDestinationsSocket) {
  Harness h("request_route { ds_select_dst(1, 0);"
            " if (defined $xavp(_dsdst_=>sock)) { sl_send_reply(200, \"s $xavp(_dsdst_=>sock)\"); exit; }"
            " sl_send_reply(404, \"none\"); }\n",
            "", "1 sip:10.0.0.11:5060\n", failover_on());
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).code, 404);
  dp::Snapshot& snap = h.mutable_snap();
  dp::Listener l4;
  l4.ip_be = __builtin_bswap32(0x0A000002);
  l4.port_be = __builtin_bswap16(5062);
  dp::Listener l6;
  l6.v6 = true;
  l6.ip6.b[0] = 0x20;
  l6.ip6.b[1] = 0x01;
  l6.ip6.b[2] = 0x0d;
  l6.ip6.b[3] = 0xb8;
  l6.ip6.b[15] = 2;
  l6.port_be = __builtin_bswap16(5060);
  snap.listeners = {l4, l6};
  snap.destinations[0].socket = 0;
  Outcome o = h.run(invite());
  EXPECT_EQ(o.code, 200) << o;
  EXPECT_EQ(o.reason, "s udp:10.0.0.2:5062");
  snap.destinations[0].socket = 1;
  o = h.run(invite());
  EXPECT_EQ(o.reason, "s udp:[2001:db8::2]:5060") << o;
}

TEST(VmFunctionVariants, AppendHfAfterANamedHeaderAndRecordRouteParams) {
  Harness h("request_route { append_hf(\"X-A: 1\\r\\n\", \"X-Foo\");"
            " append_hf(\"X-B: 2\\r\\n\", \"X-None\"); append_hf(\"X-C: 3\\r\\n\", \"call-id\");"
            " record_route(\";m=$rm\"); forward(); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const std::string msg = invite("sip:bob@10.0.0.2:5060", "X-Foo: a\r\nX-Foo: b\r\nX-Bar: c\r\n");
  const VmResult r = run_route(h, msg, 0);
  ASSERT_EQ(r.n_append, 3u);
  // After the last X-Foo (Kamailio 5.6.3), so before X-Bar; a missing name: at the end;
  // names compare case-insensitively.
  EXPECT_EQ(r.append_at[0], msg.find("X-Bar:"));
  EXPECT_EQ(r.append_at[1], 0u);
  EXPECT_EQ(r.append_at[2], msg.find("CSeq:"));
  EXPECT_TRUE(r.record_route);
  EXPECT_EQ(r.rr_params, ";m=INVITE");
  Harness bad("request_route { append_hf(\"X-A: 1\\r\\n\", \"X-Foo: x\"); }\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.diags().find("'append_hf' needs a header name"), std::string::npos)
      << bad.diags();
}

// insert_hf: before the first field of that name, else on top; what goes on top (insert_hf
// lines, an inserted Max-Forwards, our Record-Route) is numbered in script order, as Kamailio
// 5.6.3 stacks it (tests/e2e/data/diff/17-insert.cfg compares the packets).
TEST(VmFunctionVariants, InsertHfOnTopInScriptOrderOrBeforeANamedField) {
  Harness h("request_route { insert_hf(\"X-1: a\\r\\n\"); record_route();"
            " insert_hf(\"X-2: b\\r\\n\", \"cseq\"); insert_hf(\"X-3: c\\r\\n\", \"X-None\");"
            " mf_process_maxfwd_header(\"10\"); insert_hf(\"X-4: $rm\\r\\n\"); forward(); }\n",
            "loadmodule \"rr.so\"\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  std::string msg = invite("sip:bob@10.0.0.2:5060", "CSeq: 9 INVITE\r\n");
  msg.erase(msg.find("Max-Forwards: 70\r\n"), 18);
  const VmResult r = run_route(h, msg, 0);
  ASSERT_EQ(r.n_append, 4u);
  EXPECT_EQ(r.append_top[0], 1u);
  EXPECT_EQ(r.rr_seq, 2u);
  EXPECT_EQ(r.append_top[1], 0u);  // before the first CSeq (names compare case-insensitively)
  EXPECT_EQ(r.append_at[1], msg.find("CSeq: 1"));
  EXPECT_EQ(r.append_top[2], 3u);  // no X-None: on top
  EXPECT_EQ(r.maxfwd, VmResult::MaxFwd::kInsert);
  EXPECT_EQ(r.mf_seq, 4u);
  EXPECT_EQ(r.append_top[3], 5u);
  EXPECT_EQ(r.append_hf[3], "X-4: INVITE\r\n");
  EXPECT_EQ(r.n_top, 5u);
  // Present Max-Forwards: decremented in place, nothing numbered for it.
  const VmResult d = run_route(h, invite(), 0);
  EXPECT_EQ(d.maxfwd, VmResult::MaxFwd::kDecrement);
  EXPECT_EQ(d.mf_seq, 0u);
  EXPECT_EQ(d.n_top, 4u);
  // reply_route: the same numbering (dataplane/reply_route.cpp puts them where our Via was);
  // onsend_route: Kamailio has built the request already, not applied there.
  Harness reply("request_route { forward(); }\nreply_route { insert_hf(\"X: 1\\r\\n\");"
                " insert_hf(\"Y: 2\\r\\n\", \"CSeq\"); insert_hf(\"Z: 3\\r\\n\"); }\n");
  ASSERT_TRUE(reply.ok()) << reply.diags();
  const std::string rmsg = reply_msg(180);
  const VmResult rr = run_route(reply, rmsg, reply.program().reply_route);
  ASSERT_EQ(rr.n_append, 3u);
  EXPECT_EQ(rr.n_top, 2u);
  EXPECT_EQ(rr.append_top[0], 1u);
  EXPECT_EQ(rr.append_top[1], 0u);
  EXPECT_EQ(rr.append_at[1], rmsg.find("CSeq:"));
  EXPECT_EQ(rr.append_top[2], 2u);
  EXPECT_EQ(rr.append_hf[2], "Z: 3\r\n");
  // onsend_route: accepted since R7, with a warning (Kamailio 5.6.3 sends nothing of it).
  Harness onsend("request_route { forward(); }\nonsend_route { insert_hf(\"X: 1\\r\\n\"); }\n");
  EXPECT_TRUE(onsend.ok());
  EXPECT_NE(onsend.diags().find("'insert_hf' in onsend_route changes nothing that is sent"),
            std::string::npos)
      << onsend.diags();
}

TEST(VmFunctionVariants, PikeCheckIpCountsTheGivenAddress) {
  Harness h("request_route { if (!pike_check_ip(\"$var(ip)\")) { setflag(1); } forward(); }\n"
            "route[SET] { $var(ip) = \"192.0.2.99\"; }\n",
            "loadmodule \"pike.so\"\nmodparam(\"pike\", \"reqs_density_per_unit\", 2)\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  // $var(ip) is the integer 0 until set: not an address, a counted run-time error, false.
  const uint64_t before = h.state().other_errors;
  EXPECT_EQ(run_route(h, invite(), 0).flags, bits({1}));
  EXPECT_EQ(h.state().other_errors, before + 1);
  Harness ip("request_route { if (!pike_check_ip(\"192.0.2.99\")) { setflag(1); } forward(); }\n",
             "loadmodule \"pike.so\"\nmodparam(\"pike\", \"reqs_density_per_unit\", 2)\n");
  ASSERT_TRUE(ip.ok()) << ip.diags();
  // The second hit in the window reaches the density: blocked from then on.
  EXPECT_EQ(run_route(ip, invite(), 0).flags, 0u);
  EXPECT_EQ(run_route(ip, invite(), 0).flags, bits({1}));
  EXPECT_EQ(run_route(ip, invite(), 0).flags, bits({1}));
}

}  // namespace
}  // namespace viaduct

// ---- transformations, $xavp(_dsdst_) (T4). Expected values measured on Kamailio 5.6.3 with
// the same values (xlog lines and forwarded headers; tests/e2e/data/diff/15-transform.cfg
// re-checks many of them against a live Kamailio). ----
namespace viaduct {
namespace {

const std::string kTrRuri = "sip:Alice.Smith@Example.COM:5070;transport=udp;user=phone;lr?X-H=1";
const std::string kTrHeaders =
    "X-P: a=1;b=2;c;d=\"q v\"\r\n"
    "X-S:   Hello World  \r\n"
    "X-N: 12abc\r\n"
    "X-I: -12\r\n"
    "X-F: \"Carol Q\" <sip:carol:secret@example.com:5080;transport=tcp>;tag=f-1;x=y\r\n"
    "X-Hex: 4a4B\r\n"
    "X-J: +5\r\n";
const std::string kTrSetup =
    "$var(s) = \"Hello World\"; $var(e) = \"\"; $var(i) = 42; $var(neg) = -7; $var(n) = 3;"
    " $var(pad) = \"  pad  \";";

struct TrCase {
  const char* fmt;   // inside sl_send_reply's reason, between [ ]
  const char* want;  // the reason between [ ]
};

class VmTransform : public ::testing::TestWithParam<TrCase> {};

TEST_P(VmTransform, ReasonText) {
  const TrCase& c = GetParam();
  Harness h("request_route { " + kTrSetup + " sl_send_reply(200, \"[" + c.fmt + "]\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite(kTrRuri, kTrHeaders));
  EXPECT_EQ(o.code, 200) << o;
  EXPECT_EQ(o.reason, std::string("[") + c.want + "]") << c.fmt;
}

INSTANTIATE_TEST_SUITE_P(
    Kamailio, VmTransform,
    ::testing::Values(
        // s.len: strings, ints as their text, the empty string; $null fails (prints nothing)
        TrCase{"$(var(s){s.len})", "11"}, TrCase{"$(var(e){s.len})", "0"},
        TrCase{"$(var(i){s.len})", "2"}, TrCase{"$(avp(nope){s.len})", ""},
        TrCase{"$(hdr(Nope){s.len})", ""},
        // s.int: a whole number or it fails
        TrCase{"$(hdr(X-N){s.int})", ""}, TrCase{"$(hdr(X-I){s.int})", "-12"},
        TrCase{"$(var(s){s.int})", ""}, TrCase{"$(var(i){s.int})", "42"},
        // s.substr: offset past the end fails, length 0 = the rest, length clipped
        TrCase{"$(var(s){s.substr,0,3})", "Hel"}, TrCase{"$(var(s){s.substr,2,0})", "llo World"},
        TrCase{"$(var(s){s.substr,-3,0})", "rld"}, TrCase{"$(var(s){s.substr,20,2})", ""},
        TrCase{"$(var(s){s.substr,1,100})", "ello World"},
        TrCase{"$(var(s){s.substr,-20,2})", ""}, TrCase{"$(var(neg){s.substr,0,2})", "-7"},
        TrCase{"$(var(s){s.substr,0,$var(n)})", "Hel"},
        TrCase{"$(var(s){s.substr,$var(n),2})", "lo"},
        // s.select: out of range is empty, negative counts from the end
        TrCase{"$(var(s){s.select,1, })", "World"}, TrCase{"$(var(s){s.select,-1, })", "World"},
        TrCase{"$(var(s){s.select,5, })", ""}, TrCase{"$(var(s){s.select,0,o})", "Hell"},
        TrCase{"$(var(s){s.select,1,o})", " W"}, TrCase{"$(var(s){s.select,$var(neg), })", ""},
        // case, strip, trim
        TrCase{"$(var(s){s.tolower})", "hello world"}, TrCase{"$(var(s){s.toupper})", "HELLO WORLD"},
        TrCase{"$(var(s){s.strip,2})", "llo World"}, TrCase{"$(var(s){s.strip,20})", ""},
        TrCase{"$(var(s){s.striptail,2})", "Hello Wor"}, TrCase{"$(var(s){s.striptail,20})", ""},
        TrCase{"$(var(s){s.strip,-2})", "Hello World"},
        TrCase{"$(var(pad){s.trim})", "pad"}, TrCase{"$(var(pad){s.ltrim})", "pad  "},
        TrCase{"$(var(pad){s.rtrim})", "  pad"},
        // before/after: a missing separator gives the whole string before, nothing after
        TrCase{"$(var(s){s.before,o})", "Hell"}, TrCase{"$(var(s){s.after,o})", " World"},
        TrCase{"$(var(s){s.before,z})", "Hello World"}, TrCase{"$(var(s){s.after,z})", ""},
        TrCase{"$(var(s){s.rbefore,o})", "Hello W"}, TrCase{"$(var(s){s.rafter,o})", "rld"},
        // hexa, numeric, md5, replace
        TrCase{"$(var(s){s.encode.hexa})", "48656c6c6f20576f726c64"},
        TrCase{"$(var(s){s.encode.hexa}{s.decode.hexa})", "Hello World"},
        TrCase{"$(hdr(X-Hex){s.decode.hexa})", "JK"}, TrCase{"$(var(s){s.decode.hexa})", ""},
        TrCase{"$(hdr(X-N){s.numeric})", "12"}, TrCase{"$(var(s){s.numeric})", ""},
        TrCase{"$(var(s){s.md5})", "b10a8db164e0754105b7a99be72e3fe5"},
        TrCase{"$(var(e){s.md5})", "d41d8cd98f00b204e9800998ecf8427e"},
        TrCase{"$(var(s){s.replace,o,0})", "Hell0 W0rld"}, TrCase{"$(var(s){s.replace,l,})", "Heo Word"},
        // s.prefixes[.quoted][,len]: 0 or past the end is every prefix, "" is "", an int its
        // text (measured, 5.6.3)
        TrCase{"$(var(s){s.substr,0,4}{s.prefixes})", "H,He,Hel,Hell"},
        TrCase{"$(var(s){s.prefixes,3})", "H,He,Hel"},
        TrCase{"$(var(s){s.substr,0,3}{s.prefixes.quoted})", "'H','He','Hel'"},
        TrCase{"$(var(s){s.prefixes.quoted,2})", "'H','He'"},
        TrCase{"$(var(i){s.prefixes,9})", "4,42"}, TrCase{"$(var(i){s.prefixes,0})", "4,42"},
        TrCase{"$(var(i){s.prefixes,-1})", "4,42"},
        TrCase{"$(var(i){s.prefixes.quoted})", "'4','42'"},
        TrCase{"$(var(e){s.prefixes})", ""}, TrCase{"$(var(e){s.prefixes.quoted})", ""},
        TrCase{"$(var(s){s.prefixes,$var(n)})", "H,He,Hel"},
        TrCase{"$(avp(nope){s.prefixes})", ""},
        TrCase{"$(var(i){s.prefixes}{s.len})", "4"},
        // chains
        TrCase{"$(var(s){s.tolower}{s.len})", "11"},
        TrCase{"$(var(s){s.toupper}{s.substr,1,2}{s.len})", "2"},
        TrCase{"$(hdr(X-N){s.int}{s.len})", ""}, TrCase{"$(var(s){s.len}{s.int})", "11"},
        TrCase{"$(var(s){s.len}{s.encode.hexa})", "3131"},
        // uri.*
        TrCase{"$(ru{uri.user})", "Alice.Smith"}, TrCase{"$(ru{uri.host})", "Example.COM"},
        TrCase{"$(ru{uri.port})", "5070"}, TrCase{"$(ru{uri.params})", "transport=udp;user=phone;lr"},
        TrCase{"$(ru{uri.param,user})", "phone"}, TrCase{"$(ru{uri.param,lr})", ""},
        TrCase{"$(ru{uri.param,nope})", ""}, TrCase{"$(ru{uri.headers})", "X-H=1"},
        TrCase{"$(ru{uri.transport})", "udp"}, TrCase{"$(ru{uri.scheme})", "sip"},
        TrCase{"$(tu{uri.transport})", ""}, TrCase{"$(tu{uri.port})", ""},
        TrCase{"$(tu{uri.port}{s.len})", "0"}, TrCase{"$(ru{uri.port}{s.len})", "4"},
        // s.int keeps the text it read (Kamailio prints "+5" as "+5"), the int elsewhere
        TrCase{"$(hdr(X-J){s.int})", "+5"}, TrCase{"$(hdr(X-J){s.int}{s.len})", "2"}, TrCase{"$(var(s){uri.user})", ""},
        TrCase{"$(ru{uri.host}{s.tolower}{s.encode.hexa})", "6578616d706c652e636f6d"},
        // param.*: quotes stripped, a name without value is empty, malformed or empty lists fail
        TrCase{"$(hdr(X-P){param.value,b})", "2"}, TrCase{"$(hdr(X-P){param.value,c})", ""},
        TrCase{"$(hdr(X-P){param.value,d})", "q v"}, TrCase{"$(hdr(X-P){param.value,z})", ""},
        TrCase{"$(hdr(X-P){param.name,1})", "b"}, TrCase{"$(hdr(X-P){param.name,9})", ""},
        TrCase{"$(hdr(X-P){param.count})", "4"}, TrCase{"$(hdr(X-P){param.in,c})", "1"},
        TrCase{"$(hdr(X-P){param.in,z})", "0"}, TrCase{"$(var(s){param.count})", ""},
        TrCase{"$(var(e){param.count})", ""},
        // tobody.* and nameaddr.*: the display name keeps its quotes; nameaddr.name is all
        // before '<'
        TrCase{"$(hdr(X-F){tobody.uri})", "sip:carol:secret@example.com:5080;transport=tcp"},
        TrCase{"$(hdr(X-F){tobody.display})", "\"Carol Q\""},
        TrCase{"$(hdr(X-F){tobody.tag})", "f-1"}, TrCase{"$(hdr(X-F){tobody.user})", "carol"},
        TrCase{"$(hdr(X-F){tobody.host})", "example.com"}, TrCase{"$(hdr(To){tobody.tag})", ""},
        TrCase{"$(hdr(X-F){nameaddr.name})", "\"Carol Q\" "},
        TrCase{"$(hdr(X-F){nameaddr.uri})", "sip:carol:secret@example.com:5080;transport=tcp"},
        TrCase{"$(hdr(To){nameaddr.name})", ""},
        TrCase{"$(hdr(X-F){tobody.uri}{uri.passwd})", "secret"}));

TEST(VmTransform, FailureIsNullInExpressionsAndAssignments) {
  // Kamailio: a failed transformation is $null: `$var = ` it gives 0, `$avp = ` deletes it,
  // as a condition it is false, `"a" + ` it adds nothing.
  Harness h(
      "request_route {"
      " $var(y) = \"keep\"; $var(y) = $(avp(nope){s.len});"
      " $avp(k) = \"keep\"; $avp(k) = $(hdr(X-N){s.int});"
      " if ($(avp(nope){s.len})) { setflag(1); }"
      " if (defined $(avp(nope){s.len})) { setflag(2); }"
      " if ($(avp(nope){s.len}) == 0) { setflag(3); }"
      " if ($(var(s){s.len}) == 0) { setflag(4); }"
      " $var(x) = $(ru{uri.user}{s.len}) + 1;"
      " $var(z) = \"a\" + $(avp(nope){s.len}); $var(j) = $(hdr(X-J){s.int}) + 1;"
      " if (is_present_hf(\"X-N\") && $(hdr(X-I){s.int}) < 0) { setflag(5); }"
      " sl_send_reply(200, \"r $var(y) $avp(k) $var(x) $var(z) $var(j)\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite(kTrRuri, kTrHeaders));
  EXPECT_EQ(o.reason, "r 0 <null> 12 a 6") << o;
  EXPECT_EQ(o.flags, bits({3, 5}));
}

TEST(VmTransform, InFunctionArgumentsAndSwitch) {
  Harness h(
      "request_route {"
      " append_hf(\"X-U: $(ru{uri.user}{s.tolower})@$(fu{uri.host})\\r\\n\");"
      " switch ($(ru{uri.user}{s.substr,0,5})) { case \"Alice\": setflag(1); break; }"
      " $du = \"sip:\" + $(ru{uri.host}{s.tolower}) + \":5080\";"
      " forward(); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite(kTrRuri, kTrHeaders));
  ASSERT_EQ(o.append.size(), 1u) << o;
  EXPECT_EQ(o.append[0], "X-U: alice.smith@example.org\r\n");
  EXPECT_EQ(o.flags, bits({1}));
  EXPECT_EQ(o.du_uri, "sip:example.com:5080");
}

TEST(VmTransform, ResultsLiveInTheScratchWithoutAllocation) {
  // A chain that doubles the string at every step: its results (and the steps between) stay in
  // the per-run arena; past it the run fails with a counted scratch overflow, as every other
  // string result does.
  Harness h(
      "request_route { $avp(a) = $(var(s){s.encode.hexa}{s.encode.hexa}{s.encode.hexa}"
      "{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}{s.encode.hexa});"
      " sl_send_reply(200, \"n $(avp(a){s.len}) $(avp(a){s.decode.hexa}{s.decode.hexa}"
      "{s.decode.hexa}{s.decode.hexa}{s.decode.hexa}{s.decode.hexa}{s.decode.hexa})\"); }\n"
      "route[S] { }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  for (int i = 0; i < 2; ++i) {  // the arena is reused run after run
    const Outcome o = h.run(invite());
    EXPECT_FALSE(o.error) << o;
    // $var(s) is unset here: the int 0, read as "0": 128 hex digits, decoded back to "0".
    EXPECT_EQ(o.reason, "n 128 0") << o;
  }
  Harness set(
      "request_route { $var(s) = \"Hello World\"; $avp(a) = $(var(s){s.encode.hexa}"
      "{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}"
      "{s.encode.hexa}); sl_send_reply(200, \"n $(avp(a){s.len})\"); }\n");
  ASSERT_TRUE(set.ok()) << set.diags();
  EXPECT_EQ(set.run(invite()).reason, "n 1408");  // 11 bytes x 2^7
  EXPECT_EQ(set.state().scratch_overflow, 0u);
  Harness big(
      "request_route { $var(s) = \"0123456789abcdef0123456789abcdef\";"
      " $avp(a) = $(var(s){s.encode.hexa}{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}"
      "{s.encode.hexa}{s.encode.hexa}{s.encode.hexa}{s.encode.hexa});"
      " sl_send_reply(200, \"ok\"); }\n");
  ASSERT_TRUE(big.ok()) << big.diags();
  const Outcome o = big.run(invite());
  EXPECT_TRUE(o.error) << o;  // 32 bytes x 2^8 = the whole 8 KiB arena and more
  EXPECT_EQ(big.state().scratch_overflow, 1u);
}

TEST(VmTransform, CheckTimeErrors) {
  const auto diag = [](const std::string& route) {
    Harness h(route);
    EXPECT_FALSE(h.ok()) << route;
    return h.diags();
  };
  EXPECT_NE(diag("request_route { $var(a) = $(ru{s.nope}); }\n")
                .find("t.cfg:14:27: error: unknown or unsupported transformation '{s.nope}'"),
            std::string::npos)
      << diag("request_route { $var(a) = $(ru{s.nope}); }\n");
  EXPECT_NE(diag("request_route { xlog(\"$(ru{uri.bogus})\"); }\n")
                .find("unknown or unsupported transformation '{uri.bogus}'"),
            std::string::npos);
  EXPECT_NE(diag("request_route { $var(a) = $(ru{s.substr,1}); }\n")
                .find("'{s.substr}' in '$(ru{s.substr,1})' takes 2 parameter(s), not 1"),
            std::string::npos);
  EXPECT_NE(diag("request_route { $var(a) = $(ru{s.substr,1,-2}); }\n").find("negative length"),
            std::string::npos);
  EXPECT_NE(diag("request_route { $var(a) = $(ru{s.substr,x,2}); }\n").find("'x' is not an integer"),
            std::string::npos);
  EXPECT_NE(diag("request_route { $(var(a){s.len}) = 1; }\n")
                .find("a transformation's result cannot be assigned"),
            std::string::npos);
  EXPECT_NE(diag("request_route { $var(a) = $(ru{s.select,1,ab}); }\n")
                .find("'ab' is not one character"),
            std::string::npos);
}

TEST(VmXavpDispatcher, DstListFollowsNextDstAndCtxCounts) {
  // Kamailio 5.6: ds_select_dst fills $xavp(_dsdst_) with the chosen destination first, then
  // the failover entries; ds_next_dst removes the entry in use, so [0] is always the current.
  const char* list =
      "1 sip:10.0.0.11:5060 0 0 duid=a1;weight=50\n1 sip:10.0.0.12:5060\n1 sip:10.0.0.13:5060\n";
  Harness h(
      "request_route { ds_select_dst(1, 8);"
      " $var(a) = $xavp(_dsdst_=>uri) + \"|\" + $(xavp(_dsdst_[1]=>uri)) + \"|\" +"
      " $xavp(_dsdst_=>grp) + \"|\" + $xavp(_dsctx_=>cnt);"
      " ds_next_dst(); $var(b) = $xavp(_dsdst_=>uri) + \"|\" + $(xavp(_dsdst_[1]=>dstid));"
      " if ($xavp(_dsdst_[2]=>uri) == $null) { setflag(1); }"
      " sl_send_reply(200, \"r $var(a) $var(b) $xavp(_dsdst_=>dstid) $(xavp(_dsdst_[1]=>attrs))\"); }\n",
      "", list, []() {
        dp::DsConfig c;
        c.failover = true;
        return c;
      }());
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite());
  // Algorithm 8: index order (equal priorities: reverse file order): .13, .12, .11. dstid is
  // $null whatever the duid: Kamailio fills it for algorithm 10 (call load) only.
  EXPECT_EQ(o.reason,
            "r sip:10.0.0.13:5060|sip:10.0.0.12:5060|1|3 sip:10.0.0.12:5060| <null> "
            "duid=a1;weight=50")
      << o;
  EXPECT_EQ(o.flags, bits({1}));
  Harness bad("request_route { $var(a) = $xavp(mine=>x); }\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.diags().find("only the dispatcher's $xavp(_dsdst_=>...)"), std::string::npos)
      << bad.diags();
  Harness nope("request_route { $var(a) = $xavp(_dsdst_=>nope); }\n");
  EXPECT_FALSE(nope.ok());
  EXPECT_NE(nope.diags().find("(uri, grp, dstid, attrs, sock)"), std::string::npos)
      << nope.diags();
  Harness write("request_route { $xavp(_dsdst_=>uri) = \"x\"; }\n");
  EXPECT_FALSE(write.ok());
}

}  // namespace
}  // namespace viaduct

// ---- $shv (T4): initial values from modparam shvset, changes made by the control thread (the
// pv.shvSet RPC writes the same table) seen by the next run ----
namespace viaduct {
namespace {

TEST(VmShv, ReadsShvsetValuesAndControlUpdates) {
  Harness h(
      "request_route { if ($shv(limit) > 5) { setflag(1); }"
      " sl_send_reply(200, \"r $shv(limit) $shv(mode) $shv(unset) $(shv(mode){s.toupper})\"); }\n",
      "loadmodule \"pv.so\"\nmodparam(\"pv\", \"shvset\", \"limit=i:10\")\n"
      "modparam(\"pv\", \"shvset\", \"mode=s:day\")\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  Outcome o = h.run(invite());
  EXPECT_EQ(o.reason, "r 10 day 0 DAY") << o;
  EXPECT_EQ(o.flags, bits({1}));
  cfg::ShvTable& t = *h.program().shv;
  ASSERT_TRUE(t.set(static_cast<size_t>(t.find("limit")), true, 3, ""));
  ASSERT_TRUE(t.set(static_cast<size_t>(t.find("mode")), false, 0, "night"));
  o = h.run(invite());
  EXPECT_EQ(o.reason, "r 3 night 0 NIGHT") << o;
  EXPECT_EQ(o.flags, 0u);
}

TEST(VmShv, BadShvsetIsACheckTimeError) {
  // (Script writes, a check-time error until R7: VmShvWrite below.)
  Harness bad("request_route { }\n", "loadmodule \"pv.so\"\nmodparam(\"pv\", \"shvset\", \"x=q:1\")\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.diags().find("expected \"name=i:INT\" or \"name=s:TEXT\""), std::string::npos)
      << bad.diags();
}

}  // namespace
}  // namespace viaduct

namespace viaduct {
namespace {

TEST(VmXavpDispatcher, ModesLeaveOutAttrsAndCount) {
  // modparam xavp_dst_mode 1: no =>attrs; xavp_ctx_mode 1: no _dsctx_=>cnt (Kamailio 5.6.3,
  // differential scripts 34 and 35).
  const char* list = "1 sip:10.0.0.11:5060 0 0 duid=a1\n";
  const char* script =
      "request_route { ds_select_dst(1, 4);"
      " sl_send_reply(200, \"r $xavp(_dsdst_=>attrs) $xavp(_dsctx_=>cnt) $xavp(_dsdst_=>uri)\");"
      " }\n";
  for (int mode = 0; mode < 4; ++mode) {
    dp::DsConfig c;
    c.failover = true;
    c.xavp_dst_attrs = (mode & 1) == 0;
    c.xavp_ctx_cnt = (mode & 2) == 0;
    Harness h(script, "", list, c);
    ASSERT_TRUE(h.ok()) << h.diags();
    EXPECT_EQ(h.run(invite()).reason,
              std::string("r ") + ((mode & 1) == 0 ? "duid=a1" : "<null>") + " " +
                  ((mode & 2) == 0 ? "1" : "<null>") + " sip:10.0.0.11:5060")
        << mode;
  }
}

TEST(VmDispatcher, ForceDstZeroKeepsADuTheScriptSet) {
  // modparam force_dst 0: ds_select_dst fails while $du is set (Kamailio: "destination already
  // set"), works once $du = $null; ds_select_domain and ds_select do not look at $du.
  const char* list = "1 sip:10.0.0.11:5060\n";
  const std::string script =
      "request_route {"
      " $du = \"sip:10.0.0.99:5090\";"
      " if (ds_select_dst(1, 4)) { $var(a) = \"sel\"; } else { $var(a) = \"no\"; }"
      " $var(a) = $var(a) + \" \" + $du;"
      " if (ds_select(1, 4)) { $var(a) = $var(a) + \" x\"; }"
      " if (ds_select_domain(1, 4)) { $var(a) = $var(a) + \" \" + $rd; }"
      " $du = $null;"
      " if (ds_select_dst(1, 4)) { $var(a) = $var(a) + \" \" + $du; }"
      " sl_send_reply(200, \"r $var(a)\"); }\n";
  Harness h("modparam(\"dispatcher\", \"force_dst\", 0)\n" + script, "", list);
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).reason,
            "r no sip:10.0.0.99:5090 x 10.0.0.11 sip:10.0.0.11:5060");
  for (const char* spelled : {"", "modparam(\"dispatcher\", \"force_dst\", 1)\n"}) {
    Harness d(spelled + script, "", list);  // force_dst 1, the default: $du replaced
    ASSERT_TRUE(d.ok()) << d.diags();
    EXPECT_EQ(d.run(invite()).reason,
              "r sel sip:10.0.0.11:5060 x 10.0.0.11 sip:10.0.0.11:5060");
  }
}

TEST(VmXavpDispatcher, WithoutFailoverFlagNoListAndCountZero) {
  // Kamailio 5.6.3 without modparam flags 2: $xavp(_dsdst_) is absent, _dsctx_=>cnt is 0;
  // before any selection both are absent.
  Harness h(
      "request_route { $var(before) = $xavp(_dsctx_=>cnt); ds_select_dst(1, 4);"
      " sl_send_reply(200, \"r $xavp(_dsdst_=>uri) $xavp(_dsctx_=>cnt) $var(before)\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).reason, "r <null> 0 0");
}

}  // namespace
}  // namespace viaduct

// ---- $shv written by the script (R7): every worker's runs share the values, lock-free
// (cfg::ShvTable::store); what pv.shvGet reads (ShvTable::get) shows them ----
#include <atomic>
#include <chrono>
#include <thread>

namespace viaduct {
namespace {

std::string shv_text(const cfg::ShvTable& t, const char* name) {
  bool is_int = true;
  bool null = false;
  int64_t i = 0;
  char buf[cfg::kShvLen];
  uint32_t len = 0;
  t.get(static_cast<size_t>(t.find(name)), is_int, i, buf, len, &null);
  return null ? "null" : is_int ? "i:" + std::to_string(i) : "s:" + std::string(buf, len);
}

TEST(VmShvWrite, ScriptWritesPersistAcrossRunsAndReachTheTable) {
  Harness h(
      "request_route {\n"
      "  $shv(count) = $shv(count) + 1;\n"
      "  $shv(trail) = $(rm{s.substr,0,1}) + $shv(trail);\n"
      "  if ($shv(count) == 12) { $shv(mode) = \"busy\"; } else { $shv(mode) = $shv(count) * 2; }\n"
      "  $shv(gone) = $null;\n"
      "  sl_send_reply(200, \"r $shv(count) $shv(trail) $shv(mode) [$shv(gone)] $shv(never)\");\n"
      "}\n",
      "loadmodule \"pv.so\"\nmodparam(\"pv\", \"shvset\", \"count=i:10\")\n"
      "modparam(\"pv\", \"shvset\", \"trail=s:x\")\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  Outcome o = h.run(invite());
  EXPECT_EQ(o.reason, "r 11 Ix 22 [] 0") << o;
  o = h.run(invite("sip:bob@10.0.0.2:5060", "", "OPTIONS"));
  EXPECT_EQ(o.reason, "r 12 OIx busy [] 0") << o;
  const cfg::ShvTable& t = *h.program().shv;
  EXPECT_EQ(shv_text(t, "count"), "i:12");
  EXPECT_EQ(shv_text(t, "trail"), "s:OIx");
  EXPECT_EQ(shv_text(t, "mode"), "s:busy");
  EXPECT_EQ(shv_text(t, "gone"), "null");
  EXPECT_EQ(shv_text(t, "never"), "i:0");
  // The control thread's pv.shvSet and the script write the same slots.
  ASSERT_TRUE(h.program().shv->set(static_cast<size_t>(t.find("count")), true, 99, ""));
  o = h.run(invite());
  EXPECT_EQ(o.reason, "r 100 IOIx 200 [] 0") << o;
}

TEST(VmShvWrite, StringLongerThanTheSlotIsACountedRunError) {
  Harness h(
      "request_route {\n  $shv(s) = \"short\";\n  $shv(s) = $hdr(X-Long) + \"z\";\n"
      "  sl_send_reply(200, \"not reached\");\n}\n",
      "loadmodule \"pv.so\"\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const Outcome o = h.run(invite("sip:bob@10.0.0.2:5060",
                                 "X-Long: " + std::string(cfg::kShvLen, 'a') + "\r\n"));
  EXPECT_TRUE(o.error) << o;
  EXPECT_EQ(h.state().var_overflow, 1u);
  EXPECT_EQ(shv_text(*h.program().shv, "s"), "s:short");  // the earlier value stays
  Harness fits("request_route {\n  $shv(s) = $hdr(X-Long);\n}\n", "loadmodule \"pv.so\"\n");
  ASSERT_TRUE(fits.ok());
  EXPECT_FALSE(fits.run(invite("sip:bob@10.0.0.2:5060",
                               "X-Long: " + std::string(cfg::kShvLen, 'b') + "\r\n")).error);
  EXPECT_EQ(shv_text(*fits.program().shv, "s"), "s:" + std::string(cfg::kShvLen, 'b'));
}

TEST(VmShvWrite, TwoWorkersWriteAndReadOneNameWithoutTearing) {
  // Two workers (their own VmState, one program and snapshot) run at once: one stores strings
  // of one repeated letter and integers, the other reads the value back into its reply.
  Harness h(
      "request_route {\n"
      "  if (is_method(\"INVITE\")) { $shv(v) = $hdr(X-V); $shv(n) = $shv(n) + 1; exit; }\n"
      "  if (is_method(\"INFO\")) { $shv(v) = $(hdr(X-V){s.len}); exit; }\n"
      "  sl_send_reply(200, \"$shv(v)\");\n"
      "}\n",
      "loadmodule \"pv.so\"\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  std::vector<std::string> writes;
  for (int k = 0; k < 64; ++k) {
    writes.push_back(invite("sip:bob@10.0.0.2:5060",
                            "X-V: " + std::string(1 + (k * 37) % cfg::kShvLen,
                                                  static_cast<char>('a' + k % 26)) + "\r\n",
                            k % 4 == 3 ? "INFO" : "INVITE"));
  }
  std::atomic<bool> stop{false};
  // The reader reads 20,000 times and until it has seen a string (bounded: 20 s), so a busy
  // machine that runs it before the writer gets going does not fail the test.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto worker = [&](bool writer, std::vector<std::string>* seen) {
    auto st = std::make_unique<dp::VmState>();
    auto dstate = std::make_unique<dp::DispatchState>();
    dp::DispatchState& ds = *dstate;
    dp::WorkerCounters counters;
    const std::string read = invite("sip:bob@10.0.0.2:5060", "", "OPTIONS");
    bool saw_string = false;
    for (size_t k = 0;
         writer ? !stop.load()
                : seen->size() < 20000 ||
                      (!saw_string && std::chrono::steady_clock::now() < deadline);
         ++k) {
      const std::string& m = writer ? writes[k % writes.size()] : read;
      sip::SipView v;
      ASSERT_EQ(sip::scan(m.data(), m.size(), v), sip::ScanStatus::kOk);
      VmResult r;
      dp::VmPacket pkt;
      dp::vm_run(h.snap(), m.data(), v, pkt, *st, ds, counters, r, 0);
      ASSERT_FALSE(r.error);
      if (!writer) {
        seen->emplace_back(r.reply_reason);
        const std::string& s = seen->back();
        saw_string = saw_string || (!s.empty() && (s[0] < '0' || s[0] > '9'));
      }
    }
  };
  std::vector<std::string> seen;
  std::thread w(worker, true, nullptr);
  std::thread rd(worker, false, &seen);
  rd.join();
  stop = true;
  w.join();
  size_t strings = 0;
  for (const std::string& s : seen) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) {
      continue;  // "" before the first write, or an INFO's integer
    }
    ++strings;
    ASSERT_EQ(s.find_first_not_of(s[0]), std::string::npos) << s;  // one write, whole
  }
  EXPECT_GT(strings, 0u);
}

}  // namespace
}  // namespace viaduct

// ---- append_hf/insert_hf past 8 lines (R7): bounded by the run's arena and the message's
// room, not by a count; insert_hf in onsend_route runs and changes nothing ----
namespace viaduct {
namespace {

// The lines of a run in the order the forward writes them at one place: the records on top
// by their place, then those after the last header (append_at 0), in record order.
std::string top_lines(const VmResult& r) {
  std::string s;
  for (uint8_t seq = 1; seq <= r.n_top; ++seq) {
    for (size_t i = 0; i < r.n_append; ++i) {
      if (r.append_top[i] == seq) {
        s += r.append_hf[i];
      }
    }
  }
  return s;
}
std::string end_lines(const VmResult& r) {
  std::string s;
  for (size_t i = 0; i < r.n_append; ++i) {
    if (r.append_top[i] == 0 && r.append_at[i] == 0) {
      s += r.append_hf[i];
    }
  }
  return s;
}

VmResult run_request(Harness& h, const std::string& msg) {
  sip::SipView v;
  EXPECT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk);
  VmResult r;
  dp::VmPacket pkt;
  static dp::DispatchState ds;
  static dp::WorkerCounters counters;
  dp::vm_run(h.snap(), msg.data(), v, pkt, h.state(), ds, counters, r, 0);
  return r;
}

TEST(VmAppendMany, FortyLinesAndInsertsOnTopKeepTheirOrder) {
  Harness h(
      "request_route {\n"
      "  insert_hf(\"X-Top-0: 1\\r\\n\");\n"
      "  $var(i) = 0;\n"
      "  while ($var(i) < 40) {\n"
      "    append_hf(\"X-Line-$var(i): $rm\\r\\n\");\n"
      "    if ($var(i) == 20) { append_hf(\"X-Const: 20\\r\\n\"); insert_hf(\"X-Top-1: $var(i)\\r\\n\"); }\n"
      "    $var(i) = $var(i) + 1;\n"
      "  }\n"
      "  if (!append_hf(\"X-After-CSeq: 1\\r\\n\", \"CSeq\")) { exit; }\n"
      "  insert_hf(\"X-Top-2: 2\\r\\n\");\n"
      "  insert_hf(\"X-Before-To: 1\\r\\n\", \"To\");\n"
      "  forward();\n"
      "}\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const std::string msg = invite();
  const VmResult r = run_request(h, msg);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.action, kFwd);
  EXPECT_LE(r.n_append, dp::kVmMaxAppend);
  std::string want;
  for (int i = 0; i < 40; ++i) {
    want += "X-Line-" + std::to_string(i) + ": INVITE\r\n";
    if (i == 20) {
      want += "X-Const: 20\r\n";
    }
  }
  EXPECT_EQ(end_lines(r), want);
  EXPECT_EQ(top_lines(r), "X-Top-0: 1\r\nX-Top-1: 20\r\nX-Top-2: 2\r\n");
  bool after_cseq = false;
  bool before_to = false;
  for (size_t i = 0; i < r.n_append; ++i) {
    after_cseq = after_cseq || (r.append_hf[i] == "X-After-CSeq: 1\r\n" &&
                                msg.compare(r.append_at[i] - 2, 2, "\r\n") == 0 &&
                                msg.rfind("CSeq:", r.append_at[i]) != std::string::npos);
    before_to = before_to || (r.append_hf[i] == "X-Before-To: 1\r\n" &&
                              msg.compare(r.append_at[i], 3, "To:") == 0);
  }
  EXPECT_TRUE(after_cseq);
  EXPECT_TRUE(before_to);
  EXPECT_EQ(h.state().other_errors, 0u);
}

TEST(VmAppendMany, PastTheArenaTheCallFailsCountedAndTheRunGoesOn) {
  // 300 lines of 60 bytes do not fit in the 8 KiB arena: the calls past it return false, each
  // counted, the earlier lines stay in order, the script carries on and forwards.
  const std::string line = "X-Long-Line: " + std::string(45, 'x') + "\r\n";
  Harness h(
      "request_route {\n"
      "  $var(i) = 0; $var(failed) = 0;\n"
      "  while ($var(i) < 300) {\n"
      "    if (!append_hf(\"" + line.substr(0, line.size() - 2) + "\\r\\n\")) {\n"
      "      $var(failed) = $var(failed) + 1;\n"
      "    }\n"
      "    $var(i) = $var(i) + 1;\n"
      "  }\n"
      "  if ($var(failed) > 100) { setflag(3); }\n"
      "  forward();\n"
      "}\n",
      "max_while_loops=1000\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const VmResult r = run_request(h, invite());
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.action, kFwd);
  EXPECT_EQ(r.flags, bits({3}));
  const std::string lines = end_lines(r);
  ASSERT_EQ(lines.size() % line.size(), 0u);
  const size_t kept = lines.size() / line.size();
  for (size_t k = 0; k < kept; ++k) {
    ASSERT_EQ(lines.compare(k * line.size(), line.size(), line), 0) << k;
  }
  EXPECT_GT(kept, 100u);  // the arena, not a count, is the bound
  EXPECT_LT(kept, 200u);
  EXPECT_EQ(h.state().other_errors, 300u - kept);
  // A line built from pseudo-variables needs the arena to be formatted at all: past it, that
  // is the arena's own run error (scratch_overflow), as for any string result.
  Harness pv(
      "request_route {\n  $var(i) = 0;\n  while ($var(i) < 300) {\n"
      "    append_hf(\"X-Long-Line-$var(i): $(ci{s.md5})$(ci{s.md5})\\r\\n\");\n"
      "    $var(i) = $var(i) + 1;\n  }\n  forward();\n}\n",
      "max_while_loops=1000\n");
  ASSERT_TRUE(pv.ok()) << pv.diags();
  EXPECT_TRUE(run_request(pv, invite()).error);
  EXPECT_EQ(pv.state().scratch_overflow, 1u);
}

TEST(VmAppendMany, OnsendRouteRunsAboveTheRequestsArena) {
  // insert_hf in onsend_route: accepted (Kamailio 5.6.3 sends nothing of it) and run after
  // request_route on the same arena: it must not overwrite the request's lines it is sending.
  Harness h(
      "request_route { append_hf(\"X-Req: $rm $ci\\r\\n\"); forward(); }\n"
      "onsend_route { insert_hf(\"X-Onsend: $snd(port) $ci $ci $ci\\r\\n\"); "
      "xlog(\"L_INFO\", \"$ci $ci\\n\"); }\n");
  ASSERT_TRUE(h.ok()) << h.diags();
  const std::string msg = invite();
  sip::SipView v;
  ASSERT_EQ(sip::scan(msg.data(), msg.size(), v), sip::ScanStatus::kOk);
  VmResult req;
  dp::VmPacket pkt;
  dp::DispatchState ds;
  dp::WorkerCounters counters;
  dp::vm_run(h.snap(), msg.data(), v, pkt, h.state(), ds, counters, req, 0);
  ASSERT_EQ(req.n_append, 1u);
  // What dataplane/reply_route.cpp does around the onsend run.
  h.state().scratch_from = h.state().scratch_used;
  VmResult snd;
  pkt.snd_port = 5060;
  dp::vm_run(h.snap(), msg.data(), v, pkt, h.state(), ds, counters, snd,
             static_cast<uint32_t>(h.program().onsend_route));
  h.state().scratch_from = 0;
  EXPECT_FALSE(snd.error);
  EXPECT_EQ(snd.n_append, 1u);  // it ran (true); the pipeline does not apply it
  EXPECT_EQ(req.append_hf[0], "X-Req: INVITE abc@192.0.2.10\r\n");
}

// A reload frees the old program; the allocator may give the new one the old one's address. The
// worker must still see a new script: its $var slots start again at 0 (and its routes, pike
// limits). It told them apart by address, so a program compiled into the old one's storage kept
// the old $var values.
TEST(VmProgram, ANewProgramAtTheOldOnesAddressStartsFresh) {
  const std::string routes =
      "request_route { $var(n) = $var(n) + 1; sl_send_reply(\"200\", \"n=$var(n)\"); }";
  Harness h(routes);
  ASSERT_TRUE(h.ok()) << h.diags();
  EXPECT_EQ(h.run(invite()).reason, "n=1");
  EXPECT_EQ(h.run(invite()).reason, "n=2");
  cfg::Program& p = h.mutable_program();
  p.~Program();
  new (&p) cfg::Program();  // the reload's program, where the old one was
  cfg::Diagnostics d;
  ASSERT_TRUE(cfg::compile_string(std::string(kHeader) + routes, "t.cfg", "/tmp", {}, p, d));
  EXPECT_EQ(h.run(invite()).reason, "n=1");
}

}  // namespace
}  // namespace viaduct
