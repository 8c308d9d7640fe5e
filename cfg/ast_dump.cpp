// SPDX-License-Identifier: Apache-2.0
// cfg/ast_dump.cpp: dump() of parser.hpp, a stable text form of the syntax tree.
#include <string>

#include "cfg/deep_stack.hpp"
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

// Appends e's text to out (appending: a chain of n operators is O(n), not O(n^2), to dump).
void put_expr(std::string& out, const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kInt:
      out += std::to_string(e.num);
      return;
    case Expr::Kind::kString:
      out += quote(e.text);
      return;
    case Expr::Kind::kIdent:
    case Expr::Kind::kSelect:
    case Expr::Kind::kPvar:
      out += e.text;
      return;
    case Expr::Kind::kAddress:
      out += "addr:";
      out += e.text;
      return;
    case Expr::Kind::kCall:
      out += e.text;
      if (e.no_parens) {
        return;
      }
      out += '(';
      for (size_t i = 0; i < e.kids.size(); ++i) {
        out += i == 0 ? "" : ", ";
        put_expr(out, e.kids[i]);
      }
      out += ')';
      return;
    case Expr::Kind::kUnary:
      out += '(';
      out += e.op;
      out += ' ';
      put_expr(out, e.kids[0]);
      out += ')';
      return;
    case Expr::Kind::kBinary:
      out += '(';
      put_expr(out, e.kids[0]);
      out += ' ';
      out += e.op;
      out += ' ';
      put_expr(out, e.kids[1]);
      out += ')';
      return;
  }
  out += '?';
}

std::string expr_text(const Expr& e) {
  std::string out;
  put_expr(out, e);
  return out;
}

void dump_stmt(std::string& out, int depth, const Stmt& s) {
  const std::string at = " @" + where(s.loc);
  auto exprs = [&s]() {
    std::string r;
    for (const Expr& e : s.exprs) {
      r += " " + expr_text(e);
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
      line(out, depth,
           "assign " + expr_text(s.exprs[0]) + " " + s.op + " " + expr_text(s.exprs[1]) + at);
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

std::string script_text(const Script& s) {
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
         "custom " + c.group + "." + c.name + " = " + expr_text(c.value) +
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
         "modparam " + quote(m.module) + " " + quote(m.name) + " " + expr_text(m.value) + " @" +
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

}  // namespace

// Both on the front end's deep stack: a tree may be as deep as the nesting limit.
std::string dump(const Expr& e) {
  std::string out;
  run_on_deep_stack([&] { put_expr(out, e); });
  return out;
}

std::string dump(const Script& s) {
  std::string out;
  run_on_deep_stack([&] { out = script_text(s); });
  return out;
}

}  // namespace viaduct::cfg
