// SPDX-License-Identifier: Apache-2.0
// cfg/program.hpp: the compiled routing script, the contract between the compiler (cfg/) and
// the interpreter (dataplane/vm.cpp).
//
// A Program is built once by the control thread, is immutable afterwards, and is read by every
// worker through the published snapshot. Code is a flat array of fixed-size instructions; all
// operands are precompiled (integers, indexes into `strings`, method bitmasks), so executing it
// never allocates or parses text.
//
// Execution model (Kamailio's): every instruction that evaluates something leaves an int in the
// register `rc`; rc > 0 is true, rc < 0 is false (0 never reaches a test: a function returning 0
// stops the script, as in Kamailio). Route calls push a return pc; `kReturn` pops it and sets rc.
// Values (ints, strings, $null) live on a small value stack (kVmStackDepth): kPush* put them
// there, kBinary/kUnary combine them, kCompare/kTest turn them into rc, kStore assigns one to a
// pseudo-variable. Logical operators stay on rc (short-circuit jumps). Functions other than the
// skeleton's run through kCallFn: a FnCall row of precompiled operands and a run hook per Fn.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/regex.hpp"

namespace viaduct::cfg {

enum class Op : uint8_t {
  kNop,
  kJump,           // pc = a
  kJumpIfFalse,    // if rc <= 0: pc = a
  kJumpIfTrue,     // if rc > 0: pc = a
  kNot,            // rc = rc > 0 ? -1 : 1
  kSetRc,          // rc = (int32_t)a
  kCallRoute,      // push pc+1, pc = routes[a].entry; depth bounded by kMaxRouteDepth; b: the
                   //   while counters live here (the callee's start above them)
  kReturn,         // rc = (int32_t)a; pop pc (in the top-level route: ends the script like exit)
  kExit,           // end of script; keeps the pending action (a forward already asked for)
  kDrop,           // end of script; cancels the implicit action
  kUriIsMyself,    // rc = R-URI host[:port] in the myself set ? 1 : -1
  kIsMethod,       // rc = request method in bitmask a (bits of MethodBit) or, when b != 0,
                   //   equal (case-sensitive, as Kamailio) to strings[b-1] ? 1 : -1
  kSlSendReply,    // stateless reply: code a, reason strings[b]; rc = 1
  kMfProcessMaxfwd,// maxfwd: a = value to insert when absent; rc = 1, or -1 when the value is 0
  kForward,        // stateless forward to $du, else the R-URI; rc = 1 / -1

