// SPDX-License-Identifier: Apache-2.0
// perf/messages.hpp: the benchmark messages (sipp-style), padded with SDP to the sizes the issues
// name: a 900-byte INVITE, a 450-byte OPTIONS and a 600-byte 200 OK.
#pragma once

#include <string>

namespace viaduct::perf {

// The routing script both pipeline benchmarks run: the stateless dispatcher of the README.
inline constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
}
)";

inline std::string pad_to(std::string msg, size_t size) {
  // Grow the SDP body so the whole message has `size` bytes (Content-Length kept right).
  const size_t body_at = msg.find("\r\n\r\n") + 4;
  const size_t body = size > msg.size() ? size - msg.size() : 0;
  std::string b = msg.substr(body_at) + std::string(body, 'a');
  msg = msg.substr(0, body_at);
  const size_t cl = msg.find("Content-Length: 0");
  if (cl != std::string::npos) {
    msg.replace(cl, 17, "Content-Length: " + std::to_string(b.size()));
  }
  return msg + b;
}

inline const std::string kInvite = pad_to(
    "INVITE sip:service@10.0.0.2:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-0\r\n"
    "From: sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001\r\n"
    "To: service <sip:service@10.0.0.2:5060>\r\n"
    "Call-ID: 1-4242@10.0.0.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:sipp@10.0.0.10:5060\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
    "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
    900);
inline const std::string kOptions = pad_to(
    "OPTIONS sip:10.0.0.2:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-opt-1;rport\r\n"
    "From: <sip:monitor@10.0.0.10>;tag=mon1\r\n"
    "To: <sip:10.0.0.2:5060>\r\n"
    "Call-ID: options-1@10.0.0.10\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Accept: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n",
    450);
inline const std::string kReply = pad_to(
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK0123456789abcdef\r\n"
    "Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-0\r\n"
    "From: sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001\r\n"
    "To: service <sip:service@10.0.0.2:5060>;tag=9876SIPpTag011\r\n"
    "Call-ID: 1-4242@10.0.0.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:10.0.0.11:5060;transport=UDP>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
    "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.11\r\ns=-\r\nc=IN IP4 10.0.0.11\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
    600);

}  // namespace viaduct::perf
