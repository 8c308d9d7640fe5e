// SPDX-License-Identifier: Apache-2.0
// cfg/builtins.hpp: what viaduct knows of Kamailio's core parameters, modules, module parameters
// and functions. One table each; the compiler checks scripts against them.
#pragma once

#include <cstdint>
#include <string_view>

#include "cfg/program.hpp"

namespace viaduct::cfg {

enum class ValueKind : uint8_t {
  kInt,        // 10, -1, 0x10
  kBool,       // yes/no/on/off/true/false/enable/disable or an integer
  kString,     // "..."
  kWord,       // a string or an identifier (log_facility=LOG_LOCAL0)
  kIntOrWord,  // tos=0x10 or tos=IPTOS_LOWDELAY
  kListen,     // [proto:]addr[:port] [advertise addr[:port]]
  kAlias,      // [proto:]host[:port], one or more
};

struct CoreParamInfo {
  std::string_view name;
  ValueKind kind;
};
// nullptr when `name` is not a core parameter viaduct accepts.
const CoreParamInfo* find_core_param(std::string_view name);

struct ModuleInfo {
  std::string_view name;
  bool checks_params;  // false: modparams are accepted and ignored (with a warning)
};
// nullptr when viaduct does not implement (or accept) the module.
const ModuleInfo* find_module(std::string_view name);

struct ModParamInfo {
  std::string_view module;
  std::string_view name;
  bool is_int;
};
const ModParamInfo* find_modparam(std::string_view module, std::string_view name);

// Route kinds a function may be used in (bits of 1 << RouteKind value, cfg/ast.hpp order:
// request, sub, reply, onreply, failure, branch, onsend, event). Sub-routes are checked as the
// request route that calls them.
inline constexpr uint8_t kInRequest = 1u << 0;
inline constexpr uint8_t kInReply = (1u << 2) | (1u << 3);
inline constexpr uint8_t kInFailure = 1u << 4;
inline constexpr uint8_t kInBranch = 1u << 5;
inline constexpr uint8_t kInOnSend = 1u << 6;
inline constexpr uint8_t kInEvent = 1u << 7;
inline constexpr uint8_t kInAny = 0xff;
// Kamailio's core reply_route and tm's onreply_route[NAME] (ONREPLY_ROUTE = both).
inline constexpr uint8_t kInCoreReply = 1u << 2;

// Argument kinds, one letter per argument in FunctionInfo::args:
//   'i' an integer (a number or a decimal string; constant unless 'I')
//   'I' an integer, a pseudo-variable allowed
//   's' a string, pseudo-variables in it expanded at run time (Kamailio's spve fixup)
//   'c' a constant string
//   'p' a pseudo-variable or a string with them
struct FunctionInfo {
  std::string_view name;
  std::string_view module;  // "" for core functions
  uint8_t min_args;
  uint8_t max_args;
  Fn fn = Fn::kCount;       // kCount: lowered by the compiler itself (route, forward(), ...)
  uint8_t routes = kInRequest;
  std::string_view args = "";
  // Route kinds among `routes` where the fast path would not apply the function's effect to
  // what it relays (a rewrite of the R-URI in reply_route, append_hf in onsend_route, where
  // Kamailio has already built the request): "not supported yet" there.
  uint8_t unapplied = 0;
};
// Why a Kamailio function viaduct knows of has no FunctionInfo.
enum class Unsupported : uint8_t {
  kUnknown,   // not a function viaduct knows of
  kNotYet,    // a fast-path function not implemented yet
  kSlowPath,  // tm's: stateful processing, which belongs to the slow path
};
// nullptr when viaduct does not implement `name`; `why` then says which case it is.
const FunctionInfo* find_function(std::string_view name, Unsupported& why);

}  // namespace viaduct::cfg