  // ---- values and expressions: a small value stack (kVmStackDepth), no allocation ----
  kPushInt,        // push the int (int32_t)a
  kPushStr,        // push strings[a]
  kPushNull,       // push $null
  kPushPv,         // push the value of pvs[a]
  kPushFmt,        // push fmts[a] formatted (pseudo-variables expanded) into the scratch arena
  kPushRc,         // push rc as an int (a function or route() used as a value)
  kPushBool,       // push rc > 0 ? 1 : 0 (a comparison used as a value)
  kBinary,         // b = BinOp: pop r, pop l, push l OP r (Kamailio typing: the left decides)
  kUnary,          // b = UnOp: pop v, push OP v
  kCompare,        // b = CmpOp: pop r, pop l; rc = l OP r ? 1 : -1
  kTest,           // pop v; rc = Kamailio truth of v ? 1 : -1
  kStore,          // pop v; assign it to pvs[a] (b = 1: `:=` / `$(avp[*]) =`, replace all)
  kIsMyself,       // pop v; a = MyselfWhat; rc = 1 / -1
  kIpMatch,        // pop v (an IP as a string); rc = v is in nets[a] ? 1 : -1
  kStoreTemp,      // pop v into temp a (switch subjects; per run)
  kLoadTemp,       // push temp a
  kLoopInit,       // loop counter a = 0
  kLoopStep,       // ++loop counter b; past max_while_loops: rc = -1, pc = a (the loop is left
                   //   and the script goes on, as Kamailio 5.6; counted)
  kCallFn,         // calls[a]: a module or core function (Fn); rc = its return value
  kRegexMatch,     // pop v; rc = pattern b of regex->sets[a] matches v ? 1 : -1 (one scan of
                   //   the set per subject and message)
  kMethodEq,       // rc = $rm == strings[a] (as `==` on strings: exact bytes) ? 1 : -1; leaves
                   //   $retcode alone (a `case "NAME":` of `switch ($rm)`, lowered). b != 0:
                   //   strings[a] is the name of sip::Method b, compared as the scanner's value
  kCallRouteDyn,   // pop v; route(v): the route[NAME] named v's text (Program::named_routes),
                   //   as kCallRoute (b too); none of that name: rc = -1, $retcode left
                   //   alone, counted (Kamailio 5.6.3 logs "route ... not found" and the
                   //   script goes on)
  kMethodSwitch,   // the `case` labels of `switch ($rm)` (kMethodEq b != 0; kJumpIfTrue pairs)
                   //   that start here in one step: pc = method_tables[c].to[the scanner's
                   //   method]; rc = 1 when a case matched, else -1. Written over the first
                   //   method_eq (a, b kept); the pairs stay, for whatever jumps to them
  kRegexMatchPv,   // `push_pv c; regex_match a b` in one step, the value stack untouched (a
                   //   full one still fails the run, as the push would): the compiler's last
                   //   pass writes it over the push_pv; the regex_match stays after it, skipped
  // A route's value when it runs off its end: that of the last action it ran (Kamailio's
  // run_actions()), for sub-routes and reply_route.
  kTailReturn,     // return the value (b = 0: $rc, after a call; 1: (int32_t)a; 2: the tail
                   //   slot) as kReturn, but 0 does not end the script (in a sub-route rc is
                   //   then -1, $rc 0)
  kTailSave,       // the route call's tail slot = the value (b = 0: $rc; 1: 1; 2: 0): the value
                   //   of a while loop in a route's tail, that of its last iteration (whiles
                   //   nested in that one's tail share it)
};

inline constexpr uint32_t kMaxScriptVars = 64;   // distinct $var names (per-worker slots)
inline constexpr uint32_t kMaxScriptAvps = 32;   // distinct $avp names (per-message slots)
inline constexpr uint32_t kVmStackDepth = 16;  // value stack of one expression
inline constexpr uint32_t kVmTemps = 16;       // nested switch/while per script path

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kMod, kBitAnd, kBitOr, kBitXor, kShl, kShr };
enum class UnOp : uint8_t {
  kNeg, kBitNot, kLogNot, kDefined, kStrlen, kStrempty, kToInt, kToStr,
};
enum class CmpOp : uint8_t {
  kEq, kNe, kLt, kLe, kGt, kGe,
  kStrEq, kStrNe,  // eq ne: both as strings
  kIntEq, kIntNe,  // ieq ine: both as ints
  // == and != with the constant $null or "" on the right (Kamailio 5.6.3, measured): x ==
  // $null is true only when x is $null, x != $null the opposite; an int == "" is false, an
  // int != "" is int != 0; otherwise as == and !=.
  kEqNull, kNeNull, kEqEmpty, kNeEmpty,
  // == and != of the core keywords method, uri, from_uri, to_uri: as strings, ignoring case
  // (Kamailio's comp_str uses strncasecmp; with a pseudo-variable on the right too).
  kEqNoCase, kNeNoCase,
};
enum class MyselfWhat : uint8_t { kUri, kHost };  // a URI's host[:port], or a bare host/IP

// Pseudo-variables the fast path reads (and, for some, writes). `arg` is a string index (the
// header name of $hdr) or a slot ($var, $avp).
enum class PvKind : uint8_t {
  kNull,     // $null
  kRuri, kRuriUser, kRuriHost, kRuriPort, kRuriScheme,
  kDuri,
  kSrcIp, kSrcPort, kRcvIp, kRcvPort, kProto,
  kMethod, kReplyStatus, kReplyReason,
  kFromUri, kFromUser, kFromHost, kFromName, kFromTag,
  kToUri, kToUser, kToHost, kToName, kToTag,
  kCallId, kCSeq, kUserAgent, kMsgLen, kHdr,
  kVar, kAvp, kRetcode,
  kAf,       // core keyword af: 4 / 6 (as Kamailio's INET / INET6 values)
  kSnd,      // $snd(ip|port|af|proto) (arg 0..3): onsend_route's destination; $null elsewhere
  // $xavp(_dsdst_[index]=>field) (arg: XavpDsField, index: the entry, 0 first): the
  // dispatcher's failover list; $xavp(_dsctx_=>cnt) (kXavpDsCtx). Read-only.
  kXavpDsDst, kXavpDsCtx,
  kShv,      // $shv(name) (arg: index into Program::shv): a shared value, read-only in scripts
};
struct PvRef {
  PvKind kind = PvKind::kNull;
  uint8_t pad = 0;
  uint16_t arg = 0;
  int16_t index = 0;  // $(hdr(X)[n]): the n-th instance (0 first, -1 last)
  uint16_t tr = 0;    // 1 + index into Program::trs: the transformations applied; 0: none
};

