// SPDX-License-Identifier: Apache-2.0
#include "cfg/disasm.hpp"

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

std::string operands(const Program& p, const Insn& in) {
  switch (in.op) {
    case Op::kJump:
    case Op::kJumpIfFalse:
    case Op::kJumpIfTrue:
      return "-> " + std::to_string(in.a);
    case Op::kSetRc:
    case Op::kReturn:
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
    case Op::kDsSelectDst:
      return "set=" + std::to_string(in.a) + " alg=" + std::to_string(in.b);
    case Op::kNop:
    case Op::kNot:
    case Op::kExit:
    case Op::kDrop:
    case Op::kUriIsMyself:
    case Op::kForward:
      break;
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
    case Op::kDsSelectDst:
      return "ds_select_dst";
    case Op::kForward:
      return "forward";
  }
  return "?";
}

std::string disassemble(const Program& p, bool with_locs) {
  std::string out;
  for (size_t pc = 0; pc < p.code.size(); ++pc) {
    for (const Route& r : p.routes) {
      if (r.entry == pc) {
        out += r.name.empty() ? std::string("request_route:\n") : "route[" + r.name + "]:\n";
      }
    }
    const Insn& in = p.code[pc];
    std::string line = std::to_string(pc);
    line.insert(0, line.size() < 4 ? 4 - line.size() : 0, ' ');
    line += "  ";
    line += op_name(in.op);
    const std::string ops = operands(p, in);
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
