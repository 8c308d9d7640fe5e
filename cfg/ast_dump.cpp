// SPDX-License-Identifier: Apache-2.0
// cfg/ast_dump.cpp: dump() of parser.hpp, a stable text form of the syntax tree.
#include <string>

#include "cfg/parser.hpp"

namespace viaduct::cfg {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

void line(std::string& out, int depth, const std::string& text) {
  out.append(static_cast<size_t>(depth) * 2, ' ');
  out += text;
  out += '\n';
}

std::string where(const SourceLoc& loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

void dump_stmt(std::string& out, int depth, const Stmt& s) {
  const std::string at = " @" + where(s.loc);
  auto exprs = [&s]() {
    std::string r;
    for (const Expr& e : s.exprs) {
      r += " " + dump(e);
    }
    return r;
  };
  switch (s.kind) {
    case Stmt::Kind::kEmpty:
      line(out, depth, "empty" + at);
      return;
    case Stmt::Kind::kBlock:
      line(out, depth, (s.op.empty() ? std::string("block") : s.op) + exprs() + at);
      for (const Stmt& b : s.body) {
        dump_stmt(out, depth + 1, b);
      }
      return;
    case Stmt::Kind::kIf:
      line(out, depth, "if" + exprs() + at);
      dump_stmt(out, depth + 1, s.body[0]);
      if (s.body.size() > 1) {
        line(out, depth, "else");
        dump_stmt(out, depth + 1, s.body[1]);
      }
      return;
    case Stmt::Kind::kExpr:
      line(out, depth, "expr" + exprs() + at);
      return;
    case Stmt::Kind::kExit:
      line(out, depth, "exit" + exprs() + at);
      return;
    case Stmt::Kind::kDrop:
      line(out, depth, "drop" + exprs() + at);
      return;
    case Stmt::Kind::kReturn:
      line(out, depth, "return" + exprs() + at);
      return;
    case Stmt::Kind::kBreak:
      line(out, depth, std::string(s.inside_breakable ? "break" : "break (outside)") + at);
      return;
    case Stmt::Kind::kSwitch:
      line(out, depth, "switch" + exprs() + at);
      for (const Stmt& b : s.body) {
        dump_stmt(out, depth + 1, b);
      }
      return;
    case Stmt::Kind::kWhile:
      line(out, depth, "while" + exprs() + at);
      dump_stmt(out, depth + 1, s.body[0]);
      return;
    case Stmt::Kind::kAssign:
      line(out, depth, "assign " + dump(s.exprs[0]) + " " + s.op + " " + dump(s.exprs[1]) + at);
      return;
  }
}

const char* route_kind(RouteKind k) {
  switch (k) {
    case RouteKind::kRequest:
      return "request";
    case RouteKind::kSub:
      return "route";
    case RouteKind::kReply:
      return "reply";
    case RouteKind::kOnReply:
      return "onreply";
    case RouteKind::kFailure:
      return "failure";
    case RouteKind::kBranch:
      return "branch";
    case RouteKind::kOnSend:
      return "onsend";
    case RouteKind::kEvent:
      return "event";
  }
  return "?";
}

}  // namespace

std::string dump(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kInt:
      return std::to_string(e.num);
    case Expr::Kind::kString:
      return quote(e.text);
    case Expr::Kind::kIdent:
    case Expr::Kind::kSelect:
      return e.text;
    case Expr::Kind::kPvar:
      return e.text;
    case Expr::Kind::kAddress:
      return "addr:" + e.text;
    case Expr::Kind::kCall: {
      if (e.no_parens) {
        return e.text;
      }
      std::string s = e.text + "(";
      for (size_t i = 0; i < e.kids.size(); ++i) {
        s += (i == 0 ? "" : ", ") + dump(e.kids[i]);
      }
      return s + ")";
    }
    case Expr::Kind::kUnary:
      return "(" + e.op + " " + dump(e.kids[0]) + ")";
    case Expr::Kind::kBinary:
      return "(" + dump(e.kids[0]) + " " + e.op + " " + dump(e.kids[1]) + ")";
  }
  return "?";
}

std::string dump(const Script& s) {
  std::string out;
  for (const CoreParamDef& p : s.params) {
    std::string v;
    for (const Token& t : p.value) {
      v += (v.empty() || !t.space_before ? "" : " ") + token_spelling(t);
    }
    line(out, 0, "param " + p.name + " = " + v + " @" + where(p.loc));
  }
  for (const CustomParamDef& c : s.custom_params) {
    line(out, 0,
         "custom " + c.group + "." + c.name + " = " + dump(c.value) +
             (c.desc.empty() ? "" : " desc " + quote(c.desc)) + " @" + where(c.loc));
  }
  for (const FlagDecl& f : s.flags) {
    line(out, 0,
         std::string(f.avp ? "avpflag " : "flag ") + f.name +
             (f.bit >= 0 ? ":" + std::to_string(f.bit) : "") + " @" + where(f.loc));
  }
  for (const std::string& p : s.load_paths) {
    line(out, 0, "loadpath " + quote(p));
  }
  if (!s.cfgengine.empty()) {
    line(out, 0, "cfgengine " + quote(s.cfgengine));
  }
  for (const LoadModuleDef& m : s.modules) {
    line(out, 0, "loadmodule " + quote(m.path) + " @" + where(m.loc));
  }
  for (const ModParamDef& m : s.modparams) {
    line(out, 0,
         "modparam " + quote(m.module) + " " + quote(m.name) + " " + dump(m.value) + " @" +
             where(m.loc));
  }
  for (const RouteDef& r : s.routes) {
    line(out, 0,
         std::string(route_kind(r.kind)) + "_route " + r.keyword +
             (r.name.empty() ? "" : "[" + r.name + "]") + " @" + where(r.loc));
    for (const Stmt& b : r.body.body) {
      dump_stmt(out, 1, b);
    }
  }
  return out;
}

}  // namespace viaduct::cfg
