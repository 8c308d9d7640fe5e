// SPDX-License-Identifier: Apache-2.0
// dataplane/transform.hpp: Kamailio's transformations ($(pv{s.len}{uri.user})...) evaluated on
// the fast path: no allocation (results go to the worker's scratch arena through TrEnv), no
// syscall, no lock. Semantics measured against Kamailio 5.6.3 (tests/dataplane/vm_test.cpp,
// tests/e2e/data/diff/15-transform.cfg).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cfg/program.hpp"
#include "dataplane/vm.hpp"

namespace viaduct::dp {

// What a transformation needs from the interpreter.
struct TrEnv {
  void* ctx = nullptr;
  // `n` bytes of the run's scratch arena; nullptr when it is full (the run then fails).
  char* (*alloc)(void* ctx, size_t n) noexcept = nullptr;
  // The value of pseudo-variable `pvs[idx]` (a parameter given as a pseudo-variable).
  VmVal (*pv)(void* ctx, uint16_t idx) noexcept = nullptr;
};

// Applies `chain` to `in` and returns the result: a string or an int (s.len, s.int, uri.port,
// param.count, param.in; s.int and uri.port keep their text in p/len, which format() prints as
// Kamailio does, and which pv_value() drops), or $null when a transformation fails, as Kamailio's value then is
// (its input is $null, a URI does not parse, s.int of a non-number, s.substr out of range...).
// The result may point into `in`'s bytes, the program's strings or the scratch arena.
VmVal tr_apply(const cfg::Program& prog, const cfg::TrChain& chain, VmVal in,
               const TrEnv& env) noexcept;

// MD5 of `len` bytes as 32 lowercase hex digits (s.md5); `out` holds 32 bytes.
void md5_hex(const void* data, size_t len, char* out) noexcept;

// Decimal text of `x` into `out` (at least 21 bytes); returns its length. Shared with the
// interpreter (vm.cpp).
size_t format_int(int64_t x, char* out) noexcept;

}  // namespace viaduct::dp
