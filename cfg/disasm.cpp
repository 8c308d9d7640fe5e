// SPDX-License-Identifier: Apache-2.0
#include "cfg/disasm.hpp"

#include <iterator>
#include <vector>

namespace viaduct::cfg {
namespace {

constexpr struct {
  uint32_t bit;
  const char* name;
} kMethodBits[] = {
    {kMethodInvite, "INVITE"},       {kMethodAck, "ACK"},           {kMethodBye, "BYE"},
    {kMethodCancel, "CANCEL"},       {kMethodRegister, "REGISTER"}, {kMethodOptions, "OPTIONS"},
    {kMethodInfo, "INFO"},           {kMethodUpdate, "UPDATE"},     {kMethodPrack, "PRACK"},
    {kMethodSubscribe, "SUBSCRIBE"}, {kMethodNotify, "NOTIFY"},     {kMethodRefer, "REFER"},
    {kMethodMessage, "MESSAGE"},     {kMethodPublish, "PUBLISH"},
};

std::string quote(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        r += "\\\"";
        break;
      case '\\':
        r += "\\\\";
        break;
      case '\n':
        r += "\\n";
        break;
      case '\r':
        r += "\\r";
        break;
      case '\t':
        r += "\\t";
        break;
      default:
        r += c;
        break;
    }
  }
  return r + "\"";
}

std::string string_at(const Program& p, size_t i) {
  return i < p.strings.size() ? quote(p.strings[i]) : "<bad string " + std::to_string(i) + ">";
}

