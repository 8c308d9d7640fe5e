// SPDX-License-Identifier: Apache-2.0
#include "cfg/compile.hpp"

#include <arpa/inet.h>  // inet_pton: IPv6 networks

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/ast.hpp"
#include "cfg/builtins.hpp"
#include "cfg/deep_stack.hpp"
#include "cfg/dslist.hpp"
#include "cfg/dspvar.hpp"
#include "cfg/lexer.hpp"
#include "cfg/net.hpp"
#include "cfg/parser.hpp"

namespace viaduct::cfg {

uint64_t next_program_serial() noexcept {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}
namespace {

constexpr std::string_view kDefaultDsListFile = "/etc/kamailio/dispatcher.list";
constexpr int64_t kSanityMaxChecks = (1 << 15) - 1;  // sanity's checks: 1 .. 1 << 14
constexpr uint32_t kRcTrue = 1;
constexpr uint32_t kRcFalse = static_cast<uint32_t>(-1);

struct MethodName {
  std::string_view name;
  uint32_t bit;
};
constexpr MethodName kMethods[] = {
    {"INVITE", kMethodInvite},       {"ACK", kMethodAck},           {"BYE", kMethodBye},
    {"CANCEL", kMethodCancel},       {"REGISTER", kMethodRegister}, {"OPTIONS", kMethodOptions},
    {"INFO", kMethodInfo},           {"UPDATE", kMethodUpdate},     {"PRACK", kMethodPrack},
    {"SUBSCRIBE", kMethodSubscribe}, {"NOTIFY", kMethodNotify},     {"REFER", kMethodRefer},
    {"MESSAGE", kMethodMessage},     {"PUBLISH", kMethodPublish},
};

std::string upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return r;
}

std::string where(const SourceLoc& l) {
  return l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
}

// A module name from loadmodule's argument: "/usr/lib/kamailio/modules/sl.so" -> "sl".
std::string module_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash != std::string_view::npos) {
    path.remove_prefix(slash + 1);
  }
  if (path.ends_with(".so")) {
    path.remove_suffix(3);
  }
  return std::string(path);
}

// True when `s` holds a pseudo-variable reference ("$ru", "$(hdr(X))", "$var(x)").
bool has_pvar(std::string_view s) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    const char c = s[i + 1];
    if (s[i] == '$' && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '(' || c == '_')) {
      return true;
    }
  }
  return false;
}

// An integer written as a number or as a decimal string ("404").
bool int_value(const Expr& e, int64_t& out) {
  if (e.kind == Expr::Kind::kInt) {
    out = e.num;
    return true;
  }
  if (e.kind != Expr::Kind::kString || e.text.empty() || e.text.size() > 18) {
    return false;
  }
  std::string_view s = e.text;
  bool neg = false;
  if (s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return false;
  }
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  out = neg ? -v : v;
  return true;
}

class Compiler {
 public:
  Compiler(const Script& script, const std::string& file, const std::string& base_dir, Program& out,
           Diagnostics& diags)
      : script_(script), file_(file), base_dir_(base_dir), out_(out), diags_(diags) {}

  void run() {
    declarations();
    modules();
    core_params();
    modparams();
    route_table();
    for (size_t i = 0; i < order_.size(); ++i) {
      const RouteDef& r = *order_[i];
      // Each route is checked for its kind (event routes run on the control thread; a
      // sub-route for every kind of route that reaches it, request_route when none does);
      // event routes viaduct never runs are checked as Kamailio does, as request routes.
      route_desc_ = std::string(describe(r));
      if (r.kind == RouteKind::kSub) {
        const auto k = sub_kinds_.find(r.name);
        route_bit_ = k == sub_kinds_.end() ? kInRequest : k->second;
        const auto c = callers_.find(r.name);
        if (c != callers_.end() && c->second->kind != RouteKind::kRequest) {
          route_desc_ = "route[" + r.name + "] (reached from " + out_.routes[top_index(c->second)].name + ")";
        }
      } else if (r.kind == RouteKind::kEvent) {
        route_bit_ = out_.routes[i].not_run.empty() ? kInEvent : kInRequest;
        route_desc_ = out_.routes[i].name;
      } else {
        route_bit_ = kind_bit(r.kind);
        if (r.kind != RouteKind::kRequest) {
          route_desc_ = out_.routes[i].name;
        }
      }
      out_.routes[i].entry = static_cast<uint32_t>(out_.code.size());
      if (r.kind == RouteKind::kReply || r.kind == RouteKind::kSub) {
        // A route that runs off its end has the value of the last action it ran (Kamailio's
        // run_actions()): a function's or route()'s, 0 after a switch's or while's break, 1
        // after an assignment or an if whose condition failed (measured, 5.6.3). reply_route
        // relays the reply when it is positive; a sub-route's is route()'s value and $rc.
        // The top routes' value is not used.
        tail_stmt(r.body, Tail{});
      } else {
        stmt(r.body);
      }
      emit(Op::kReturn, kRcTrue, 0, r.loc);
    }
    fuse_jumps();
    compile_regexes();
    shv_table();
    if (out_.vars.size() > kMaxScriptVars) {
      error(SourceLoc{file_, 0, 0}, "more than " + std::to_string(kMaxScriptVars) +
                                         " distinct $var names");
    }
    if (out_.avps.size() > kMaxScriptAvps) {
      error(SourceLoc{file_, 0, 0}, "more than " + std::to_string(kMaxScriptAvps) +
                                         " distinct $avp names");
    }
  }

 private:
  // `if (f())` is `call f; jump_if_false`, `if (!f())` is `call f; not; jump_if_false`, a
  // `case` of `switch ($rm)` is `method_eq; jump_if_true`: an instruction that sets rc is
  // marked to take the jump that follows it itself (Insn::fused_jump 1), or the not and the
  // jump (2). The not and the jump stay in the code for whatever jumps to them directly.
  void fuse_jumps() {
    std::vector<Insn>& code = out_.code;
    const auto cond_jump = [&](size_t i) {
      return i < code.size() &&
             (code[i].op == Op::kJumpIfFalse || code[i].op == Op::kJumpIfTrue);
    };
    for (size_t i = 0; i + 1 < code.size(); ++i) {
      switch (code[i].op) {
        case Op::kNot:
        case Op::kMethodEq:
          if (cond_jump(i + 1)) {
            code[i].fused_jump = 1;
          }
          break;
        case Op::kCallFn:
        case Op::kRegexMatch:
        case Op::kMfProcessMaxfwd:
        case Op::kUriIsMyself:
        case Op::kIsMethod:
        case Op::kCompare:
        case Op::kTest:
        case Op::kIpMatch:
        case Op::kIsMyself:
          if (cond_jump(i + 1)) {
            code[i].fused_jump = 1;
          } else if (code[i + 1].op == Op::kNot && cond_jump(i + 2)) {
            code[i].fused_jump = 2;
          }
          break;
        default:
          break;
      }
    }
    // `$pv =~ "re"` (push_pv; regex_match): the push_pv becomes one kRegexMatchPv that does
    // both, with the regex_match's operands and fused jump; the regex_match stays after it.
    for (size_t i = 0; i + 1 < code.size(); ++i) {
      if (code[i].op == Op::kPushPv && code[i + 1].op == Op::kRegexMatch) {
        const Insn& m = code[i + 1];
        code[i] = Insn{Op::kRegexMatchPv, m.fused_jump, m.b, m.a, 0,
                       static_cast<uint16_t>(code[i].a)};
      }
    }
    // `case "INVITE": case "ACK": ...` of `switch ($rm)`: a chain of two or more (method_eq
    // of a known method, jump_if_true) pairs is one table lookup, kMethodSwitch, written over
    // its first method_eq. A method that no case names falls through past the chain (where
    // the last jump_if_true would have left it); the first case naming it wins, as in order.
    for (size_t i = 0; i + 3 < code.size(); ++i) {
      size_t k = i;
      while (k + 1 < code.size() && code[k].op == Op::kMethodEq && code[k].b != 0 &&
             code[k].b < kMethodValues && code[k + 1].op == Op::kJumpIfTrue) {
        k += 2;
      }
      if (k - i < 4 || out_.method_tables.size() > UINT16_MAX) {
        continue;  // (Insn::c holds the table's index)
      }
      MethodTable t;
      for (uint32_t m = 0; m < kMethodValues; ++m) {
        t.to[m] = static_cast<uint32_t>(k);
      }
      for (size_t j = i; j < k; j += 2) {
        const uint32_t m = code[j].b;
        if (((t.hit >> m) & 1u) == 0) {
          t.to[m] = code[j + 1].a;
          t.hit |= 1u << m;
        }
      }
      code[i].op = Op::kMethodSwitch;
      code[i].fused_jump = 0;
      code[i].c = static_cast<uint16_t>(out_.method_tables.size());
      out_.method_tables.push_back(t);
      i = k - 1;
    }
    // A fused jump's target and sense, in the instruction that takes it.
    for (size_t i = 0; i < code.size(); ++i) {
      if (code[i].fused_jump != 0) {
        const Insn& j = code[i + code[i].fused_jump + (code[i].op == Op::kRegexMatchPv ? 1 : 0)];
        code[i].to = j.a;
        code[i].jump_true = j.op == Op::kJumpIfTrue ? 1 : 0;
      }
    }
  }

  void error(const SourceLoc& loc, std::string msg) {
    diags_.push_back(
        Diagnostic{Diagnostic::Severity::kError, loc.file, loc.line, loc.col, std::move(msg)});
  }
  void warning(const SourceLoc& loc, std::string msg) {
    diags_.push_back(
        Diagnostic{Diagnostic::Severity::kWarning, loc.file, loc.line, loc.col, std::move(msg)});
  }

  // Declarations the parser accepts (Kamailio syntax) that viaduct does not implement yet.
  void declarations() {
    // flags NAME[:BIT]: names for message flags, usable in setflag(NAME) & co. A name without
    // a bit gets the lowest bit no declaration took (Kamailio's register_flag(name, -1)).
    uint32_t used = 0;
    for (const FlagDecl& f : script_.flags) {
      if (f.avp) {
        error(f.loc, "'avpflags' declarations are not supported");
        continue;
      }
      if (f.bit > 31) {
        error(f.loc, "flag '" + f.name + "': bit " + std::to_string(f.bit) + " is not 0..31");
        continue;
      }
      if (f.bit >= 0) {
        if ((used >> f.bit) & 1u) {
          error(f.loc, "flag bit " + std::to_string(f.bit) + " declared twice");
        }
        used |= 1u << f.bit;
      }
    }
    for (const FlagDecl& f : script_.flags) {
      if (f.avp || f.bit > 31) {
        continue;
      }
      int64_t bit = f.bit;
      if (bit < 0) {
        bit = 0;
        while (bit < 32 && ((used >> bit) & 1u)) {
          ++bit;
        }
        if (bit == 32) {
          error(f.loc, "no free flag bit for '" + f.name + "'");
          continue;
        }
        used |= 1u << bit;
      }
      if (!flag_names_.emplace(f.name, bit).second) {
        error(f.loc, "flag '" + f.name + "' declared twice");
      }
    }
    for (const CustomParamDef& c : script_.custom_params) {
      error(c.loc, "custom global parameters (group.name = value) are not supported yet");
    }
    if (!script_.cfgengine.empty() && script_.cfgengine != "native" &&
        script_.cfgengine != "default") {
      error(script_.cfgengine_loc,
            "cfgengine \"" + script_.cfgengine + "\" is not supported (only \"native\")");
    }
  }

  // ---- modules and parameters ----

  void modules() {
    for (const LoadModuleDef& m : script_.modules) {
      const std::string name = module_name(m.path);
      if (name.empty()) {
        error(m.loc, "empty module name in loadmodule");
        continue;
      }
      if (find_module(name) == nullptr) {
        error(m.loc, "module '" + name + "' is not implemented by viaduct");
        continue;
      }
      if (loaded_.insert(name).second) {
        out_.modules.push_back(name);
      }
    }
  }

  bool is_loaded(std::string_view name) const { return loaded_.count(std::string(name)) != 0; }

  // Splits a core parameter's value into words: tokens not separated by whitespace form one
  // word ("udp:10.0.0.2:5060" is eleven tokens and one word).
  struct Word {
    std::string text;
    SourceLoc loc;
    bool quoted = false;  // a single string token
  };
  static std::vector<Word> words(const std::vector<Token>& toks) {
    std::vector<Word> ws;
    for (const Token& t : toks) {
      if (ws.empty() || t.space_before) {
        ws.push_back(Word{"", t.loc, t.kind == Tok::kString});
      } else {
        ws.back().quoted = false;
      }
      ws.back().text += t.text;
    }
    return ws;
  }

  void core_params() {
    for (const CoreParamDef& p : script_.params) {
      const CoreParamInfo* info = find_core_param(p.name);
      if (info == nullptr) {
        // Kamailio's other core parameters: those that would change what the fast path sends
        // or where are errors until supported; the rest (process, memory, TCP/TLS, DNS cache,
        // logging tuning...) have nothing to act on in viaduct and only warn.
        static constexpr std::string_view kUnsupported[] = {
            "port",     "advertised_address", "advertised_port", "udp_mtu",
            "udp_mtu_try_proto", "check_via", "reply_to_via", "sip_parser_mode",
        };
        if (!is_kamailio_core_param(p.name)) {
          error(p.loc, "unknown core parameter '" + p.name + "'");
        } else if (std::find(std::begin(kUnsupported), std::end(kUnsupported), p.name) !=
                   std::end(kUnsupported)) {
          error(p.loc, "core parameter '" + p.name + "' is not supported yet");
        } else {
          warning(p.loc, "core parameter '" + p.name + "' has no effect in viaduct");
        }
        continue;
      }
      core_param(p, *info);
    }
  }

