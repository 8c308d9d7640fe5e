// SPDX-License-Identifier: Apache-2.0
// cfg/net.hpp: address and port syntax shared by the script, the dispatcher list and settings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cfg/program.hpp"

namespace viaduct::cfg {

// Dotted-quad IPv4 ("10.0.0.1"); `be` gets it in network byte order.
bool parse_ipv4(std::string_view s, uint32_t& be);
// IPv6 literal without brackets ("::1", "2001:db8::1").
bool is_ipv6(std::string_view s);
// A DNS name or an interface name: letters, digits, '-', '_' and '.' labels.
bool is_hostname(std::string_view s);
// Decimal 1..65535.
bool parse_port(std::string_view s, uint16_t& port);
// "udp" / "tcp" / "tls" / "sctp" (any case).
bool parse_proto(std::string_view s, Proto& proto);
std::string_view proto_name(Proto p);

// A socket as written in listen/alias: [proto:]host[:port], host an IPv4 literal, a bracketed
// IPv6 literal or a name; an IPv6 literal without brackets takes no port. On failure `error`
// says why.
struct SocketSpec {
  bool has_proto = false;
  Proto proto = Proto::kUdp;
  std::string host;   // IPv6 without brackets
  uint16_t port = 0;  // 0 when absent
};
bool parse_socket_spec(std::string_view s, SocketSpec& out, std::string& error);

}  // namespace viaduct::cfg
