// SPDX-License-Identifier: Apache-2.0
// cfg/deep_stack.cpp: see deep_stack.hpp.
#include "cfg/deep_stack.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <string>
#include <system_error>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define VD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VD_ASAN 1
#endif
#endif
#ifdef VD_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace viaduct::cfg {

namespace {

std::atomic<size_t> g_peak{0};
thread_local bool t_on_deep_stack = false;  // this thread is a run_on_deep_stack one
#ifdef VD_ASAN
thread_local uintptr_t t_stack_top = 0;  // this deep stack's end (its highest address + 1)
#endif

struct Call {
  const std::function<void()>* fn;
  void* stack_base;
  std::exception_ptr error;
};

void* thread_main(void* arg) {
  Call& call = *static_cast<Call*>(arg);
  t_on_deep_stack = true;
#ifdef VD_ASAN
  t_stack_top = reinterpret_cast<uintptr_t>(call.stack_base) + kDeepStackBytes;
#endif
  try {
    (*call.fn)();
  } catch (...) {
    call.error = std::current_exception();
  }
  return nullptr;
}

// The mapping, its lowest page a guard (an overflow faults there instead of running into
// whatever lies below), unmapped when the call ends.
class Stack {
 public:
  Stack() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    base_ = mmap(nullptr, kDeepStackBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      throw std::system_error(errno, std::generic_category(), "the front end's stack (mmap)");
    }
    if (mprotect(base_, page_, PROT_NONE) != 0) {
      const int err = errno;
      munmap(base_, kDeepStackBytes);
      throw std::system_error(err, std::generic_category(), "the front end's stack (mprotect)");
    }
  }
  ~Stack() { munmap(base_, kDeepStackBytes); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  void* base() const { return base_; }

  // Bytes of the mapping touched so far: resident pages, counted in a window from the top (the
  // stack grows down) that doubles while its lowest page is resident, so that a shallow run does
  // not pay for reading the residency of the whole gigabyte.
  size_t used() const {
    auto* const top = static_cast<unsigned char*>(base_) + kDeepStackBytes;
    std::vector<unsigned char> resident;
    for (size_t window = 64 * page_;; window = std::min(window * 2, kDeepStackBytes)) {
      resident.assign(window / page_, 0);
      if (mincore(top - window, window, resident.data()) != 0) {
        return 0;
      }
      if ((resident[0] & 1u) == 0 || window == kDeepStackBytes) {
        break;
      }
    }
    size_t n = 0;
    for (const unsigned char r : resident) {
      n += r & 1u;
    }
    return n * page_;
  }

 private:
  void* base_ = nullptr;
  size_t page_ = 4096;
};

}  // namespace

void run_on_deep_stack(const std::function<void()>& fn) {
  if (t_on_deep_stack) {  // already there (compile_string parses, dump from a compile)
    fn();
    return;
  }
  const Stack stack;
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) {
    throw std::system_error(rc, std::generic_category(), "the front end's thread (attributes)");
  }
  rc = pthread_attr_setstack(&attr, stack.base(), kDeepStackBytes);
  Call call{&fn, stack.base(), nullptr};
  pthread_t thread{};
  if (rc == 0) {
    rc = pthread_create(&thread, &attr, thread_main, &call);
  }
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    throw std::system_error(rc, std::generic_category(), "the front end's thread");
  }
  pthread_join(thread, nullptr);
  const size_t used = stack.used();
  size_t peak = g_peak.load(std::memory_order_relaxed);
  while (used > peak && !g_peak.compare_exchange_weak(peak, used, std::memory_order_relaxed)) {
  }
  if (call.error) {
    std::rethrow_exception(call.error);
  }
}

bool run_on_deep_stack(const char* what, Diagnostics& diags, const std::function<bool()>& fn) {
  bool ok = false;
  try {
    run_on_deep_stack([&] { ok = fn(); });
  } catch (const std::system_error& e) {
    diags.push_back(Diagnostic{Diagnostic::Severity::kError, "", 0, 0,
                               std::string("cannot run the ") + what + ": " + e.what()});
    return false;
  }
  return ok;
}

#ifdef VD_ASAN
__attribute__((noinline)) void before_throw() noexcept {
  if (t_stack_top == 0) {
    return;
  }
  // From a margin under this frame (what the throw calls: its string copies, the unwinder).
  constexpr uintptr_t kBelow = 64 * 1024;
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const uintptr_t low = here - kBelow;
  if (low < t_stack_top) {
    __asan_unpoison_memory_region(reinterpret_cast<void*>(low), t_stack_top - low);
  }
}
#else
void before_throw() noexcept {}
#endif

size_t deep_stack_peak_bytes() { return g_peak.load(std::memory_order_relaxed); }

}  // namespace viaduct::cfg
