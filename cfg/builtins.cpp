// SPDX-License-Identifier: Apache-2.0
#include "cfg/builtins.hpp"

#include <algorithm>
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
    CoreParamInfo{"server_signature", ValueKind::kBool},
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
    ModuleInfo{"cfg_rpc", false}, ModuleInfo{"xlog", false},  ModuleInfo{"siputils", false},
    ModuleInfo{"rr", false},      ModuleInfo{"sanity", false},ModuleInfo{"ipops", false},
    // tm: stateful forwarding belongs to the slow path; the module loads (so a script can keep
    // its loadmodule) and each of its functions is a check-time error naming the slow path.
    ModuleInfo{"tm", false},
    ModuleInfo{"pike", true},
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
    ModParamInfo{"dispatcher", "ds_ping_latency_stats", true},
    ModParamInfo{"dispatcher", "ds_latency_estimator_alpha", true},
    ModParamInfo{"dispatcher", "xavp_dst", false},
    ModParamInfo{"dispatcher", "xavp_ctx", false},
    ModParamInfo{"dispatcher", "hash_pvar", false},
    ModParamInfo{"dispatcher", "force_dst", true},
    ModParamInfo{"dispatcher", "xavp_dst_mode", true},
    ModParamInfo{"dispatcher", "xavp_ctx_mode", true},
    ModParamInfo{"dispatcher", "ds_attrs_none", true},
    ModParamInfo{"dispatcher", "ds_default_socket", false},
    // viaduct's own: "maglev" (default) or "kamailio" (see dataplane/snapshot.hpp DsHashMode).
    // Kamailio rejects it: guard it with #!ifdef VIADUCT in a script both must run.
    ModParamInfo{"dispatcher", "ds_hash_mode", false},
    ModParamInfo{"maxfwd", "max_limit", true},
    ModParamInfo{"sl", "bind_tm", true},
    ModParamInfo{"pike", "sampling_time_unit", true},
    ModParamInfo{"pike", "reqs_density_per_unit", true},
    ModParamInfo{"pike", "remove_latency", true},
};