// $xavp(_dsdst_=>field): what Kamailio's dispatcher stores per failover entry.
// sock: the destination's socket= attribute, printed proto:addr:port (Kamailio 5.6.3 prints a
// pointer, "<<vptr:0x...>>": only whether it is set can be compared with it).
enum class XavpDsField : uint8_t { kUri, kGrp, kDstId, kAttrs, kSock };

// Transformations ($(pv{s.len}{s.substr,1,2})), Kamailio's pv module's, applied in order by
// dataplane/transform.cpp to the pseudo-variable's value. A failure makes the value $null.
enum class TrKind : uint8_t {
  kSLen, kSInt, kSSubstr, kSSelect, kSToLower, kSToUpper, kSStrip, kSStripTail,
  kSTrim, kSLTrim, kSRTrim, kSBefore, kSAfter, kSRBefore, kSRAfter,
  kSEncodeHexa, kSDecodeHexa, kSNumeric, kSMd5, kSReplace,
  kUriUser, kUriHost, kUriPort, kUriPasswd, kUriParams, kUriParam, kUriHeaders,
  kUriTransport, kUriScheme,
  kParamValue, kParamName, kParamCount, kParamIn,  // optional last parameter: the separator
  kToBodyUri, kToBodyDisplay, kToBodyTag, kToBodyUser, kToBodyHost,
  kNameAddrName, kNameAddrUri,
  kSPrefixes, kSPrefixesQuoted,  // optional parameter: the longest prefix (0: the whole string)
};

// A string with pseudo-variables (a function argument "sip:$rU@$rd"): literal and PV parts.
struct FmtPart {
  bool is_pv = false;
  uint16_t idx = 0;  // strings[idx] or pvs[idx]
};
struct Fmt {
  std::vector<FmtPart> parts;
};

struct Net {
  uint32_t ip_be = 0;
  uint32_t mask_be = 0;
  bool v6 = false;         // an IPv6 network: ip6/prefix6 (the IPv4 fields unused)
  uint8_t prefix6 = 128;
  uint8_t ip6[16] = {};
};
struct NetSet {
  std::vector<Net> nets;
};

// Functions run through kCallFn (a table row in cfg/builtins.cpp and a run hook in
// dataplane/vm.cpp each).
enum class Fn : uint16_t {
  kSendReply,        // sl_send_reply / send_reply with pseudo-variables
  kForwardTo,        // forward(host[, port])
  kSetFlag, kResetFlag, kIsFlagSet,
  kForceRport, kAddLocalRport,
  kSetAdvAddress, kSetAdvPort,
  kUdpMtuTryProto, kForceSendSocket,
  kSetHost, kSetPort, kSetUser, kRewriteUri, kRewriteHostPort, kPrefix, kStrip, kRevertUri,
  kHasTotag, kIsPresentHf, kAppendHf, kRemoveHf,
  kRecordRoute, kLooseRoute,
  kIsInSubnet, kSanityCheck,
  kXlog,
  kIsMyselfFn,       // is_myself(uri)
  kSearch,           // textops search(re): aux = (set << 16) | pattern over the whole message
  // dispatcher: aux of kDsSelect = what the choice sets (DsApply); set and algorithm may be
  // pseudo-variables, checked at run time like Kamailio.
  kDsSelect,         // ds_select_dst / ds_select_domain / ds_select (set, alg[, limit])
  kDsNext,           // ds_next_dst / ds_next_domain: aux = DsApply
  kDsSet,            // ds_set_dst / ds_set_domain: aux = DsApply
  kDsMarkDst,        // ds_mark_dst([state]): aux = state bits (DsFlag)
  kDsIsFromList,     // ds_is_from_list([group[, mode[, uri]]])
  kDsListExists,     // ds_list_exists(group)
  kDsIsActive,       // ds_is_active(group[, uri])
  kPikeCheckReq,     // pike_check_req(): the per-worker table of dataplane/pike.hpp
  kDsMarkAddr,       // ds_mark_addr(state, group, uri): aux = state bits (DsFlag)
  kPikeCheckIp,      // pike_check_ip(ip): pike_check_req's count for that IPv4 address
  kInsertHf,         // insert_hf(line[, name]): VmResult::append_top / append_at
  kDsSelectUnlessDu, // ds_select_dst under modparam force_dst 0: false while $du is set, else
                     //   kDsSelect (a hook of its own keeps the check off the usual path)
  kSanityReply,      // sanity_reply(): aux = modparam noreply
  kCount,
};

