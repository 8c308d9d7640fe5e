// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/move_bytes.hpp: the short overlapping copy apply_edits moves message pieces
// with, shared with dp::apply_edits_summed (dataplane/cksum.cpp), which moves them the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

// Copies n bytes from s to d, the two possibly overlapping: up to 64 bytes inline, every load
// before the first store (one to four overlapping words or 16-byte blocks), more through
// memmove. apply_edits' pieces are mostly short (the start line, our Via, a Max-Forwards
// value): a call each cost the common forward ~60 instructions with the spills around them.
// n (sizeof(W) to 2 * sizeof(W)) bytes as the first and the last W, both loaded first.
template <class W>
[[gnu::always_inline]] inline void move_two(char* d, const char* s, size_t n) noexcept {
  W a;
  W b;
  std::memcpy(&a, s, sizeof(W));
  std::memcpy(&b, s + n - sizeof(W), sizeof(W));
  std::memcpy(d, &a, sizeof(W));
  std::memcpy(d + n - sizeof(W), &b, sizeof(W));
}

[[gnu::always_inline]] inline void move_bytes(char* d, const char* s, size_t n) noexcept {
  struct B16 {
    char b[16];
  };
  if (n <= 16) {
    if (n >= 8) {
      move_two<uint64_t>(d, s, n);
    } else if (n >= 4) {
      move_two<uint32_t>(d, s, n);
    } else if (n != 0) {
      const char a = s[0];
      const char b = s[n >> 1];
      const char c = s[n - 1];
      d[0] = a;
      d[n >> 1] = b;
      d[n - 1] = c;
    }
  } else if (n <= 32) {
    move_two<B16>(d, s, n);
  } else if (n <= 64) {
    B16 a;
    B16 b;
    B16 c;
    B16 e;
    std::memcpy(&a, s, 16);
    std::memcpy(&b, s + 16, 16);
    std::memcpy(&c, s + n - 32, 16);
    std::memcpy(&e, s + n - 16, 16);
    std::memcpy(d, &a, 16);
    std::memcpy(d + 16, &b, 16);
    std::memcpy(d + n - 32, &c, 16);
    std::memcpy(d + n - 16, &e, 16);
  } else {
    std::memmove(d, s, n);
  }
}


// apply_edits' one pass for edits that move no kept segment right (none deletes more than it
// inserts, and the message ends where it ended): each segment of the message at src moves left
// to its place at dst (or stays), each insert right after it, in front of every source still to
// move. The edits are in order and inside the message (the caller checked).
[[gnu::always_inline]] inline void move_left_pass(char* dst, const char* src,
                                                  std::span<const Edit> edits) noexcept {
  size_t out_pos = 0;
  size_t prev_end = 0;
  for (const Edit& e : edits) {
    const size_t kept = e.off - prev_end;
    if (dst + out_pos != src + prev_end && kept != 0) {
      move_bytes(dst + out_pos, src + prev_end, kept);
    }
    out_pos += kept;
    if (!e.ins.empty()) {
      move_bytes(dst + out_pos, e.ins.data(), e.ins.size());
    }
    out_pos += e.ins.size();
    prev_end = size_t{e.off} + e.del;
  }
}

// apply_edits' pass over the segments that move right (or stay), back to front: each edit's
// insert, then the segment in front of it, behind every source still to move. out_pos: where
// the last insert ends in the result (the tail's place); segments that move left must have
// moved already. Alone it is the whole job for edits that move no segment left (none inserts
// more than it deletes, the message ending where it ended).
[[gnu::always_inline]] inline void move_right_pass(char* dst, const char* src,
                                                   std::span<const Edit> edits,
                                                   size_t out_pos) noexcept {
  for (size_t i = edits.size(); i-- > 0;) {
    const Edit& e = edits[i];
    out_pos -= e.ins.size();
    if (!e.ins.empty()) {
      move_bytes(dst + out_pos, e.ins.data(), e.ins.size());
    }
    const size_t start = i == 0 ? 0 : size_t{edits[i - 1].off} + edits[i - 1].del;
    const size_t kept = e.off - start;
    out_pos -= kept;
    if (dst + out_pos > src + start && kept != 0) {
      move_bytes(dst + out_pos, src + start, kept);
    }
  }
}

}  // namespace viaduct::sip
