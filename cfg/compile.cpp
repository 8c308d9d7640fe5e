// SPDX-License-Identifier: Apache-2.0
#include "cfg/compile.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/ast.hpp"
#include "cfg/builtins.hpp"
#include "cfg/dspvar.hpp"
#include "cfg/lexer.hpp"
#include "cfg/net.hpp"
#include "cfg/parser.hpp"

namespace viaduct::cfg {
namespace {

constexpr std::string_view kDefaultDsListFile = "/etc/kamailio/dispatcher.list";
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
      out_.routes[i].entry = static_cast<uint32_t>(out_.code.size());
      stmt(r.body);
      emit(Op::kReturn, kRcTrue, 0, r.loc);
    }
  }

 private:
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
    for (const FlagDecl& f : script_.flags) {
      error(f.loc, std::string(f.avp ? "'avpflags'" : "'flags'") +
                       " declarations are not supported yet; use #!define for flags");
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
        error(p.loc, "unknown core parameter '" + p.name + "'");
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
        if (p.name == "use_dst_blocklist" || p.name == "use_dst_blacklist") {
          out_.use_dst_blocklist = is_int ? num != 0
                                          : (first.text == "yes" || first.text == "on" ||
                                             first.text == "true" || first.text == "enable");
        }
        return;
      }
      case ValueKind::kString:
        if (v.size() != 1 || first.kind != Tok::kString) {
          error(first.loc, "'" + p.name + "' expects a string");
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
    if (!info->checks_params) {
      warning(m.loc, "modparam(\"" + mod + "\", \"" + m.name + "\") is ignored by viaduct");
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
    if (mod == "dispatcher" && m.name == "flags" && (std::stoll(out.value) & ~int64_t{1}) != 0) {
      error(m.value.loc, "dispatcher flags " + out.value +
                             " is not supported yet (only 0, or 1: hash the URI user only; "
                             "flag 2, failover, needs ds_next_dst)");
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

  // ---- routes ----

  static std::string_view describe(const RouteDef& r) {
    return r.kind == RouteKind::kRequest ? std::string_view("request_route") : r.keyword;
  }

  void route_table() {
    const RouteDef* main = nullptr;
    for (const RouteDef& r : script_.routes) {
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
        default:
          error(r.loc, std::string(r.keyword) + (r.name.empty() ? "" : "[" + r.name + "]") +
                           " is not supported yet");
          break;
      }
    }
    if (main == nullptr) {
      error(SourceLoc{file_, 0, 0}, "missing request_route block (the main route)");
      return;
    }
    order_.push_back(main);
    out_.routes.push_back(Route{"", 0});
    for (const RouteDef& r : script_.routes) {
      if (r.kind == RouteKind::kSub && sub_routes_.at(r.name) == &r) {
        route_index_[r.name] = static_cast<uint32_t>(order_.size());
        order_.push_back(&r);
        out_.routes.push_back(Route{r.name, 0});
      }
    }
  }

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
        int64_t v = 1;
        if (!s.exprs.empty()) {
          const Expr& e = s.exprs[0];
          if (e.kind != Expr::Kind::kInt) {
            error(e.loc,
                  "return value must be an integer constant "
                  "(expressions are not supported yet)");
            return;
          }
          if (e.num < std::numeric_limits<int32_t>::min() ||
              e.num > std::numeric_limits<int32_t>::max()) {
            error(e.loc, "return value out of the 32-bit range");
            return;
          }
          v = e.num;
        }
        emit(Op::kReturn, static_cast<uint32_t>(static_cast<int32_t>(v)), 0, s.loc);
        return;
      }
      case Stmt::Kind::kBreak:
        if (!s.inside_breakable) {
          error(s.loc, "'break' outside switch or while; use 'return' to leave a route");
        }
        return;
      case Stmt::Kind::kSwitch:
        error(s.loc, "switch is not supported yet");
        return;
      case Stmt::Kind::kWhile:
        error(s.loc, "while is not supported yet");
        return;
      case Stmt::Kind::kAssign:
        error(s.loc, "assignments are not supported yet");
        return;
    }
  }

  void unsupported(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kPvar:
        error(e.loc, "pseudo-variable '" + e.text + "' is not supported yet");
        return;
      case Expr::Kind::kSelect:
        error(e.loc, "select '" + e.text + "' is not supported yet");
        return;
      case Expr::Kind::kString:
        error(e.loc, "a string is not a condition");
        return;
      case Expr::Kind::kAddress:
        error(e.loc, "an address is not a condition");
        return;
      case Expr::Kind::kIdent:
        error(e.loc, "'" + e.text + "' is not supported yet in conditions");
        return;
      case Expr::Kind::kUnary:
        error(e.loc, "operator '" + e.op + "' is not supported yet");
        return;
      case Expr::Kind::kBinary: {
        const Expr& l = e.kids[0];
        if (l.kind == Expr::Kind::kIdent) {
          error(l.loc, "'" + l.text + " " + e.op + " ...' is not supported yet");
        } else if (l.kind == Expr::Kind::kPvar) {
          error(l.loc, "pseudo-variable '" + l.text + "' is not supported yet");
        } else {
          error(e.loc, "operator '" + e.op + "' is not supported yet");
        }
        return;
      }
      case Expr::Kind::kInt:
      case Expr::Kind::kCall:
        return;
    }
  }

  // Emits code that leaves the value of `e` in rc.
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
        if ((e.op == "==" || e.op == "!=") && e.kids[0].kind == Expr::Kind::kIdent &&
            e.kids[1].kind == Expr::Kind::kIdent && e.kids[1].text == "myself") {
          if (e.kids[0].text != "uri") {
            error(e.kids[0].loc,
                  "'" + e.kids[0].text + " " + e.op + " myself' is not supported yet");
            return;
          }
          emit(Op::kUriIsMyself, 0, 0, e.loc);
          if (e.op == "!=") {
            emit(Op::kNot, 0, 0, e.loc);
          }
          return;
        }
        break;
      default:
        break;
    }
    unsupported(e);
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

  void call(const Expr& e) {
    bool known_unsupported = false;
    const FunctionInfo* f = find_function(e.text, known_unsupported);
    if (f == nullptr) {
      error(e.loc, known_unsupported ? "function '" + e.text + "' is not supported yet"
                                     : "unknown function '" + e.text + "'");
      return;
    }
    if (!f->module.empty() && !is_loaded(f->module)) {
      error(e.loc, "function '" + e.text + "' needs module '" + std::string(f->module) +
                       "' (loadmodule \"" + std::string(f->module) + ".so\")");
      return;
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
    if (name == "route") {
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
      ds_select_dst(e);
    } else if (name == "forward") {
      if (n != 0) {
        error(e.kids[0].loc, "forward() with a destination is not supported yet");
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
      error(a.loc, "route() needs a route name (dynamic route names are not supported yet)");
      return;
    }
    const auto it = route_index_.find(target);
    if (it == route_index_.end()) {
      error(a.loc, "unknown route '" + target + "'");
      return;
    }
    emit(Op::kCallRoute, it->second, 0, e.loc);
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

  void ds_select_dst(const Expr& e) {
    if (e.kids.size() > 2) {
      error(e.kids[2].loc, "the limit argument of 'ds_select_dst' is not supported yet");
      return;
    }
    int64_t set = 0;
    int64_t alg = 0;
    const bool set_ok =
        int_arg(e, e.kids[0], "the set id", 0, std::numeric_limits<int32_t>::max(), set);
    if (!int_arg(e, e.kids[1], "the algorithm", 0, std::numeric_limits<int32_t>::max(), alg)) {
      return;
    }
    // Kamailio's algorithms (dispatch.c DS_ALG_*). 10 and 12 keep per-call state or fork
    // branches: they belong to the slow path.
    if (alg == 10 || alg == 12) {
      error(e.kids[1].loc,
            std::string("dispatcher algorithm ") + std::to_string(alg) +
                (alg == 10 ? " (call load: per-call load tracking by Call-ID)"
                           : " (parallel forking: one branch per destination, needs tm)") +
                " is not supported until the slow path");
      return;
    }
    if (alg == 64) {
      error(e.kids[1].loc, "dispatcher algorithm 64 (overload control) is not supported yet");
      return;
    }
    if (alg > 15) {
      error(e.kids[1].loc, "unknown dispatcher algorithm " + std::to_string(alg) +
                               " (Kamailio's are 0-15 and 64; Kamailio would quietly use the "
                               "first destination)");
      return;
    }
    if (alg == 7 && !has_hash_pvar_) {
      error(e.kids[1].loc,
            "dispatcher algorithm 7 hashes modparam(\"dispatcher\", \"hash_pvar\", ...), "
            "which is not set");
      return;
    }
    if (set_ok) {
      emit(Op::kDsSelectDst, static_cast<uint32_t>(set), static_cast<uint16_t>(alg), e.loc);
    }
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
};

}  // namespace

bool compile_string(const std::string& text, const std::string& name, const std::string& base_dir,
                    const CompileOptions& opts, Program& out, Diagnostics& diags) {
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