  void core_param(const CoreParamDef& p, const CoreParamInfo& info) {
    const std::vector<Token>& v = p.value;
    const Token& first = v.front();
    int64_t num = 0;
    const bool is_int =
        (v.size() == 1 && first.kind == Tok::kInt) ||
        (v.size() == 2 && first.is("-") && v[1].kind == Tok::kInt && !v[1].space_before);
    if (is_int) {
      num = v.size() == 1 ? first.num : -v[1].num;
    }
    const bool is_word = v.size() == 1 && (first.kind == Tok::kIdent || first.kind == Tok::kString);
    switch (info.kind) {
      case ValueKind::kInt:
        if (!is_int || num < std::numeric_limits<int32_t>::min() ||
            num > std::numeric_limits<int32_t>::max()) {
          error(first.loc, "'" + p.name + "' expects an integer");
          return;
        }
        if (p.name == "children") {
          if (num < 1) {
            error(first.loc, "'children' must be at least 1");
            return;
          }
          out_.children = static_cast<int>(num);
        } else if (p.name == "udp4_raw_ttl") {
          if (num < -1 || num > 255 || num == 0) {
            error(first.loc, "'udp4_raw_ttl' must be 1..255, or -1 for the default (64)");
            return;
          }
          out_.udp4_raw_ttl = static_cast<int>(num);
        } else if (p.name == "udp4_raw_mtu") {
          if (num < 576 || num > 9000) {
            error(first.loc, "'udp4_raw_mtu' must be 576..9000");
            return;
          }
          out_.udp4_raw_mtu = static_cast<int>(num);
        }
        if (p.name == "max_while_loops") {
          if (num < 0) {
            error(first.loc, "'max_while_loops' must be 0 (no bound) or more");
            return;
          }
          out_.max_while_loops = static_cast<uint32_t>(num);
        }
        if (p.name == "dst_blocklist_expire" || p.name == "dst_blacklist_expire") {
          if (num < 1) {
            error(first.loc, "'" + p.name + "' must be at least 1 (seconds)");
            return;
          }
          out_.dst_blocklist_expire = static_cast<int>(num);
        }
        return;
      case ValueKind::kBool: {
        static const std::set<std::string, std::less<>> kBoolWords = {
            "yes", "no", "on", "off", "true", "false", "enable", "disable"};
        if (!is_int &&
            !(v.size() == 1 && first.kind == Tok::kIdent && kBoolWords.count(first.text) != 0)) {
          error(first.loc, "'" + p.name + "' expects yes/no (or an integer)");
          return;
        }
        const bool yes = is_int ? num != 0
                                : (first.text == "yes" || first.text == "on" ||
                                   first.text == "true" || first.text == "enable");
        if (p.name == "use_dst_blocklist" || p.name == "use_dst_blacklist") {
          out_.use_dst_blocklist = yes;
        } else if (p.name == "server_signature") {
          out_.server_signature = yes;
        }
        return;
      }
      case ValueKind::kString:
        if (v.size() != 1 || first.kind != Tok::kString) {
          error(first.loc, "'" + p.name + "' expects a string");
          return;
        }
        if (p.name == "server_header") {
          if (first.text.find_first_of("\r\n") != std::string::npos || first.text.size() > 255) {
            error(first.loc, "'server_header' must be one header line of at most 255 characters");
            return;
          }
          out_.server_header = first.text;
        }
        return;
      case ValueKind::kWord:
        if (!is_word) {
          error(first.loc, "'" + p.name + "' expects a name or a string");
        }
        return;
      case ValueKind::kIntOrWord:
        if (!is_int && !is_word) {
          error(first.loc, "'" + p.name + "' expects an integer or a name");
          return;
        }
        if (p.name == "tos") {
          // RFC 1349 names (Kamailio 5.6.3 maps these words differently and ignores unknown
          // ones; viaduct uses the RFC values and rejects unknown names).
          static const std::map<std::string, int, std::less<>> kTos = {
              {"IPTOS_LOWDELAY", 0x10},
              {"IPTOS_THROUGHPUT", 0x08},
              {"IPTOS_RELIABILITY", 0x04},
              {"IPTOS_MINCOST", 0x02},
          };
          if (is_int) {
            if (num < 0 || num > 255) {
              error(first.loc, "'tos' must be 0..255");
              return;
            }
            out_.tos = static_cast<int>(num);
          } else if (const auto it = kTos.find(first.text); it != kTos.end()) {
            out_.tos = it->second;
          } else {
            error(first.loc, "'tos' must be 0..255 or one of IPTOS_LOWDELAY, IPTOS_THROUGHPUT, "
                             "IPTOS_RELIABILITY, IPTOS_MINCOST");
          }
        }
        return;
      case ValueKind::kListen:
        listen(p);
        return;
      case ValueKind::kAlias:
        for (const Word& w : words(v)) {
          SocketSpec s;
          std::string why;
          if (!parse_socket_spec(w.text, s, why)) {
            error(w.loc, "bad alias '" + w.text + "': " + why);
            continue;
          }
          out_.aliases.push_back(Alias{s.host, s.port});
        }
        return;
    }
  }

  void listen(const CoreParamDef& p) {
    const std::vector<Word> ws = words(p.value);
    SocketSpec s;
    std::string why;
    if (!parse_socket_spec(ws[0].text, s, why)) {
      error(ws[0].loc, "bad listen address '" + ws[0].text + "': " + why);
      return;
    }
    if (s.has_proto && s.proto == Proto::kSctp) {
      error(ws[0].loc, "sctp listen sockets are not supported");
      return;
    }
    ListenSocket l;
    l.proto = s.has_proto ? s.proto : Proto::kUdp;
    l.addr = s.host;
    l.port = s.port != 0 ? s.port : 5060;
    size_t i = 1;
    while (i < ws.size()) {
      if (ws[i].text == "advertise" && !ws[i].quoted) {
        if (i + 1 >= ws.size()) {
          error(ws[i].loc, "missing address after 'advertise'");
          return;
        }
        SocketSpec a;
        if (!parse_socket_spec(ws[i + 1].text, a, why) || a.has_proto) {
          error(ws[i + 1].loc, "bad advertise address '" + ws[i + 1].text + "'" +
                                   (why.empty() ? std::string() : ": " + why));
          return;
        }
        l.advertise_addr = a.host;
        l.advertise_port = a.port;
        i += 2;
      } else if ((ws[i].text == "name" || ws[i].text == "virtual") && !ws[i].quoted) {
        error(ws[i].loc, "listen option '" + ws[i].text + "' is not supported yet");
        return;
      } else {
        error(ws[i].loc, "unexpected '" + ws[i].text +
                             "' in listen (one socket per listen line; options: advertise)");
        return;
      }
    }
    out_.listens.push_back(std::move(l));
  }

  void modparams() {
    bool has_list_file = false;
    for (const ModParamDef& m : script_.modparams) {
      // "acc|auth_db" sets the parameter of several modules.
      std::string_view mods = m.module;
      while (true) {
        const size_t bar = mods.find('|');
        modparam(m, std::string(mods.substr(0, bar)), has_list_file);
        if (bar == std::string_view::npos) {
          break;
        }
        mods.remove_prefix(bar + 1);
      }
    }
    if (is_loaded("dispatcher") && !has_list_file) {
      out_.ds_list_file = std::string(kDefaultDsListFile);
    }
  }

  void modparam(const ModParamDef& m, const std::string& mod, bool& has_list_file) {
    const ModuleInfo* info = find_module(mod);
    if (info == nullptr) {
      error(m.module_loc, "modparam for module '" + mod + "', which is not implemented by viaduct");
      return;
    }
    if (!is_loaded(mod)) {
      error(m.module_loc, "modparam for module '" + mod + "', which is not loaded (loadmodule \"" +
                              mod + ".so\")");
      return;
    }
    if (mod == "pv" && m.name == "shvset") {
      shvset(m);
      return;
    }
    if (mod == "rr" && rr_modparam(m)) {
      return;
    }
    if (mod == "sanity" && sanity_modparam(m)) {
      return;
    }
    if (!info->checks_params) {
      warning(m.loc, "modparam(\"" + mod + "\", \"" + m.name + "\") is ignored by viaduct");
      return;
    }
    if (mod == "pike" && m.name == "pike_log_level") {
      warning(m.loc, "modparam(\"pike\", \"pike_log_level\") is ignored by viaduct (a worker "
                     "does not log)");
      return;
    }
    if (mod == "dispatcher" && dispatcher_param_elsewhere(m)) {
      return;
    }
    const ModParamInfo* p = find_modparam(mod, m.name);
    if (p == nullptr) {
      error(m.name_loc, "unknown parameter '" + m.name + "' of module '" + mod + "'");
      return;
    }
    ModParam out{mod, m.name, "", p->is_int};
    if (p->is_int) {
      int64_t n = 0;
      if (!int_value(m.value, n) || n < std::numeric_limits<int32_t>::min() ||
          n > std::numeric_limits<int32_t>::max()) {
        error(m.value.loc, "parameter '" + m.name + "' of module '" + mod + "' expects an integer");
        return;
      }
      out.value = std::to_string(n);
    } else {
      if (m.value.kind != Expr::Kind::kString) {
        error(m.value.loc, "parameter '" + m.name + "' of module '" + mod + "' expects a string");
        return;
      }
      out.value = m.value.text;
    }
    if (mod == "dispatcher" && m.name == "ds_hash_mode" && out.value != "maglev" &&
        out.value != "kamailio") {
      error(m.value.loc, "ds_hash_mode must be \"maglev\" (consistent hashing, the default) or "
                         "\"kamailio\" (Kamailio's modulo and next entry), not \"" +
                             out.value + "\"");
      return;
    }
    if (mod == "dispatcher" && m.name == "flags" && (std::stoll(out.value) & ~int64_t{3}) != 0) {
      error(m.value.loc, "dispatcher flags " + out.value +
                             " is not supported (1: hash the URI user only; 2: failover list)");
      return;
    }
    if (mod == "pike" && std::stoll(out.value) < (m.name == "sampling_time_unit" ? 1 : 0)) {
      error(m.value.loc, "pike " + m.name + " must be " +
                             (m.name == "sampling_time_unit" ? "at least 1" : "0 or more"));
      return;
    }
    if (mod == "dispatcher" && m.name == "hash_pvar") {
      has_hash_pvar_ = true;  // when it is bad, one error here is enough
      std::vector<DsPvPart> parts;
      std::string why;
      size_t off = 0;
      if (!parse_ds_hash_pvar(out.value, parts, why, off)) {
        SourceLoc at = m.value.loc;
        at.col += static_cast<uint32_t>(off) + 1;  // past the opening quote
        error(at, why);
        return;
      }
    }
    if (mod == "dispatcher" && m.name == "force_dst") {
      ds_force_dst_ = std::stoll(out.value) != 0;
    }
    if (mod == "dispatcher" && m.name == "list_file") {
      if (out.value.empty()) {
        error(m.value.loc, "empty dispatcher list_file");
        return;
      }
      std::filesystem::path path(out.value);
      if (path.is_relative()) {
        path = std::filesystem::path(base_dir_.empty() ? "." : base_dir_) / path;
      }
      out_.ds_list_file = path.lexically_normal().string();
      has_list_file = true;
    }
    out_.modparams.push_back(std::move(out));
  }

  // Kamailio 5.6's dispatcher parameters viaduct does not take (true when `m` is one): those
  // that change nothing a stateless worker decides are accepted with a warning; those that ask
  // for what viaduct does not do are refused, saying why.
  bool dispatcher_param_elsewhere(const ModParamDef& m) {
    struct Param {
      std::string_view name;
      bool refused;
      std::string_view why;
    };
    static constexpr std::string_view kCallLoad =
        "the call-load table of algorithm 10, which viaduct does not run";
    static constexpr std::string_view kDns =
        "destinations are resolved once, when the list is loaded";
    static constexpr std::string_view kDb =
        "viaduct reads the destinations from list_file, not from a database";
    static constexpr std::string_view kPvName =
        "ds_is_from_list() does not set a variable in viaduct yet";
    static constexpr Param kParams[] = {
        {"ds_hash_size", false, kCallLoad},
        {"ds_hash_expire", false, kCallLoad},
        {"ds_hash_initexpire", false, kCallLoad},
        {"ds_hash_check_interval", false, kCallLoad},
        {"ds_timer_mode", false, "viaduct's probes run on its control thread"},
        {"reload_delta", false, "viaduct applies every reload (it builds a new snapshot)"},
        {"ds_load_mode", false,
         "viaduct refuses a list with a bad entry at start and keeps the running one on reload"},
        {"ds_dns_mode", false, kDns},
        {"ds_dns_interval", false, kDns},
        {"ds_dns_ttl", false, kDns},
        {"db_url", true, kDb},
        {"table_name", true, kDb},
        {"setid_col", true, kDb},
        {"destination_col", true, kDb},
        {"flags_col", true, kDb},
        {"priority_col", true, kDb},
        {"attrs_col", true, kDb},
        {"ds_db_extra_attrs", true, kDb},
        {"setid_pvname", true, kPvName},
        {"attrs_pvname", true, kPvName},
        {"outbound_proxy", true, "viaduct sends its probes straight to each destination"},
        {"ds_default_sockname", true,
         "listen names are not supported; use ds_default_socket with the socket's address"},
        {"event_callback", true,
         "KEMI is not supported; use event_route[dispatcher:dst-down] and [dispatcher:dst-up]"},
    };
    for (const Param& p : kParams) {
      if (m.name != p.name) {
        continue;
      }
      if (p.refused) {
        error(m.name_loc, "modparam(\"dispatcher\", \"" + m.name + "\") is not supported: " +
                              std::string(p.why));
      } else {
        warning(m.loc, "modparam(\"dispatcher\", \"" + m.name + "\") is ignored by viaduct: " +
                           std::string(p.why));
      }
      return true;
    }
    return false;
  }