const char* fn_name(Fn f) {
  static const char* const kNames[] = {
      "send_reply",  "forward_to",      "setflag",        "resetflag",       "isflagset",
      "force_rport", "add_local_rport", "set_advertised_address", "set_advertised_port",
      "udp_mtu_try_proto", "force_send_socket", "sethost", "setport", "setuser", "rewriteuri",
      "rewritehostport", "prefix", "strip", "revert_uri", "has_totag", "is_present_hf",
      "append_hf", "remove_hf", "record_route", "loose_route", "is_in_subnet", "sanity_check",
      "xlog", "is_myself", "search", "ds_select", "ds_next", "ds_set", "ds_mark_dst",
      "ds_is_from_list", "ds_list_exists", "ds_is_active", "pike_check_req", "ds_mark_addr",
      "pike_check_ip", "insert_hf", "ds_select_unless_du", "sanity_reply",
  };
  static_assert(std::size(kNames) == static_cast<size_t>(Fn::kCount));
  const auto i = static_cast<size_t>(f);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string pv_name(const Program& p, const PvRef& r) {
  static const char* const kNames[] = {
      "$null", "$ru", "$rU", "$rd", "$rp", "$rz", "$du", "$si", "$sp", "$Ri", "$Rp", "$pr",
      "$rm",   "$rs", "$rr", "$fu", "$fU", "$fd", "$fn", "$ft", "$tu", "$tU", "$td", "$tn",
      "$tt",   "$ci", "$cs", "$ua", "$ml", "$hdr", "$var", "$avp", "$rc", "af",
  };
  if (r.tr != 0) {  // transformations: "$(rU{...})"
    PvRef base = r;
    base.tr = 0;
    return "$(" + pv_name(p, base).substr(1) + "{...})";
  }
  if (r.kind == PvKind::kXavpDsDst || r.kind == PvKind::kXavpDsCtx) {
    static const char* const kFields[] = {"uri", "grp", "dstid", "attrs", "sock"};
    return r.kind == PvKind::kXavpDsCtx
               ? std::string("$xavp(_dsctx_=>cnt)")
               : "$xavp(_dsdst_[" + std::to_string(r.index) + "]=>" +
                     (r.arg < std::size(kFields) ? kFields[r.arg] : "?") + ")";
  }
  if (r.kind == PvKind::kShv) {
    return "$shv(" + (p.shv && r.arg < p.shv->names.size() ? p.shv->names[r.arg] : "?") + ")";
  }
  if (r.kind == PvKind::kSnd) {
    static const char* const kKeys[] = {"ip", "port", "af", "proto"};
    return std::string("$snd(") + (r.arg < 4 ? kKeys[r.arg] : "?") + ")";
  }
  const auto i = static_cast<size_t>(r.kind);
  std::string n = i < std::size(kNames) ? kNames[i] : "?";
  if (r.kind == PvKind::kHdr) {
    n += "(" + (r.arg < p.strings.size() ? p.strings[r.arg] : std::string("?")) + ")";
    if (r.index != 0) {
      n += "[" + std::to_string(r.index) + "]";
    }
  } else if (r.kind == PvKind::kVar) {
    n += "(" + (r.arg < p.vars.size() ? p.vars[r.arg] : std::string("?")) + ")";
  } else if (r.kind == PvKind::kAvp) {
    n += "(" + (r.arg < p.avps.size() ? p.avps[r.arg] : std::string("?")) + ")";
  }
  return n;
}

std::string operands(const Program& p, const Insn& in) {
  switch (in.op) {
    case Op::kJump:
    case Op::kJumpIfFalse:
    case Op::kJumpIfTrue:
      return "-> " + std::to_string(in.a);
    case Op::kReturn:
      if (in.b != 0) {
        return "(value)";
      }
      return std::to_string(static_cast<int32_t>(in.a));
    case Op::kTailReturn:
      return in.b == 0 ? std::string("($rc)")
             : in.b == 1 ? std::to_string(static_cast<int32_t>(in.a))
                         : std::string("(tail)");
    case Op::kTailSave:
      return in.b == 0 ? "$rc" : in.b == 1 ? "1" : "0";
    case Op::kSetRc:
      return std::to_string(static_cast<int32_t>(in.a));
    case Op::kCallRoute:
      if (in.a < p.routes.size()) {
        return p.routes[in.a].name.empty() ? "request_route" : "route[" + p.routes[in.a].name + "]";
      }
      return "<bad route " + std::to_string(in.a) + ">";
    case Op::kIsMethod: {
      if (in.b != 0) {
        return string_at(p, in.b - 1u);
      }
      std::string r;
      for (const auto& m : kMethodBits) {
        if ((in.a & m.bit) != 0) {
          r += r.empty() ? "" : "|";
          r += m.name;
        }
      }
      return r;
    }
    case Op::kSlSendReply:
      return std::to_string(in.a) + " " + string_at(p, in.b);
    case Op::kMfProcessMaxfwd:
      return std::to_string(in.a);
    case Op::kPushInt:
      return std::to_string(static_cast<int32_t>(in.a));
    case Op::kPushStr:
      return string_at(p, in.a);
    case Op::kPushPv:
    case Op::kStore:
      return (in.a < p.pvs.size() ? pv_name(p, p.pvs[in.a]) : "<bad pv>") +
             (in.op == Op::kStore && in.b != 0 ? " [*]" : "");
    case Op::kPushFmt:
      return "fmt#" + std::to_string(in.a);
    case Op::kBinary: {
      static const char* const kNames[] = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"};
      return in.b < std::size(kNames) ? kNames[in.b] : "?";
    }
    case Op::kUnary: {
      static const char* const kNames[] = {"-",        "~",     "!",     "defined",
                                           "strlen",   "strempty", "(int)", "(str)"};
      return in.b < std::size(kNames) ? kNames[in.b] : "?";
    }
    case Op::kCompare: {
      static const char* const kNames[] = {"==",       "!=",       "<",       "<=",
                                           ">",        ">=",       "eq",      "ne",
                                           "ieq",      "ine",      "== $null", "!= $null",
                                           "== \"\"", "!= \"\"",  "==/i",     "!=/i"};
      return in.b < std::size(kNames) ? kNames[in.b] : "?";
    }
    case Op::kIsMyself:
      return in.a == 0 ? "uri" : "host";
    case Op::kIpMatch:
      return "nets#" + std::to_string(in.a);
    case Op::kStoreTemp:
    case Op::kLoadTemp:
    case Op::kLoopInit:
      return "t" + std::to_string(in.a);
    case Op::kLoopStep:
      return "t" + std::to_string(in.b) + " bound -> " + std::to_string(in.a);
    case Op::kCallFn:
      return in.a < p.calls.size() ? fn_name(p.calls[in.a].fn) + std::string("#") +
                                         std::to_string(in.a)
                                   : "<bad call>";
    case Op::kRegexMatch:
      return "set#" + std::to_string(in.a) + " pattern#" + std::to_string(in.b);
    case Op::kMethodSwitch: {
      if (in.c >= p.method_tables.size()) {
        return "<bad table>";
      }
      // The methods a case names, each with its target, then where the others go.
      const MethodTable& t = p.method_tables[in.c];
      std::string r;
      uint32_t other = 0;
      for (uint32_t m = 0; m < kMethodValues; ++m) {
        if (((t.hit >> m) & 1u) == 0) {
          other = t.to[m];
          continue;
        }
        for (const auto& mb : kMethodBits) {
          if (mb.bit == (1u << m)) {
            r += std::string(r.empty() ? "" : " ") + mb.name + " -> " + std::to_string(t.to[m]);
          }
        }
      }
      return r + " else -> " + std::to_string(other);
    }
    case Op::kRegexMatchPv:
      return (in.c < p.pvs.size() ? pv_name(p, p.pvs[in.c]) : "<bad pv>") + " set#" +
             std::to_string(in.a) + " pattern#" + std::to_string(in.b);
    case Op::kMethodEq:
      return in.a < p.strings.size() ? "\"" + p.strings[in.a] + "\"" : "<bad string>";
    case Op::kPushNull:
    case Op::kPushRc:
    case Op::kPushBool:
    case Op::kTest:
    case Op::kNop:
    case Op::kNot:
    case Op::kExit:
    case Op::kDrop:
    case Op::kUriIsMyself:
    case Op::kForward:
      break;
    case Op::kCallRouteDyn:
      return "(the name on the stack)";
  }
  return "";
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kNop:
      return "nop";
    case Op::kJump:
      return "jump";
    case Op::kJumpIfFalse:
      return "jump_if_false";
    case Op::kJumpIfTrue:
      return "jump_if_true";
    case Op::kNot:
      return "not";
    case Op::kSetRc:
      return "set_rc";
    case Op::kCallRoute:
      return "call";
    case Op::kCallRouteDyn:
      return "call_dynamic";
    case Op::kReturn:
      return "return";
    case Op::kExit:
      return "exit";
    case Op::kDrop:
      return "drop";
    case Op::kUriIsMyself:
      return "uri_is_myself";
    case Op::kIsMethod:
      return "is_method";
    case Op::kSlSendReply:
      return "sl_send_reply";
    case Op::kMfProcessMaxfwd:
      return "mf_process_maxfwd";
    case Op::kForward:
      return "forward";
    case Op::kPushInt:
      return "push_int";
    case Op::kPushStr:
      return "push_str";
    case Op::kPushNull:
      return "push_null";
    case Op::kPushPv:
      return "push_pv";
    case Op::kPushFmt:
      return "push_fmt";
    case Op::kPushRc:
      return "push_rc";
    case Op::kPushBool:
      return "push_bool";
    case Op::kBinary:
      return "binary";
    case Op::kUnary:
      return "unary";
    case Op::kCompare:
      return "compare";
    case Op::kTest:
      return "test";
    case Op::kStore:
      return "store";
    case Op::kIsMyself:
      return "is_myself";
    case Op::kIpMatch:
      return "ip_match";
    case Op::kStoreTemp:
      return "store_temp";
    case Op::kLoadTemp:
      return "load_temp";
    case Op::kLoopInit:
      return "loop_init";
    case Op::kLoopStep:
      return "loop_step";
    case Op::kCallFn:
      return "call_fn";
    case Op::kRegexMatch:
      return "regex_match";
    case Op::kMethodEq:
      return "method_eq";
    case Op::kRegexMatchPv:
      return "regex_match_pv";
    case Op::kMethodSwitch:
      return "method_switch";
    case Op::kTailReturn:
      return "tail_return";
    case Op::kTailSave:
      return "tail_save";
  }
  return "?";
}

