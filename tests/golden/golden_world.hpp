// SPDX-License-Identifier: Apache-2.0
// tests/golden/golden_world.hpp: the world the golden cases run in (the script, the dispatcher
// list, the interfaces and neighbours of golden_snapshot()), shared by golden_test.cpp and the
// pipeline fuzz target (pipeline_fuzz.cpp, through pipeline_rig.hpp).
#pragma once

#include <arpa/inet.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/packet_builder.hpp"

namespace viaduct::test {

// Two interfaces on port 0: untagged 10.0.0.2/24 and 2001:db8::2/64 (the backends' side) and
// VLAN 100 10.100.0.2/24 (a client side). Set 2 holds IPv6 backends: a request to user
// "v6backend" goes there.
inline constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
listen=udp:10.100.0.2:5060
listen=udp:[2001:db8::2]:5060
alias=lb.example.com
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
loadmodule "rr.so"
loadmodule "ipops.so"
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (is_method("PUBLISH")) {
        drop;
    }
    if (is_method("SUBSCRIBE")) {  # proxy edits (subscribe-*.case)
        remove_hf("X-Internal");
        append_hf("X-Edge: lb\r\n");
        if (loose_route()) {
            forward();
            exit;
        }
        record_route();
    }
    $var(set) = 1;
    if ($rU == "v6backend") {
        $var(set) = 2;
    }
    if (!ds_select_dst($var(set), "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    if ($rU == "whoami") {
        append_hf("X-Src: $si $Ri\r\n");
        if (af == INET6) {
            append_hf("X-Af: 6\r\n");
        }
        if (src_ip == 2001:db8::/64) {
            append_hf("X-Net6: yes\r\n");
        }
        if (is_in_subnet("$si", "10.0.0.0/8,2001:db8::/48")) {
            append_hf("X-Subnet: yes\r\n");
        }
    }
    forward();
}
)";
inline constexpr const char* kList =
    "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n2 sip:[2001:db8::11]:5060\n";
inline const dp::MacAddr kOurMac{{2, 0, 0, 0, 0, 2}};

inline std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string t; in >> t;) {
    w.push_back(t);
  }
  return w;
}

// The case's set-up lines (see the top of the file), by keyword.
inline std::vector<std::vector<std::string>> directives(const std::vector<std::string>& header,
                                                 const std::string& keyword) {
  std::vector<std::vector<std::string>> out;
  for (const std::string& l : header) {
    std::vector<std::string> w = words(l);
    if (!w.empty() && w[0] == keyword) {
      out.push_back(std::move(w));
    }
  }
  return out;
}

// The snapshot the cases run against. `header`: a case's set-up lines (no-neighbour, blocklist).
inline std::unique_ptr<ctl::OwnedSnapshot> golden_snapshot(
    std::string& error, const std::vector<std::string>& header = {}) {
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  ctl::BuildInputs in;
  if (!cfg::compile_string(kScript, "golden.cfg", "/tmp", {}, *prog, diags) ||
      !cfg::parse_dispatcher_list(kList, "golden.list", in.destinations, diags)) {
    error = diags.empty() ? "compile failed" : diags[0].str();
    return nullptr;
  }
  in.program = prog;
  dp::Iface plain;
  plain.port_id = 0;
  plain.ip_be = ipv4("10.0.0.2");
  plain.mask_be = htonl(0xffffff00u);
  plain.mac = kOurMac;
  dp::Iface tagged = plain;
  plain.has_ip6 = true;
  dp::parse_ipv6("2001:db8::2", plain.ip6);
  plain.prefix6 = 64;
  tagged.ip_be = ipv4("10.100.0.2");
  tagged.vlan = 100;
  in.ifaces = {plain, tagged};
  in.neighbours[ipv4("10.0.0.10")] = dp::MacAddr{{2, 0, 0, 0, 0, 0x10}};
  in.neighbours[ipv4("10.0.0.11")] = dp::MacAddr{{2, 0, 0, 0, 0, 0x11}};
  in.neighbours[ipv4("10.0.0.12")] = dp::MacAddr{{2, 0, 0, 0, 0, 0x12}};
  in.neighbours[ipv4("10.100.0.10")] = dp::MacAddr{{2, 0, 0, 0, 1, 0x10}};
  dp::Ip6 a;
  dp::parse_ipv6("2001:db8::10", a);
  in.neighbours6[a] = dp::MacAddr{{2, 0, 0, 0, 6, 0x10}};
  dp::parse_ipv6("2001:db8::11", a);
  in.neighbours6[a] = dp::MacAddr{{2, 0, 0, 0, 6, 0x11}};
  for (const std::vector<std::string>& d : directives(header, "no-neighbour")) {
    if (d.size() == 2 && dp::parse_ipv6(d[1], a)) {
      in.neighbours6.erase(a);
    } else if (d.size() == 2) {
      in.neighbours.erase(ipv4(d[1].c_str()));
    }
  }
  ctl::DestinationIds ids;
  auto snap = ctl::build_snapshot(in, ids);
  if (!snap) {
    error = snap.error().str();
    return nullptr;
  }
  // The blocklist as control publishes it (control/app.cpp): two sorted tables.
  for (const std::vector<std::string>& d : directives(header, "blocklist")) {
    if (d.size() != 3) {
      error = "blocklist wants ADDR PORT";
      return nullptr;
    }
    const uint16_t port_be = htons(static_cast<uint16_t>(std::stoul(d[2])));
    if (dp::parse_ipv6(d[1], a)) {
      (*snap)->snap.blocked6.push_back({a, port_be});
    } else {
      (*snap)->snap.blocked.push_back((uint64_t{ipv4(d[1].c_str())} << 16) | port_be);
    }
  }
  std::sort((*snap)->snap.blocked.begin(), (*snap)->snap.blocked.end());
  std::sort((*snap)->snap.blocked6.begin(), (*snap)->snap.blocked6.end());
  return std::move(*snap);
}

// Puts a (mutated) frame's checksums right again: the IPv4 header's; UDP's none over IPv4,
// recomputed over IPv6. Mutations of the SIP message then reach the scanner instead of stopping
// at the checksum test.
inline void fix_checksums(uint8_t* b, size_t len) {
  size_t l2 = 14;
  if (len < l2) {
    return;
  }
  uint16_t type = static_cast<uint16_t>(b[12] << 8 | b[13]);
  if (type == RTE_ETHER_TYPE_VLAN && len >= 18) {
    l2 = 18;
    type = static_cast<uint16_t>(b[16] << 8 | b[17]);
  }
  if (type == RTE_ETHER_TYPE_IPV4 && len >= l2 + 28 && (b[l2] & 0x0f) == 5) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(b + l2);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    if (ip->next_proto_id == IPPROTO_UDP) {
      reinterpret_cast<rte_udp_hdr*>(b + l2 + 20)->dgram_cksum = 0;
    }
  } else if (type == RTE_ETHER_TYPE_IPV6 && len >= l2 + 48 && b[l2 + 6] == IPPROTO_UDP) {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(b + l2);
    if (static_cast<size_t>(ntohs(ip->payload_len)) + 40 + l2 <= len &&
        ntohs(ip->payload_len) >= 8) {
      auto* udp = reinterpret_cast<rte_udp_hdr*>(b + l2 + 40);
      udp->dgram_cksum = 0;
      udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
    }
  }
}

}  // namespace viaduct::test
