// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dispatch.hpp"

namespace viaduct::dp {

uint32_t kamailio_ds_hash(std::string_view x) noexcept {
  // Kamailio reads bytes through `char`, signed on the platforms it runs on: a byte >= 0x80
  // contributes its sign-extended value. Keep that, or UTF-8 Call-IDs would hash differently.
  auto c = [&](size_t i) -> uint32_t { return static_cast<uint32_t>(static_cast<int>(
                                           static_cast<signed char>(x[i]))); };
  uint32_t h = 0;
  size_t i = 0;
  if (x.size() >= 4) {
    for (; i + 4 <= x.size(); i += 4) {
      const uint32_t v = (c(i) << 24) + (c(i + 1) << 16) + (c(i + 2) << 8) + c(i + 3);
      h += v ^ (v >> 3);
    }
  }
  uint32_t v = 0;
  for (; i < x.size(); ++i) {
    v <<= 8;
    v += c(i);
  }
  h += v ^ (v >> 3);
  h = (h + (h >> 11)) + ((h >> 13) + (h >> 23));
  return h != 0 ? h : 1;
}

int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg,
                       std::string_view call_id, DispatchState& st) noexcept {
  if (set_index >= snap.sets.size()) {
    return -1;
  }
  const DestSet& set = snap.sets[set_index];
  if (set.count == 0) {
    return -1;
  }
  uint32_t start = 0;
  switch (alg) {
    case 0:
      start = kamailio_ds_hash(call_id) % set.count;
      break;
    case 4: {
      uint32_t& cursor = st.rr[set_index % kMaxRoundRobinSets];
      start = cursor % set.count;
      cursor = (start + 1) % set.count;
      break;
    }
    default:
      start = 0;  // Kamailio: unknown algorithm uses the first entry
      break;
  }
  uint32_t i = start;
  do {
    if (snap.destinations[set.first + i].usable()) {
      return static_cast<int>(set.first + i);
    }
    i = (i + 1) % set.count;
  } while (i != start);
  return -1;
}

}  // namespace viaduct::dp
