// SPDX-License-Identifier: Apache-2.0
// cfg/disasm.hpp: a Program as text, for tests, `--explain` and debugging.
#pragma once

#include <string>

#include "cfg/program.hpp"

namespace viaduct::cfg {

// One line per instruction, each route introduced by its name:
//   request_route:
//      0  mf_process_maxfwd 10            ; routing.cfg:13:10
// With `with_locs` false the "; file:line:col" suffixes are left out.
std::string disassemble(const Program& p, bool with_locs = true);

// `viaduct -c --explain`: for each route, fast path or slow path and why, with what it uses
// (functions, pseudo-variables, regex sets, loops). In this release every accepted route runs
// on the fast path; a construct that would need the slow path is a check-time error instead.
std::string explain(const Program& p);

// The mnemonic of an opcode ("jump_if_false").
const char* op_name(Op op);

}  // namespace viaduct::cfg
