// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_fuzz.cpp: libFuzzer target for the SIP wire layer (clang, -Dfuzz=true).
// Asserts properties, not just "no crash": spans stay inside the input, and a message that
// scans is still valid after the forward rewrite (our Via + received/rport), after removing
// our Via again, and as a stateless reply.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dataplane/sip/sip.hpp"

namespace {

using namespace viaduct::sip;

bool inside(Span s, size_t len) { return s.end() <= len; }

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxMessage) {
    return 0;
  }
  const char* msg = reinterpret_cast<const char*>(data);
  SipView v;
  if (scan(msg, size, v) != ScanStatus::kOk) {
    return 0;
  }
  for (Span s : v.hdr) {
    check(inside(s, size));
  }
  check(inside(v.top_via_line, size) && inside(v.via1.value, size) && inside(v.ruri, size));
  check(v.headers_end < v.body_off && v.body_off <= v.len && v.len <= size);
  Uri uri;
  if (v.is_request) {
    parse_uri(msg, v.ruri, uri);
  }
  header_uri(msg, v[Hdr::kTo]);

  // Forward: our Via on top, received/rport on the previous hop's.
  static char buf[3 * 65536];
  constexpr size_t kHeadroom = 65536;
  char branch[kBranchLen];
  stateless_branch(msg, v, branch);
  char via_line[128];
  const size_t via_len = build_via_line(via_line, sizeof via_line, "203.0.113.1", 5060,
                                        std::string_view(branch, kBranchLen));
  char params[256];
  Edit recv;
  if (!via_received_edit(msg, v, "198.51.100.7", 40000, params, sizeof params, recv)) {
    return 0;
  }
  std::memcpy(buf + kHeadroom, msg, v.len);
  size_t head = kHeadroom;
  size_t len = v.len;
  const Edit edits[] = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}, recv};
  check(apply_edits(buf, sizeof buf, head, len, edits));
  check(head + len == kHeadroom + v.len);  // the body did not move
  SipView fwd;
  if (len <= kMaxMessage) {
    check(scan(buf + head, len, fwd) == ScanStatus::kOk);
    check(fwd.via_count == (v.via_count == 255 ? 255 : v.via_count + 1));
    check(recv.ins.empty() || fwd.via2.received.in(buf + head) == "198.51.100.7");
    // Reply path: remove our Via again.
    const Edit remove = remove_top_via_edit(buf + head, fwd);
    check(apply_edits(buf, sizeof buf, head, len, std::span(&remove, 1)));
    SipView back;
    check(scan(buf + head, len, back) == ScanStatus::kOk);
    check(back.via_count == fwd.via_count - (fwd.via_count == 255 ? 0 : 1) || fwd.via_count == 255);
  }
  static char reply[65536];
  const size_t n =
      build_reply(msg, v, 503, "Service Unavailable", "198.51.100.7", 40000, reply, sizeof reply);
  if (n != 0) {
    SipView r;
    check(scan(reply, n, r) == ScanStatus::kOk);
    check(r.status == 503 && r.via_count == v.via_count);
  }
  return 0;
}
