// SPDX-License-Identifier: Apache-2.0
#include "dataplane/counters.hpp"

namespace viaduct::dp {

const char* drop_name(Drop d) noexcept {
  switch (d) {
#define VD_X(e, s) \
  case Drop::e:    \
    return s;
    VD_DROP_REASONS(VD_X)
#undef VD_X
    case Drop::kCount:
      break;
  }
  return "unknown";
}

}  // namespace viaduct::dp
