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
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace viaduct::cfg {

enum class Op : uint8_t {
  kNop,
  kJump,           // pc = a
  kJumpIfFalse,    // if rc <= 0: pc = a
  kJumpIfTrue,     // if rc > 0: pc = a
  kNot,            // rc = rc > 0 ? -1 : 1
  kSetRc,          // rc = (int32_t)a
  kCallRoute,      // push pc+1, pc = routes[a].entry; depth bounded by kMaxRouteDepth
  kReturn,         // rc = (int32_t)a; pop pc (in the top-level route: ends the script like exit)
  kExit,           // end of script; keeps the pending action (a forward already asked for)
  kDrop,           // end of script; cancels the implicit action
  kUriIsMyself,    // rc = R-URI host[:port] in the myself set ? 1 : -1
  kIsMethod,       // rc = request method in bitmask a (bits of MethodBit) or, when b != 0,
                   //   equal (case-sensitive, as Kamailio) to strings[b-1] ? 1 : -1
  kSlSendReply,    // stateless reply: code a, reason strings[b]; rc = 1
  kMfProcessMaxfwd,// maxfwd: a = value to insert when absent; rc = 1, or -1 when the value is 0
  kDsSelectDst,    // dispatcher: set a, algorithm b; sets $du; rc = 1, or -1 when none is usable
  kForward,        // stateless forward to $du, else the R-URI; rc = 1 / -1
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
  uint8_t pad = 0;
  uint16_t b = 0;
  uint32_t a = 0;
};
static_assert(sizeof(Insn) == 8);

inline constexpr uint32_t kMaxRouteDepth = 256;  // Kamailio's max_recursive_level default

struct Route {
  std::string name;  // "" for request_route / route { }
  uint32_t entry = 0;  // pc of its first instruction
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

struct Program {
  std::vector<Insn> code;
  std::vector<SourceLoc> locs;      // parallel to code
  std::vector<std::string> strings; // operand pool
  std::vector<Route> routes;        // routes[0] is request_route (main)

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
  bool use_dst_blocklist = false;   // use_dst_blocklist (or use_dst_blacklist)
  int dst_blocklist_expire = 60;    // dst_blocklist_expire (or dst_blacklist_expire), seconds

  // modparam("dispatcher", "list_file", ...), resolved against the script's directory when
  // relative; empty when the script loads no dispatcher.
  std::string ds_list_file;
};

}  // namespace viaduct::cfg
