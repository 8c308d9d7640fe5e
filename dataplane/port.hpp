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
Result<std::vector<unsigned>> eal_start(const std::vector<std::string>& args);
void eal_stop();

struct PortConfig {
  std::string name;       // DPDK device name or PCI address
  uint16_t queues = 1;    // RX and TX queue pairs wanted (clamped to what the device offers)
  uint16_t mtu = 1500;
};

struct PortInfo {
  uint16_t port_id = 0;
  uint16_t queues = 1;    // queue pairs configured
  MacAddr mac;
};

// Configures and starts one port with `queues` RX/TX pairs drawing from `pool`.
Result<PortInfo> port_start(const PortConfig& cfg, rte_mempool* pool);
void port_stop(uint16_t port_id);

// One pool per process (single NUMA node on the machines we test on).
// data_room: bytes per mbuf including RTE_PKTMBUF_HEADROOM.
Result<rte_mempool*> make_pool(const char* name, uint32_t mbufs,
                               uint16_t data_room = 2176);  // DPDK's default

}  // namespace viaduct::dp
