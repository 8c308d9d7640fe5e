// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_same.hpp: the scanner's two copies (dataplane/sip/sip_scan_body.inc, built
// for every CPU and for AVX2) must fill the same SipView. scan_both() scans a message with each
// and names the first difference: the status, a field, or a byte (a field this list misses:
// both copies zero the whole view first, so equal views are equal bytes).
#pragma once

#include <cstring>
#include <new>
#include <string>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip::test {

inline bool same_span(Span a, Span b) { return a.off == b.off && a.len == b.len; }

// The first field of a and b that differs, or nullptr.
inline const char* via_diff(const Via& a, const Via& b) {
#define VD_SAME_SPAN(f) \
  if (!same_span(a.f, b.f)) return #f;
#define VD_SAME(f) \
  if (a.f != b.f) return #f;
  VD_SAME_SPAN(value) VD_SAME_SPAN(transport) VD_SAME_SPAN(host) VD_SAME_SPAN(port)
  VD_SAME(port_num) VD_SAME_SPAN(branch) VD_SAME_SPAN(received) VD_SAME_SPAN(maddr)
  VD_SAME_SPAN(ttl) VD_SAME_SPAN(params) VD_SAME(has_rport) VD_SAME_SPAN(rport)
  VD_SAME(params_end) VD_SAME_SPAN(received_param) VD_SAME_SPAN(rport_param)
  return nullptr;
}

inline const char* view_diff(const SipView& a, const SipView& b) {
  VD_SAME(is_request) VD_SAME(method) VD_SAME_SPAN(method_name) VD_SAME_SPAN(ruri)
  VD_SAME(status) VD_SAME_SPAN(reason)
  for (size_t i = 0; i < static_cast<size_t>(Hdr::kCount); ++i) {
    if (!same_span(a.hdr[i], b.hdr[i])) {
      return "hdr[]";
    }
  }
  VD_SAME(hdr_count) VD_SAME(names_seen)
  VD_SAME(via_count) VD_SAME_SPAN(top_via_line) VD_SAME(top_via_alone)
  if (via_diff(a.via1, b.via1) != nullptr) {
    return "via1";
  }
  if (via_diff(a.via2, b.via2) != nullptr) {
    return "via2";
  }
  VD_SAME_SPAN(call_id) VD_SAME(cseq_num) VD_SAME_SPAN(cseq_method)
  VD_SAME(cseq_method_mismatch) VD_SAME_SPAN(from_tag) VD_SAME_SPAN(to_tag)
  VD_SAME_SPAN(from_uri) VD_SAME_SPAN(to_uri) VD_SAME(has_max_forwards) VD_SAME(max_forwards)
  VD_SAME_SPAN(max_forwards_value) VD_SAME(has_content_length) VD_SAME(has_user_agent)
  VD_SAME(content_length) VD_SAME(headers_end) VD_SAME(body_off) VD_SAME(len)
#undef VD_SAME
#undef VD_SAME_SPAN
  if (std::memcmp(&a, &b, sizeof a) != 0) {
    return "bytes";
  }
  return nullptr;
}

// Scans [msg, msg + len) with the SSE2 copy and, where the CPU has AVX2, the AVX2 copy (else the
// SSE2 copy twice): nullptr when both give the same status and, on kOk, the same view. Leaves
// detail::scan_avx2 as it found it. `sse2` receives the SSE2 copy's view and status.
inline const char* scan_both(const char* msg, size_t len, SipView& sse2, ScanStatus& status) {
  const bool cpu = detail::scan_avx2;
  alignas(SipView) unsigned char a[sizeof(SipView)];
  alignas(SipView) unsigned char b[sizeof(SipView)];
  std::memset(a, 0xa5, sizeof a);  // different garbage: the reset must cover every byte
  std::memset(b, 0x5a, sizeof b);
  SipView* va = new (a) SipView;
  SipView* vb = new (b) SipView;
  detail::scan_avx2 = false;
  const ScanStatus sa = scan(msg, len, *va);
  detail::scan_avx2 = cpu;
  const ScanStatus sb = scan(msg, len, *vb);
  sse2 = *va;
  status = sa;
  if (sa != sb) {
    return "status";
  }
  return sa == ScanStatus::kOk ? view_diff(*va, *vb) : nullptr;
}

}  // namespace viaduct::sip::test
