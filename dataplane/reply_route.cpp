// SPDX-License-Identifier: Apache-2.0
#include "dataplane/reply_route.hpp"

#include <rte_byteorder.h>

#include <cstring>
#include <string_view>

#include "dataplane/vm.hpp"

namespace viaduct::dp {

bool splice_rr_params(char* line, size_t cap, size_t& len, std::string_view params) noexcept {
  static constexpr std::string_view kTail = ">\r\n";
  if (len < kTail.size() || len + params.size() > cap ||
      std::string_view(line + len - kTail.size(), kTail.size()) != kTail) {
    return false;
  }
  std::memcpy(line + len - kTail.size(), params.data(), params.size());
  std::memcpy(line + len - kTail.size() + params.size(), kTail.data(), kTail.size());
  len += params.size();
  return true;
}

bool run_reply_route_script(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                            const sip::SipView& v, WorkerCtx& ctx, ReplyEdits& re) noexcept {
  VmResult r;
  const VmPacket pkt = vm_packet(pi, ctx.worker_id);
  vm_run(snap, msg, v, pkt, ctx.vm, ctx.dispatch, *ctx.counters, r,
         static_cast<uint32_t>(snap.program->reply_route));
  if (r.error) {
    re.drop = Drop::kScriptError;
    return false;
  }
  // Kamailio 5.6.3 relays unless the route ran `drop` or its value is 0 or negative (`return
  // 0`, `return -1`, a last function call that returned false); `exit` relays.
  if (r.dropped || r.route_rc <= 0) {
    re.drop = Drop::kReplyRouteDrop;
    return false;
  }
  if (r.n_append == 0 && r.n_remove == 0) {
    return true;
  }
  // append_hf/insert_hf/remove_hf: applied with the removal of our Via, as Kamailio's lumps
  // are. insert_hf without a name (or whose field is absent) goes above the first header field,
  // in the order the script ran them, where our Via was when it was on top (measured, 5.6.3):
  // order_edits keeps inserts at one offset in the order they are added, and before a deletion
  // that starts there.
  size_t n = 0;
  re.e[n++] = sip::remove_top_via_edit(msg, v);
  if (r.n_top != 0) {
    const auto top = static_cast<uint16_t>(sip::first_header_offset(msg, v));
    for (uint8_t seq = 1; seq <= r.n_top; ++seq) {
      for (size_t i = 0; i < r.n_append && i < kVmMaxAppend; ++i) {
        if (r.append_top[i] == seq) {
          re.e[n++] = sip::Edit{top, 0, r.append_hf[i]};
        }
      }
    }
  }
  for (size_t i = 0; i < r.n_append && i < kVmMaxAppend; ++i) {
    if (r.append_top[i] != 0) {
      continue;  // on top: above
    }
    re.e[n++] = r.append_at[i] != 0 ? sip::Edit{r.append_at[i], 0, r.append_hf[i]}
                                    : sip::append_header_edit(v, r.append_hf[i]);
  }
  for (size_t i = 0; i < r.n_remove && i < kVmMaxRemove; ++i) {
    std::string_view full;
    const char compact = sip::compact_form(r.remove_hf[i], full);
    const size_t room = kMaxReplyEdits - n;
    const size_t found = sip::remove_header_edits(msg, v, full, compact, re.e + n, room);
    if (found > room) {
      re.drop = Drop::kEditConflict;
      return false;
    }
    n += found;
  }
  if (!sip::order_edits(re.e, n, true)) {
    re.drop = Drop::kEditConflict;
    return false;
  }
  re.n = n;
  return true;
}

bool run_onsend_route_script(const Snapshot& snap, const PacketInfo& pi, const char* msg,
                             const sip::SipView& v, uint32_t dst_ip_be, uint16_t dst_port_be,
                             const Ip6* dst6, WorkerCtx& ctx, Drop& why) noexcept {
  VmResult r;
  VmPacket pkt = vm_packet(pi, ctx.worker_id);
  // $snd(ip) of an IPv6 next hop is not given yet (the port, af and proto are).
  pkt.snd_ip_be = dst6 == nullptr ? dst_ip_be : 0;
  pkt.snd_port = rte_be_to_cpu_16(dst_port_be);
  if (pkt.snd_port == 0) {
    pkt.snd_port = 5060;
  }
  // The same message as request_route's run just before: its flags (Kamailio 5.6.3's
  // onsend_route sees what request_route set), kept for another send of the same request.
  const uint32_t request_flags = ctx.vm.msg_flags;
  r.flags = request_flags;
  // The request_route result being sent points into the arena (append_hf lines, a new R-URI):
  // this run allocates above it (VmState::scratch_from).
  ctx.vm.scratch_from = ctx.vm.scratch_used;
  vm_run(snap, msg, v, pkt, ctx.vm, ctx.dispatch, *ctx.counters, r,
         static_cast<uint32_t>(snap.program->onsend_route));
  ctx.vm.scratch_from = 0;
  ctx.vm.msg_flags = request_flags;
  if (r.error) {
    why = Drop::kScriptError;
    return false;
  }
  if (r.dropped) {
    why = Drop::kOnSendDrop;
    return false;
  }
  return true;
}

}  // namespace viaduct::dp
