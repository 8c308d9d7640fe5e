// SPDX-License-Identifier: Apache-2.0
// cfg/settings.hpp: deployment settings (TOML), what a Kamailio script has no place for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cfg/diagnostic.hpp"

namespace viaduct::cfg {

struct InterfaceSettings {
  std::string port;          // DPDK device name ("net_af_packet0") or PCI address
  std::string address;       // "10.0.0.2/24" as written
  uint32_t ip_be = 0;        // the address, network byte order
  uint8_t prefix_len = 32;
  std::string gateway;       // "" when none
  uint32_t gateway_be = 0;   // 0 when none
  uint16_t rx_queues = 0;    // 0: one per worker
  uint16_t mtu = 1500;
  uint16_t vlan = 0;         // 802.1Q VLAN id (1..4094); 0: untagged
  std::string exception_tap;  // kernel TAP interface for what the fast path does not own; ""
  bool verify_udp_checksum = true;  // sum received UDP checksums the port did not check
  std::string address6;      // "2001:db8::2/64" as written; "" when the iface has no IPv6
  uint8_t ip6[16] = {};      // the IPv6 address (network order)
  uint8_t prefix6_len = 64;
  std::string gateway6;      // "" when none
  uint8_t gateway6_ip[16] = {};
};

// A neighbour whose MAC is configured, not learned: never aged out, never overridden.
struct StaticNeighbour {
  std::string address;
  uint32_t ip_be = 0;        // 0 for an IPv6 neighbour
  bool v6 = false;           // an IPv6 address: ip6 holds it
  uint8_t ip6[16] = {};
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
};

struct Settings {
  std::vector<std::string> eal_args;     // [dpdk] eal_args
  std::vector<InterfaceSettings> interfaces;  // [[interface]]
  std::vector<uint32_t> worker_lcores;   // [dpdk] workers; empty: every EAL lcore but the main
  std::string metrics_listen = "127.0.0.1:9464";  // [metrics] listen; "" disables
  std::string management_listen;         // [management] listen: JSON-RPC over HTTP; "": off
  std::string management_socket;         // [management] socket: JSON-RPC over a unix datagram
                                         // socket (kamcli's transport); "": off
  uint32_t mbufs = 8191;                 // [dpdk] mbufs, per pool
  uint16_t mbuf_data_room = 2176;        // [dpdk] mbuf_data_room: bytes per mbuf, headroom
                                         //   included (DPDK's default: 2048 + 128)
  uint16_t burst = 32;                   // [dpdk] burst
  uint32_t neighbour_timeout = 300;      // [neighbours] timeout, seconds; 0: learned MACs stay
  uint32_t neighbour_hold = 3;           // [neighbours] hold, seconds a frame waits for its next
                                         //   hop's MAC; 0: no frame waits (a no_neighbour drop)
  std::vector<StaticNeighbour> static_neighbours;  // [neighbours] static
};

// Reads and validates a settings file. Unknown keys, wrong types and bad values are errors
// with file:line:col. Returns false on any error. Control thread / tools only.
bool load_settings(const std::string& path, Settings& out, Diagnostics& diags);
bool parse_settings(const std::string& text, const std::string& name, Settings& out,
                    Diagnostics& diags);

}  // namespace viaduct::cfg
