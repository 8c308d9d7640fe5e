// SPDX-License-Identifier: Apache-2.0
// tools/gen_message.hpp: the SIP text viaduct-gen sends, shared with viaduct-memif-peer
// (perf/memif_peer.cpp) so that both put the same messages on the wire, and their "IP[:PORT]"
// argument parser. Tools only: allocates per message.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace viaduct::tools {

// "IP[:PORT]" into ip and port (port left as it is when absent); false on a bad port. The
// caller checks the address itself (inet_pton).
inline bool split_host_port(const std::string& s, std::string& ip, uint16_t& port) {
  const size_t colon = s.rfind(':');
  ip = colon == std::string::npos ? s : s.substr(0, colon);
  if (colon != std::string::npos) {
    const int p = std::atoi(s.c_str() + colon + 1);
    if (p <= 0 || p > 65535) {
      return false;
    }
    port = static_cast<uint16_t>(p);
  }
  return true;
}

// head (the header lines) completed with Content-Length and, when sdp, an SDP body padded with
// "a=x-pad:" lines so that the message is about total_size bytes.
inline std::string with_body(std::string head, size_t total_size, bool sdp) {
  std::string body;
  if (sdp) {
    body =
        "v=0\r\no=gen 53655765 2353687637 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
        "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  }
  const size_t base = head.size() + 40 + body.size();  // Content-Length line + blank line
  if (sdp && total_size > base) {
    const size_t pad = total_size - base;
    // SDP attribute lines of filler, each "a=x-pad:...\r\n".
    size_t left = pad;
    while (left > 12) {
      const size_t line = std::min<size_t>(left, 72);
      body += "a=x-pad:" + std::string(line - 10, 'p') + "\r\n";
      left -= line;
    }
  }
  if (sdp) {
    head += "Content-Type: application/sdp\r\n";
  }
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return head + body;
}

// Where a generated request comes from and goes to: "IP:PORT" strings and the local IP.
struct GenAddrs {
  std::string target;    // IP:PORT of the load balancer
  std::string local;     // IP:PORT of the sender
  std::string local_ip;  // IP of the sender
  std::string pid;       // the sender's process id, in branches and Call-IDs
};

// Request n of viaduct-gen: `method` with CSeq `cseq`, To `to_value`, `suffix` after the
// branch; an INVITE carries an SDP body padded to invite_size bytes.
inline std::string gen_request(const GenAddrs& a, std::string_view method, uint64_t n,
                               uint32_t cseq, const std::string& to_value,
                               const std::string& suffix, size_t invite_size) {
  const std::string ruri = method == "REGISTER" ? "sip:" + a.target
                           : method == "OPTIONS" ? "sip:" + a.target
                                                 : "sip:service@" + a.target;
  const std::string user = method == "REGISTER" ? "user" + std::to_string(n) : "gen";
  std::string m;
  m.reserve(1024);
  m += std::string(method) + " " + ruri + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP " + a.local + ";branch=z9hG4bK-vg" + a.pid + "-" + std::to_string(n) +
       suffix + ";rport\r\n";
  m += "From: " + user + " <sip:" + user + "@" + a.local_ip + ">;tag=vg" + std::to_string(n) +
       "\r\n";
  m += "To: " + to_value + "\r\n";
  m += "Call-ID: " + std::to_string(n) + "-" + a.pid + "@" + a.local_ip + "\r\n";
  m += "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\r\n";
  m += "Contact: <sip:" + user + "@" + a.local + ">\r\n";
  m += "Max-Forwards: 70\r\n";
  if (method == "REGISTER") {
    m += "Expires: 3600\r\n";
  }
  m += "User-Agent: viaduct-gen\r\n";
  return with_body(std::move(m), method == "INVITE" ? invite_size : 0, method == "INVITE");
}

// viaduct-gen's INVITE n (its `send --kind invite`).
inline std::string gen_invite(const GenAddrs& a, uint64_t n, size_t invite_size) {
  return gen_request(a, "INVITE", n, 1, "service <sip:service@" + a.target + ">", "",
                     invite_size);
}

}  // namespace viaduct::tools
