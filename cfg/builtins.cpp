// SPDX-License-Identifier: Apache-2.0
#include "cfg/builtins.hpp"

#include <array>

namespace viaduct::cfg {
namespace {

constexpr std::array kCoreParams = {
    CoreParamInfo{"listen", ValueKind::kListen},
    CoreParamInfo{"alias", ValueKind::kAlias},
    CoreParamInfo{"children", ValueKind::kInt},
    CoreParamInfo{"debug", ValueKind::kInt},
    CoreParamInfo{"log_stderror", ValueKind::kBool},
    CoreParamInfo{"log_facility", ValueKind::kWord},
    CoreParamInfo{"fork", ValueKind::kBool},
    CoreParamInfo{"auto_aliases", ValueKind::kBool},
    CoreParamInfo{"memdbg", ValueKind::kInt},
    CoreParamInfo{"memlog", ValueKind::kInt},
    CoreParamInfo{"mhomed", ValueKind::kBool},
    CoreParamInfo{"server_header", ValueKind::kString},
    CoreParamInfo{"user_agent_header", ValueKind::kString},
    CoreParamInfo{"sip_warning", ValueKind::kBool},
    CoreParamInfo{"tcp_children", ValueKind::kInt},
    CoreParamInfo{"disable_tcp", ValueKind::kBool},
    CoreParamInfo{"enable_tls", ValueKind::kBool},
    CoreParamInfo{"udp4_raw", ValueKind::kInt},
    CoreParamInfo{"udp4_raw_mtu", ValueKind::kInt},
    CoreParamInfo{"udp4_raw_ttl", ValueKind::kInt},
    CoreParamInfo{"use_dst_blacklist", ValueKind::kBool},
    CoreParamInfo{"use_dst_blocklist", ValueKind::kBool},
    CoreParamInfo{"dst_blacklist_expire", ValueKind::kInt},
    CoreParamInfo{"dst_blocklist_expire", ValueKind::kInt},
    CoreParamInfo{"tos", ValueKind::kIntOrWord},
    CoreParamInfo{"max_while_loops", ValueKind::kInt},
};

// Implemented modules first; the others are accepted because a Kamailio script loads them for
// things viaduct does differently (management, logging, pseudo-variables).
constexpr std::array kModules = {
    ModuleInfo{"sl", true},       ModuleInfo{"maxfwd", true}, ModuleInfo{"dispatcher", true},
    ModuleInfo{"textops", true},  ModuleInfo{"pv", false},    ModuleInfo{"kex", false},
    ModuleInfo{"corex", false},   ModuleInfo{"ctl", false},   ModuleInfo{"jsonrpcs", false},
    ModuleInfo{"cfg_rpc", false}, ModuleInfo{"xlog", false},
};

constexpr std::array kModParams = {
    ModParamInfo{"dispatcher", "list_file", false},
    ModParamInfo{"dispatcher", "flags", true},
    ModParamInfo{"dispatcher", "use_default", true},
    ModParamInfo{"dispatcher", "ds_ping_interval", true},
    ModParamInfo{"dispatcher", "ds_probing_mode", true},
    ModParamInfo{"dispatcher", "ds_ping_method", false},
    ModParamInfo{"dispatcher", "ds_ping_from", false},
    ModParamInfo{"dispatcher", "ds_probing_threshold", true},
    ModParamInfo{"dispatcher", "ds_inactive_threshold", true},
    ModParamInfo{"dispatcher", "ds_ping_reply_codes", false},
    ModParamInfo{"dispatcher", "xavp_dst", false},
    ModParamInfo{"dispatcher", "xavp_ctx", false},
    ModParamInfo{"dispatcher", "hash_pvar", false},
    // viaduct's own: "maglev" (default) or "kamailio" (see dataplane/snapshot.hpp DsHashMode).
    // Kamailio rejects it: guard it with #!ifdef VIADUCT in a script both must run.
    ModParamInfo{"dispatcher", "ds_hash_mode", false},
    ModParamInfo{"maxfwd", "max_limit", true},
    ModParamInfo{"sl", "bind_tm", true},
};

constexpr std::array kFunctions = {
    FunctionInfo{"route", "", 1, 1},
    FunctionInfo{"forward", "", 0, 1},
    FunctionInfo{"drop", "", 0, 0},
    FunctionInfo{"exit", "", 0, 0},
    // In textops, as in Kamailio: a script viaduct accepts must also start in Kamailio.
    FunctionInfo{"is_method", "textops", 1, 1},
    FunctionInfo{"sl_send_reply", "sl", 2, 2},
    FunctionInfo{"mf_process_maxfwd_header", "maxfwd", 1, 2},
    FunctionInfo{"ds_select_dst", "dispatcher", 2, 3},
};

// Kamailio functions scripts commonly use that viaduct does not implement yet.
constexpr std::array<std::string_view, 40> kKnownUnsupported = {
    "forward_udp",
    "forward_tcp",
    "forward_tls",
    "send",
    "send_tcp",
    "xlog",
    "xdbg",
    "xinfo",
    "xerr",
    "log",
    "t_relay",
    "t_on_failure",
    "t_on_reply",
    "t_on_branch",
    "t_check_trans",
    "record_route",
    "loose_route",
    "append_hf",
    "remove_hf",
    "is_present_hf",
    "has_totag",
    "force_rport",
    "add_local_rport",
    "setflag",
    "resetflag",
    "isflagset",
    "sl_reply_error",
    "send_reply",
    "ds_is_from_list",
    "ds_next_dst",
    "ds_mark_dst",
    "ds_select_domain",
    "sanity_check",
    "set_forward_no_connect",
    "force_send_socket",
    "rewritehostport",
    "rewritehost",
    "rewriteuri",
    "revert_uri",
    "is_myself",
};

}  // namespace

const CoreParamInfo* find_core_param(std::string_view name) {
  for (const CoreParamInfo& p : kCoreParams) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

const ModuleInfo* find_module(std::string_view name) {
  for (const ModuleInfo& m : kModules) {
    if (m.name == name) {
      return &m;
    }
  }
  return nullptr;
}

const ModParamInfo* find_modparam(std::string_view module, std::string_view name) {
  for (const ModParamInfo& p : kModParams) {
    if (p.module == module && p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

const FunctionInfo* find_function(std::string_view name, bool& known_unsupported) {
  known_unsupported = false;
  for (const FunctionInfo& f : kFunctions) {
    if (f.name == name) {
      return &f;
    }
  }
  for (std::string_view n : kKnownUnsupported) {
    known_unsupported = known_unsupported || n == name;
  }
  return nullptr;
}

}  // namespace viaduct::cfg
