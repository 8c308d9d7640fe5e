// SPDX-License-Identifier: Apache-2.0
// dataplane/port.hpp: EAL start-up and port setup. Init time only (may allocate, may fail).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cfg/result.hpp"
#include "dataplane/snapshot.hpp"

struct rte_mempool;

namespace viaduct::dp {

// Starts the EAL with `args` (argv[0] is added). Returns the EAL lcores: main first.
// The EAL's command line for `args` ([dpdk] eal_args): the program name, then two log levels
// that keep DPDK's start-up chatter out of viaduct's log (telemetry's warning "TELEMETRY: No
// legacy callbacks, legacy socket not created": errors only for lib.telemetry; rte_ip_frag's
// info "USER1: rte_ip_frag_table_create: allocated...": warnings and errors for user1), then
// `args`, whose own --log-level options come later and win.
std::vector<std::string> eal_argv(const std::vector<std::string>& args);
Result<std::vector<unsigned>> eal_start(const std::vector<std::string>& args);
void eal_stop();

struct PortConfig {
  std::string name;       // DPDK device name or PCI address
  uint16_t queues = 1;    // RX and TX queue pairs wanted (clamped to what the device offers)
  uint16_t mtu = 1500;
  // Ask for IPv4 + UDP checksum offload on TX when the device has both (the fast path then
  // leaves the sums to it; see build_frame in pipeline.cpp). Off: software checksums always.
  bool tx_cksum_offload = true;
  // Ask for IPv4 and UDP checksum checks on RX, each when the device has it: the mbufs then
  // carry the verdicts (RTE_MBUF_F_RX_IP_CKSUM_*, RTE_MBUF_F_RX_L4_CKSUM_*) and the fast path
  // sums only what the device left unknown (handle_packet).
  bool rx_cksum_offload = true;
};

struct PortInfo {
  uint16_t port_id = 0;
  uint16_t queues = 1;    // queue pairs configured
  MacAddr mac;
  // IPv4 and UDP checksum offload enabled on TX: the device reported both in tx_offload_capa
  // (net_af_packet and net_ring do not: software checksums there).
  bool tx_cksum_offload = false;
  // RX checksum checks enabled: IPv4 header, UDP (net_af_packet and net_ring have neither).
  bool rx_ip_cksum_offload = false;
  bool rx_udp_cksum_offload = false;
};

// The TX offloads port_start enables for a device offering `tx_offload_capa`: IPv4 + UDP
// checksums when it has both, else none. Separate so it is testable without a device.
uint64_t tx_cksum_offloads(uint64_t tx_offload_capa, bool wanted) noexcept;
// The RX offloads port_start enables for a device offering `rx_offload_capa`: the IPv4 header
// and the UDP checksum checks, each one the device has (each has its own mbuf flags).
uint64_t rx_cksum_offloads(uint64_t rx_offload_capa, bool wanted) noexcept;

// Configures and starts one port with `queues` RX/TX pairs drawing from `pool`.
Result<PortInfo> port_start(const PortConfig& cfg, rte_mempool* pool);
void port_stop(uint16_t port_id);

// One pool per process (single NUMA node on the machines we test on).
// data_room: bytes per mbuf including RTE_PKTMBUF_HEADROOM.
Result<rte_mempool*> make_pool(const char* name, uint32_t mbufs,
                               uint16_t data_room = 2176);  // DPDK's default

}  // namespace viaduct::dp