  // sanity's parameters (Kamailio 5.6.3: default_checks, uri_checks, autodrop, noreply,
  // proxy_require); true when `m` was one of them (set, or an error at its value).
  bool sanity_modparam(const ModParamDef& m) {
    if (m.name == "proxy_require") {
      if (m.value.kind != Expr::Kind::kString) {
        error(m.value.loc, "parameter 'proxy_require' of module 'sanity' expects a string");
        return true;
      }
      // A comma-separated list, each token trimmed (Kamailio's parse_str_list).
      std::string_view rest = m.value.text;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        std::string_view t = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
          t.remove_prefix(1);
        }
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
          t.remove_suffix(1);
        }
        if (!t.empty()) {
          out_.sanity_proxy_require.emplace_back(t);
        }
      }
      return true;
    }
    const bool checks = m.name == "default_checks";
    const bool uris = m.name == "uri_checks";
    if (!checks && !uris && m.name != "autodrop" && m.name != "noreply") {
      return false;
    }
    int64_t n = 0;
    if (!int_value(m.value, n)) {
      error(m.value.loc, "parameter '" + m.name + "' of module 'sanity' expects an integer");
      return true;
    }
    const int64_t max = checks ? kSanityMaxChecks : uris ? 15 : INT32_MAX;
    if (n < (checks || uris ? 1 : 0) || n > max) {
      error(m.value.loc, m.name + " must be " + (checks || uris ? "1" : "0") + ".." +
                             std::to_string(max) + ", not " + std::to_string(n));
      return true;
    }
    if (checks) {
      sanity_checks_ = static_cast<int32_t>(n);
    } else if (uris) {
      sanity_uris_ = static_cast<int32_t>(n);
    } else if (m.name == "autodrop") {
      sanity_autodrop_ = n != 0;
    } else {
      sanity_noreply_ = n != 0;
    }
    return true;
  }

  // rr's parameters that change the Record-Route forward() writes (Kamailio 5.6.3's rr:
  // enable_double_rr 0, 1 or 2, enable_full_lr and append_fromtag 0 or 1); true when `m` was one
  // of them (set, or an error at its value). add_username would put the R-URI's user in it:
  // refused until supported. The others are accepted with the usual warning.
  bool rr_modparam(const ModParamDef& m) {
    const bool dbl = m.name == "enable_double_rr";
    if (!dbl && m.name != "enable_full_lr" && m.name != "append_fromtag" &&
        m.name != "add_username") {
      return false;
    }
    int64_t n = 0;
    if (!int_value(m.value, n)) {
      error(m.value.loc, "parameter '" + m.name + "' of module 'rr' expects an integer");
      return true;
    }
    if (m.name == "add_username") {
      if (n != 0) {
        error(m.value.loc, "modparam(\"rr\", \"add_username\", " + std::to_string(n) +
                               ") is not supported yet (only 0, the default)");
      }
      return true;
    }
    if (n < 0 || n > (dbl ? 2 : 1)) {
      error(m.value.loc, dbl ? "enable_double_rr must be 0 (one Record-Route), 1 (two when the "
                               "request leaves from another socket, the default) or 2 (two, "
                               "always), not " + std::to_string(n)
                             : m.name + " must be 0 or 1, not " + std::to_string(n));
      return true;
    }
    if (dbl) {
      out_.rr_double = static_cast<uint8_t>(n);
    } else if (m.name == "enable_full_lr") {
      out_.rr_full_lr = n != 0;
    } else {
      out_.rr_append_fromtag = n != 0;
    }
    return true;
  }

  // ---- routes ----

  static std::string_view describe(const RouteDef& r) {
    return r.kind == RouteKind::kRequest ? std::string_view("request_route") : r.keyword;
  }

  void route_table() {
    const RouteDef* main = nullptr;
    // Top-level routes other than request_route, in source order: what they are called in the
    // Program and, for those viaduct does not run, why.
    std::vector<std::pair<const RouteDef*, std::string>> others;
    std::map<std::string, const RouteDef*> named;  // failure_route[F] & co: unique per kind
    for (const RouteDef& r : script_.routes) {
      const std::string label =
          std::string(r.keyword == "onreply_route" && r.kind == RouteKind::kReply
                          ? std::string_view("reply_route")
                          : std::string_view(r.keyword)) +
          (r.name.empty() ? "" : "[" + r.name + "]");
      switch (r.kind) {
        case RouteKind::kRequest:
          if (main != nullptr) {
            error(r.loc, "duplicate request_route (first defined at " + where(main->loc) + ")");
            continue;
          }
          main = &r;
          break;
        case RouteKind::kSub: {
          auto [it, fresh] = sub_routes_.emplace(r.name, &r);
          if (!fresh) {
            error(r.loc, "duplicate route '" + r.name + "' (first defined at " +
                             where(it->second->loc) + ")");
          }
          break;
        }
        case RouteKind::kReply:
        case RouteKind::kOnSend: {
          // Kamailio 5.6 takes a second reply_route (or onreply_route { }) / onsend_route
          // silently; viaduct refuses it rather than guess which one runs.
          const RouteDef*& slot = r.kind == RouteKind::kReply ? reply_def_ : onsend_def_;
          if (slot != nullptr) {
            error(r.loc, "duplicate " + label + " (first defined at " + where(slot->loc) + ")");
            continue;
          }
          slot = &r;
          others.emplace_back(&r, "");
          break;
        }
        case RouteKind::kOnReply:
        case RouteKind::kFailure:
        case RouteKind::kBranch: {
          auto [it, fresh] = named.emplace(label, &r);
          if (!fresh) {
            error(r.loc, "duplicate " + label + " (first defined at " + where(it->second->loc) +
                             ")");
            continue;
          }
          const char* arm = r.kind == RouteKind::kOnReply ? "t_on_reply"
                            : r.kind == RouteKind::kFailure ? "t_on_failure"
                                                            : "t_on_branch";
          others.emplace_back(&r, std::string("slow path: only tm runs it (armed by ") + arm +
                                      "), and stateful processing belongs to the slow path, "
                                      "which this release does not have");
          break;
        }
        case RouteKind::kEvent:
          if (r.name == "dispatcher:dst-down" || r.name == "dispatcher:dst-up") {
            if (!is_loaded("dispatcher")) {
              error(r.loc, "event_route[" + r.name + "] needs module 'dispatcher'");
              continue;
            }
            auto [it, fresh] = event_routes_.emplace(r.name, &r);
            if (!fresh) {
              error(r.loc, "duplicate event_route[" + r.name + "] (first defined at " +
                               where(it->second->loc) + ")");
            }
            break;
          }
          {
            // Kamailio accepts any event_route[group:name] (the module that raises the event
            // looks it up); viaduct raises only the dispatcher's: the others are checked and
            // never run.
            auto [it, fresh] = named.emplace(label, &r);
            if (!fresh) {
              error(r.loc, "duplicate " + label + " (first defined at " +
                               where(it->second->loc) + ")");
              continue;
            }
            others.emplace_back(&r, "not run: viaduct raises only dispatcher:dst-down and "
                                    "dispatcher:dst-up");
          }
          break;
      }
    }
    if (main == nullptr) {
      error(SourceLoc{file_, 0, 0}, "missing request_route block (the main route)");
      return;
    }
    order_.push_back(main);
    out_.routes.push_back(Route{"", 0, {}});
    for (const RouteDef& r : script_.routes) {
      if (r.kind == RouteKind::kSub && sub_routes_.at(r.name) == &r) {
        route_index_[r.name] = static_cast<uint32_t>(order_.size());
        order_.push_back(&r);
        out_.routes.push_back(Route{r.name, 0, {}});
      }
    }
    for (const auto& [name, idx] : route_index_) {
      out_.named_routes.push_back(idx);  // the map's order: sorted by name
    }
    for (const auto& [name, r] : event_routes_) {
      (name == "dispatcher:dst-down" ? out_.event_dst_down : out_.event_dst_up) =
          static_cast<int32_t>(order_.size());
      order_.push_back(r);
      out_.routes.push_back(Route{"event_route[" + name + "]", 0, {}});
    }
    for (auto& [r, why] : others) {
      const int32_t idx = static_cast<int32_t>(order_.size());
      if (r == reply_def_) {
        out_.reply_route = idx;
      } else if (r == onsend_def_) {
        out_.onsend_route = idx;
      }
      order_.push_back(r);
      std::string label = r->kind == RouteKind::kReply ? std::string("reply_route")
                                                        : std::string(r->keyword);
      if (!r->name.empty() && r->kind != RouteKind::kReply && r->kind != RouteKind::kOnSend) {
        label += "[" + r->name + "]";
      }
      out_.routes.push_back(Route{label, 0, std::move(why)});
    }
    sub_route_kinds();
  }

  // Kamailio checks a function against the kind of the top route that runs it, through any
  // route() calls: a sub-route is checked for every kind of route that reaches it.
  // A route name computed at run time may name any route[...]: kAnyRoute stands for them all.
  static constexpr std::string_view kAnyRoute = "*";
  static void route_calls(const Expr& e, std::vector<std::string>& out) {
    if (e.kind == Expr::Kind::kCall && e.text == "route" && e.kids.size() == 1) {
      const Expr& a = e.kids[0];
      if (a.kind == Expr::Kind::kIdent || a.kind == Expr::Kind::kString) {
        out.push_back(a.text);
      } else if (a.kind == Expr::Kind::kInt) {
        out.push_back(std::to_string(a.num));
      } else {
        out.emplace_back(kAnyRoute);
      }
    }
    for (const Expr& k : e.kids) {
      route_calls(k, out);
    }
  }
  static void route_calls(const Stmt& s, std::vector<std::string>& out) {
    for (const Expr& e : s.exprs) {
      route_calls(e, out);
    }
    for (const Stmt& b : s.body) {
      route_calls(b, out);
    }
  }
  static uint8_t kind_bit(RouteKind k) { return static_cast<uint8_t>(1u << static_cast<unsigned>(k)); }
  void sub_route_kinds() {
    std::map<std::string, std::vector<std::string>, std::less<>> calls;
    for (const auto& [name, r] : sub_routes_) {
      route_calls(r->body, calls[name]);
    }
    // Kinds for which a computed route() has already reached every sub-route: each further one
    // adds nothing (without this, N sub-routes that each compute a route() cost N^2).
    uint8_t reached_all = 0;
    for (const RouteDef* top : order_) {
      if (top->kind == RouteKind::kSub) {
        continue;
      }
      std::vector<std::string> todo;
      route_calls(top->body, todo);
      const bool raised = top->kind == RouteKind::kEvent &&
                          event_routes_.count(std::string(top->name)) != 0;
      const uint8_t bit = raised                            ? kInEvent
                          : top->kind == RouteKind::kEvent ? kInRequest
                                                           : kind_bit(top->kind);
      while (!todo.empty()) {
        const std::string name = std::move(todo.back());
        todo.pop_back();
        if (name == kAnyRoute) {
          // Checked as reached from here, every one of them (a check-time answer for what
          // only the run decides).
          if ((reached_all & bit) != 0) {
            continue;
          }
          reached_all |= bit;
          for (const auto& [n, r] : sub_routes_) {
            if ((sub_kinds_[n] & bit) == 0) {
              todo.push_back(n);
            }
          }
          continue;
        }
        const auto it = sub_routes_.find(name);
        if (it == sub_routes_.end()) {
          continue;
        }
        uint8_t& mask = sub_kinds_[name];
        if ((mask & bit) != 0) {
          continue;
        }
        if (mask == 0 || bit != kInRequest) {
          callers_[name] = top;  // the first caller of another kind, for messages
        }
        mask |= bit;
        for (const std::string& n : calls[name]) {
          todo.push_back(n);
        }
      }
    }
  }
  size_t top_index(const RouteDef* r) const {
    for (size_t i = 0; i < order_.size(); ++i) {
      if (order_[i] == r) {
        return i;
      }
    }
    return 0;
  }

  // A statement in tail position: what it runs last is the route's value (Tail::save false:
  // returned, kTailReturn) or a while loop's in a route's tail (Tail::save: kept in the loop's
  // slot, kTailSave, for the loop's end). Paths that reach the statement's end without a
  // value give 1: the route's final `return 1`, or the slot's 1 stored before each iteration.
  struct Tail {
    bool save = false;
  };
  void tail_value(const Tail& t, uint16_t what, const SourceLoc& loc) {  // what: kTailSave's b
    if (t.save) {
      emit(Op::kTailSave, 0, what, loc);
    } else if (what == 0) {
      emit(Op::kTailReturn, 0, 0, loc);
    } else {
      emit(Op::kTailReturn, what == 1 ? 1u : 0u, 1, loc);
    }
  }
  static size_t last_action(const std::vector<Stmt>& body) {
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i].kind != Stmt::Kind::kEmpty) {
        last = i;
      }
    }
    return last;
  }
  void tail_stmt(const Stmt& s, const Tail& t) {
    switch (s.kind) {
      case Stmt::Kind::kBlock: {
        const size_t last = last_action(s.body);
        for (size_t i = 0; i < s.body.size(); ++i) {
          if (i == last) {
            tail_stmt(s.body[i], t);
          } else {
            stmt(s.body[i]);
          }
        }
        return;
      }
      case Stmt::Kind::kIf: {
        cond(s.exprs[0]);
        const size_t jf = emit(Op::kJumpIfFalse, 0, 0, s.loc);
        tail_stmt(s.body[0], t);
        if (s.body.size() > 1) {
          const size_t j = emit(Op::kJump, 0, 0, s.loc);
          patch_to_here(jf);
          tail_stmt(s.body[1], t);
          patch_to_here(j);
        } else {
          patch_to_here(jf);
        }
        return;
      }
      case Stmt::Kind::kExpr:
        stmt(s);
        if (s.exprs[0].kind == Expr::Kind::kCall) {
          tail_value(t, 0, s.loc);
        }
        return;
      case Stmt::Kind::kSwitch:
        switch_stmt(s, &t);
        return;
      case Stmt::Kind::kWhile:
        while_stmt(s, &t);
        return;
      default:
        stmt(s);
        return;
    }
  }
  const RouteDef* reply_def_ = nullptr;
  const RouteDef* onsend_def_ = nullptr;
  std::map<std::string, uint8_t, std::less<>> sub_kinds_;        // route kinds reaching route[X]
  std::map<std::string, const RouteDef*, std::less<>> callers_;  // a top route reaching it
  std::string sub_desc_;
  std::map<std::string, const RouteDef*> event_routes_;

  // ---- code ----

  size_t emit(Op op, uint32_t a, uint16_t b, const SourceLoc& loc) {
    out_.code.push_back(Insn{op, 0, b, a});
    out_.locs.push_back(loc);
    return out_.code.size() - 1;
  }
  void patch_to_here(size_t at) { out_.code[at].a = static_cast<uint32_t>(out_.code.size()); }

  bool intern(const std::string& s, const SourceLoc& loc, uint16_t& idx) {
    for (size_t i = 0; i < out_.strings.size(); ++i) {
      if (out_.strings[i] == s) {
        idx = static_cast<uint16_t>(i);
        return true;
      }
    }
    if (out_.strings.size() >= std::numeric_limits<uint16_t>::max()) {
      error(loc, "too many distinct strings in the script");
      return false;
    }
    out_.strings.push_back(s);
    idx = static_cast<uint16_t>(out_.strings.size() - 1);
    return true;
  }

  void stmts(const std::vector<Stmt>& body) {
    for (const Stmt& s : body) {
      stmt(s);
    }
  }

  // Innermost switch/while: where `break` jumps. In a route's tail (tail set), break also
  // gives the switch or while its value, 0.
  struct Breakable {
    std::vector<size_t> breaks;
    bool tail = false;
    Tail t;
  };

  uint32_t take_temp(const SourceLoc& loc) {
    if (temps_used_ >= kVmTemps) {
      error(loc, "switch/while nested more than " + std::to_string(kVmTemps) + " deep");
      return 0;
    }
    return temps_used_++;
  }

  void stmt(const Stmt& s) {
    switch (s.kind) {
      case Stmt::Kind::kEmpty:
        return;
      case Stmt::Kind::kBlock:
        stmts(s.body);
        return;
      case Stmt::Kind::kIf: {
        cond(s.exprs[0]);
        const size_t jf = emit(Op::kJumpIfFalse, 0, 0, s.loc);
        stmt(s.body[0]);
        if (s.body.size() > 1) {
          const size_t j = emit(Op::kJump, 0, 0, s.loc);
          patch_to_here(jf);
          stmt(s.body[1]);
          patch_to_here(j);
        } else {
          patch_to_here(jf);
        }
        return;
      }
      case Stmt::Kind::kExpr:
        if (s.exprs[0].kind != Expr::Kind::kCall) {
          error(s.exprs[0].loc, "this statement has no effect; expected a function call");
          return;
        }
        call(s.exprs[0]);
        return;
      case Stmt::Kind::kExit:
      case Stmt::Kind::kDrop:
        if (!s.exprs.empty()) {
          error(s.exprs[0].loc, "a value after exit or drop is not supported yet");
          return;
        }
        emit(s.kind == Stmt::Kind::kExit ? Op::kExit : Op::kDrop, 0, 0, s.loc);
        return;
      case Stmt::Kind::kReturn: {
        if (s.exprs.empty()) {
          emit(Op::kReturn, kRcTrue, 0, s.loc);
          return;
        }
        const Expr& e = s.exprs[0];
        if (e.kind == Expr::Kind::kInt ||
            (e.kind == Expr::Kind::kUnary && e.op == "-" && e.kids[0].kind == Expr::Kind::kInt)) {
          const int64_t v = e.kind == Expr::Kind::kInt ? e.num : -e.kids[0].num;
          if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
            error(e.loc, "return value out of the 32-bit range");
            return;
          }
          emit(Op::kReturn, static_cast<uint32_t>(static_cast<int32_t>(v)), 0, s.loc);
          return;
        }
        // return EXPR: the value as an int ($rc, $var(x) + 1, a function's result).
        value(e);
        emit(Op::kReturn, 0, 1, s.loc);
        return;
      }
      case Stmt::Kind::kBreak:
        if (!s.inside_breakable || breakables_.empty()) {
          error(s.loc, "'break' outside switch or while; use 'return' to leave a route");
          return;
        }
        if (breakables_.back().tail) {
          const Tail t = breakables_.back().t;
          tail_value(t, 2, s.loc);
          if (!t.save) {
            return;  // returned
          }
        }
        breakables_.back().breaks.push_back(emit(Op::kJump, 0, 0, s.loc));
        return;
      case Stmt::Kind::kSwitch:
        switch_stmt(s, nullptr);
        return;
      case Stmt::Kind::kWhile:
        while_stmt(s, nullptr);
        return;
      case Stmt::Kind::kAssign:
        assign(s);
        return;
    }
  }

  // while; in a route's tail (tail set), its value is that of its last iteration (1 when none
  // ran, 0 after a break), kept in the route call's tail slot (one is enough: a while in the
  // tail of another one's body is that one's value) and returned after the outermost one.
  void while_stmt(const Stmt& s, const Tail* tail) {
    const uint32_t t = take_temp(s.loc);
    const Tail own{true};
    if (tail != nullptr) {
      emit(Op::kTailSave, 0, 1, s.loc);
    }
    emit(Op::kLoopInit, t, 0, s.loc);
    const size_t top = out_.code.size();
    cond(s.exprs[0]);
    const size_t jf = emit(Op::kJumpIfFalse, 0, 0, s.loc);
    const size_t step = emit(Op::kLoopStep, 0, static_cast<uint16_t>(t), s.loc);
    breakables_.push_back({});
    if (tail != nullptr) {
      emit(Op::kTailSave, 0, 1, s.loc);
      breakables_.back().tail = true;
      breakables_.back().t = own;
      tail_stmt(s.body[0], own);
    } else {
      stmt(s.body[0]);
    }
    emit(Op::kJump, static_cast<uint32_t>(top), 0, s.loc);
    patch_to_here(jf);
    patch_to_here(step);
    for (size_t j : breakables_.back().breaks) {
      patch_to_here(j);
    }
    breakables_.pop_back();
    if (tail != nullptr && !tail->save) {
      emit(Op::kTailReturn, 0, 2, s.loc);
    }
    --temps_used_;
  }

  // switch: the subject is evaluated once into a temp; each case compares it (as ==, the
  // subject's type decides) and jumps to its body; bodies follow each other in order, so a body
  // without break falls through to the next one (as in C and in Kamailio).
  // `switch ($rm)` whose labels are all string constants (the usual method dispatch): each
  // case is one kMethodEq on the scanned method, no temp, no value stack.
  bool method_switch(const Stmt& s, const Tail* tail) {
    const Expr& subj = s.exprs[0];
    if (subj.kind != Expr::Kind::kPvar || subj.pv.name != "rm" || subj.pv.has_inner ||
        !subj.pv.transforms.empty() || !subj.pv.index.empty()) {
      return false;
    }
    for (const Stmt& label : s.body) {
      if (label.op != "default" &&
          (label.op != "case" || label.exprs.empty() ||
           label.exprs[0].kind != Expr::Kind::kString)) {
        return false;
      }
    }
    std::vector<size_t> to_body(s.body.size(), SIZE_MAX);
    size_t default_label = SIZE_MAX;
    for (size_t i = 0; i < s.body.size(); ++i) {
      const Stmt& label = s.body[i];
      if (label.op == "default") {
        default_label = i;
        continue;
      }
      uint16_t idx = 0;
      if (!intern(label.exprs[0].text, label.exprs[0].loc, idx)) {
        continue;
      }
      // A method the scanner knows by name (exact bytes, as methods are case-sensitive) is
      // compared as the scanner's Method value: b = that value (the bit's index), 0 otherwise.
      uint16_t known = 0;
      for (const MethodName& k : kMethods) {
        if (k.name == label.exprs[0].text) {
          known = static_cast<uint16_t>(__builtin_ctz(k.bit));
        }
      }
      emit(Op::kMethodEq, idx, known, label.exprs[0].loc);
      to_body[i] = emit(Op::kJumpIfTrue, 0, 0, label.exprs[0].loc);
    }
    switch_bodies(s, to_body, default_label, tail);
    return true;
  }

  void switch_stmt(const Stmt& s, const Tail* tail) {
    if (method_switch(s, tail)) {
      return;
    }
    const uint32_t t = take_temp(s.loc);
    value(s.exprs[0]);
    emit(Op::kStoreTemp, t, 0, s.loc);
    std::vector<size_t> to_body(s.body.size(), SIZE_MAX);
    size_t default_label = SIZE_MAX;
    for (size_t i = 0; i < s.body.size(); ++i) {
      const Stmt& label = s.body[i];
      if (label.op == "default") {
        default_label = i;
        continue;
      }
      if (label.op == "case /" && !label.exprs.empty() &&
          label.exprs[0].kind == Expr::Kind::kString) {
        // case /"re": a regular expression on the subject (Kamailio's string switch).
        const Expr& re = label.exprs[0];
        uint32_t set = 0;
        uint32_t id = 0;
        if (!regex_pattern("switch at " + where(s.loc), kRegexCfgMatch, re.text, re.loc, set,
                           id)) {
          continue;
        }
        emit(Op::kLoadTemp, t, 0, re.loc);
        emit(Op::kRegexMatch, set, static_cast<uint16_t>(id), re.loc);
        to_body[i] = emit(Op::kJumpIfTrue, 0, 0, re.loc);
        continue;
      }
      if (label.op != "case" || label.exprs.empty()) {
        error(label.loc, "this case label is not supported");
        continue;
      }
      const Expr& v = label.exprs[0];
      if (v.kind != Expr::Kind::kInt && v.kind != Expr::Kind::kString &&
          !(v.kind == Expr::Kind::kUnary && v.op == "-" && v.kids[0].kind == Expr::Kind::kInt)) {
        error(v.loc, "a case value must be an integer or a string constant");
        continue;
      }
      emit(Op::kLoadTemp, t, 0, v.loc);
      value(v);
      emit(Op::kCompare, 0, static_cast<uint16_t>(CmpOp::kEq), v.loc);
      to_body[i] = emit(Op::kJumpIfTrue, 0, 0, v.loc);
    }
    switch_bodies(s, to_body, default_label, tail);
    --temps_used_;
  }

  // The bodies of a switch after its tests: a jump to the default (or past the end), then each
  // body in order (falling through), breaks patched to the end.
  // In a route's tail (tail set): the last action of the bodies (the last one that has one)
  // is in tail position; a break gives the switch the value 0.
  void switch_bodies(const Stmt& s, const std::vector<size_t>& to_body, size_t default_label,
                     const Tail* tail) {
    const size_t to_default = emit(Op::kJump, 0, 0, s.loc);
    breakables_.push_back({});
    size_t tail_body = SIZE_MAX;
    size_t tail_at = SIZE_MAX;
    if (tail != nullptr) {
      breakables_.back().tail = true;
      breakables_.back().t = *tail;
      for (size_t i = 0; i < s.body.size(); ++i) {
        const size_t l = last_action(s.body[i].body);
        if (l != SIZE_MAX) {
          tail_body = i;
          tail_at = l;
        }
      }
    }
    size_t default_pc = SIZE_MAX;
    for (size_t i = 0; i < s.body.size(); ++i) {
      if (to_body[i] != SIZE_MAX) {
        patch_to_here(to_body[i]);
      }
      if (i == default_label) {
        default_pc = out_.code.size();
      }
      for (size_t k = 0; k < s.body[i].body.size(); ++k) {
        if (i == tail_body && k == tail_at) {
          tail_stmt(s.body[i].body[k], *tail);
        } else {
          stmt(s.body[i].body[k]);
        }
      }
    }
    if (default_pc != SIZE_MAX) {
      out_.code[to_default].a = static_cast<uint32_t>(default_pc);
    } else {
      patch_to_here(to_default);
    }
    for (size_t j : breakables_.back().breaks) {
      patch_to_here(j);
    }
    breakables_.pop_back();
  }

  void assign(const Stmt& s) {
    const Expr& target = s.exprs[0];
    if (target.kind != Expr::Kind::kPvar) {
      error(target.loc, "only a pseudo-variable can be assigned");
      return;
    }
    uint16_t pv = 0;
    if (!pv_ref(target, pv)) {
      return;
    }
    if (out_.pvs[pv].tr != 0) {
      error(target.loc, "'" + target.text + "': a transformation's result cannot be assigned");
      return;
    }
    switch (out_.pvs[pv].kind) {
      case PvKind::kRuri:
      case PvKind::kRuriUser:
      case PvKind::kRuriHost:
      case PvKind::kRuriPort:
      case PvKind::kDuri:
      case PvKind::kVar:
      case PvKind::kAvp:
      case PvKind::kShv:  // lock-free: cfg::ShvTable::store (strings up to kShvLen bytes)
        break;
      default:
        error(target.loc, "pseudo-variable '" + target.text + "' cannot be assigned (writable: "
                          "$ru $rU $rd $rp $du $var(x) $avp(x) $shv(x))");
        return;
    }
    if (target.pv.index == "*" && out_.pvs[pv].kind != PvKind::kAvp) {
      error(target.loc, "[*] is only meaningful on $avp");
      return;
    }
    value(s.exprs[1]);
    emit(Op::kStore, pv, target.pv.index == "*" ? 1 : 0, s.loc);
  }

  // ---- pseudo-variables ----

  struct PvName {
    std::string_view name;
    PvKind kind;
  };
  static constexpr PvName kPvNames[] = {
      {"ru", PvKind::kRuri},         {"rU", PvKind::kRuriUser},    {"rd", PvKind::kRuriHost},
      {"rp", PvKind::kRuriPort},     {"rz", PvKind::kRuriScheme},  {"du", PvKind::kDuri},
      {"si", PvKind::kSrcIp},        {"sp", PvKind::kSrcPort},     {"Ri", PvKind::kRcvIp},
      {"Rp", PvKind::kRcvPort},      {"pr", PvKind::kProto},       {"proto", PvKind::kProto},
      {"rm", PvKind::kMethod},       {"rs", PvKind::kReplyStatus}, {"rr", PvKind::kReplyReason},
      {"fu", PvKind::kFromUri},      {"fU", PvKind::kFromUser},    {"fd", PvKind::kFromHost},
      {"fn", PvKind::kFromName},     {"ft", PvKind::kFromTag},     {"tu", PvKind::kToUri},
      {"tU", PvKind::kToUser},       {"td", PvKind::kToHost},      {"tn", PvKind::kToName},
      {"tt", PvKind::kToTag},        {"ci", PvKind::kCallId},      {"cs", PvKind::kCSeq},
      {"ua", PvKind::kUserAgent},    {"ml", PvKind::kMsgLen},      {"rc", PvKind::kRetcode},
      {"retcode", PvKind::kRetcode}, {"?", PvKind::kRetcode},      {"null", PvKind::kNull},
  };

  uint16_t add_pv(PvRef r) {
    for (size_t i = 0; i < out_.pvs.size(); ++i) {
      const PvRef& o = out_.pvs[i];
      if (o.kind == r.kind && o.arg == r.arg && o.index == r.index && o.tr == r.tr) {
        return static_cast<uint16_t>(i);
      }
    }
    out_.pvs.push_back(r);
    return static_cast<uint16_t>(out_.pvs.size() - 1);
  }

  static uint16_t slot(std::vector<std::string>& names, const std::string& n) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == n) {
        return static_cast<uint16_t>(i);
      }
    }
    names.push_back(n);
    return static_cast<uint16_t>(names.size() - 1);
  }

  // Resolves a pseudo-variable (name, inner, index) into a PvRef index; false (with an error at
  // `loc`) when the fast path does not know it.
  bool pv_parts(const std::string& name, const std::string& inner, bool has_inner,
                const std::string& index, const std::vector<Transform>& trs,
                const std::string& text, const SourceLoc& loc, uint16_t& out) {
    PvRef r;
    bool found = false;
    if (name == "hdr" && has_inner && !inner.empty()) {
      r.kind = PvKind::kHdr;
      uint16_t idx = 0;
      if (!intern(inner, loc, idx)) {
        return false;
      }
      r.arg = idx;
      found = true;
    } else if (name == "var" && has_inner && !inner.empty()) {
      r.kind = PvKind::kVar;
      r.arg = slot(out_.vars, inner);
      found = true;
    } else if (name == "avp" && has_inner && !inner.empty()) {
      std::string n = inner;
      if (n.size() > 2 && (n[0] == 's' || n[0] == 'i') && n[1] == ':') {
        n = n.substr(2);
      }
      r.kind = PvKind::kAvp;
      r.arg = slot(out_.avps, n);
      found = true;
    } else if (name == "snd" && has_inner) {
      // onsend_route's destination (Kamailio's $snd; the other keys need the built buffer).
      static constexpr std::string_view kKeys[] = {"ip", "port", "af", "proto"};
      for (size_t k = 0; k < std::size(kKeys); ++k) {
        if (inner == kKeys[k]) {
          r.kind = PvKind::kSnd;
          r.arg = static_cast<uint16_t>(k);
          found = true;
        }
      }
    } else if (name == "xavp" && has_inner) {
      if (!xavp(inner, index, text, loc, r)) {
        return false;
      }
      found = true;
    } else if (name == "shv" && has_inner && !inner.empty()) {
      r.kind = PvKind::kShv;
      r.arg = shv_slot(inner);
      found = true;
    } else if (!has_inner) {
      for (const PvName& p : kPvNames) {
        if (p.name == name) {
          r.kind = p.kind;
          found = true;
        }
      }
    }
    if (!found) {
      error(loc, "pseudo-variable '" + text + "' is not supported on the fast path");
      return false;
    }
    if (!index.empty() && index != "*" && r.kind != PvKind::kXavpDsDst &&
        r.kind != PvKind::kXavpDsCtx) {
      if (r.kind != PvKind::kHdr) {
        error(loc, "an index is only supported on $hdr ('" + text + "')");
        return false;
      }
      int64_t n = 0;
      Expr tmp;
      tmp.kind = Expr::Kind::kString;
      tmp.text = index;
      if (!int_value(tmp, n) || n < -1 || n > 255) {
        error(loc, "bad index '" + index + "' in '" + text + "' (0..255 or -1)");
        return false;
      }
      r.index = static_cast<int16_t>(n);
    }
    if (!trs.empty()) {
      uint16_t tr = 0;
      if (!tr_chain(trs, text, loc, tr)) {
        return false;
      }
      r.tr = tr;
    }
    out = add_pv(r);
    return true;
  }

  // $xavp(_dsdst_[N]=>field), $xavp(_dsctx_=>cnt): the dispatcher's, read-only (the names
  // follow modparam xavp_dst / xavp_ctx). Other xavps are not kept by the fast path.
  bool xavp(const std::string& inner, const std::string& outer_index, const std::string& text,
            const SourceLoc& loc, PvRef& r) {
    const size_t arrow = inner.find("=>");
    std::string root = inner.substr(0, arrow);
    const std::string field = arrow == std::string::npos ? "" : inner.substr(arrow + 2);
    std::string index = outer_index;
    if (const size_t lb = root.find('['); lb != std::string::npos && root.back() == ']') {
      index = root.substr(lb + 1, root.size() - lb - 2);
      root = root.substr(0, lb);
    }
    std::string dst = "_dsdst_";
    std::string ctx = "_dsctx_";
    for (const ModParamDef& m : script_.modparams) {
      if (m.module == "dispatcher" && m.value.kind == Expr::Kind::kString) {
        if (m.name == "xavp_dst") {
          dst = m.value.text;
        } else if (m.name == "xavp_ctx") {
          ctx = m.value.text;
        }
      }
    }
    if (root != dst && root != ctx) {
      error(loc, "'" + text + "': only the dispatcher's $xavp(" + dst + "=>...) and $xavp(" +
                     ctx + "=>cnt) are supported (read-only); use $avp or $var for values of "
                     "the script");
      return false;
    }
    if (field.empty()) {
      error(loc, "'" + text + "': name a field ($xavp(" + root + "=>uri))");
      return false;
    }
    int64_t n = 0;
    if (!index.empty()) {
      Expr tmp;
      tmp.kind = Expr::Kind::kString;
      tmp.text = index;
      if (!int_value(tmp, n) || n < 0 || n >= 16) {
        error(loc, "bad index '" + index + "' in '" + text + "' (0..15)");
        return false;
      }
    }
    r.index = static_cast<int16_t>(n);
    if (root == ctx) {
      if (field != "cnt" || n != 0) {
        error(loc, "'" + text + "': $xavp(" + ctx + ") has one field, cnt");
        return false;
      }
      r.kind = PvKind::kXavpDsCtx;
      out_.reads_ds_list = true;
      return true;
    }
    static const std::map<std::string, XavpDsField, std::less<>> kFields = {
        {"uri", XavpDsField::kUri},     {"grp", XavpDsField::kGrp},
        {"dstid", XavpDsField::kDstId}, {"attrs", XavpDsField::kAttrs},
        {"sock", XavpDsField::kSock},
    };
    const auto it = kFields.find(field);
    if (it == kFields.end()) {
      error(loc, "'" + text + "': unknown or unsupported field '" + field + "' of $xavp(" + dst +
                     ") (uri, grp, dstid, attrs, sock)");
      return false;
    }
    r.kind = PvKind::kXavpDsDst;
    r.arg = static_cast<uint16_t>(it->second);
    out_.reads_ds_list = true;
    return true;
  }

  // ---- $shv: names, modparam("pv", "shvset", "name=i:1" | "name=s:text"), the table ----

  struct ShvInit {
    std::string name;
    bool is_int = true;
    int64_t i = 0;
    std::string s;
  };

  uint16_t shv_slot(const std::string& name) {
    for (size_t k = 0; k < shv_names_.size(); ++k) {
      if (shv_names_[k] == name) {
        return static_cast<uint16_t>(k);
      }
    }
    shv_names_.push_back(name);
    return static_cast<uint16_t>(shv_names_.size() - 1);
  }

  void shvset(const ModParamDef& m) {
    if (m.value.kind != Expr::Kind::kString) {
      error(m.value.loc, "parameter 'shvset' of module 'pv' expects a string (\"name=i:1\" or "
                         "\"name=s:text\")");
      return;
    }
    const std::string& v = m.value.text;
    const size_t eq = v.find('=');
    ShvInit init;
    init.name = v.substr(0, eq);
    const std::string rest = eq == std::string::npos ? "" : v.substr(eq + 1);
    if (init.name.empty() || rest.size() < 2 || rest[1] != ':' ||
        (rest[0] != 'i' && rest[0] != 's')) {
      error(m.value.loc, "shvset \"" + v + "\": expected \"name=i:INT\" or \"name=s:TEXT\"");
      return;
    }
    init.is_int = rest[0] == 'i';
    if (init.is_int) {
      Expr tmp;
      tmp.kind = Expr::Kind::kString;
      tmp.text = rest.substr(2);
      if (!int_value(tmp, init.i) || init.i < std::numeric_limits<int32_t>::min() ||
          init.i > std::numeric_limits<int32_t>::max()) {
        error(m.value.loc, "shvset \"" + v + "\": '" + tmp.text + "' is not an integer");
        return;
      }
    } else {
      init.s = rest.substr(2);
      if (init.s.size() > kShvLen) {
        error(m.value.loc, "shvset \"" + v + "\": longer than " + std::to_string(kShvLen) +
                               " bytes");
        return;
      }
    }
    shv_slot(init.name);
    shv_inits_.push_back(std::move(init));
  }

  void shv_table() {
    if (shv_names_.empty()) {
      return;
    }
    auto t = std::make_shared<ShvTable>(shv_names_);
    for (const ShvInit& i : shv_inits_) {
      const auto k = static_cast<size_t>(t->find(i.name));
      t->set(k, i.is_int, i.i, i.s);
      t->initial[k] = {true, i.is_int, i.is_int ? i.i : 0, i.is_int ? std::string() : i.s};
    }
    out_.shv = std::move(t);
  }

  // A transformation chain into out_.trs; `tr` = 1 + its index.
  bool tr_chain(const std::vector<Transform>& trs, const std::string& text, const SourceLoc& loc,
                uint16_t& tr) {
    struct TrDef {
      std::string_view name;
      TrKind kind;
      std::string_view params;  // i: integer, s: string, c: one character; upper case: optional
    };
    static constexpr TrDef kTrs[] = {
        {"s.len", TrKind::kSLen, ""},
        {"s.int", TrKind::kSInt, ""},
        {"s.substr", TrKind::kSSubstr, "ii"},
        {"s.select", TrKind::kSSelect, "ic"},
        {"s.tolower", TrKind::kSToLower, ""},
        {"s.toupper", TrKind::kSToUpper, ""},
        {"s.strip", TrKind::kSStrip, "i"},
        {"s.striptail", TrKind::kSStripTail, "i"},
        {"s.trim", TrKind::kSTrim, ""},
        {"s.ltrim", TrKind::kSLTrim, ""},
        {"s.rtrim", TrKind::kSRTrim, ""},
        {"s.before", TrKind::kSBefore, "s"},
        {"s.after", TrKind::kSAfter, "s"},
        {"s.rbefore", TrKind::kSRBefore, "s"},
        {"s.rafter", TrKind::kSRAfter, "s"},
        {"s.encode.hexa", TrKind::kSEncodeHexa, ""},
        {"s.decode.hexa", TrKind::kSDecodeHexa, ""},
        {"s.numeric", TrKind::kSNumeric, ""},
        {"s.md5", TrKind::kSMd5, ""},
        {"s.replace", TrKind::kSReplace, "sS"},
        {"uri.user", TrKind::kUriUser, ""},
        {"uri.host", TrKind::kUriHost, ""},
        {"uri.port", TrKind::kUriPort, ""},
        {"uri.passwd", TrKind::kUriPasswd, ""},
        {"uri.params", TrKind::kUriParams, ""},
        {"uri.param", TrKind::kUriParam, "s"},
        {"uri.headers", TrKind::kUriHeaders, ""},
        {"uri.transport", TrKind::kUriTransport, ""},
        {"uri.scheme", TrKind::kUriScheme, ""},
        {"param.value", TrKind::kParamValue, "sC"},
        {"param.name", TrKind::kParamName, "iC"},
        {"param.count", TrKind::kParamCount, "C"},
        {"param.in", TrKind::kParamIn, "sC"},
        {"tobody.uri", TrKind::kToBodyUri, ""},
        {"tobody.display", TrKind::kToBodyDisplay, ""},
        {"tobody.tag", TrKind::kToBodyTag, ""},
        {"tobody.user", TrKind::kToBodyUser, ""},
        {"tobody.host", TrKind::kToBodyHost, ""},
        {"nameaddr.name", TrKind::kNameAddrName, ""},
        {"nameaddr.uri", TrKind::kNameAddrUri, ""},
        {"s.prefixes", TrKind::kSPrefixes, "I"},
        {"s.prefixes.quoted", TrKind::kSPrefixesQuoted, "I"},
    };
    TrChain chain;
    for (const Transform& t : trs) {
      const TrDef* def = nullptr;
      for (const TrDef& d : kTrs) {
        if (d.name == t.name) {
          def = &d;
        }
      }
      if (def == nullptr) {
        error(loc, "unknown or unsupported transformation '{" + t.name + "}' in '" + text + "'");
        return false;
      }
      // "{s.select,1,,}": Kamailio takes the character after the index's comma as the
      // separator, a comma too (measured, 5.6.3); the parser split it into two empty ones.
      const std::vector<std::string>* params = &t.params;
      std::vector<std::string> comma_sep;
      if (def->kind == TrKind::kSSelect && t.params.size() == 3 && t.params[1].empty() &&
          t.params[2].empty()) {
        comma_sep = {t.params[0], ","};
        params = &comma_sep;
      }
      size_t required = 0;
      for (const char c : def->params) {
        required += (c >= 'a' && c <= 'z') ? 1 : 0;
      }
      // "{s.len}" has no parameters; the parser gives none. A trailing empty one ("{s.trim,}")
      // is an error, as in Kamailio.
      if (params->size() < required || params->size() > def->params.size()) {
        error(loc, "transformation '{" + t.name + "}' in '" + text + "' takes " +
                       (required == def->params.size()
                            ? std::to_string(required)
                            : std::to_string(required) + " to " +
                                  std::to_string(def->params.size())) +
                       " parameter(s), not " + std::to_string(params->size()));
        return false;
      }
      TrStep st;
      st.kind = def->kind;
      for (size_t k = 0; k < params->size(); ++k) {
        const std::string& p = (*params)[k];
        const char type = def->params[k] >= 'A' && def->params[k] <= 'Z'
                              ? static_cast<char>(def->params[k] - 'A' + 'a')
                              : def->params[k];
        Operand& o = st.params[k];
        if (!p.empty() && p[0] == '$') {
          uint16_t pv = 0;
          if (!pv_text(p, loc, pv)) {
            return false;
          }
          o.kind = Operand::Kind::kPv;
          o.idx = pv;
        } else if (type == 'i') {
          Expr tmp;
          tmp.kind = Expr::Kind::kString;
          tmp.text = p;
          while (!tmp.text.empty() && tmp.text.back() == ' ') {
            tmp.text.pop_back();
          }
          while (!tmp.text.empty() && tmp.text.front() == ' ') {
            tmp.text.erase(0, 1);
          }
          int64_t n = 0;
          if (!int_value(tmp, n) || n < std::numeric_limits<int32_t>::min() ||
              n > std::numeric_limits<int32_t>::max()) {
            error(loc, "transformation '{" + t.name + "}' in '" + text + "': '" + p +
                           "' is not an integer");
            return false;
          }
          if (def->kind == TrKind::kSSubstr && k == 1 && n < 0) {
            error(loc, "transformation '{s.substr}' in '" + text +
                           "': negative length (Kamailio refuses it)");
            return false;
          }
          o.kind = Operand::Kind::kInt;
          o.i = static_cast<int32_t>(n);
        } else {
          const bool may_be_empty = def->kind == TrKind::kSReplace && k == 1;
          if (p.empty() && !may_be_empty) {
            error(loc, "transformation '{" + t.name + "}' in '" + text + "': empty parameter");
            return false;
          }
          if (type == 'c' && p.size() != 1) {
            error(loc, "transformation '{" + t.name + "}' in '" + text + "': '" + p +
                           "' is not one character");
            return false;
          }
          uint16_t idx = 0;
          if (!intern(p, loc, idx)) {
            return false;
          }
          o.kind = Operand::Kind::kStr;
          o.idx = idx;
        }
      }
      st.nparams = static_cast<uint8_t>(params->size());
      chain.steps.push_back(st);
    }
    if (out_.trs.size() >= 0xfffe) {
      error(loc, "too many transformations");
      return false;
    }
    out_.trs.push_back(std::move(chain));
    tr = static_cast<uint16_t>(out_.trs.size());
    return true;
  }

  // A parameter that is a pseudo-variable ("$var(n)", "$(avp(x){s.len})"): the whole text.
  bool pv_text(const std::string& s, const SourceLoc& loc, uint16_t& out) {
    PvText t;
    const size_t end = scan_pv(s, 0, loc, t);
    if (end == std::string::npos) {
      return false;
    }
    if (end != s.size()) {
      error(loc, "'" + s + "' is not a pseudo-variable");
      return false;
    }
    return pv_parts(t.name, t.inner, t.has_inner, t.index, t.trs, s, loc, out);
  }

  bool pv_ref(const Expr& e, uint16_t& out) {
    return pv_parts(e.pv.name, e.pv.inner, e.pv.has_inner, e.pv.index, e.pv.transforms, e.text,
                    e.loc, out);
  }

  // A pseudo-variable written inside a string: $name, $name(inner), $(name(inner)[index]{tr...}).
  struct PvText {
    std::string name;
    std::string inner;
    std::string index;
    bool has_inner = false;
    std::vector<Transform> trs;
  };
  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  // Scans the pseudo-variable at s[i] ('$'): the index past it; 0 when s[i] does not start one
  // (the '$' is literal); npos after an error.
  size_t scan_pv(const std::string& s, size_t i, const SourceLoc& loc, PvText& out) {
    size_t j = i + 1;
    if (j >= s.size()) {
      return 0;
    }
    if (s[j] == '(') {
      // $(name(inner)[index]{tr}...): brackets of every kind nest.
      size_t depth = 0;
      size_t k = j;
      do {
        const char c = s[k];
        depth += (c == '(' || c == '[' || c == '{') ? 1 : 0;
        depth -= (c == ')' || c == ']' || c == '}') ? 1 : 0;
        ++k;
      } while (k < s.size() && depth > 0);
      if (depth != 0) {
        error(loc, "unterminated '$(' in \"" + s + "\"");
        return std::string::npos;
      }
      const std::string body = s.substr(j + 1, k - j - 2);
      size_t n = 0;
      while (n < body.size() && is_name_char(body[n])) {
        ++n;
      }
      out.name = body.substr(0, n);
      if (n < body.size() && body[n] == '(') {
        const size_t close = body.find(')', n);
        if (close == std::string::npos) {
          error(loc, "bad pseudo-variable in \"" + s + "\"");
          return std::string::npos;
        }
        out.inner = body.substr(n + 1, close - n - 1);
        out.has_inner = true;
        n = close + 1;
      }
      if (n < body.size() && body[n] == '[') {
        const size_t close = body.find(']', n);
        if (close == std::string::npos) {
          error(loc, "bad index in \"" + s + "\"");
          return std::string::npos;
        }
        out.index = body.substr(n + 1, close - n - 1);
        n = close + 1;
      }
      while (n < body.size() && body[n] == '{') {
        size_t d = 0;
        size_t e = n;
        std::vector<std::string> parts(1);
        for (; e < body.size(); ++e) {
          const char c = body[e];
          if (c == '(' || c == '[' || c == '{') {
            ++d;
            if (d == 1) {
              continue;
            }
          } else if (c == ')' || c == ']' || c == '}') {
            if (--d == 0) {
              break;
            }
          } else if (c == ',' && d == 1) {
            parts.emplace_back();
            continue;
          }
          parts.back() += c;
        }
        if (e >= body.size() || parts[0].empty()) {
          error(loc, "bad transformation in \"" + s + "\"");
          return std::string::npos;
        }
        Transform t;
        t.name = parts[0];
        t.params.assign(parts.begin() + 1, parts.end());
        out.trs.push_back(std::move(t));
        n = e + 1;
      }
      if (n != body.size() || out.name.empty()) {
        error(loc, "bad pseudo-variable '" + s.substr(i, k - i) + "' in \"" + s + "\"");
        return std::string::npos;
      }
      return k;
    }
    size_t k = j;
    if (s[k] == '?') {
      ++k;
    } else {
      while (k < s.size() && is_name_char(s[k])) {
        ++k;
      }
    }
    if (k == j) {
      return 0;
    }
    out.name = s.substr(j, k - j);
    if (k < s.size() && s[k] == '(') {
      const size_t close = s.find(')', k);
      if (close == std::string::npos) {
        error(loc, "unterminated '(' after $" + out.name + " in \"" + s + "\"");
        return std::string::npos;
      }
      out.inner = s.substr(k + 1, close - k - 1);
      out.has_inner = true;
      k = close + 1;
    }
    return k;
  }

  // A function argument string with pseudo-variables in it ("sip:$rU@$rd", "$hdr(X)",
  // "$(ru{uri.user})"): literal and PV parts. `$` not followed by a name stays literal.
  bool fmt(const std::string& s, const SourceLoc& loc, uint16_t& out) {
    Fmt f;
    std::string lit;
    const auto flush = [&]() -> bool {
      if (lit.empty()) {
        return true;
      }
      uint16_t idx = 0;
      if (!intern(lit, loc, idx)) {
        return false;
      }
      f.parts.push_back(FmtPart{false, idx});
      lit.clear();
      return true;
    };
    size_t i = 0;
    while (i < s.size()) {
      if (s[i] != '$') {
        lit += s[i++];
        continue;
      }
      PvText t;
      const size_t j = scan_pv(s, i, loc, t);
      if (j == std::string::npos) {
        return false;
      }
      if (j == 0) {
        lit += s[i++];
        continue;
      }
      if (!flush()) {
        return false;
      }
      uint16_t pv = 0;
      if (!pv_parts(t.name, t.inner, t.has_inner, t.index, t.trs, s.substr(i, j - i), loc, pv)) {
        return false;
      }
      f.parts.push_back(FmtPart{true, pv});
      i = j;
    }
    if (!flush()) {
      return false;
    }
    out_.fmts.push_back(std::move(f));
    out = static_cast<uint16_t>(out_.fmts.size() - 1);
    return true;
  }

  // ---- regular expressions (cfg/regex.hpp): one Hyperscan set per operand ----

  struct RegexGroup {
    std::string operand;
    RegexFlags flags = kRegexCfgMatch;
    std::vector<std::string> patterns;
    std::vector<SourceLoc> locs;
  };

  bool regex_pattern(const std::string& operand, RegexFlags flags, const std::string& pattern,
                     const SourceLoc& loc, uint32_t& set, uint32_t& id) {
    size_t g = 0;
    while (g < regex_groups_.size() &&
           (regex_groups_[g].operand != operand || regex_groups_[g].flags != flags)) {
      ++g;
    }
    if (g == regex_groups_.size()) {
      if (g >= 0xffff) {
        error(loc, "too many regular expression operands");
        return false;
      }
      regex_groups_.push_back(RegexGroup{operand, flags, {}, {}});
    }
    RegexGroup& grp = regex_groups_[g];
    size_t i = 0;
    while (i < grp.patterns.size() && grp.patterns[i] != pattern) {
      ++i;
    }
    if (i == grp.patterns.size()) {
      if (i >= kRegexMaxPatterns) {
        error(loc, "more than " + std::to_string(kRegexMaxPatterns) +
                       " regular expressions applied to " + operand);
        return false;
      }
      RegexCost cost;  // a pattern regcomp_limits() refuses is reported by compile_regexes()
      if (regcomp_limits(pattern, true, &cost).empty()) {
        const bool first = regex_repeated_ <= kMaxRegexRepeatedTotal;
        regex_repeated_ += cost.repeated;
        if (regex_repeated_ > kMaxRegexRepeatedTotal) {
          if (!first) {
            return false;  // reported at the pattern that passed the limit
          }
          error(loc, "the script's regular expressions repeat too much together (the limit is " +
                         std::to_string(kMaxRegexRepeatedTotal) +
                         " copies made by intervals and '+', all patterns counted: Hyperscan's "
                         "compile time grows with them)");
          return false;
        }
      }
      grp.patterns.push_back(pattern);
      grp.locs.push_back(loc);
    }
    set = static_cast<uint32_t>(g);
    id = static_cast<uint32_t>(i);
    return true;
  }

  // Compiles every set (all errors, each at its pattern) and the per-worker scratch.
  void compile_regexes() {
    if (regex_groups_.empty()) {
      return;
    }
    auto tables = std::make_shared<RegexTables>();
    bool ok = true;
    for (const RegexGroup& g : regex_groups_) {
      std::vector<RegexSpec> specs;
      for (const std::string& p : g.patterns) {
        specs.push_back(RegexSpec{p, g.flags});
      }
      std::vector<RegexError> errors;
      std::optional<RegexSet> set = RegexSet::compile(specs, errors);
      for (const RegexError& e : errors) {
        const SourceLoc& at = e.pattern < g.locs.size() ? g.locs[e.pattern] : g.locs.front();
        error(at, "regular expression " +
                      (e.pattern < g.patterns.size() ? "\"" + g.patterns[e.pattern] + "\" "
                                                     : std::string()) +
                      "cannot be compiled: " + e.message);
      }
      if (!set) {
        ok = false;
        continue;
      }
      tables->sets.push_back(std::move(*set));
      tables->operands.push_back(g.operand);
    }
    if (!ok) {
      return;
    }
    std::vector<const RegexSet*> ptrs;
    for (const RegexSet& s : tables->sets) {
      ptrs.push_back(&s);
    }
    std::string why;
    std::optional<RegexScratchPool> pool =
        RegexScratchPool::create(ptrs, kMaxRegexWorkers, why);
    if (!pool) {
      error(SourceLoc{file_, 0, 0}, "cannot allocate Hyperscan scratch: " + why);
      return;
    }
    tables->pool = std::move(*pool);
    out_.regex = std::move(tables);
  }

  // ---- expressions ----

  static bool is_compare(const std::string& op) {
    return op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=" ||
           op == "eq" || op == "ne" || op == "ieq" || op == "ine" || op == "=~" || op == "!~";
  }
  static bool is_logical(const Expr& e) {
    return e.kind == Expr::Kind::kCall ||
           (e.kind == Expr::Kind::kBinary &&
            (e.op == "&&" || e.op == "||" || is_compare(e.op))) ||
           (e.kind == Expr::Kind::kUnary && e.op == "!" && is_logical(e.kids[0]));
  }

  // Core keywords used as values.
  bool keyword(const Expr& e) {
    static const std::map<std::string, PvKind, std::less<>> kKeywords = {
        {"method", PvKind::kMethod},   {"uri", PvKind::kRuri},        {"src_ip", PvKind::kSrcIp},
        {"src_port", PvKind::kSrcPort},{"dst_ip", PvKind::kRcvIp},    {"dst_port", PvKind::kRcvPort},
        {"proto", PvKind::kProto},     {"status", PvKind::kReplyStatus},
        {"from_uri", PvKind::kFromUri},{"to_uri", PvKind::kToUri},    {"msg:len", PvKind::kMsgLen},
        {"af", PvKind::kAf},
    };
    static const std::map<std::string, std::string, std::less<>> kValues = {
        {"UDP", "udp"}, {"TCP", "tcp"}, {"TLS", "tls"}, {"SCTP", "sctp"}, {"WS", "ws"},
        {"WSS", "wss"}, {"udp", "udp"}, {"tcp", "tcp"}, {"tls", "tls"}, {"sctp", "sctp"},
    };
    if (const auto it = kKeywords.find(e.text); it != kKeywords.end()) {
      PvRef r;
      r.kind = it->second;
      emit(Op::kPushPv, add_pv(r), 0, e.loc);
      return true;
    }
    if (e.text == "INET" || e.text == "INET6") {
      emit(Op::kPushInt, e.text == "INET" ? 4 : 6, 0, e.loc);
      return true;
    }
    if (const auto it = kValues.find(e.text); it != kValues.end()) {
      uint16_t idx = 0;
      if (intern(it->second, e.loc, idx)) {
        emit(Op::kPushStr, idx, 0, e.loc);
      }
      return true;
    }
    // A method name as a bare word (method == INVITE).
    for (const MethodName& m : kMethods) {
      if (m.name == e.text) {
        uint16_t idx = 0;
        if (intern(e.text, e.loc, idx)) {
          emit(Op::kPushStr, idx, 0, e.loc);
        }
        return true;
      }
    }
    if (e.text == "myself") {
      error(e.loc, "'myself' can only be compared with == or !=");
      return false;
    }
    error(e.loc, "'" + e.text + "' is not defined (not a keyword viaduct knows)");
    return false;
  }

  // Emits code that pushes the value of `e` on the value stack.
  void value(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kInt:
        if (e.num < std::numeric_limits<int32_t>::min() ||
            e.num > std::numeric_limits<int32_t>::max()) {
          error(e.loc, "integer out of the 32-bit range (Kamailio's integers are 32-bit)");
          return;
        }
        emit(Op::kPushInt, static_cast<uint32_t>(static_cast<int32_t>(e.num)), 0, e.loc);
        return;
      case Expr::Kind::kString:
      case Expr::Kind::kAddress: {
        uint16_t idx = 0;
        if (intern(e.text, e.loc, idx)) {
          emit(Op::kPushStr, idx, 0, e.loc);
        }
        return;
      }
      case Expr::Kind::kPvar: {
        uint16_t pv = 0;
        if (pv_ref(e, pv)) {
          if (out_.pvs[pv].kind == PvKind::kNull) {
            emit(Op::kPushNull, 0, 0, e.loc);
          } else {
            emit(Op::kPushPv, pv, 0, e.loc);
          }
        }
        return;
      }
      case Expr::Kind::kIdent:
        keyword(e);
        return;
      case Expr::Kind::kSelect:
        error(e.loc, "select '" + e.text + "' is not supported");
        return;
      case Expr::Kind::kCall:
        call(e);
        emit(Op::kPushRc, 0, 0, e.loc);
        return;
      case Expr::Kind::kUnary: {
        static const std::map<std::string, UnOp, std::less<>> kUn = {
            {"-", UnOp::kNeg},           {"~", UnOp::kBitNot},      {"!", UnOp::kLogNot},
            {"defined", UnOp::kDefined}, {"strlen", UnOp::kStrlen}, {"strempty", UnOp::kStrempty},
            {"(int)", UnOp::kToInt},     {"(str)", UnOp::kToStr},
        };
        if (e.op == "!" && is_logical(e.kids[0])) {
          cond(e);
          emit(Op::kPushBool, 0, 0, e.loc);
          return;
        }
        const auto it = kUn.find(e.op);
        if (it == kUn.end()) {
          error(e.loc, "operator '" + e.op + "' is not supported");
          return;
        }
        if (e.op == "-" && e.kids[0].kind == Expr::Kind::kInt) {
          Expr n = e.kids[0];
          n.num = -n.num;
          value(n);
          return;
        }
        if (e.op == "-" || e.op == "~" || e.op == "!") {
          int_ctx_value(e.kids[0]);
        } else {
          value(e.kids[0]);
        }
        emit(Op::kUnary, 0, static_cast<uint16_t>(it->second), e.loc);
        return;
      }
      case Expr::Kind::kBinary: {
        static const std::map<std::string, BinOp, std::less<>> kBin = {
            {"+", BinOp::kAdd},    {"-", BinOp::kSub},    {"*", BinOp::kMul},
            {"/", BinOp::kDiv},    {"%", BinOp::kMod},    {"&", BinOp::kBitAnd},
            {"|", BinOp::kBitOr},  {"^", BinOp::kBitXor}, {"<<", BinOp::kShl},
            {">>", BinOp::kShr},
        };
        if (e.op == "&&" || e.op == "||" || is_compare(e.op)) {
          cond(e);
          emit(Op::kPushBool, 0, 0, e.loc);
          return;
        }
        const auto it = kBin.find(e.op);
        if (it == kBin.end()) {
          error(e.loc, "operator '" + e.op + "' is not supported");
          return;
        }
        if (e.op == "+") {
          value(e.kids[0]);
          value(e.kids[1]);
        } else {
          int_ctx_value(e.kids[0]);
          int_ctx_value(e.kids[1]);
        }
        emit(Op::kBinary, 0, static_cast<uint16_t>(it->second), e.loc);
        return;
      }
    }
  }

  // A value an integer operator, an ordering or a condition takes: there Kamailio evaluates
  // `+` as an integer addition whatever its operands ($cs + 40 is 41 in ($cs + 40) >> 1, where
  // "1" + 40 alone is "140"; measured, differential script 26).
  void int_ctx_value(const Expr& e) {
    if (e.kind == Expr::Kind::kBinary && e.op == "+") {
      int_ctx_value(e.kids[0]);
      emit(Op::kUnary, 0, static_cast<uint16_t>(UnOp::kToInt), e.loc);
      int_ctx_value(e.kids[1]);
      emit(Op::kBinary, 0, static_cast<uint16_t>(BinOp::kAdd), e.loc);
      return;
    }
    value(e);
  }

  // Keywords and pseudo-variables that hold a URI / an IP address (for myself and CIDR tests).
  static bool is_uri_valued(const Expr& e) {
    if (e.kind == Expr::Kind::kIdent) {
      return e.text == "uri" || e.text == "from_uri" || e.text == "to_uri";
    }
    return e.kind == Expr::Kind::kPvar && !e.pv.has_inner &&
           (e.pv.name == "ru" || e.pv.name == "fu" || e.pv.name == "tu" || e.pv.name == "du");
  }
  static bool is_ip_valued(const Expr& e) {
    if (e.kind == Expr::Kind::kIdent) {
      return e.text == "src_ip" || e.text == "dst_ip";
    }
    return e.kind == Expr::Kind::kPvar && !e.pv.has_inner &&
           (e.pv.name == "si" || e.pv.name == "Ri");
  }

  // An IPv6 address or network ("2001:db8::1", "2001:db8::/32"), as Kamailio accepts them.
  static bool parse_net6(std::string_view s, Net& n) {
    const size_t slash = s.find('/');
    std::string a(s.substr(0, slash));
    if (a.size() >= 2 && a.front() == '[' && a.back() == ']') {
      a = a.substr(1, a.size() - 2);
    }
    in6_addr a6{};
    if (!is_ipv6(a) || inet_pton(AF_INET6, a.c_str(), &a6) != 1) {
      return false;
    }
    int bits = 128;
    if (slash != std::string_view::npos) {
      const std::string_view m = s.substr(slash + 1);
      if (m.empty() || m.size() > 3) {
        return false;
      }
      bits = 0;
      for (char c : m) {
        if (c < '0' || c > '9') {
          return false;
        }
        bits = bits * 10 + (c - '0');
      }
      if (bits > 128) {
        return false;
      }
    }
    n.v6 = true;
    n.prefix6 = static_cast<uint8_t>(bits);
    std::memcpy(n.ip6, a6.s6_addr, 16);
    return true;
  }

  // An IPv4 address or network ("10.0.0.1", "10.0.0.0/8", "10.0.0.0/255.0.0.0").
  static bool parse_net(std::string_view s, Net& n) {
    const size_t slash = s.find('/');
    uint32_t ip = 0;
    if (!parse_ipv4(s.substr(0, slash), ip)) {
      return parse_net6(s, n);
    }
    uint32_t mask = 0xffffffffu;
    if (slash != std::string_view::npos) {
      const std::string_view m = s.substr(slash + 1);
      uint32_t mbe = 0;
      if (parse_ipv4(m, mbe)) {
        mask = ntohl_(mbe);
      } else {
        if (m.empty() || m.size() > 2) {
          return false;
        }
        int bits = 0;
        for (char c : m) {
          if (c < '0' || c > '9') {
            return false;
          }
          bits = bits * 10 + (c - '0');
        }
        if (bits > 32) {
          return false;
        }
        mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
      }
    }
    n.mask_be = htonl_(mask);
    n.ip_be = ip & n.mask_be;
    return true;
  }
  static uint32_t ntohl_(uint32_t be) {
    const auto* b = reinterpret_cast<const uint8_t*>(&be);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  static uint32_t htonl_(uint32_t h) {
    uint32_t be = 0;
    auto* b = reinterpret_cast<uint8_t*>(&be);
    b[0] = static_cast<uint8_t>(h >> 24);
    b[1] = static_cast<uint8_t>(h >> 16);
    b[2] = static_cast<uint8_t>(h >> 8);
    b[3] = static_cast<uint8_t>(h);
    return be;
  }

  // A list of networks, comma-separated ("10.0.0.0/8,192.168.0.0/16"); the index in nets.
  bool net_set(std::string_view list, const SourceLoc& loc, uint32_t& out) {
    NetSet set;
    while (true) {
      const size_t comma = list.find(',');
      std::string_view one = list.substr(0, comma);
      while (!one.empty() && one.front() == ' ') {
        one.remove_prefix(1);
      }
      while (!one.empty() && one.back() == ' ') {
        one.remove_suffix(1);
      }
      Net n;
      if (!parse_net(one, n)) {
        error(loc, "'" + std::string(one) + "' is not an IPv4 address or network (a.b.c.d/bits)");
        return false;
      }
      set.nets.push_back(n);
      if (comma == std::string_view::npos) {
        break;
      }
      list.remove_prefix(comma + 1);
    }
    out_.nets.push_back(std::move(set));
    out = static_cast<uint32_t>(out_.nets.size() - 1);
    return true;
  }

  void compare(const Expr& e) {
    const Expr& l = e.kids[0];
    const Expr& r = e.kids[1];
    const bool eq = e.op == "==" || e.op == "eq" || e.op == "ieq";
    const bool ne = e.op == "!=" || e.op == "ne" || e.op == "ine";
    if (e.op == "=~" || e.op == "!~") {
      if (r.kind != Expr::Kind::kString) {
        error(r.loc, "the right side of '" + e.op +
                         "' must be a constant string (a pattern compiled at load time)");
        return;
      }
      std::string key;
      if (l.kind == Expr::Kind::kPvar || l.kind == Expr::Kind::kIdent) {
        key = l.text;
      } else {
        key = "expression at " + where(l.loc);  // its own set
      }
      uint32_t set = 0;
      uint32_t id = 0;
      if (!regex_pattern(key, kRegexCfgMatch, r.text, r.loc, set, id)) {
        return;
      }
      value(l);
      emit(Op::kRegexMatch, set, static_cast<uint16_t>(id), e.loc);
      if (e.op == "!~") {
        emit(Op::kNot, 0, 0, e.loc);
      }
      return;
    }
    // x == myself
    if (r.kind == Expr::Kind::kIdent && r.text == "myself") {
      if (!eq && !ne) {
        error(e.loc, "'myself' can only be compared with == or !=");
        return;
      }
      if (l.kind == Expr::Kind::kIdent && l.text == "uri") {
        emit(Op::kUriIsMyself, 0, 0, e.loc);  // the common case, one instruction
      } else {
        value(l);
        emit(Op::kIsMyself,
             static_cast<uint32_t>(is_uri_valued(l) ? MyselfWhat::kUri : MyselfWhat::kHost), 0,
             e.loc);
      }
      if (ne) {
        emit(Op::kNot, 0, 0, e.loc);
      }
      return;
    }
    // src_ip == 10.0.0.0/8, $si == 10.0.0.1 (an address literal), dst_ip != 1.2.3.4
    const bool net_literal = r.kind == Expr::Kind::kAddress ||
                             (is_ip_valued(l) && l.kind == Expr::Kind::kIdent &&
                              r.kind == Expr::Kind::kString);
    if (net_literal && (eq || ne) && (is_ip_valued(l) || r.text.find('/') != std::string::npos)) {
      uint32_t set = 0;
      if (!net_set(r.text, r.loc, set)) {
        return;
      }
      value(l);
      emit(Op::kIpMatch, set, 0, e.loc);
      if (ne) {
        emit(Op::kNot, 0, 0, e.loc);
      }
      return;
    }
    // Kamailio refuses these at load time ("type mismatch: str instead of int").
    const bool relational = e.op == "<" || e.op == "<=" || e.op == ">" || e.op == ">=";
    if ((relational && (l.kind == Expr::Kind::kString || r.kind == Expr::Kind::kString)) ||
        ((e.op == "==" || e.op == "!=") && l.kind == Expr::Kind::kInt &&
         r.kind == Expr::Kind::kString)) {
      error(e.loc, "type mismatch: a string where '" + e.op + "' needs an integer");
      return;
    }
    static const std::map<std::string, CmpOp, std::less<>> kCmp = {
        {"==", CmpOp::kEq},     {"!=", CmpOp::kNe},     {"<", CmpOp::kLt},
        {"<=", CmpOp::kLe},     {">", CmpOp::kGt},      {">=", CmpOp::kGe},
        {"eq", CmpOp::kStrEq},  {"ne", CmpOp::kStrNe},  {"ieq", CmpOp::kIntEq},
        {"ine", CmpOp::kIntNe},
    };
    CmpOp op = kCmp.at(e.op);
    if (relational) {
      int_ctx_value(l);
      int_ctx_value(r);
      emit(Op::kCompare, 0, static_cast<uint16_t>(op), e.loc);
      return;
    }
    if (e.op == "==" || e.op == "!=") {
      const bool null_const = r.kind == Expr::Kind::kPvar && r.pv.name == "null" &&
                              !r.pv.has_inner && r.pv.transforms.empty() && r.pv.index.empty();
      const bool empty_const = r.kind == Expr::Kind::kString && r.text.empty();
      const bool keyword_nocase =
          l.kind == Expr::Kind::kIdent &&
          (l.text == "method" || l.text == "uri" || l.text == "from_uri" || l.text == "to_uri");
      if (keyword_nocase) {
        op = e.op == "==" ? CmpOp::kEqNoCase : CmpOp::kNeNoCase;
      } else if (null_const) {
        op = e.op == "==" ? CmpOp::kEqNull : CmpOp::kNeNull;
      } else if (empty_const) {
        op = e.op == "==" ? CmpOp::kEqEmpty : CmpOp::kNeEmpty;
      }
    }
    value(l);
    value(r);
    emit(Op::kCompare, 0, static_cast<uint16_t>(op), e.loc);
  }

  // Emits code that leaves the truth of `e` in rc (1 / -1; a function may leave 0, which ends
  // the script).
  void cond(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kCall:
        call(e);
        return;
      case Expr::Kind::kInt:
        emit(Op::kSetRc, e.num > 0 ? kRcTrue : kRcFalse, 0, e.loc);
        return;
      case Expr::Kind::kUnary:
        if (e.op == "!") {
          if (!is_logical(e.kids[0])) {
            // `!` on a value is C's (Kamailio, measured): !-2 is false, !0 true. On a
            // function's or route()'s result, a comparison or && || it is the truth's opposite.
            if (e.kids[0].kind == Expr::Kind::kInt) {
              emit(Op::kSetRc, e.kids[0].num == 0 ? kRcTrue : kRcFalse, 0, e.loc);
              return;
            }
            value(e);  // the value, then kUnary kLogNot
            emit(Op::kTest, 0, 0, e.loc);
            return;
          }
          cond(e.kids[0]);
          emit(Op::kNot, 0, 0, e.loc);
          return;
        }
        break;
      case Expr::Kind::kBinary:
        if (e.op == "&&" || e.op == "||") {
          cond(e.kids[0]);
          const size_t j = emit(e.op == "&&" ? Op::kJumpIfFalse : Op::kJumpIfTrue, 0, 0, e.loc);
          cond(e.kids[1]);
          patch_to_here(j);
          return;
        }
        if (is_compare(e.op)) {
          compare(e);
          return;
        }
        break;
      case Expr::Kind::kIdent:
        if (e.text == "myself") {
          error(e.loc, "'myself' is not a condition; compare with it (uri == myself)");
          return;
        }
        break;
      case Expr::Kind::kAddress:
        error(e.loc, "an address is not a condition");
        return;
      default:
        break;
    }
    int_ctx_value(e);
    emit(Op::kTest, 0, 0, e.loc);
  }

  // ---- function calls ----

  // A constant argument: a number or a string without pseudo-variables.
  bool const_arg(const Expr& fn, const Expr& a) {
    switch (a.kind) {
      case Expr::Kind::kInt:
        return true;
      case Expr::Kind::kString:
        if (has_pvar(a.text)) {
          error(a.loc, "pseudo-variables in arguments of '" + fn.text + "' are not supported yet");
          return false;
        }
        return true;
      case Expr::Kind::kIdent:
        error(a.loc, "'" + a.text + "' is not defined (an argument of '" + fn.text +
                         "' must be a number or a string)");
        return false;
      case Expr::Kind::kPvar:
        error(a.loc, "pseudo-variables in arguments of '" + fn.text + "' are not supported yet");
        return false;
      default:
        error(a.loc, "an argument of '" + fn.text + "' must be a number or a string");
        return false;
    }
  }

  bool int_arg(const Expr& fn, const Expr& a, std::string_view what, int64_t lo, int64_t hi,
               int64_t& out) {
    if (!const_arg(fn, a)) {
      return false;
    }
    if (!int_value(a, out)) {
      error(a.loc, std::string(what) + " of '" + fn.text + "' must be an integer");
      return false;
    }
    if (out < lo || out > hi) {
      error(a.loc, std::string(what) + " of '" + fn.text + "' must be " + std::to_string(lo) +
                       ".." + std::to_string(hi) + ", not " + std::to_string(out));
      return false;
    }
    return true;
  }

  // ---- table-driven functions (FunctionInfo::fn != kCount) ----

  static bool has_pv_arg(const Expr& a) {
    return a.kind == Expr::Kind::kPvar || (a.kind == Expr::Kind::kString && has_pvar(a.text));
  }

  // One argument as FunctionInfo::args says ('i' 'I' 's' 'c'; see cfg/builtins.hpp).
  bool operand(const Expr& fn, const Expr& a, char kind, Operand& out) {
    switch (kind) {
      case 'i':
      case 'I': {
        int64_t v = 0;
        if (kind == 'I' && a.kind == Expr::Kind::kPvar) {
          uint16_t pv = 0;
          if (!pv_ref(a, pv)) {
            return false;
          }
          out = Operand{Operand::Kind::kPv, pv, 0};
          return true;
        }
        if (kind == 'I' && a.kind == Expr::Kind::kString && has_pvar(a.text)) {
          uint16_t f = 0;
          if (!fmt(a.text, a.loc, f)) {
            return false;
          }
          out = Operand{Operand::Kind::kFmt, f, 0};
          return true;
        }
        if (a.kind == Expr::Kind::kIdent) {
          if (const auto it = flag_names_.find(a.text); it != flag_names_.end()) {
            out = Operand{Operand::Kind::kInt, 0, static_cast<int32_t>(it->second)};
            return true;
          }
          error(a.loc, "'" + a.text + "' is not defined (an argument of '" + fn.text +
                           "' must be a number or a string)");
          return false;
        }
        if (!int_value(a, v) || v < std::numeric_limits<int32_t>::min() ||
            v > std::numeric_limits<int32_t>::max()) {
          error(a.loc, "an argument of '" + fn.text + "' must be an integer");
          return false;
        }
        out = Operand{Operand::Kind::kInt, 0, static_cast<int32_t>(v)};
        return true;
      }
      case 's':
        if (a.kind == Expr::Kind::kPvar) {
          uint16_t pv = 0;
          if (!pv_ref(a, pv)) {
            return false;
          }
          out = Operand{Operand::Kind::kPv, pv, 0};
          return true;
        }
        if (a.kind == Expr::Kind::kString && has_pvar(a.text)) {
          uint16_t f = 0;
          if (!fmt(a.text, a.loc, f)) {
            return false;
          }
          out = Operand{Operand::Kind::kFmt, f, 0};
          return true;
        }
        [[fallthrough]];
      case 'c': {
        std::string text;
        if (a.kind == Expr::Kind::kString || a.kind == Expr::Kind::kAddress) {
          text = a.text;
        } else if (a.kind == Expr::Kind::kInt) {
          text = std::to_string(a.num);
        } else if (a.kind == Expr::Kind::kIdent) {
          error(a.loc, "'" + a.text + "' is not defined (an argument of '" + fn.text +
                           "' must be a number or a string)");
          return false;
        } else {
          error(a.loc, "an argument of '" + fn.text + "' must be a " +
                           (kind == 'c' ? "constant string" : "string"));
          return false;
        }
        if (kind == 'c' && has_pvar(text)) {
          error(a.loc, "pseudo-variables in this argument of '" + fn.text +
                           "' are not supported (it must be a constant)");
          return false;
        }
        uint16_t idx = 0;
        if (!intern(text, a.loc, idx)) {
          return false;
        }
        out = Operand{Operand::Kind::kStr, idx, 0};
        return true;
      }
      default:
        return false;
    }
  }

  const std::string& const_text(const FnCall& c, size_t i) const {
    return out_.strings[c.args[i].idx];
  }

  void fn_call(const Expr& e, const FunctionInfo& f) {
    FnCall c;
    c.fn = f.fn;
    c.nargs = static_cast<uint8_t>(e.kids.size());
    for (size_t i = 0; i < e.kids.size(); ++i) {
      const char kind = i < f.args.size() ? f.args[i] : 's';
      if (!operand(e, e.kids[i], kind, c.args[i])) {
        return;
      }
    }
    const auto int_in = [&](size_t i, int64_t lo, int64_t hi, const char* what) {
      if (c.args[i].kind != Operand::Kind::kInt) {
        return true;  // a pseudo-variable: checked at run time
      }
      if (c.args[i].i < lo || c.args[i].i > hi) {
        error(e.kids[i].loc, std::string(what) + " of '" + e.text + "' must be " +
                                 std::to_string(lo) + ".." + std::to_string(hi) + ", not " +
                                 std::to_string(c.args[i].i));
        return false;
      }
      return true;
    };
    switch (f.fn) {
      case Fn::kSendReply:
        if (!int_in(0, 100, 699, "the reply code")) {
          return;
        }
        // Kamailio reads a reason that starts with a pseudo-variable as that variable alone
        // ("$var(t) sum=$var(s)" sends the value of $var(t)): measured on Kamailio 5.6.3 by the
        // differential test (script 04); viaduct does the same, and warns.
        if (c.args[1].kind == Operand::Kind::kFmt) {
          Fmt& f = out_.fmts[c.args[1].idx];
          if (f.parts.size() > 1 && f.parts.front().is_pv) {
            f.parts.resize(1);
            warning(e.kids[1].loc,
                    "the reason starts with a pseudo-variable: Kamailio sends that variable's "
                    "value alone and drops the rest of the text; so does viaduct");
          }
        }
        break;
      case Fn::kSetFlag:
      case Fn::kResetFlag:
      case Fn::kIsFlagSet:
        if (!int_in(0, 0, 31, "the flag")) {
          return;
        }
        break;
      case Fn::kSetAdvPort:
        if (!int_in(0, 1, 65535, "the port")) {
          return;
        }
        break;
      case Fn::kStrip:
        if (!int_in(0, 0, 65535, "the count")) {
          return;
        }
        break;
      case Fn::kUdpMtuTryProto: {
        Proto p = Proto::kUdp;
        if (!parse_proto(const_text(c, 0), p)) {
          error(e.kids[0].loc, "udp_mtu_try_proto needs UDP, TCP, TLS or SCTP");
          return;
        }
        c.aux = static_cast<int32_t>(p);
        break;
      }
      case Fn::kForceSendSocket: {
        SocketSpec s;
        std::string why;
        if (!parse_socket_spec(const_text(c, 0), s, why)) {
          error(e.kids[0].loc, "bad socket '" + const_text(c, 0) + "': " + why);
          return;
        }
        // The index among the UDP listen sockets: the order of snapshot.listeners.
        c.aux = -1;
        int32_t udp_index = 0;
        for (const ListenSocket& l : out_.listens) {
          if (l.proto != Proto::kUdp) {
            continue;
          }
          if (l.addr == s.host && (s.port == 0 || s.port == l.port) &&
              (!s.has_proto || s.proto == l.proto)) {
            c.aux = udp_index;
            break;
          }
          ++udp_index;
        }
        if (c.aux < 0) {
          error(e.kids[0].loc, "force_send_socket(" + const_text(c, 0) +
                                   "): not one of the listen sockets of this script");
          return;
        }
        break;
      }
      case Fn::kIsPresentHf:
      case Fn::kRemoveHf:
        if (const_text(c, 0).empty() ||
            const_text(c, 0).find_first_of(": \t\r\n") != std::string::npos) {
          error(e.kids[0].loc, "'" + e.text + "' needs a header name");
          return;
        }
        break;
      case Fn::kAppendHf:
      case Fn::kInsertHf:
        if (c.nargs > 1 && (const_text(c, 1).empty() ||
                            const_text(c, 1).find_first_of(": \t\r\n") != std::string::npos)) {
          error(e.kids[1].loc, "'" + e.text + "' needs a header name");
          return;
        }
        break;
      case Fn::kIsInSubnet: {
        uint32_t set = 0;
        if (!net_set(const_text(c, 1), e.kids[1].loc, set)) {
          return;
        }
        c.aux = static_cast<int32_t>(set);
        break;
      }
      case Fn::kSearch: {
        uint32_t set = 0;
        uint32_t id = 0;
        if (!regex_pattern("message", kRegexTextops, const_text(c, 0), e.kids[0].loc, set, id)) {
          return;
        }
        c.aux = static_cast<int32_t>((set << 16) | id);
        break;
      }
      case Fn::kSanityCheck:
        // The module's default_checks (Kamailio 5.6.3: 3047, digest credentials included:
        // measured) and uri_checks (7) when not given; packed for the VM (dataplane/vm.cpp,
        // fn_sanity_check): msg_checks in bits 0-14 (the highest check is 1 << 14),
        // uri_checks (1 R-URI, 2 From, 4 To, 8 Contact) in 16-19, autodrop bit 24, noreply 25.
        for (size_t i = 0; i < c.nargs; ++i) {
          if (c.args[i].kind != Operand::Kind::kInt) {
            error(e.kids[i].loc, "the checks of 'sanity_check' must be integer constants here");
            return;
          }
        }
        if ((c.nargs > 0 && !int_in(0, 1, kSanityMaxChecks, "msg_checks")) ||
            (c.nargs > 1 && !int_in(1, 1, 15, "uri_checks"))) {
          return;
        }
        c.aux = static_cast<int32_t>((c.nargs > 0 ? c.args[0].i : sanity_checks_) |
                                     ((c.nargs > 1 ? c.args[1].i : sanity_uris_) << 16) |
                                     (sanity_autodrop_ ? 1 << 24 : 0) |
                                     (sanity_noreply_ ? 1 << 25 : 0));
        break;
      case Fn::kSanityReply:
        c.aux = sanity_noreply_ ? 1 : 0;
        break;
      case Fn::kXlog: {
        // xlog([level,] format), log([level,] text): the last argument is the text.
        if (c.nargs == 2) {
          c.args[0] = c.args[1];
          c.nargs = 1;
          const Expr& lv = e.kids[0];
          c.aux = lv.kind == Expr::Kind::kInt ? static_cast<int32_t>(lv.num) : 0;
        } else {
          c.aux = 0;
        }
        break;
      }
      case Fn::kDsSelect: {
        const std::string_view n = e.text;
        c.aux = static_cast<int32_t>(n == "ds_select_dst"      ? DsApply::kDst
                                     : n == "ds_select_domain" ? DsApply::kDomain
                                                               : DsApply::kNone);
        if (n == "ds_select_dst" && !ds_force_dst_) {
          c.fn = Fn::kDsSelectUnlessDu;
        }
        if (!int_in(0, 0, std::numeric_limits<int32_t>::max(), "the set id")) {
          return;
        }
        if (c.args[1].kind == Operand::Kind::kInt && !ds_alg_ok(e.kids[1].loc, c.args[1].i)) {
          return;
        }
        if (c.nargs > 2 && !int_in(2, 0, std::numeric_limits<int32_t>::max(), "the limit")) {
          return;
        }
        break;
      }
      case Fn::kDsNext:
        c.aux = static_cast<int32_t>(e.text == "ds_next_dst" ? DsApply::kDst : DsApply::kDomain);
        out_.reads_ds_list = true;
        break;
      case Fn::kDsSet:
        c.aux = static_cast<int32_t>(e.text == "ds_set_dst" ? DsApply::kDst : DsApply::kDomain);
        break;
      case Fn::kDsMarkDst:
      case Fn::kDsMarkAddr: {
        // a/i/d/t, optionally with p (Kamailio's ds_mark_dst letters); none: inactive.
        const std::string st = c.nargs > 0 ? const_text(c, 0) : "i";
        uint32_t bits = 0;
        bool base = false;
        bool ok = !st.empty();
        for (char ch : st) {
          switch (ch | 0x20) {
            case 'a': base = true; break;
            case 'i': bits |= kDsInactive; base = true; break;
            case 'd': bits |= kDsDisabled; base = true; break;
            case 't': bits |= kDsTrying; base = true; break;
            case 'p': bits |= kDsProbing; break;
            default: ok = false;
          }
        }
        if (!ok || !base) {
          error(e.kids.empty() ? e.loc : e.kids[0].loc,
                e.text + " state must be a, i, d or t, optionally with p, not \"" + st + "\"");
          return;
        }
        c.aux = static_cast<int32_t>(bits);
        break;
      }
      case Fn::kDsIsFromList:
        if (c.nargs > 2 && c.args[2].kind == Operand::Kind::kStr) {
          uint32_t ip = 0;
          uint16_t port = 0;
          if (!ds_uri_addr(const_text(c, 2), ip, port)) {
            error(e.kids[2].loc, "ds_is_from_list: '" + const_text(c, 2) +
                                     "' is not a SIP URI with an IPv4 host");
            return;
          }
        }
        break;
      default:
        break;
    }
    out_.calls.push_back(c);
    emit(Op::kCallFn, static_cast<uint32_t>(out_.calls.size() - 1), static_cast<uint16_t>(c.fn),
         e.loc);
  }

  // forward(host[, port]) / forward(udp:host:port): a URI for the pipeline ("sip:host:port").
  void forward_to(const Expr& e) {
    const Expr& a = e.kids[0];
    if (e.kids.size() == 1 && (a.kind == Expr::Kind::kAddress || a.kind == Expr::Kind::kString) &&
        !has_pvar(a.text)) {
      SocketSpec s;
      std::string why;
      if (!parse_socket_spec(a.text, s, why)) {
        error(a.loc, "bad forward destination '" + a.text + "': " + why);
        return;
      }
      if (s.has_proto && s.proto != Proto::kUdp) {
        error(a.loc, "forward over " + std::string(proto_name(s.proto)) +
                         " is not supported on the fast path (UDP only)");
        return;
      }
      uint16_t idx = 0;
      if (!intern("sip:" + s.host + (s.port != 0 ? ":" + std::to_string(s.port) : ""), a.loc,
                  idx)) {
        return;
      }
      FnCall c;
      c.fn = Fn::kForwardTo;
      c.nargs = 1;
      c.args[0] = Operand{Operand::Kind::kStr, idx, 0};
      out_.calls.push_back(c);
      emit(Op::kCallFn, static_cast<uint32_t>(out_.calls.size() - 1),
           static_cast<uint16_t>(Fn::kForwardTo), e.loc);
      return;
    }
    FnCall c;
    c.fn = Fn::kForwardTo;
    c.nargs = static_cast<uint8_t>(e.kids.size());
    if (!operand(e, a, 's', c.args[0])) {
      return;
    }
    if (c.nargs > 1 && !operand(e, e.kids[1], 'I', c.args[1])) {
      return;
    }
    c.aux = 1;  // host and port apart: the hook builds sip:host[:port]
    out_.calls.push_back(c);
    emit(Op::kCallFn, static_cast<uint32_t>(out_.calls.size() - 1),
         static_cast<uint16_t>(Fn::kForwardTo), e.loc);
  }

  void call(const Expr& e) {
    Unsupported why = Unsupported::kUnknown;
    const FunctionInfo* f = find_function(e.text, why);
    if (f == nullptr) {
      switch (why) {
        case Unsupported::kSlowPath:
          error(e.loc, "function '" + e.text + "' is tm's: stateful processing runs on the slow "
                       "path, which this release does not have (viaduct -c --explain)");
          break;
        case Unsupported::kNotYet:
          error(e.loc, "function '" + e.text + "' is not supported yet");
          break;
        case Unsupported::kUnknown:
          error(e.loc, "unknown function '" + e.text + "'");
          break;
      }
      return;
    }
    if (!f->module.empty() && !is_loaded(f->module)) {
      error(e.loc, "function '" + e.text + "' needs module '" + std::string(f->module) +
                       "' (loadmodule \"" + std::string(f->module) + ".so\")");
      return;
    }
    // Every function is checked against the route kinds it may be used in (event routes run
    // on the control thread, without a packet to send or rewrite); in a sub-route, against
    // every kind of route that reaches it.
    if ((f->routes & route_bit_) != route_bit_) {
      error(e.loc, "function '" + e.text + "' cannot be used in " + route_desc_);
      return;
    }
    // Kamailio allows it there, but the fast path does not apply its effect to what it relays
    // from that route (a reply, or a request already built for onsend_route). tm's routes are
    // never run: only Kamailio's rule applies there.
    if ((f->unapplied & route_bit_ & (kInCoreReply | kInOnSend)) != 0) {
      error(e.loc, "function '" + e.text + "' is not supported yet in " + route_desc_ +
                       " (viaduct would not apply its effect)");
      return;
    }
    // Kamailio 5.6.3 runs onsend_route on the request it has built already: what append_hf,
    // insert_hf and remove_hf change there is not sent (measured, differential script 23).
    // Accepted as Kamailio accepts them (they run and return true), with a warning.
    if ((route_bit_ & kInOnSend) != 0 &&
        (f->fn == Fn::kAppendHf || f->fn == Fn::kInsertHf || f->fn == Fn::kRemoveHf)) {
      warning(e.loc, "'" + e.text + "' in " + route_desc_ + " changes nothing that is sent "
                     "(as in Kamailio 5.6.3: the request is already built)");
    }
    const size_t n = e.kids.size();
    if (n < f->min_args || n > f->max_args) {
      const std::string want = f->min_args == f->max_args ? std::to_string(f->min_args)
                                                          : std::to_string(f->min_args) + " to " +
                                                                std::to_string(f->max_args);
      error(e.loc, "'" + e.text + "' takes " + want + " argument" + (f->max_args == 1 ? "" : "s") +
                       ", not " + std::to_string(n));
      return;
    }
    const std::string& name = e.text;
    if (f->fn != Fn::kCount) {
      fn_call(e, *f);
    } else if (name == "sl_send_reply" &&
               (has_pv_arg(e.kids[0]) || has_pv_arg(e.kids[1]))) {
      Unsupported ku;
      fn_call(e, *find_function("send_reply", ku));
    } else if (name == "route") {
      call_route(e);
    } else if (name == "is_method") {
      is_method(e);
    } else if (name == "sl_send_reply") {
      sl_send_reply(e);
    } else if (name == "mf_process_maxfwd_header") {
      int64_t v = 0;
      if (n > 1) {
        error(e.kids[1].loc, "the second argument of '" + name + "' is not supported yet");
        return;
      }
      if (int_arg(e, e.kids[0], "the value", 1, 256, v)) {
        emit(Op::kMfProcessMaxfwd, static_cast<uint32_t>(v), 0, e.loc);
      }
    } else if (name == "ds_select_dst") {
      Unsupported ku;
      fn_call(e, *find_function("ds_select", ku));
    } else if (name == "forward") {
      if (n != 0) {
        forward_to(e);
        return;
      }
      emit(Op::kForward, 0, 0, e.loc);
    } else if (name == "drop") {
      emit(Op::kDrop, 0, 0, e.loc);
    } else if (name == "exit") {
      emit(Op::kExit, 0, 0, e.loc);
    }
  }

  void call_route(const Expr& e) {
    const Expr& a = e.kids[0];
    std::string target;
    if (a.kind == Expr::Kind::kIdent || a.kind == Expr::Kind::kString) {
      target = a.text;
    } else if (a.kind == Expr::Kind::kInt) {
      target = std::to_string(a.num);
    } else {
      // route($var(x)), route("R_" + $rm): the name is looked up when it runs (Kamailio's
      // core does the same; a name that matches no route is an error there, logged, and the
      // script goes on: measured on 5.6.3).
      value(a);
      emit(Op::kCallRouteDyn, 0, static_cast<uint16_t>(temps_used_), e.loc);
      return;
    }
    const auto it = route_index_.find(target);
    if (it == route_index_.end()) {
      error(a.loc, "unknown route '" + target + "'");
      return;
    }
    // b: the counters in use here; the callee's go above them (they stay live in its run).
    emit(Op::kCallRoute, it->second, static_cast<uint16_t>(temps_used_), e.loc);
  }

  void is_method(const Expr& e) {
    const Expr& a = e.kids[0];
    if (!const_arg(e, a)) {
      return;
    }
    if (a.kind != Expr::Kind::kString || a.text.empty()) {
      error(a.loc, "is_method() needs a method name or a list such as \"INVITE|BYE\"");
      return;
    }
    uint32_t mask = 0;
    std::vector<std::string> others;
    std::string_view list = a.text;
    while (true) {
      const size_t bar = list.find('|');
      const std::string_view m = list.substr(0, bar);
      if (m.empty()) {
        error(a.loc, "empty method name in is_method(\"" + a.text + "\")");
        return;
      }
      const std::string um = upper(m);
      bool found = false;
      for (const MethodName& k : kMethods) {
        if (k.name == um) {
          mask |= k.bit;
          found = true;
        }
      }
      if (!found) {
        others.emplace_back(m);
      }
      if (bar == std::string_view::npos) {
        break;
      }
      list.remove_prefix(bar + 1);
    }
    // One instruction per test, each either the mask or one name, joined with "or".
    std::vector<size_t> to_end;
    bool emitted = false;
    if (mask != 0) {
      emit(Op::kIsMethod, mask, 0, e.loc);
      emitted = true;
    }
    for (const std::string& m : others) {
      if (emitted) {
        to_end.push_back(emit(Op::kJumpIfTrue, 0, 0, e.loc));
      }
      emitted = true;
      uint16_t idx = 0;
      if (!intern(m, a.loc, idx)) {
        return;
      }
      if (idx == std::numeric_limits<uint16_t>::max() - 1) {
        error(a.loc, "too many distinct strings in the script");
        return;
      }
      emit(Op::kIsMethod, 0, static_cast<uint16_t>(idx + 1), e.loc);
    }
    for (size_t j : to_end) {
      patch_to_here(j);
    }
  }

  void sl_send_reply(const Expr& e) {
    int64_t code = 0;
    const bool code_ok = int_arg(e, e.kids[0], "the reply code", 100, 699, code);
    const Expr& reason = e.kids[1];
    if (!const_arg(e, reason)) {
      return;
    }
    if (reason.kind != Expr::Kind::kString) {
      error(reason.loc, "the reason of 'sl_send_reply' must be a string");
      return;
    }
    uint16_t idx = 0;
    if (code_ok && intern(reason.text, reason.loc, idx)) {
      emit(Op::kSlSendReply, static_cast<uint32_t>(code), idx, e.loc);
    }
  }

  // Kamailio's algorithms (dispatch.c DS_ALG_*). 10 and 12 keep per-call state or fork
  // branches: they belong to the slow path.
  bool ds_alg_ok(const SourceLoc& loc, int64_t alg) {
    if (alg == 10 || alg == 12) {
      error(loc, std::string("dispatcher algorithm ") + std::to_string(alg) +
                     (alg == 10 ? " (call load: per-call load tracking by Call-ID)"
                                : " (parallel forking: one branch per destination, needs tm)") +
                     " is not supported until the slow path");
      return false;
    }
    if (alg == 64) {
      error(loc, "dispatcher algorithm 64 (overload control) is not supported yet");
      return false;
    }
    if (alg < 0 || alg > 15) {
      error(loc, "unknown dispatcher algorithm " + std::to_string(alg) +
                     " (Kamailio's are 0-15 and 64; Kamailio would quietly use the "
                     "first destination)");
      return false;
    }
    if (alg == 7 && !has_hash_pvar_) {
      error(loc,
            "dispatcher algorithm 7 hashes modparam(\"dispatcher\", \"hash_pvar\", ...), "
            "which is not set");
      return false;
    }
    return true;
  }

  // "sip:IP[:port][;params]" -> IPv4 and port (0: any), through the socket parser.
  static bool ds_uri_addr(std::string_view u, uint32_t& ip_be, uint16_t& port) {
    if (u.starts_with("sip:")) {
      u.remove_prefix(4);
    }
    if (const size_t at = u.find('@'); at != std::string_view::npos) {
      u.remove_prefix(at + 1);
    }
    SocketSpec spec;
    std::string why;
    if (!parse_socket_spec(u.substr(0, u.find_first_of(";>?")), spec, why) || spec.has_proto) {
      return false;
    }
    port = spec.port;
    return parse_ipv4(spec.host, ip_be);
  }

  const Script& script_;
  std::string file_;
  std::string base_dir_;
  Program& out_;
  Diagnostics& diags_;
  std::set<std::string, std::less<>> loaded_;
  std::map<std::string, const RouteDef*, std::less<>> sub_routes_;
  std::map<std::string, uint32_t, std::less<>> route_index_;
  std::vector<const RouteDef*> order_;  // order_[i] compiles to out_.routes[i]
  bool has_hash_pvar_ = false;           // modparam("dispatcher", "hash_pvar", ...) is set
  bool ds_force_dst_ = true;             // modparam force_dst; 0: Fn::kDsSelectUnlessDu
  int32_t sanity_checks_ = 3047;         // sanity's default_checks, uri_checks, autodrop and
  int32_t sanity_uris_ = 7;              //   noreply (Kamailio 5.6.3's defaults)
  bool sanity_autodrop_ = true;
  bool sanity_noreply_ = false;
  std::vector<Breakable> breakables_;    // enclosing switch/while, innermost last
  std::vector<RegexGroup> regex_groups_;
  uint64_t regex_repeated_ = 0;  // RegexCost::repeated of every pattern (kMaxRegexRepeatedTotal)
  std::vector<std::string> shv_names_;  // $shv names, in order of first use
  std::vector<ShvInit> shv_inits_;      // modparam("pv", "shvset", ...)
  std::map<std::string, int64_t, std::less<>> flag_names_;  // flags NAME:BIT declarations
  uint32_t temps_used_ = 0;              // temps / loop counters in use at this point
  uint8_t route_bit_ = kInRequest;       // kinds the route being compiled runs as (FunctionInfo::routes)
  std::string route_desc_;
};

