// SPDX-License-Identifier: Apache-2.0
// cfg/deep_stack.hpp: runs the script front end (preprocessor, parser, compiler, tree dump) on a
// thread of its own with a large stack.
//
// The front end recurses as deep as the script nests: Kamailio's bison parser accepts else-if
// chains of ~2,500 branches, thousands of parentheses and `||` chains of tens of thousands of
// terms (generated configs have them), and viaduct's recursive descent parser, its compiler and
// the tree's walks take one or more frames per level. A caller's stack (8 MiB on the main
// thread, less on others, and several times more per frame under ASan) is not enough for that,
// so the work runs on a stack reserved here: address space only, pages are touched as the
// recursion reaches them and returned when the call ends. Control-plane only; never per packet.
#pragma once

#include <cstddef>
#include <functional>

#include "cfg/diagnostic.hpp"

namespace viaduct::cfg {

// The stack reserved for the front end (address space, not memory).
inline constexpr size_t kDeepStackBytes = size_t{1} << 30;

// Runs `fn` on a thread with a kDeepStackBytes stack and waits for it; an exception `fn` throws
// is rethrown here. Called on such a thread, runs `fn` there. Throws std::system_error when the
// stack or the thread cannot be had.
void run_on_deep_stack(const std::function<void()>& fn);

// run_on_deep_stack(fn) for the front end's entry points: fn's result, or false with an error
// in `diags` ("cannot run the <what>: ...") when the stack or the thread cannot be had.
bool run_on_deep_stack(const char* what, Diagnostics& diags, const std::function<bool()>& fn);

// Under AddressSanitizer an exception thrown more than 64 MiB of stack below a frame it unwinds
// leaves the unwound frames' red zones poisoned (ASan skips its own clean-up past that size, with
// a warning), and the unwinding itself, whose landing pads call ASan again, then reports false
// stack-buffer-overflows. The parser, whose syntax errors are exceptions thrown from as deep as the
// script nests, calls before_throw() at its throw sites: the stack from there to the top of this
// thread's deep stack is unpoisoned, as ASan would have done below 64 MiB (the live frames lose
// their red zones until they return: fewer reports, never false ones). Does nothing in other
// builds, and on a thread that is not a run_on_deep_stack one.
void before_throw() noexcept;

// The most stack any run_on_deep_stack call of this process has used, in bytes (pages touched,
// read after each call): lets tests check the margin the nesting limit leaves.
size_t deep_stack_peak_bytes();

}  // namespace viaduct::cfg