// What a dispatcher selection writes: $du, the R-URI's host:port, or nothing (ds_select).
enum class DsApply : uint8_t { kDst, kDomain, kNone };

// A precompiled function argument.
struct Operand {
  enum class Kind : uint8_t { kNone, kInt, kStr, kPv, kFmt };
  Kind kind = Kind::kNone;
  uint16_t idx = 0;  // strings / pvs / fmts index
  int32_t i = 0;     // kInt
};
inline constexpr size_t kMaxFnArgs = 4;

// One transformation: its kind and its parameters (ints, strings, or pseudo-variables read when
// it runs, as Kamailio allows for offsets, indexes and names).
struct TrStep {
  TrKind kind = TrKind::kSLen;
  uint8_t nparams = 0;
  Operand params[3];
};
struct TrChain {
  std::vector<TrStep> steps;
};
struct FnCall {
  Fn fn = Fn::kCount;
  uint8_t nargs = 0;
  Operand args[kMaxFnArgs];
  int32_t aux = 0;  // per function: a listener index, a net set, a log level...
};

// Bits for kIsMethod's mask; order matches dataplane/sip Method (bit = 1 << Method value).
enum MethodBit : uint32_t {
  kMethodInvite = 1u << 1,
  kMethodAck = 1u << 2,
  kMethodBye = 1u << 3,
  kMethodCancel = 1u << 4,
  kMethodRegister = 1u << 5,
  kMethodOptions = 1u << 6,
  kMethodInfo = 1u << 7,
  kMethodUpdate = 1u << 8,
  kMethodPrack = 1u << 9,
  kMethodSubscribe = 1u << 10,
  kMethodNotify = 1u << 11,
  kMethodRefer = 1u << 12,
  kMethodMessage = 1u << 13,
  kMethodPublish = 1u << 14,
};

struct Insn {
  Op op = Op::kNop;
  // Set by the compiler's last pass on an instruction that sets rc: 1 when a kJumpIfFalse/
  // kJumpIfTrue follows it, 2 (not on kNot or kMethodEq) when a kNot and then such a jump
  // follow (kRegexMatchPv: after the regex_match that follows it). The interpreter then runs
  // the not and takes the jump in the same step: one dispatch instead of two or three. They
  // stay in the code, for whatever jumps to them.
  uint8_t fused_jump = 0;
  uint16_t b = 0;
  uint32_t a = 0;
  // With fused_jump != 0: the fused jump's target and sense (jump_true: it is a kJumpIfTrue),
  // copied from it by the same pass, so that the step does not read the jump again.
  uint32_t to = 0;
  uint16_t c = 0;  // a third operand: kRegexMatchPv's pvs index, kMethodSwitch's table
  uint8_t jump_true = 0;
  uint8_t pad = 0;
};
static_assert(sizeof(Insn) == 16);

// kMethodSwitch's table: for each sip::Method value (0 = other, 1..14 as MethodBit's bits),
// where the chain of `case` labels sends it: the first case of that method's target, or the
// instruction after the chain when none is; bit m of `hit` set when a case matched.
inline constexpr uint32_t kMethodValues = 16;
struct MethodTable {
  uint32_t to[kMethodValues] = {};
  uint32_t hit = 0;
};

inline constexpr uint32_t kMaxRouteDepth = 256;  // Kamailio's max_recursive_level default

struct Route {
  std::string name;  // "" for request_route / route { }
  uint32_t entry = 0;  // pc of its first instruction
  // Non-empty: viaduct compiles and checks this route but never runs it, and why (tm's
  // failure_route[...], event routes of modules it does not run): `--explain` prints it.
  std::string not_run;
};

