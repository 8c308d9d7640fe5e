// SPDX-License-Identifier: Apache-2.0
// tests/support/counting_alloc.hpp: replacement allocation functions (malloc, calloc, realloc,
// the aligned forms, operator new) that call count_allocation() and then glibc's own. The test
// that includes this header defines count_allocation(); include it in exactly one translation
// unit of a test binary of its own, never under a sanitizer (which owns these functions).
#pragma once

#include <cerrno>
#include <cstdlib>
#include <new>

void count_allocation() noexcept;

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
}

// The C allocator, so that a malloc hidden in a library call (Hyperscan, DPDK, printf) counts;
// the aligned forms too (libstdc++'s aligned operator new calls aligned_alloc).
extern "C" void* malloc(size_t size) {
  count_allocation();
  return __libc_malloc(size);
}
extern "C" void* calloc(size_t n, size_t size) {
  count_allocation();
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, size_t size) {
  count_allocation();
  return __libc_realloc(p, size);
}
extern "C" int posix_memalign(void** out, size_t alignment, size_t size) {
  count_allocation();
  *out = __libc_memalign(alignment, size);
  return *out == nullptr ? ENOMEM : 0;
}
extern "C" void* aligned_alloc(size_t alignment, size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}
extern "C" void* memalign(size_t alignment, size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}

void* operator new(size_t size) {
  count_allocation();
  void* p = __libc_malloc(size == 0 ? 1 : size);
  if (p == nullptr) {
    std::abort();
  }
  return p;
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  count_allocation();
  return __libc_malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
// What the replacement operator new takes from malloc goes back with free (GCC, seeing both
// inlined into one caller, would warn of a mismatch).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