bool compile_on_this_stack(const std::string& text, const std::string& name,
                           const std::string& base_dir, const CompileOptions& opts, Program& out,
                           Diagnostics& diags) {
  const size_t first_diag = diags.size();
  Defines defines;
  // Predefined, so a script can hold viaduct-only settings that Kamailio skips:
  //   #!ifdef VIADUCT ... #!endif
  defines["VIADUCT"] = Define{"", SourceLoc{}};
  for (const auto& [key, value] : opts.defines) {
    if (key.empty()) {
      diags.push_back(Diagnostic{Diagnostic::Severity::kError, "", 0, 0, "empty -A define name"});
      continue;
    }
    defines[key] = Define{value, SourceLoc{}};
  }
  const std::vector<Token> toks = preprocess(text, name, defines, diags);
  const Script script = parse(toks, diags);
  Program prog;
  Compiler(script, name, base_dir, prog, diags).run();

  // Report in source order; messages about the whole file last.
  std::stable_sort(diags.begin() + static_cast<std::ptrdiff_t>(first_diag), diags.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     const auto key = [](const Diagnostic& d) {
                       return std::pair<uint64_t, uint32_t>(
                           d.line == 0 ? std::numeric_limits<uint64_t>::max() : d.line, d.col);
                     };
                     return key(a) < key(b);
                   });
  for (size_t i = first_diag; i < diags.size(); ++i) {
    if (diags[i].severity == Diagnostic::Severity::kError) {
      return false;
    }
  }
  out = std::move(prog);
  return true;
}

}  // namespace

// The front end recurses as deep as the script nests: on a stack of its own (deep_stack.hpp).
bool compile_string(const std::string& text, const std::string& name, const std::string& base_dir,
                    const CompileOptions& opts, Program& out, Diagnostics& diags) {
  return run_on_deep_stack("compiler", diags, [&] {
    return compile_on_this_stack(text, name, base_dir, opts, out, diags);
  });
}

bool compile_file(const std::string& path, const CompileOptions& opts, Program& out,
                  Diagnostics& diags) {
  std::string text;
  if (!read_file(path, text, diags)) {
    return false;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return compile_string(text, path, dir.empty() ? "." : dir, opts, out, diags);
}

}  // namespace viaduct::cfg