enum class Proto : uint8_t { kUdp, kTcp, kTls, kSctp, kAny };

// Source location of an instruction, for --explain and run-time diagnostics.
struct SourceLoc {
  std::string file;
  uint32_t line = 0;
  uint32_t col = 0;
};

struct ListenSocket {
  Proto proto = Proto::kUdp;
  std::string addr;  // as written: an IPv4/IPv6 literal (no brackets) or a host name
  uint16_t port = 5060;  // 5060 when omitted
  std::string advertise_addr;  // empty when none
  uint16_t advertise_port = 0;
};

struct Alias {
  std::string host;
  uint16_t port = 0;  // 0: any port
};

struct ModParam {
  std::string module;
  std::string name;
  std::string value;  // integers as decimal text
  bool is_int = false;
};

// Every constant regular expression of the script, grouped by the operand they are applied to
// (all `$ua =~ ...` form one set, all search() another), compiled with Hyperscan, and the
// per-worker scratch (worker w uses pool.get(w); kMaxRegexWorkers of them). The last one is the
// control thread's (the event routes it runs): at most kMaxRegexWorkers - 1 workers.
inline constexpr unsigned kMaxRegexWorkers = 64;
inline constexpr unsigned kControlRegexScratch = kMaxRegexWorkers - 1;
struct RegexTables {
  std::vector<RegexSet> sets;
  std::vector<std::string> operands;  // what each set is applied to ("$ua", "message")
  RegexScratchPool pool;
};

// $shv(name), Kamailio's shared values: one table per compiled script, its initial values from
// modparam("pv", "shvset", "name=i:1" | "name=s:text"), written by the control thread (the
// pv.shvSet RPC) and by the workers' scripts ($shv(name) = ...), never under a lock:
//  - readers (any thread) copy a slot through its sequence lock: they retry while a write is
//    under way (seq odd) or when seq moved during the copy; every field is an atomic, so there is
//    no data race, and a reader never sees half of one write and half of another;
//  - an integer written over an integer is one relaxed 64-bit store to `i`, outside the
//    sequence lock (a reader copying the slot gets the old or the new integer, both whole);
//  - any other write (a string, or a change of type) takes the slot by moving seq from even to
//    odd with one compare-and-swap, copies at most kShvLen bytes, and makes seq even again.
//    A worker that finds the slot taken by another writer gives its write up: two writers
//    racing on one name keep one of the two values (the other is lost, as if overwritten at
//    once); the control thread instead retries until the slot is free (a worker holds it for
//    one bounded copy).
// `$shv(n) = $shv(n) + 1` on several workers is a read then a write, not an atomic increment
// (nor is it in Kamailio, whose script reads and sets the value in two steps).
inline constexpr size_t kShvLen = 256;
inline void shv_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
// What a slot holds: `$shv(x) = $null` makes it $null (Kamailio 5.6.3 then prints nothing for
// it, measured; pv.shvGet shows integer 0).
enum class ShvKind : uint8_t { kInt, kStr, kNull };
struct ShvValue {
  std::atomic<uint32_t> seq{0};  // odd while being written
  std::atomic<ShvKind> kind{ShvKind::kInt};
  std::atomic<int64_t> i{0};
  std::atomic<uint32_t> len{0};
  std::atomic<uint64_t> words[kShvLen / 8];
};
// A name's modparam("pv", "shvset", ...) value, what a reload compares (ShvTable::carry_from).
struct ShvInitial {
  bool set = false;  // the script gives it an initial value; otherwise it starts as integer 0
  bool is_int = true;
  int64_t i = 0;
  std::string s;
  bool operator==(const ShvInitial&) const = default;
};
struct ShvTable {
  std::vector<std::string> names;
  std::vector<ShvInitial> initial;  // parallel to names
  std::unique_ptr<ShvValue[]> values;