namespace {

// Top-level routes are named by their kind ("reply_route", "failure_route[F]",
// "event_route[...]"), sub-routes by their name.
std::string route_label(const Route& r) {
  if (r.name.empty()) {
    return "request_route";
  }
  for (std::string_view k : {"event_route[", "onreply_route[", "failure_route[", "branch_route["}) {
    if (r.name.starts_with(k) && r.name.ends_with("]")) {
      return r.name;
    }
  }
  if (r.name == "reply_route" || r.name == "onsend_route") {
    return r.name;
  }
  return "route[" + r.name + "]";
}

}  // namespace

std::string explain(const Program& p) {
  std::string out;
  for (size_t ri = 0; ri < p.routes.size(); ++ri) {
    const Route& r = p.routes[ri];
    const size_t begin = r.entry;
    size_t end = p.code.size();
    for (const Route& o : p.routes) {
      if (o.entry > begin && o.entry < end) {
        end = o.entry;
      }
    }
    std::vector<std::string> uses;
    const auto add = [&uses](std::string u) {
      for (const std::string& x : uses) {
        if (x == u) {
          return;
        }
      }
      uses.push_back(std::move(u));
    };
    bool loops = false;
    for (size_t pc = begin; pc < end; ++pc) {
      const Insn& in = p.code[pc];
      switch (in.op) {
        case Op::kUriIsMyself:
        case Op::kIsMyself:
          add("myself");
          break;
        case Op::kIsMethod:
          add("is_method");
          break;
        case Op::kSlSendReply:
          add("sl_send_reply");
          break;
        case Op::kMfProcessMaxfwd:
          add("mf_process_maxfwd_header");
          break;
        case Op::kForward:
          add("forward");
          break;
        case Op::kCallFn:
          if (in.a < p.calls.size()) {
            add(fn_name(p.calls[in.a].fn));
          }
          break;
        case Op::kCallRoute:
          if (in.a < p.routes.size()) {
            add("route(" + p.routes[in.a].name + ")");
          }
          break;
        case Op::kCallRouteDyn:
          add("route(<name computed at run time>)");
          break;
        case Op::kPushPv:
        case Op::kStore:
          if (in.a < p.pvs.size()) {
            add(pv_name(p, p.pvs[in.a]));
          }
          break;
        case Op::kRegexMatchPv:  // the regex_match after it adds the regex
          if (in.c < p.pvs.size()) {
            add(pv_name(p, p.pvs[in.c]));
          }
          break;
        case Op::kRegexMatch:
          if (p.regex && in.a < p.regex->operands.size()) {
            add("regex on " + p.regex->operands[in.a]);
          }
          break;
        case Op::kIpMatch:
          add("ip/cidr match");
          break;
        case Op::kLoopInit:
          loops = true;
          break;
        default:
          break;
      }
    }
    out += route_label(r);
    if (!r.not_run.empty()) {
      out += ": " + r.not_run + " (" + std::to_string(end - begin) + " instructions, checked)\n";
      continue;
    }
    out += ": fast path (" + std::to_string(end - begin) + " instructions";
    if (loops) {
      out += "; while loops bounded by max_while_loops=" + std::to_string(p.max_while_loops);
    }
    out += ")\n";
    if (!uses.empty()) {
      out += "  uses:";
      for (const std::string& u : uses) {
        out += " " + u;
      }
      out += "\n";
    }
  }
  if (p.regex) {
    for (size_t i = 0; i < p.regex->sets.size(); ++i) {
      out += "regex set " + std::to_string(i) + " on " + p.regex->operands[i] + ": " +
             std::to_string(p.regex->sets[i].size()) +
             " pattern(s), one Hyperscan scan per message\n";
    }
  }
  out += "slow path: none in this release (tm's functions, such as t_relay(), are rejected by "
         "-c with their location; the routes only tm runs are checked, listed above, not run)\n";
  return out;
}

