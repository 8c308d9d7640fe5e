// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_test_util.hpp: helpers shared by the SIP wire layer tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "dataplane/sip/sip.hpp"

namespace viaduct::sip::test {

// The sipp default-scenario SDP body (129 octets).
inline constexpr std::string_view kSdp =
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.1.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

// An INVITE as sipp's default uac scenario sends it.
inline constexpr std::string_view kSippInvite =
    "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0\r\n"
    "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>\r\n"
    "Call-ID: 1-12345@127.0.1.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:sipp@127.0.1.1:5061\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length:   129\r\n"
    "\r\n"
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.1.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// True when every span the view hands out lies inside the first `len` bytes.
inline bool spans_inside(const SipView& v, size_t len) {
  auto in = [len](Span s) { return s.end() <= len; };
  for (Span s : v.hdr) {
    if (!in(s)) {
      return false;
    }
  }
  for (const Via* via : {&v.via1, &v.via2}) {
    for (Span s : {via->value, via->transport, via->host, via->port, via->branch, via->received,
                   via->rport, via->received_param, via->rport_param}) {
      if (!in(s)) {
        return false;
      }
    }
    if (via->params_end > len) {
      return false;
    }
  }
  for (Span s : {v.method_name, v.ruri, v.reason, v.top_via_line, v.call_id, v.cseq_method,
                 v.from_tag, v.to_tag, v.max_forwards_value}) {
    if (!in(s)) {
      return false;
    }
  }
  return v.headers_end < v.body_off && v.body_off <= v.len && v.len <= len;
}

}  // namespace viaduct::sip::test
