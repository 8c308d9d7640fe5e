// SPDX-License-Identifier: Apache-2.0
// dataplane/reply_route.hpp: the script's reply_route { } and onsend_route { } on the fast path.
// Two hooks for dataplane/pipeline.cpp, each one inline test of the snapshot when the script
// has no such route, so a relayed reply or a forward costs nothing more without one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/counters.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/sip/sip.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::dp {

// The edits of a relayed reply after reply_route: our Via removed, then the script's
// append_hf/insert_hf/remove_hf. Left uninitialised but for `n` (a plain relay never reads them).
inline constexpr size_t kMaxReplyEdits = sip::kMaxEdits;
struct ReplyEdits {
  ReplyEdits() noexcept {}
  Drop drop = Drop::kReplyRouteDrop;  // when the route refuses the relay: why (counted)
  size_t n = 0;                       // 0: the Via removal alone
  union {
    sip::Edit e[kMaxReplyEdits];
  };
  // What to apply: `via` (the removal of our Via) alone, or every edit, sorted.
  std::span<const sip::Edit> with(const sip::Edit& via) const noexcept {
    return n == 0 ? std::span<const sip::Edit>(&via, 1) : std::span<const sip::Edit>(e, n);
  }
};

// record_route(params): `params` spliced in before the closing ">\r\n" of a Record-Route line
// of `len` bytes in `line` (capacity `cap`); false when it does not fit.
bool splice_rr_params(char* line, size_t cap, size_t& len, std::string_view params) noexcept;

// reply_route { }: false when the reply must not be relayed (re.drop says why: `drop`, a
// non-positive value of the route, a run-time error or edits that conflict).
bool run_reply_route_script(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                            const sip::SipView& v, WorkerCtx& ctx, ReplyEdits& re) noexcept;
inline bool run_reply_route(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                            const sip::SipView& v, WorkerCtx& ctx, ReplyEdits& re) noexcept {
  if (snap.program->reply_route < 0) [[likely]] {
    return true;
  }
  return run_reply_route_script(snap, pi, msg, v, ctx, re);
}

// onsend_route { }: run when a request is about to be forwarded to dst (network order; dst6
// an IPv6 next hop, or null): false when it must not leave (`drop`: why = kOnSendDrop; a
// run-time error: kScriptError). Kamailio 5.6.3 sends on anything else (return 0 or -1 too).
bool run_onsend_route_script(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                             const sip::SipView& v, uint32_t dst_ip_be, uint16_t dst_port_be,
                             const Ip6* dst6, WorkerCtx& ctx, Drop& why) noexcept;
inline bool run_onsend_route(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                             const sip::SipView& v, uint32_t dst_ip_be, uint16_t dst_port_be,
                             const Ip6* dst6, WorkerCtx& ctx, Drop& why) noexcept {
  if (snap.program->onsend_route < 0) [[likely]] {
    return true;
  }
  return run_onsend_route_script(snap, pi, msg, v, dst_ip_be, dst_port_be, dst6, ctx, why);
}

}  // namespace viaduct::dp