  explicit ShvTable(std::vector<std::string> n)
      : names(std::move(n)), initial(names.size()),
        values(std::make_unique<ShvValue[]>(names.size())) {}
  int find(std::string_view name) const {
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == name) {
        return static_cast<int>(k);
      }
    }
    return -1;
  }
  // Control thread (pv.shvSet, start-up, reload). A string longer than kShvLen is refused.
  bool set(size_t k, bool is_int, int64_t i, std::string_view s) noexcept {
    if (k >= names.size() || (!is_int && s.size() > kShvLen)) {
      return false;
    }
    while (!write(k, is_int ? ShvKind::kInt : ShvKind::kStr, i, s)) {
      shv_pause();  // a worker is copying into the slot: a bounded wait
    }
    return true;
  }
  // Worker ($shv(name) = ...): false when the string is longer than kShvLen (nothing written).
  // A write that finds another writer in the slot is given up (see above) and still true.
  bool store(size_t k, ShvKind kind, int64_t i, std::string_view s) noexcept {
    if (kind == ShvKind::kStr && s.size() > kShvLen) {
      return false;
    }
    ShvValue& v = values[k];
    if (kind == ShvKind::kInt && v.kind.load(std::memory_order_relaxed) == ShvKind::kInt) {
      v.i.store(i, std::memory_order_relaxed);
      return true;
    }
    static_cast<void>(write(k, kind, i, s));
    return true;
  }
  // Any thread: a consistent copy; `buf` holds kShvLen bytes. No allocation. A $null value
  // reads as integer 0, with *null set where asked.
  void get(size_t k, bool& is_int, int64_t& i, char* buf, uint32_t& len,
           bool* null = nullptr) const noexcept {
    const ShvValue& v = values[k];
    for (;;) {
      const uint32_t q = v.seq.load(std::memory_order_acquire);
      if ((q & 1u) != 0) {
        shv_pause();
        continue;
      }
      const ShvKind kind = v.kind.load(std::memory_order_relaxed);
      is_int = kind != ShvKind::kStr;
      i = v.i.load(std::memory_order_relaxed);
      len = v.len.load(std::memory_order_relaxed);
      len = len > kShvLen ? kShvLen : len;
      for (size_t w = 0; w * 8 < len; ++w) {
        const uint64_t x = v.words[w].load(std::memory_order_relaxed);
        std::memcpy(buf + w * 8, &x, len - w * 8 < 8 ? len - w * 8 : 8);
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (v.seq.load(std::memory_order_relaxed) == q) {
        if (null != nullptr) {
          *null = kind == ShvKind::kNull;
        }
        return;
      }
    }
  }
  // A reload (control thread, before the new table is published): every name this table shares
  // with `old` keeps its value from `old` (set through pv.shvSet or by the script), unless this
  // script's shvset gives it another initial value than the old one did; new names, and names
  // whose shvset changed, start from this script's value. The copy of a value a worker writes
  // while this runs may miss that write.
  void carry_from(const ShvTable& old) noexcept {
    char buf[kShvLen];
    for (size_t k = 0; k < names.size(); ++k) {
      const int o = old.find(names[k]);
      if (o < 0 || !(old.initial[static_cast<size_t>(o)] == initial[k])) {
        continue;
      }
      bool is_int = true;
      bool null = false;
      int64_t i = 0;
      uint32_t len = 0;
      old.get(static_cast<size_t>(o), is_int, i, buf, len, &null);
      const ShvKind kind = null ? ShvKind::kNull : is_int ? ShvKind::kInt : ShvKind::kStr;
      while (!write(k, kind, i, std::string_view(buf, is_int ? 0 : len))) {
        shv_pause();
      }
    }
  }

 private:
  // One write under the sequence lock; false when another writer holds the slot.
  bool write(size_t k, ShvKind kind, int64_t i, std::string_view s) noexcept {
    ShvValue& v = values[k];
    uint32_t q = v.seq.load(std::memory_order_relaxed);
    if ((q & 1u) != 0 ||
        !v.seq.compare_exchange_strong(q, q + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return false;
    }
    std::atomic_thread_fence(std::memory_order_release);
    v.kind.store(kind, std::memory_order_relaxed);
    v.i.store(kind == ShvKind::kInt ? i : 0, std::memory_order_relaxed);
    const size_t n = kind == ShvKind::kStr ? s.size() : 0;
    v.len.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
    for (size_t w = 0; w * 8 < n; ++w) {
      uint64_t x = 0;
      std::memcpy(&x, s.data() + w * 8, n - w * 8 < 8 ? n - w * 8 : 8);
      v.words[w].store(x, std::memory_order_relaxed);
    }
    v.seq.store(q + 2, std::memory_order_release);
    return true;
  }
};

// A number no Program of this process had before (1, 2, ...): the VM and the pike table notice
// a new script by it, not by its address, which the allocator may hand a later program once a
// reload freed the old one.
uint64_t next_program_serial() noexcept;

struct Program {
  uint64_t serial = next_program_serial();
  std::vector<Insn> code;
  std::vector<SourceLoc> locs;      // parallel to code
  std::vector<std::string> strings; // operand pool
  std::vector<Route> routes;        // routes[0] is request_route (main)
  // The route[NAME] blocks (indexes into routes), sorted by name: kCallRouteDyn's binary
  // search, route() with a name computed at run time (case-sensitive, as Kamailio's lookup).
  std::vector<uint32_t> named_routes;
  // event_route[dispatcher:dst-down] / [dispatcher:dst-up]: index into routes, -1 when absent.
  // Run by the control thread when a destination becomes unusable / usable again.
  int32_t event_dst_down = -1;
  int32_t event_dst_up = -1;
  // reply_route { } (or onreply_route { }): run by the worker on every SIP reply before it is
  // relayed; onsend_route { }: run before a request is forwarded. Index into routes, -1: none.
  int32_t reply_route = -1;
  int32_t onsend_route = -1;
  std::vector<PvRef> pvs;           // kPushPv / kStore / Fmt operands
  std::vector<Fmt> fmts;
  std::vector<TrChain> trs;         // PvRef::tr - 1
  std::shared_ptr<ShvTable> shv;    // $shv names and values; null when the script has none
  std::vector<NetSet> nets;         // kIpMatch, is_in_subnet
  std::vector<FnCall> calls;        // kCallFn
  std::vector<MethodTable> method_tables;  // kMethodSwitch
  std::vector<std::string> vars;    // $var slot names (per worker, persist across messages)
  std::vector<std::string> avps;    // $avp slot names (per message)
  uint32_t max_while_loops = 100;   // core parameter; 0: unbounded (the step budget still is)
  std::shared_ptr<const RegexTables> regex;  // null when the script has no regex

  // Core parameters the dataplane and control need.
  std::vector<ListenSocket> listens;
  std::vector<Alias> aliases;
  int children = 0;                 // accepted; viaduct's workers come from the settings
  // IPv4 header of what the fast path sends (Kamailio's udp4_raw semantics, measured against
  // Kamailio 5.6: TOS 0x10 and TTL 64 by default, no DF).
  int udp4_raw_ttl = -1;            // -1: 64, the kernel's default
  int tos = 0x10;                   // IPTOS_LOWDELAY, Kamailio's default
  int udp4_raw_mtu = 1500;          // larger datagrams leave in fragments
  std::vector<std::string> modules; // loaded module names, without ".so" or path
  std::vector<ModParam> modparams;
  // rr's modparams, read by forward() where record_route() asked for a Record-Route:
  // enable_double_rr 0 (one Record-Route, the receiving socket's), 1 (two, each with ;r2=on,
  // when the request leaves from another socket), 2 (two, always); enable_full_lr (";lr=on");
  // append_fromtag (";ftag=" + the From tag). Kamailio 5.6.3's defaults.
  uint8_t rr_double = 1;
  bool rr_full_lr = false;
  bool rr_append_fromtag = true;
  // sanity's modparam proxy_require: the extensions a Proxy-Require may name (check 512).
  std::vector<std::string> sanity_proxy_require;
  bool use_dst_blocklist = false;   // use_dst_blocklist (or use_dst_blacklist)
  // The Server line of local replies: server_signature (default yes) and server_header (the
  // whole header, "Server: name"; empty: viaduct's own, "Server: viaduct").
  bool server_signature = true;
  std::string server_header;
  // The script reads the dispatcher's failover list past its first entry: ds_next_dst /
  // ds_next_domain, $xavp(_dsdst_[...]=>...) or $xavp(_dsctx_=>cnt) anywhere (a route, a
  // transformation, a format string). Without them ds_select_* keeps the selection alone, even
  // with modparam flags 2: the rest of the list could not be seen.
  bool reads_ds_list = false;
  int dst_blocklist_expire = 60;    // dst_blocklist_expire (or dst_blacklist_expire), seconds

  // modparam("dispatcher", "list_file", ...), resolved against the script's directory when
  // relative; empty when the script loads no dispatcher.
  std::string ds_list_file;
};

}  // namespace viaduct::cfg