// Route kinds as Kamailio 5.6.3's `kamailio -c` accepts each function (measured: request_route,
// reply_route, onreply_route[X], failure_route[X], branch_route[X], onsend_route); event routes
// are viaduct's own rule (the dispatcher's events run without a packet to send or rewrite).
constexpr uint8_t kRFB = kInRequest | kInReply | kInFailure | kInBranch;  // not onsend_route
constexpr uint8_t kRF = kInRequest | kInFailure;
constexpr std::array kFunctions = {
    // Lowered by the compiler itself (fn kCount); the route kinds are checked as for the others.
    FunctionInfo{"route", "", 1, 1, Fn::kCount, kInAny},
    FunctionInfo{"forward", "", 0, 2, Fn::kCount, kRFB, "", kInReply},
    FunctionInfo{"drop", "", 0, 0, Fn::kCount, kInAny},
    FunctionInfo{"exit", "", 0, 0, Fn::kCount, kInAny},
    // In textops, as in Kamailio: a script viaduct accepts must also start in Kamailio.
    FunctionInfo{"is_method", "textops", 1, 1, Fn::kCount, kInAny},
    FunctionInfo{"sl_send_reply", "sl", 2, 2, Fn::kCount, kInRequest},
    FunctionInfo{"mf_process_maxfwd_header", "maxfwd", 1, 2, Fn::kCount, kInRequest},
    FunctionInfo{"ds_select_dst", "dispatcher", 2, 3, Fn::kCount, kRF},
    // Table-driven: a row here and a run hook in dataplane/vm.cpp (kFnHooks).
    FunctionInfo{"send_reply", "sl", 2, 2, Fn::kSendReply, kRF | kInReply, "Is", kInReply},
    FunctionInfo{"setflag", "", 1, 1, Fn::kSetFlag, kInAny, "i"},
    FunctionInfo{"resetflag", "", 1, 1, Fn::kResetFlag, kInAny, "i"},
    FunctionInfo{"isflagset", "", 1, 1, Fn::kIsFlagSet, kInAny, "i"},
    FunctionInfo{"force_rport", "", 0, 0, Fn::kForceRport, kRFB, "", kInReply},
    FunctionInfo{"add_local_rport", "", 0, 0, Fn::kAddLocalRport, kRFB, "", kInReply},
    FunctionInfo{"set_advertised_address", "", 1, 1, Fn::kSetAdvAddress, kRFB, "c", kInReply},
    FunctionInfo{"set_advertised_port", "", 1, 1, Fn::kSetAdvPort, kRFB, "i", kInReply},
    FunctionInfo{"udp_mtu_try_proto", "", 1, 1, Fn::kUdpMtuTryProto, kRFB, "c", kInReply},
    FunctionInfo{"force_send_socket", "", 1, 1, Fn::kForceSendSocket, kRFB, "c", kInReply},
    FunctionInfo{"sethost", "", 1, 1, Fn::kSetHost, kRFB, "s", kInReply},
    FunctionInfo{"rewritehost", "", 1, 1, Fn::kSetHost, kRFB, "s", kInReply},
    FunctionInfo{"setport", "", 1, 1, Fn::kSetPort, kRFB, "s", kInReply},
    FunctionInfo{"rewriteport", "", 1, 1, Fn::kSetPort, kRFB, "s", kInReply},
    FunctionInfo{"setuser", "", 1, 1, Fn::kSetUser, kRFB, "s", kInReply},
    FunctionInfo{"rewriteuser", "", 1, 1, Fn::kSetUser, kRFB, "s", kInReply},
    FunctionInfo{"rewriteuri", "", 1, 1, Fn::kRewriteUri, kRFB, "s", kInReply},
    FunctionInfo{"seturi", "", 1, 1, Fn::kRewriteUri, kRFB, "s", kInReply},
    FunctionInfo{"rewritehostport", "", 1, 1, Fn::kRewriteHostPort, kRFB, "s", kInReply},
    FunctionInfo{"sethostport", "", 1, 1, Fn::kRewriteHostPort, kRFB, "s", kInReply},
    FunctionInfo{"prefix", "", 1, 1, Fn::kPrefix, kRFB, "s", kInReply},
    FunctionInfo{"strip", "", 1, 1, Fn::kStrip, kRFB, "I", kInReply},
    FunctionInfo{"revert_uri", "", 0, 0, Fn::kRevertUri, kRFB, "", kInReply},
    FunctionInfo{"has_totag", "siputils", 0, 0, Fn::kHasTotag, kInAny, ""},
    FunctionInfo{"is_present_hf", "textops", 1, 1, Fn::kIsPresentHf, kInAny, "c"},
    FunctionInfo{"append_hf", "textops", 1, 2, Fn::kAppendHf, kRFB | kInOnSend, "sc"},
    // On a relayed reply (reply_route) the lines go where our Via was when it was on top.
    FunctionInfo{"insert_hf", "textops", 1, 2, Fn::kInsertHf, kRFB | kInOnSend, "sc"},
    FunctionInfo{"remove_hf", "textops", 1, 1, Fn::kRemoveHf, kRFB | kInOnSend, "c"},
    FunctionInfo{"record_route", "rr", 0, 1, Fn::kRecordRoute, kRF | kInBranch, "s"},
    FunctionInfo{"loose_route", "rr", 0, 0, Fn::kLooseRoute, kInRequest, ""},
    FunctionInfo{"is_in_subnet", "ipops", 2, 2, Fn::kIsInSubnet, kInAny, "sc"},
    FunctionInfo{"sanity_check", "sanity", 0, 2, Fn::kSanityCheck, kInRequest | kInReply, "ii",
                 kInReply},
    FunctionInfo{"sanity_reply", "sanity", 0, 0, Fn::kSanityReply, kInRequest | kInReply, "",
                 kInReply},
    FunctionInfo{"xlog", "xlog", 1, 2, Fn::kXlog, kInAny, "ss"},
    FunctionInfo{"log", "", 1, 2, Fn::kXlog, kInAny, "ss"},
    FunctionInfo{"is_myself", "kex", 1, 1, Fn::kIsMyselfFn, kInAny, "s"},
    FunctionInfo{"search", "textops", 1, 1, Fn::kSearch, kInAny, "c"},
    FunctionInfo{"ds_select_domain", "dispatcher", 2, 3, Fn::kDsSelect, kRF, "III"},
    FunctionInfo{"ds_select", "dispatcher", 2, 3, Fn::kDsSelect, kInAny, "III"},
    FunctionInfo{"ds_next_dst", "dispatcher", 0, 0, Fn::kDsNext, kRF, ""},
    FunctionInfo{"ds_next_domain", "dispatcher", 0, 0, Fn::kDsNext, kRF, ""},
    FunctionInfo{"ds_set_dst", "dispatcher", 0, 0, Fn::kDsSet, kRF, ""},
    FunctionInfo{"ds_set_domain", "dispatcher", 0, 0, Fn::kDsSet, kRF, ""},
    FunctionInfo{"ds_mark_dst", "dispatcher", 0, 1, Fn::kDsMarkDst, kRF | kInReply, "c", kInReply},
    FunctionInfo{"ds_is_from_list", "dispatcher", 0, 3, Fn::kDsIsFromList, kRFB | kInEvent, "IIs"},
    FunctionInfo{"ds_list_exists", "dispatcher", 1, 1, Fn::kDsListExists, kInAny, "I"},
    FunctionInfo{"ds_list_exist", "dispatcher", 1, 1, Fn::kDsListExists, kInAny, "I"},
    FunctionInfo{"ds_is_active", "dispatcher", 1, 2, Fn::kDsIsActive, kInAny, "Is"},
    FunctionInfo{"ds_mark_addr", "dispatcher", 3, 3, Fn::kDsMarkAddr, kRF, "cIs"},
    FunctionInfo{"pike_check_req", "pike", 0, 0, Fn::kPikeCheckReq, kInRequest | kInReply, ""},
    FunctionInfo{"pike_check_ip", "pike", 1, 1, Fn::kPikeCheckIp, kInRequest | kInReply, "s"},
};

// Kamailio functions scripts commonly use that viaduct does not implement yet.
constexpr std::array<std::string_view, 8> kNotYet = {
    "forward_udp", "forward_tcp", "forward_tls", "send",      "send_tcp",
    "xdbg",        "xinfo",       "sl_reply_error",
};

// tm's functions Kamailio scripts use most; any other t_* name of tm is "unknown".
constexpr std::array<std::string_view, 14> kSlowPath = {
    "t_relay",          "t_on_failure",   "t_on_reply",      "t_on_branch",     "t_check_trans",
    "t_newtran",        "t_reply",        "t_check_status",  "t_branch_timeout", "t_branch_replied",
    "t_set_fr",         "t_load_contacts", "t_next_contacts", "t_forward_nonack",
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

const FunctionInfo* find_function(std::string_view name, Unsupported& why) {
  why = Unsupported::kUnknown;
  for (const FunctionInfo& f : kFunctions) {
    if (f.name == name) {
      return &f;
    }
  }
  if (std::find(kNotYet.begin(), kNotYet.end(), name) != kNotYet.end()) {
    why = Unsupported::kNotYet;
  } else if (std::find(kSlowPath.begin(), kSlowPath.end(), name) != kSlowPath.end()) {
    why = Unsupported::kSlowPath;
  }
  return nullptr;
}

}  // namespace viaduct::cfg
