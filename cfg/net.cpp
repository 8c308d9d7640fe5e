// SPDX-License-Identifier: Apache-2.0
#include "cfg/net.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace viaduct::cfg {

bool parse_ipv4(std::string_view s, uint32_t& be) {
  // inet_pton accepts exactly the dotted quad (no octal, no short forms).
  if (s.empty() || s.size() > 15) {
    return false;
  }
  const std::string str(s);
  in_addr a{};
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) {
    return false;
  }
  std::memcpy(&be, &a, sizeof(be));
  return true;
}

bool is_ipv6(std::string_view s) {
  if (s.empty() || s.size() > 45 || s.find(':') == std::string_view::npos) {
    return false;
  }
  const std::string str(s);
  in6_addr a{};
  return inet_pton(AF_INET6, str.c_str(), &a) == 1;
}

bool is_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') {
    return false;
  }
  char prev = '\0';
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok || (c == '.' && prev == '.')) {
      return false;
    }
    prev = c;
  }
  return true;
}

bool parse_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5) {
    return false;
  }
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(v);
  return true;
}

namespace {
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (x != b[i]) {
      return false;
    }
  }
  return true;
}
}  // namespace

bool parse_proto(std::string_view s, Proto& proto) {
  if (iequals(s, "udp")) {
    proto = Proto::kUdp;
  } else if (iequals(s, "tcp")) {
    proto = Proto::kTcp;
  } else if (iequals(s, "tls")) {
    proto = Proto::kTls;
  } else if (iequals(s, "sctp")) {
    proto = Proto::kSctp;
  } else {
    return false;
  }
  return true;
}

std::string_view proto_name(Proto p) {
  switch (p) {
    case Proto::kUdp:
      return "udp";
    case Proto::kTcp:
      return "tcp";
    case Proto::kTls:
      return "tls";
    case Proto::kSctp:
      return "sctp";
    case Proto::kAny:
      return "any";
  }
  return "?";
}

bool parse_socket_spec(std::string_view s, SocketSpec& out, std::string& error) {
  out = SocketSpec{};
  const size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.substr(0, 1) != "[") {
    Proto p{};
    if (parse_proto(s.substr(0, colon), p)) {
      out.has_proto = true;
      out.proto = p;
      s.remove_prefix(colon + 1);
    } else if (iequals(s.substr(0, colon), "ws") || iequals(s.substr(0, colon), "wss")) {
      error = "transport '" + std::string(s.substr(0, colon)) + "' is not supported";
      return false;
    }
  }
  std::string_view port_text;
  if (s.starts_with("[")) {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after the IPv6 address";
      return false;
    }
    out.host = std::string(s.substr(1, close - 1));
    if (!is_ipv6(out.host)) {
      error = "'" + out.host + "' is not an IPv6 address";
      return false;
    }
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        error = "unexpected '" + std::string(rest) + "' after the address";
        return false;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        error = "missing port after ':'";
        return false;
      }
    }
  } else if (s.find(':') != s.rfind(':')) {
    out.host = std::string(s);  // IPv6 without brackets: no port possible
    if (!is_ipv6(out.host)) {
      error = "'" + out.host + "' is not an IPv6 address (use [addr]:port with a port)";
      return false;
    }
  } else {
    const size_t c = s.find(':');
    out.host = std::string(s.substr(0, c));
    if (c != std::string_view::npos) {
      port_text = s.substr(c + 1);
      if (port_text.empty()) {
        error = "missing port after ':'";
        return false;
      }
    }
    uint32_t ip = 0;
    if (out.host.empty()) {
      error = "missing address";
      return false;
    }
    if (!parse_ipv4(out.host, ip) && !is_hostname(out.host)) {
      error = "'" + out.host + "' is not an IP address or host name";
      return false;
    }
    // All-digit-and-dot hosts must be valid IPv4 ("10.0.0.300" is not a name).
    if (out.host.find_first_not_of("0123456789.") == std::string::npos &&
        !parse_ipv4(out.host, ip)) {
      error = "'" + out.host + "' is not a valid IPv4 address";
      return false;
    }
  }
  if (!port_text.empty() && !parse_port(port_text, out.port)) {
    error = "bad port '" + std::string(port_text) + "' (1..65535)";
    return false;
  }
  return true;
}

}  // namespace viaduct::cfg
