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

// The mnemonic of an opcode ("jump_if_false").
const char* op_name(Op op);

}  // namespace viaduct::cfg
