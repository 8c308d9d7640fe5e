// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_properties.hpp: property checks on the SIP wire layer, shared by the fuzz
// targets (sip_scan_fuzz, sip_rewrite_fuzz) and the corpus replay test (sip_corpus_test).
//
// Each check takes any byte string and returns the first property it violates as a short text,
// or nullptr when all hold. A message that does not scan has no properties beyond "no crash,
// no read outside the input" (which the sanitizers check). The rewrites replicate what
// dataplane/pipeline.cpp does with a message: the forward of a request (our Via on top,
// received/rport on the previous hop's, Max-Forwards decremented or inserted), the removal of
// the top Via from a reply, and the stateless reply. Test code: allocates, not thread-safe
// (static scratch buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/sip/chars.hpp"  // parse_uri_general: the reference for parse_uri's fast path
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip::test {

using Violation = const char*;

// Returns the condition's text from the enclosing check when it does not hold.
#define VD_PROP(cond) \
  do {                \
    if (!(cond)) {    \
      return #cond;   \
    }                 \
  } while (0)

namespace prop {

// What the pipeline would be configured with: our listener, the packet's source, the maxfwd
// module's limit (modparam max_limit and the mf_process_maxfwd_header argument).
inline constexpr std::string_view kOurHost = "192.0.2.10";
inline constexpr uint16_t kOurPort = 5060;
inline constexpr std::string_view kSrcIp = "198.51.100.7";
inline constexpr uint16_t kSrcPort = 40000;
inline constexpr std::string_view kSrcPortText = "40000";
inline constexpr uint32_t kMaxFwdLimit = 70;
// The scanner's limit on header fields (sip_scan.cpp kMaxHeaders, not part of sip.hpp).
inline constexpr uint16_t kScanMaxHeaders = 256;

// Room around the message in the rewrite buffer: far more than the few hundred bytes the
// forward adds.
inline constexpr size_t kRoom = 4096;

inline bool inside(Span s, size_t len) { return s.end() <= len; }

// A header value without folding CR/LF.
inline std::string unfolded(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  return out;
}

// Whether via_received_edits adds ;received= to this Via for a packet from kSrcIp (RFC 3261
// 18.2.1: the host differs from the source; RFC 3581: always with rport; and to replace one).
inline bool gets_received(const char* msg, const Via& via) {
  std::string_view host = via.host.in(msg);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host != kSrcIp || via.has_rport || !via.received.empty();
}

// Reference implementation of apply_edits: the result as a fresh string.
inline std::string reference_apply(std::string_view msg, std::span<const Edit> edits) {
  std::string out;
  size_t prev = 0;
  for (const Edit& e : edits) {
    out.append(msg.substr(prev, e.off - prev));
    out.append(e.ins);
    prev = size_t{e.off} + e.del;
  }
  out.append(msg.substr(prev));
  return out;
}

inline Violation via_spans_inside(const Via& via, size_t len) {
  for (Span s : {via.value, via.transport, via.host, via.port, via.branch, via.received, via.rport,
                 via.received_param, via.rport_param}) {
    VD_PROP(inside(s, len));
  }
  VD_PROP(via.params_end <= len);
  VD_PROP(via.value.empty() ||
          (via.params_end >= via.value.off && via.params_end <= via.value.end()));
  return nullptr;
}

inline Violation uri_spans_inside(const Uri& u, Span within) {
  for (Span s : {u.scheme, u.user, u.password, u.host, u.port, u.params, u.headers}) {
    VD_PROP(s.empty() || (s.off >= within.off && s.end() <= within.end()));
  }
  return nullptr;
}

constexpr bool same_span(Span a, Span b) { return a.off == b.off && a.len == b.len; }

// parse_uri (with its fast path for the common SIP URI) gives what the general parser gives:
// the same answer and, when it parses, the same spans and port.
// Both ways the fast path reads: a copy of the URI (readable 0), and in place with the rest of
// the input readable after it; with each of its byte classifiers the CPU has (AVX2 32 bytes a
// step: detail::uri_avx2; pshufb where the CPU has SSSE3, SSE2 compares: detail::uri_ssse3).
inline Violation same_uri_parse(const char* msg, Span uri, size_t size) {
  Uri ref;
  const bool want = detail::parse_uri_general(msg, uri, ref);
  struct Restore {  // the CPU's classifiers again on every return
    const bool avx2 = detail::uri_avx2;
    const bool cpu = detail::uri_ssse3;
    ~Restore() {
      detail::uri_avx2 = avx2;
      detail::uri_ssse3 = cpu;
    }
  } restore;
  for (const int classifier : {2, 1, 0}) {
    detail::uri_avx2 = classifier == 2 && restore.avx2;
    detail::uri_ssse3 = classifier >= 1 && restore.cpu;
    for (const size_t readable : {size_t{0}, size}) {
      Uri fast;
      const bool ok = parse_uri(msg, uri, fast, readable);
      VD_PROP(ok == want);
      VD_PROP(uri_valid(msg, uri, readable) == want);  // the verdict-only variant agrees
      if (ok) {
        VD_PROP(same_span(fast.scheme, ref.scheme) && same_span(fast.user, ref.user) &&
                same_span(fast.password, ref.password) && same_span(fast.host, ref.host) &&
                same_span(fast.port, ref.port) && fast.port_num == ref.port_num &&
                same_span(fast.params, ref.params) && same_span(fast.headers, ref.headers));
      }
    }
  }
  return nullptr;
}

// The pipeline's edit list for forwarding the request `v` (dataplane/pipeline.cpp,
// handle_request). Returns the number of edits, 0 when the request is not forwarded
// (Max-Forwards: 0 is answered 483) or an edit does not fit.
// Buffer sizes as in handle_request.
struct ForwardEdits {
  char branch[kBranchLen];
  char via_line[128 + 64];
  size_t via_len = 0;    // our Via line alone
  size_t front_len = 0;  // our Via line plus an inserted Max-Forwards line
  char recv_buf[kViaReceivedMax];
  char mf_buf[12];
  uint32_t max_forwards = 0;  // the value the forwarded request carries
  Edit edits[4];
  size_t n = 0;
};

inline size_t forward_edits(const char* msg, const SipView& v, ForwardEdits& f) {
  f.n = 0;
  if (v.has_max_forwards && v.max_forwards == 0) {
    return 0;
  }
  stateless_branch(msg, v, f.branch);
  f.via_len = build_via_line(f.via_line, sizeof f.via_line, kOurHost, kOurPort,
                             std::string_view(f.branch, kBranchLen));
  if (f.via_len == 0) {
    return 0;
  }
  f.front_len = f.via_len;
  if (!v.has_max_forwards) {
    f.max_forwards = kMaxFwdLimit;
    const std::string line = "Max-Forwards: " + std::to_string(f.max_forwards) + "\r\n";
    std::memcpy(f.via_line + f.front_len, line.data(), line.size());
    f.front_len += line.size();
  }
  f.edits[f.n++] = {v.top_via_line.off, 0, std::string_view(f.via_line, f.front_len)};
  Edit recv[2];
  size_t n_recv = 0;
  if (!via_received_edits(msg, v, kSrcIp, kSrcPort, f.recv_buf, sizeof f.recv_buf, recv,
                          n_recv)) {
    return 0;
  }
  for (size_t i = 0; i < n_recv; ++i) {
    f.edits[f.n++] = recv[i];
  }
  if (v.has_max_forwards) {
    const uint32_t next = v.max_forwards - 1;
    f.max_forwards = next > kMaxFwdLimit ? kMaxFwdLimit : next;
    const std::string digits = std::to_string(f.max_forwards);
    std::memcpy(f.mf_buf, digits.data(), digits.size());
    f.edits[f.n++] = {v.max_forwards_value.off, v.max_forwards_value.len,
                      std::string_view(f.mf_buf, digits.size())};
  }
  for (size_t i = 1; i < f.n; ++i) {
    for (size_t j = i; j > 0 && f.edits[j].off < f.edits[j - 1].off; --j) {
      const Edit t = f.edits[j];
      f.edits[j] = f.edits[j - 1];
      f.edits[j - 1] = t;
    }
  }
  return f.n;
}

// Applies `edits` to msg[0, len) three ways and checks them against reference_apply: with
// headroom (the tail must stay put), without headroom but with tailroom (the front stays put),
// and with no room at all when the message grows (must fail and leave the buffer alone).
// On success the result is in out[head, head + out_len).
inline Violation apply_checked(const char* msg, size_t len, std::span<const Edit> edits, char* out,
                               size_t& head, size_t& out_len) {
  static char tail_buf[kMaxMessage + kRoom];
  const std::string want = reference_apply(std::string_view(msg, len), edits);

  std::memcpy(out + kRoom, msg, len);
  head = kRoom;
  out_len = len;
  VD_PROP(apply_edits(out, kRoom + len + kRoom, head, out_len, edits));
  VD_PROP(std::string_view(out + head, out_len) == want);
  VD_PROP(head + out_len == kRoom + len);  // with headroom the tail (the body) stays put

  std::memcpy(tail_buf, msg, len);
  size_t h2 = 0;
  size_t l2 = len;
  VD_PROP(apply_edits(tail_buf, len + kRoom, h2, l2, edits));
  VD_PROP(std::string_view(tail_buf + h2, l2) == want);

  if (want.size() > len) {
    std::unique_ptr<char[]> tight(new char[len]);
    std::memcpy(tight.get(), msg, len);
    size_t h3 = 0;
    size_t l3 = len;
    VD_PROP(!apply_edits(tight.get(), len, h3, l3, edits));
    VD_PROP(h3 == 0 && l3 == len && std::memcmp(tight.get(), msg, len) == 0);
  }
  return nullptr;
}

// Request forward (pipeline handle_request), then the reply path's removal of our Via.
inline Violation check_forward(const char* msg, const SipView& v) {
  static char buf[kRoom + kMaxMessage + kRoom];
  ForwardEdits f;
  if (forward_edits(msg, v, f) == 0) {
    return nullptr;  // the pipeline drops it or answers it instead
  }
  size_t head = 0;
  size_t len = 0;
  if (Violation why = apply_checked(msg, v.len, {f.edits, f.n}, buf, head, len)) {
    return why;
  }
  if (len > kMaxMessage) {
    return nullptr;  // scan would say kTooLarge; the MTU check drops it long before
  }
  const char* out = buf + head;
  SipView fwd;
  const ScanStatus st = scan(out, len, fwd);
  if (st == ScanStatus::kTooManyHeaders) {
    // Our Via (and an inserted Max-Forwards) took a request at the header limit over it: a
    // limit of the next hop, like kMaxMessage above.
    VD_PROP(v.hdr_count + (f.front_len > f.via_len ? 2 : 1) > kScanMaxHeaders);
    return nullptr;
  }
  VD_PROP(st == ScanStatus::kOk);
  VD_PROP(fwd.len == len);
  VD_PROP(fwd.is_request && fwd.method == v.method);
  VD_PROP(fwd.method_name.in(out) == v.method_name.in(msg));
  VD_PROP(fwd.ruri.in(out) == v.ruri.in(msg));
  VD_PROP(fwd.call_id.in(out) == v.call_id.in(msg));
  VD_PROP(fwd[Hdr::kCSeq].in(out) == v[Hdr::kCSeq].in(msg));
  VD_PROP(fwd.cseq_num == v.cseq_num);
  VD_PROP(fwd.from_tag.in(out) == v.from_tag.in(msg));
  VD_PROP(fwd.to_tag.in(out) == v.to_tag.in(msg));
  VD_PROP(fwd.has_content_length == v.has_content_length);
  VD_PROP(std::string_view(out + fwd.body_off, fwd.len - fwd.body_off) ==
          std::string_view(msg + v.body_off, v.len - v.body_off));
  VD_PROP(fwd.via_count == (v.via_count == 255 ? 255 : v.via_count + 1));
  VD_PROP(fwd.top_via_alone);
  // Our Via leaves the default port out (port_num 0), as Kamailio does.
  VD_PROP(fwd.via1.host.in(out) == kOurHost &&
          (fwd.via1.port_num == kOurPort ||
           (kOurPort == kDefaultSipPort && fwd.via1.port_num == 0)));
  VD_PROP(fwd.via1.branch.in(out) == std::string_view(f.branch, kBranchLen));
  VD_PROP(fwd.has_max_forwards && fwd.max_forwards == f.max_forwards);
  // The previous hop's Via is now second, with received/rport as RFC 3261 18.2.1 / RFC 3581.
  VD_PROP(fwd.via2.transport.in(out) == v.via1.transport.in(msg));
  VD_PROP(fwd.via2.host.in(out) == v.via1.host.in(msg));
  VD_PROP(fwd.via2.port_num == v.via1.port_num);
  VD_PROP(fwd.via2.branch.in(out) == v.via1.branch.in(msg));
  VD_PROP(fwd.via2.has_rport == v.via1.has_rport);
  if (v.via1.has_rport) {
    VD_PROP(fwd.via2.rport.in(out) == kSrcPortText);
  }
  if (gets_received(msg, v.via1)) {
    VD_PROP(fwd.via2.received.in(out) == kSrcIp);
  } else {
    VD_PROP(fwd.via2.value.in(out) == v.via1.value.in(msg));
  }

  // The reply path strips our Via again: the result is the forward without our Via line.
  const Edit remove = remove_top_via_edit(out, fwd);
  VD_PROP(remove.ins.empty() && remove.del == f.via_len);
  VD_PROP(std::string_view(out + remove.off, remove.del) ==
          std::string_view(f.via_line, f.via_len));
  VD_PROP(apply_edits(buf, sizeof buf, head, len, std::span(&remove, 1)));
  SipView back;
  VD_PROP(scan(buf + head, len, back) == ScanStatus::kOk);
  VD_PROP(v.via_count == 255 || back.via_count == v.via_count);
  return nullptr;
}

// Removal of the top Via (pipeline handle_reply) from any message with two or more.
inline Violation check_remove_top_via(const char* msg, const SipView& v) {
  static char buf[kRoom + kMaxMessage + kRoom];
  if (v.via_count < 2) {
    return nullptr;
  }
  const Edit remove = remove_top_via_edit(msg, v);
  VD_PROP(remove.ins.empty() && remove.del != 0);
  VD_PROP(remove.off >= v.top_via_line.off && remove.off + remove.del <= v.top_via_line.end());
  size_t head = 0;
  size_t len = 0;
  if (Violation why = apply_checked(msg, v.len, std::span(&remove, 1), buf, head, len)) {
    return why;
  }
  const char* out = buf + head;
  SipView r;
  VD_PROP(scan(out, len, r) == ScanStatus::kOk);
  VD_PROP(r.len == len);
  VD_PROP(r.is_request == v.is_request && r.status == v.status);
  VD_PROP(v.via_count == 255 ? r.via_count >= 254 : r.via_count == v.via_count - 1);
  VD_PROP(r.via1.value.in(out) == v.via2.value.in(msg));
  VD_PROP(r.call_id.in(out) == v.call_id.in(msg));
  VD_PROP(r[Hdr::kCSeq].in(out) == v[Hdr::kCSeq].in(msg));
  VD_PROP(std::string_view(out + r.body_off, r.len - r.body_off) ==
          std::string_view(msg + v.body_off, v.len - v.body_off));
  return nullptr;
}

// The stateless reply to a request (pipeline send_local_reply).
inline Violation check_reply(const char* msg, const SipView& v) {
  static char reply[kMaxMessage];
  static char again[kMaxMessage];
  auto build = [&](char* out, size_t cap) {
    return build_reply(msg, v, 503, "Service Unavailable", kSrcIp, kSrcPort, out, cap);
  };
  const size_t n = build(reply, sizeof reply);
  if (n == 0) {
    // 0 means "does not fit in cap", or a reply of more than kMaxHeaderFields fields (the
    // request's fields plus Server and Content-Length), which scan() would refuse. The reply is
    // the request's start line, Via, From, To, Call-ID and CSeq lines (each at most 4 bytes
    // longer: "Via: " for "v:", CRLF for LF) plus received/rport, a To-tag and three short
    // lines: this bound is generous.
    VD_PROP(size_t{v.len} + 4 * size_t{v.hdr_count} + 256 > sizeof reply ||
            size_t{v.hdr_count} + 2 > kMaxHeaderFields);
    return nullptr;
  }
  VD_PROP(n <= sizeof reply);
  // Deterministic: a retransmission gets the same reply, To-tag included.
  VD_PROP(build(again, sizeof again) == n && std::memcmp(reply, again, n) == 0);
  // Too small a buffer: 0, and no write past it (the sanitizers watch the heap copy).
  {
    std::unique_ptr<char[]> small(new char[n - 1]);
    VD_PROP(build(small.get(), n - 1) == 0);
  }
  SipView r;
  VD_PROP(scan(reply, n, r) == ScanStatus::kOk);
  VD_PROP(!r.is_request && r.status == 503 && r.reason.in(reply) == "Service Unavailable");
  VD_PROP(r.len == n && r.has_content_length && r.content_length == 0);
  VD_PROP(r.via_count == v.via_count);
  VD_PROP(r.via1.branch.in(reply) == unfolded(v.via1.branch.in(msg)));
  VD_PROP(r.via1.host.in(reply) == unfolded(v.via1.host.in(msg)));
  if (gets_received(msg, v.via1)) {
    VD_PROP(r.via1.received.in(reply) == kSrcIp);
  }
  if (v.via1.has_rport) {
    VD_PROP(r.via1.rport.in(reply) == kSrcPortText);
  }
  VD_PROP(r.call_id.in(reply) == v.call_id.in(msg));  // copied as received, folding too
  VD_PROP(r.cseq_num == v.cseq_num && r.cseq_method.in(reply) == v.cseq_method.in(msg));
  VD_PROP(v.cseq_method_mismatch || r.method == v.method);  // else the CSeq method's
  VD_PROP(r.from_tag.in(reply) == unfolded(v.from_tag.in(msg)));
  VD_PROP(!r.to_tag.empty());
  VD_PROP(v.to_tag.empty() || r.to_tag.in(reply) == unfolded(v.to_tag.in(msg)));
  return nullptr;
}

// Proxy edits on a request (the slow path's record_route, loose_route, append_hf, remove_hf):
// Record-Route on top, the first Route popped, a header appended, every X-Remove-Me removed,
// all in one apply_edits; the result re-scans with the same Call-ID, CSeq and body.
inline Violation check_proxy_edits(const char* msg, const SipView& v) {
  static char buf[kRoom + kMaxMessage + kRoom];
  char rr[128];
  const size_t rr_len = build_record_route_line(rr, sizeof rr, kOurHost, kOurPort);
  VD_PROP(rr_len != 0);
  Edit edits[8];
  size_t n = 0;
  edits[n++] = record_route_edit(msg, v, std::string_view(rr, rr_len));
  bool has_route = false;
  bool cut_in_quote = false;
  const Edit pop = route_pop_edit(msg, v, has_route, &cut_in_quote);
  if (cut_in_quote) {
    return nullptr;  // a malformed Route the pipeline drops (kMalformedSip), not rewrites
  }
  if (has_route) {
    edits[n++] = pop;
  }
  Edit removed[4];
  const size_t n_removed = remove_header_edits(msg, v, "x-remove-me", 0, removed, 4);
  for (size_t i = 0; i < n_removed && i < 4; ++i) {
    edits[n++] = removed[i];
  }
  edits[n++] = append_header_edit(v, "X-Added: 1\r\n");
  for (size_t i = 1; i < n; ++i) {  // insertion sort by offset (std::sort trips GCC 12's
    for (size_t j = i; j > 0 && edits[j].off < edits[j - 1].off; --j) {  // -Warray-bounds)
      std::swap(edits[j], edits[j - 1]);
    }
  }
  for (size_t i = 1; i < n; ++i) {
    if (edits[i].off < edits[i - 1].off + edits[i - 1].del) {
      return nullptr;  // a removed field that is also the Route popped: not a combination to apply
    }
  }
  size_t head = 0;
  size_t len = 0;
  if (Violation why = apply_checked(msg, v.len, std::span(edits, n), buf, head, len)) {
    return why;
  }
  const char* out = buf + head;
  SipView r;
  if (v.hdr_count + 2 > kScanMaxHeaders) {
    return nullptr;  // the additions push it past the scanner's header limit
  }
  VD_PROP(scan(out, len, r) == ScanStatus::kOk);
  VD_PROP(r.call_id.in(out) == v.call_id.in(msg));
  VD_PROP(r[Hdr::kCSeq].in(out) == v[Hdr::kCSeq].in(msg));
  VD_PROP(r[Hdr::kRecordRoute].in(out) == std::string_view(rr + 14, rr_len - 16));
  VD_PROP(std::string_view(out + r.body_off, r.len - r.body_off) ==
          std::string_view(msg + v.body_off, v.len - v.body_off));
  return nullptr;
}

}  // namespace prop

// Scanner and accessor properties: every span inside the message, the view consistent with
// itself, parse_via/parse_uri/header_uri staying inside what they are given.
inline Violation check_scan(const char* msg, size_t size) {
  using prop::inside;
  // Any bytes as a URI: the fast path of parse_uri agrees with the general parser.
  for (size_t n : {size_t{5}, size_t{24}, size_t{63}, size_t{64}, size_t{65}}) {
    if (n <= size) {
      if (Violation why = prop::same_uri_parse(msg, Span{0, static_cast<uint16_t>(n)}, size)) {
        return why;
      }
    }
  }
  SipView v;
  if (scan(msg, size, v) != ScanStatus::kOk) {
    return nullptr;
  }
  VD_PROP(v.len <= size);
  const size_t len = v.len;
  for (Span s : v.hdr) {
    VD_PROP(inside(s, v.headers_end));
  }
  for (Span s : {v.method_name, v.ruri, v.reason, v.top_via_line, v.call_id, v.cseq_method,
                 v.from_tag, v.to_tag, v.max_forwards_value}) {
    VD_PROP(inside(s, len));
  }
  for (const Via* via : {&v.via1, &v.via2}) {
    if (Violation why = prop::via_spans_inside(*via, v.headers_end)) {
      return why;
    }
  }
  VD_PROP(v.headers_end < v.body_off && v.body_off <= len);
  VD_PROP(v.has_content_length ? len - v.body_off == v.content_length : len == size);
  VD_PROP(v.is_request ? v.method_name.off == 0 && !v.ruri.empty() &&
                             v.cseq_method_mismatch == (v.cseq_method.in(msg) != v.method_name.in(msg))
                       : v.status >= 100 && v.status <= 699);
  VD_PROP(!v[Hdr::kFrom].empty() && !v[Hdr::kTo].empty() && !v[Hdr::kCSeq].empty());
  VD_PROP(!v.call_id.empty() && v.call_id.off == v[Hdr::kCallId].off &&
          v.call_id.len == v[Hdr::kCallId].len);
  VD_PROP(v.has_max_forwards == !v.max_forwards_value.empty());
  VD_PROP(v.hdr_count >= 5);
  {
    // names_seen holds name_bit() of the first byte of every field (continuation lines, which
    // start with SP or HT, are not fields) whose name hdr[] does not cover: sanity_check skips
    // its Expires and Proxy-Require walks on it.
    uint32_t seen = 0;
    const char* nl = static_cast<const char*>(std::memchr(msg, '\n', v.headers_end));
    for (size_t p = nl == nullptr ? v.headers_end : static_cast<size_t>(nl - msg) + 1;
         p < v.headers_end;) {
      if (msg[p] != ' ' && msg[p] != '\t') {
        size_t name_end = p;
        if (detail::header_name(msg, p, v.headers_end, v.headers_end, name_end) == Hdr::kCount) {
          seen |= name_bit(msg[p]);
        }
      }
      const void* e = std::memchr(msg + p, '\n', v.headers_end - p);
      p = e == nullptr ? v.headers_end : static_cast<size_t>(static_cast<const char*>(e) - msg) + 1;
    }
    // Every such field's bit is set (what the lookups rely on); the start line's first byte
    // may add one more (the scanner's harmless extra bit).
    VD_PROP((v.names_seen & seen) == seen && (v.names_seen & ~seen & ~name_bit(msg[0])) == 0);
  }
  // Vias: the top one lies in the top Via line, which lies in the header section.
  VD_PROP(v.via_count >= 1 && !v.via1.value.empty() && !v.via1.transport.empty() &&
          !v.via1.host.empty());
  VD_PROP(v.top_via_line.end() <= v.headers_end);
  VD_PROP(v.via1.value.off >= v.top_via_line.off && v.via1.value.end() <= v.top_via_line.end());
  VD_PROP((v.via_count >= 2) == !v.via2.value.empty());
  VD_PROP(v.top_via_alone ||
          (v.via2.value.off > v.via1.value.end() && v.via2.value.end() <= v.top_via_line.end()));
  // parse_via on the value the scanner found gives the same fields.
  Via again;
  VD_PROP(parse_via(msg, v.via1.value, again));
  VD_PROP(again.host.off == v.via1.host.off && again.host.len == v.via1.host.len &&
          again.branch.off == v.via1.branch.off && again.branch.len == v.via1.branch.len &&
          again.params_end == v.via1.params_end && again.port_num == v.via1.port_num);
  // The bytes past Content-Length do not matter: the message alone scans the same.
  if (len < size) {
    SipView alone;
    VD_PROP(scan(msg, len, alone) == ScanStatus::kOk);
    VD_PROP(alone.len == len && alone.body_off == v.body_off && alone.via_count == v.via_count);
  }
  // Accessors stay inside what they are given.
  Uri uri;
  if (v.is_request && parse_uri(msg, v.ruri, uri)) {
    if (Violation why = prop::uri_spans_inside(uri, v.ruri)) {
      return why;
    }
  }
  if (v.is_request) {
    if (Violation why = prop::same_uri_parse(msg, v.ruri, size)) {
      return why;
    }
  }
  // The scanner keeps From's and To's addr-spec: header_uri's.
  VD_PROP(prop::same_span(v.from_uri, header_uri(msg, v[Hdr::kFrom])) && !v.from_uri.empty());
  VD_PROP(prop::same_span(v.to_uri, header_uri(msg, v[Hdr::kTo])) && !v.to_uri.empty());
  // User-Agent: a value only when the field is there.
  VD_PROP(v.has_user_agent || v[Hdr::kUserAgent].empty());
  for (Hdr h : {Hdr::kFrom, Hdr::kTo, Hdr::kContact, Hdr::kRoute, Hdr::kRecordRoute}) {
    const Span value = v[h];
    const Span addr = header_uri(msg, value);
    VD_PROP(addr.empty() || (addr.off >= value.off && addr.end() <= value.end()));
    if (!addr.empty()) {
      if (Violation why = prop::same_uri_parse(msg, addr, size)) {
        return why;
      }
    }
    if (!addr.empty() && parse_uri(msg, addr, uri)) {
      if (Violation why = prop::uri_spans_inside(uri, addr)) {
        return why;
      }
    }
  }
  return nullptr;
}

// check_scan, then the rewrites: forward (requests), top-Via removal (two Vias or more),
// stateless reply (requests).
inline Violation check_rewrite(const char* msg, size_t size) {
  if (Violation why = check_scan(msg, size)) {
    return why;
  }
  SipView v;
  if (scan(msg, size, v) != ScanStatus::kOk) {
    return nullptr;
  }
  if (v.is_request) {
    if (Violation why = prop::check_forward(msg, v)) {
      return why;
    }
    if (Violation why = prop::check_reply(msg, v)) {
      return why;
    }
    if (Violation why = prop::check_proxy_edits(msg, v)) {
      return why;
    }
  }
  return prop::check_remove_top_via(msg, v);
}

#undef VD_PROP

}  // namespace viaduct::sip::test
