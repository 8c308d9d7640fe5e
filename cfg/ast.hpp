// SPDX-License-Identifier: Apache-2.0
// cfg/ast.hpp: the syntax tree of a routing script, with source locations. The parser builds
// more than the compiler supports: unsupported constructs are reported by the compiler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cfg/lexer.hpp"
#include "cfg/program.hpp"

namespace viaduct::cfg {

struct Expr {
  enum class Kind : uint8_t {
    kInt,      // num
    kString,   // text
    kIdent,    // text: a keyword such as uri, myself, method, or a bare word
    kAddress,  // text: an unquoted address literal (10.0.0.1, udp:1.2.3.4:5060, [::1])
    kPvar,     // text: $ru, $var(x)
    kSelect,   // text: @ruri.host
    kCall,     // text: function name; kids: arguments
    kUnary,    // op: "!", "-", "~"; kids[0]
    kBinary,   // op: "&&", "||", "==", "+", ...; kids[0], kids[1]
  };
  Kind kind = Kind::kInt;
  SourceLoc loc;
  int64_t num = 0;
  std::string text;
  std::string op;
  std::vector<Expr> kids;
};

struct Stmt {
  enum class Kind : uint8_t {
    kEmpty,   // ";"
    kBlock,   // body
    kIf,      // exprs[0] cond; body[0] then; body[1] else (optional)
    kExpr,    // exprs[0]: a call (or any expression used as a statement)
    kExit,    // exit; exit();
    kDrop,    // drop; drop();
    kReturn,  // exprs: empty or [value]
    kBreak,   // inside_breakable tells whether a switch/while encloses it
    kSwitch,  // exprs[0] subject; body: the case bodies (parsed, not supported yet)
    kWhile,   // exprs[0] cond; body[0]
    kAssign,  // exprs[0] target; exprs[1] value; op "=" or "+="
  };
  Kind kind = Kind::kEmpty;
  SourceLoc loc;
  std::string op;
  bool inside_breakable = false;
  std::vector<Expr> exprs;
  std::vector<Stmt> body;
};

enum class RouteKind : uint8_t {
  kRequest,  // request_route { }, route { }, route[0] { }
  kSub,      // route[NAME] { }
  kReply,    // reply_route { }, onreply_route { }
  kOnReply,  // onreply_route[NAME] { }
  kFailure,  // failure_route[NAME] { }
  kBranch,   // branch_route[NAME] { }
  kOnSend,   // onsend_route { }
  kEvent,    // event_route[group:name] { }
};

struct RouteDef {
  RouteKind kind = RouteKind::kRequest;
  std::string keyword;  // as written: "request_route", "route", "failure_route", ...
  std::string name;     // "" when none
  SourceLoc loc;        // the keyword
  Stmt body;            // a kBlock
};

struct CoreParamDef {
  std::string name;
  SourceLoc loc;
  std::vector<Token> value;  // the tokens of the value, up to ';' or the end of the line
};

struct LoadModuleDef {
  std::string path;  // as written
  SourceLoc loc;
};

struct ModParamDef {
  std::string module;
  std::string name;
  Expr value;  // kInt or kString (after define expansion)
  SourceLoc loc;
  SourceLoc module_loc;
  SourceLoc name_loc;
};

struct Script {
  std::vector<CoreParamDef> params;
  std::vector<LoadModuleDef> modules;
  std::vector<ModParamDef> modparams;
  std::vector<RouteDef> routes;
};

}  // namespace viaduct::cfg
