// SPDX-License-Identifier: Apache-2.0
#include "dataplane/port.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cstring>

namespace viaduct::dp {
namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;

Error dpdk_error(const std::string& what, int err) {
  return Error{Error::Code::kIo, what + ": " + rte_strerror(err < 0 ? -err : err), ""};
}

}  // namespace

uint64_t tx_cksum_offloads(uint64_t tx_offload_capa, bool wanted) noexcept {
  constexpr uint64_t kBoth = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  return wanted && (tx_offload_capa & kBoth) == kBoth ? kBoth : 0;
}

uint64_t rx_cksum_offloads(uint64_t rx_offload_capa, bool wanted) noexcept {
  constexpr uint64_t kBoth = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  return wanted ? rx_offload_capa & kBoth : 0;
}

std::vector<std::string> eal_argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"viaduct", "--log-level=lib.telemetry:error",
                                "--log-level=user1:warning"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<std::vector<unsigned>> eal_start(const std::vector<std::string>& args) {
  std::vector<std::string> storage = eal_argv(args);
  std::vector<char*> argv;
  for (std::string& s : storage) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  if (rc < 0) {
    return dpdk_error("EAL initialisation failed", rte_errno);
  }
  std::vector<unsigned> lcores;
  lcores.push_back(rte_get_main_lcore());
  unsigned id = 0;
  RTE_LCORE_FOREACH_WORKER(id) { lcores.push_back(id); }
  return lcores;
}

void eal_stop() { rte_eal_cleanup(); }

Result<rte_mempool*> make_pool(const char* name, uint32_t mbufs, uint16_t data_room) {
  rte_mempool* p = rte_pktmbuf_pool_create(name, mbufs, 256, 0, data_room,
                                           static_cast<int>(rte_socket_id()));
  if (p == nullptr) {
    return dpdk_error("cannot create mbuf pool", rte_errno);
  }
  return p;
}

Result<PortInfo> port_start(const PortConfig& cfg, rte_mempool* pool) {
  PortInfo info;
  if (rte_eth_dev_get_port_by_name(cfg.name.c_str(), &info.port_id) != 0) {
    return Error{Error::Code::kNotFound,
                 "no DPDK port named '" + cfg.name + "' (check [dpdk] eal_args: --vdev or PCI)",
                 ""};
  }
  rte_eth_dev_info dev_info;
  int rc = rte_eth_dev_info_get(info.port_id, &dev_info);
  if (rc != 0) {
    return dpdk_error("cannot read port info of " + cfg.name, rc);
  }
  uint16_t q = cfg.queues;
  if (q > dev_info.max_rx_queues) {
    q = dev_info.max_rx_queues;
  }
  if (q > dev_info.max_tx_queues) {
    q = dev_info.max_tx_queues;
  }
  if (q == 0) {
    q = 1;
  }
  info.queues = q;
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  if (q > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & dev_info.flow_type_rss_offloads;
  }
  conf.txmode.offloads = tx_cksum_offloads(dev_info.tx_offload_capa, cfg.tx_cksum_offload);
  info.tx_cksum_offload = conf.txmode.offloads != 0;
  conf.rxmode.offloads = rx_cksum_offloads(dev_info.rx_offload_capa, cfg.rx_cksum_offload);
  info.rx_ip_cksum_offload = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  info.rx_udp_cksum_offload = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
  rc = rte_eth_dev_configure(info.port_id, q, q, &conf);
  if (rc != 0) {
    return dpdk_error("cannot configure port " + cfg.name, rc);
  }
  uint16_t nb_rxd = kRxDesc;
  uint16_t nb_txd = kTxDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(info.port_id, &nb_rxd, &nb_txd);
  const int socket = rte_eth_dev_socket_id(info.port_id);
  for (uint16_t i = 0; i < q; ++i) {
    rc = rte_eth_rx_queue_setup(info.port_id, i, nb_rxd, static_cast<unsigned>(socket), nullptr,
                                pool);
    if (rc != 0) {
      return dpdk_error("cannot set up RX queue of " + cfg.name, rc);
    }
    rc = rte_eth_tx_queue_setup(info.port_id, i, nb_txd, static_cast<unsigned>(socket), nullptr);
    if (rc != 0) {
      return dpdk_error("cannot set up TX queue of " + cfg.name, rc);
    }
  }
  // Virtual devices may refuse to set an MTU: that is fine while the port's own MTU is at least
  // the configured one (datagrams are fragmented to cfg.mtu). A port that stays below it would
  // drop every frame between the two, silently: an error.
  if (rte_eth_dev_set_mtu(info.port_id, cfg.mtu) != 0) {
    uint16_t have = 0;
    if (rte_eth_dev_get_mtu(info.port_id, &have) == 0 && have < cfg.mtu) {
      return Error{Error::Code::kInvalidConfig,
                   "port " + cfg.name + " refuses MTU " + std::to_string(cfg.mtu) +
                       " and stays at " + std::to_string(have) +
                       ": set interface.mtu to at most that, or the device's MTU first",
                   ""};
    }
  }
  rc = rte_eth_dev_start(info.port_id);
  if (rc != 0) {
    return dpdk_error("cannot start port " + cfg.name, rc);
  }
  rte_ether_addr mac;
  rc = rte_eth_macaddr_get(info.port_id, &mac);
  if (rc != 0) {
    return dpdk_error("cannot read the MAC address of " + cfg.name, rc);
  }
  std::memcpy(info.mac.b, mac.addr_bytes, 6);
  return info;
}

void port_stop(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace viaduct::dp
