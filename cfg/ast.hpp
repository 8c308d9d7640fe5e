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

// The parts of a pseudo-variable token, as Kamailio's pv_parse_spec splits them:
//   $ru                      -> name "ru"
//   $var(x)                  -> name "var", inner "x"
//   $avp(s:x) $xavp(a=>b)    -> name "avp"/"xavp", inner "s:x" / "a=>b" (kept as written)
//   $(avp(x)[0]{s.len})      -> name "avp", inner "x", index "0", transforms {s.len}
//   $? $rc $retcode          -> name "?" / "rc" / "retcode"
struct Transform {
  std::string name;                 // "s.substr", "uri.user"
  std::vector<std::string> params;  // raw text of each comma-separated parameter
};
struct PvarRef {
  std::string name;
  std::string inner;  // between the parentheses after the name; "" when none
  bool has_inner = false;
  std::string index;  // between [ ] in the $( ) form: "0", "-1", "*"; "" when none
  std::vector<Transform> transforms;
};

struct Expr {
  enum class Kind : uint8_t {
    kInt,      // num
    kString,   // text
    kIdent,    // text: a keyword such as uri, myself, method, or a bare word
    kAddress,  // text: an unquoted address literal (10.0.0.1, udp:1.2.3.4:5060, [::1],
               //   10.0.0.0/8, 10.0.0.0/255.0.0.0, a.host.name)
    kPvar,     // text: the token as written ($ru, $(avp(x)[0])); pv: its parts
    kSelect,   // text: @ruri.host, @via[1].host
    kCall,     // text: function name; kids: arguments; no_parens for "force_rport;"
    kUnary,    // op: "!", "-", "~", "defined", "strlen", "strempty", "(int)", "(str)"; kids[0]
    kBinary,   // op: "&&", "||", "==", "+", "eq", ...; kids[0], kids[1] ("and"/"or"/"not"
               //   are stored as "&&"/"||"/"!", "mod" as "%")
  };
  Kind kind = Kind::kInt;
  SourceLoc loc;
  int64_t num = 0;
  std::string text;
  std::string op;
  std::vector<Expr> kids;
  PvarRef pv;              // kPvar only
  bool no_parens = false;  // kCall written without "()" (core actions such as force_rport)
  uint32_t depth = 1;      // levels of the tree from here down; the parser bounds it (kMaxNesting)

  Expr() = default;
  Expr(const Expr&) = default;
  Expr(Expr&&) noexcept = default;
  Expr& operator=(const Expr&) = default;
  Expr& operator=(Expr&&) noexcept = default;
  // Frees the tree without recursing (ast.cpp): it may be as deep as the nesting limit, and a
  // Script is destroyed on its caller's stack, not the front end's (deep_stack.hpp).
  ~Expr();
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
    kSwitch,  // exprs[0] subject; body: one kBlock per label, in order: op "case" (exprs[0]
              //   the value), "case /" (exprs[0] a regular expression) or "default" (no
              //   exprs); a label directly followed by another has an empty body (fall through)
    kWhile,   // exprs[0] cond; body[0]
    kAssign,  // exprs[0] target (a kPvar); exprs[1] value; op "="
  };
  Kind kind = Kind::kEmpty;
  SourceLoc loc;
  std::string op;
  bool inside_breakable = false;
  std::vector<Expr> exprs;
  std::vector<Stmt> body;

  Stmt() = default;
  Stmt(const Stmt&) = default;
  Stmt(Stmt&&) noexcept = default;
  Stmt& operator=(const Stmt&) = default;
  Stmt& operator=(Stmt&&) noexcept = default;
  ~Stmt();  // without recursing, as ~Expr
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

// flags NAME[:BIT], ...;  avpflags NAME, ...;
struct FlagDecl {
  std::string name;
  int64_t bit = -1;  // -1: not given
  bool avp = false;  // declared by avpflags
  SourceLoc loc;
};

// A custom global parameter: group.name = value [desc "text"]
struct CustomParamDef {
  std::string group;
  std::string name;
  Expr value;  // kInt or kString
  std::string desc;
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
  std::vector<CoreParamDef> params;  // includes kemi.* ("kemi.onsend_route_callback")
  std::vector<LoadModuleDef> modules;
  std::vector<ModParamDef> modparams;
  std::vector<RouteDef> routes;
  std::vector<FlagDecl> flags;
  std::vector<CustomParamDef> custom_params;
  std::vector<std::string> load_paths;  // loadpath / mpath values
  std::string cfgengine;                // "" when not set
  SourceLoc cfgengine_loc;
};

}  // namespace viaduct::cfg