std::string disassemble(const Program& p, bool with_locs) {
  std::string out;
  for (size_t pc = 0; pc < p.code.size(); ++pc) {
    for (const Route& r : p.routes) {
      if (r.entry == pc) {
        out += route_label(r) + ":\n";
      }
    }
    const Insn& in = p.code[pc];
    std::string line = std::to_string(pc);
    line.insert(0, line.size() < 4 ? 4 - line.size() : 0, ' ');
    line += "  ";
    std::string ops;
    if (in.op == Op::kCallFn && in.a < p.calls.size() &&
        (p.calls[in.a].fn == Fn::kDsSelect || p.calls[in.a].fn == Fn::kDsSelectUnlessDu) &&
        p.calls[in.a].args[0].kind == Operand::Kind::kInt &&
        p.calls[in.a].args[1].kind == Operand::Kind::kInt) {
      // The dispatcher's selections read as the script wrote them.
      const FnCall& c = p.calls[in.a];
      static const char* const kNames[] = {"ds_select_dst", "ds_select_domain", "ds_select"};
      line += kNames[static_cast<size_t>(c.aux) % 3];
      if (c.fn == Fn::kDsSelectUnlessDu) {
        line += " unless $du";
      }
      ops = "set=" + std::to_string(c.args[0].i) + " alg=" + std::to_string(c.args[1].i);
      if (c.nargs > 2) {
        ops += c.args[2].kind == Operand::Kind::kInt ? " limit=" + std::to_string(c.args[2].i)
                                                      : std::string(" limit=<pv>");
      }
    } else {
      line += op_name(in.op);
      ops = operands(p, in);
    }
    if (!ops.empty()) {
      line += ' ';
      line += ops;
    }
    if (with_locs && pc < p.locs.size()) {
      const SourceLoc& l = p.locs[pc];
      if (line.size() < 40) {
        line.append(40 - line.size(), ' ');
      }
      line += " ; " + l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
    }
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace viaduct::cfg
