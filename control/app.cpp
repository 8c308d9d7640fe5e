// SPDX-License-Identifier: Apache-2.0
#include "control/app.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/exposer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "cfg/settings.hpp"
#include "control/log.hpp"
#include "control/metrics.hpp"
#include "control/publisher.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"

namespace viaduct::ctl {
namespace {

// IPv4 reassembly per worker: datagrams in flight at once, and how long a partial one waits
// for its missing fragments (Linux's ipfrag_time is 30 s; SIP retransmits after 0.5 s).
constexpr uint32_t kReassemblyDatagrams = 4096;
constexpr uint32_t kReassemblyTimeoutMs = 2000;

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) {
    g_reload = 1;
  } else {
    g_stop = 1;
  }
}

void print(const cfg::Diagnostics& diags) {
  for (const cfg::Diagnostic& d : diags) {
    std::fprintf(stderr, "%s\n", d.str().c_str());
  }
}

bool dispatcher_loaded(const cfg::Program& p) {
  return std::find(p.modules.begin(), p.modules.end(), "dispatcher") != p.modules.end();
}

// Everything read from files: the script, and the dispatcher list it names.
struct Loaded {
  std::shared_ptr<const cfg::Program> program;
  std::vector<cfg::DsDestination> destinations;
};

bool load_script(const AppOptions& o, Loaded& out) {
  cfg::Diagnostics diags;
  cfg::CompileOptions copt;
  copt.defines = o.defines;
  auto prog = std::make_shared<cfg::Program>();
  const bool ok = cfg::compile_file(o.script, copt, *prog, diags);
  print(diags);
  if (!ok) {
    return false;
  }
  if (dispatcher_loaded(*prog) && !prog->ds_list_file.empty()) {
    cfg::Diagnostics ld;
    const bool list_ok = cfg::load_dispatcher_list(prog->ds_list_file, out.destinations, ld);
    print(ld);
    if (!list_ok) {
      return false;
    }
  }
  out.program = std::move(prog);
  return true;
}

std::vector<DestinationLabel> labels_of(const dp::Snapshot& s) {
  std::vector<DestinationLabel> out;
  for (const dp::Destination& d : s.destinations) {
    out.push_back({d.id, d.set, d.uri, d.usable()});
  }
  return out;
}

// The control thread's state while running.
class Daemon {
 public:
  int run(const AppOptions& o);

 private:
  bool start_dataplane();
  bool publish(const Loaded& l);
  void drain_events();
  void resolve_next_hops(bool force);
  void send_arp_request(uint16_t iface_idx, uint32_t target_be);
  void shutdown();

  AppOptions opts_;
  cfg::Settings settings_;
  Loaded loaded_;
  std::vector<dp::Iface> ifaces_;
  rte_mempool* pool_ = nullptr;
  rte_rcu_qsbr* qsv_ = nullptr;
  dp::SnapshotSlot slot_;
  std::unique_ptr<Publisher> publisher_;
  std::atomic<bool> stop_workers_{false};
  std::vector<std::unique_ptr<dp::Worker>> workers_;
  std::vector<unsigned> worker_lcores_;
  std::vector<rte_ring*> event_rings_;
  std::vector<rte_ring*> inject_rings_;
  std::vector<uint16_t> port_owner_;  // per iface: the worker that owns its queue 0
  std::vector<uint16_t> tap_ports_;   // exception TAPs, stopped at shutdown
  bool start_exception_tap(size_t iface, const dp::PortInfo& phys,
                           std::vector<std::vector<dp::WorkerQueue>>& queues);
  std::map<uint32_t, dp::MacAddr> neighbours_;
  std::map<uint32_t, std::pair<uint16_t, std::chrono::steady_clock::time_point>> wanted_;
  DestinationIds ids_;
  ControlCounters counters_;
  std::shared_ptr<MetricsCollector> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  bool launched_ = false;
};

bool Daemon::start_dataplane() {
  auto lcores = dp::eal_start(settings_.eal_args);
  if (!lcores) {
    VD_LOG("error", "%s", lcores.error().message.c_str());
    return false;
  }
  const unsigned main_lcore = (*lcores)[0];
  if (settings_.worker_lcores.empty()) {
    worker_lcores_.assign(lcores->begin() + 1, lcores->end());
  } else {
    for (uint32_t l : settings_.worker_lcores) {
      if (l == main_lcore || std::find(lcores->begin(), lcores->end(), l) == lcores->end()) {
        VD_LOG("error", "[dpdk] workers: lcore %u is not an EAL worker lcore (see -l)", l);
        return false;
      }
      worker_lcores_.push_back(l);
    }
  }
  if (worker_lcores_.empty()) {
    VD_LOG("error", "no worker lcore: give the EAL at least two lcores (e.g. -l 0-1); the main "
                    "lcore runs the control thread");
    return false;
  }
  auto pool = dp::make_pool("vd_pool", settings_.mbufs, settings_.mbuf_data_room);
  if (!pool) {
    VD_LOG("error", "%s", pool.error().message.c_str());
    return false;
  }
  pool_ = *pool;
  const uint16_t n_workers = static_cast<uint16_t>(worker_lcores_.size());

  // Ports, and which worker polls which queue.
  std::vector<std::vector<dp::WorkerQueue>> queues(n_workers);
  ifaces_ = ifaces_from_settings(settings_);
  std::map<std::string, dp::PortInfo> started;  // interfaces on one port (VLANs) share it
  for (size_t i = 0; i < settings_.interfaces.size(); ++i) {
    if (const auto it = started.find(settings_.interfaces[i].port); it != started.end()) {
      ifaces_[i].port_id = it->second.port_id;
      ifaces_[i].mac = it->second.mac;
      port_owner_.push_back(0);
      continue;
    }
    dp::PortConfig pc;
    pc.name = settings_.interfaces[i].port;
    pc.queues = n_workers;
    pc.mtu = settings_.interfaces[i].mtu;
    auto info = dp::port_start(pc, pool_);
    if (!info) {
      VD_LOG("error", "%s", info.error().message.c_str());
      return false;
    }
    if (info->port_id >= dp::kMaxPorts) {
      VD_LOG("error", "port %s has id %u; at most %u ports are supported", pc.name.c_str(),
             info->port_id, dp::kMaxPorts);
      return false;
    }
    ifaces_[i].port_id = info->port_id;
    ifaces_[i].mac = info->mac;
    started[pc.name] = *info;
    for (uint16_t q = 0; q < info->queues; ++q) {
      queues[q % n_workers].push_back({info->port_id, q});
    }
    if (!start_exception_tap(i, *info, queues)) {
      return false;
    }
    port_owner_.push_back(0);
    VD_LOG("notice", "port=%s id=%u queues=%u mac=%02x:%02x:%02x:%02x:%02x:%02x", pc.name.c_str(),
           info->port_id, info->queues, info->mac.b[0], info->mac.b[1], info->mac.b[2],
           info->mac.b[3], info->mac.b[4], info->mac.b[5]);
  }

  const size_t qs_size = rte_rcu_qsbr_get_memsize(n_workers);
  qsv_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("vd_qsbr", qs_size, RTE_CACHE_LINE_SIZE));
  if (qsv_ == nullptr || rte_rcu_qsbr_init(qsv_, n_workers) != 0) {
    VD_LOG("error", "cannot set up RCU for %u workers", n_workers);
    return false;
  }
  publisher_ = std::make_unique<Publisher>(slot_, qsv_);

  for (uint16_t w = 0; w < n_workers; ++w) {
    const std::string ev_name = "vd_ev" + std::to_string(w);
    const std::string inj_name = "vd_inj" + std::to_string(w);
    rte_ring* ev = rte_ring_create_elem(ev_name.c_str(), sizeof(dp::Event), 1024,
                                        static_cast<int>(rte_socket_id()),
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* inj = rte_ring_create(inj_name.c_str(), 256, static_cast<int>(rte_socket_id()),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ev == nullptr || inj == nullptr) {
      VD_LOG("error", "cannot create worker rings");
      return false;
    }
    event_rings_.push_back(ev);
    inject_rings_.push_back(inj);
    workers_.push_back(std::make_unique<dp::Worker>(w, slot_, qsv_, queues[w], ev, inj,
                                                    stop_workers_, settings_.burst));
    if (!workers_.back()->enable_ip_frag(pool_, kReassemblyDatagrams, kReassemblyTimeoutMs)) {
      VD_LOG("error", "worker=%u cannot set up IPv4 reassembly (memory)", unsigned{w});
      return false;
    }
  }
  // Queue 0 of every port is polled by worker 0 (queues are dealt round robin).
  std::vector<const dp::WorkerCounters*> wc;
  for (const auto& w : workers_) {
    wc.push_back(&w->counters());
  }
  metrics_ = std::make_shared<MetricsCollector>(std::move(wc), counters_);
  return true;
}

bool Daemon::publish(const Loaded& l) {
  BuildInputs in;
  in.program = l.program;
  in.ifaces = ifaces_;
  in.destinations = l.destinations;
  in.neighbours = neighbours_;
  auto snap = build_snapshot(in, ids_);
  if (!snap) {
    VD_LOG("error", "%s", snap.error().str().c_str());
    return false;
  }
  const std::vector<DestinationLabel> labels = labels_of((*snap)->snap);
  const size_t n_dest = (*snap)->snap.destinations.size();
  publisher_->publish(std::move(*snap));
  counters_.generation.store(publisher_->generation());
  counters_.neighbours.store(neighbours_.size());
  if (metrics_) {
    metrics_->set_destinations(labels);
  }
  VD_LOG("notice", "generation=%lu applied destinations=%zu neighbours=%zu",
         static_cast<unsigned long>(publisher_->generation()), n_dest, neighbours_.size());
  return true;
}

void Daemon::send_arp_request(uint16_t iface_idx, uint32_t target_be) {
  const dp::Iface& ifc = ifaces_[iface_idx];
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    return;
  }
  const size_t len = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
  if (eth == nullptr) {
    rte_pktmbuf_free(m);
    return;
  }
  std::memset(eth->dst_addr.addr_bytes, 0xff, 6);
  std::memcpy(eth->src_addr.addr_bytes, ifc.mac.b, 6);
  eth->ether_type = htons(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  if (ifc.vlan != 0) {  // tagged: the ARP request goes out on the interface's VLAN
    if (rte_pktmbuf_append(m, sizeof(rte_vlan_hdr)) == nullptr) {
      rte_pktmbuf_free(m);
      return;
    }
    eth->ether_type = htons(RTE_ETHER_TYPE_VLAN);
    auto* tag = reinterpret_cast<rte_vlan_hdr*>(eth + 1);
    tag->vlan_tci = htons(ifc.vlan);
    tag->eth_proto = htons(RTE_ETHER_TYPE_ARP);
    arp = reinterpret_cast<rte_arp_hdr*>(tag + 1);
  }
  arp->arp_hardware = htons(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = 6;
  arp->arp_plen = 4;
  arp->arp_opcode = htons(RTE_ARP_OP_REQUEST);
  std::memcpy(arp->arp_data.arp_sha.addr_bytes, ifc.mac.b, 6);
  arp->arp_data.arp_sip = ifc.ip_be;
  std::memset(arp->arp_data.arp_tha.addr_bytes, 0, 6);
  arp->arp_data.arp_tip = target_be;
  m->port = ifc.port_id;
  if (rte_ring_sp_enqueue(inject_rings_[port_owner_[iface_idx]], m) != 0) {
    rte_pktmbuf_free(m);
    return;
  }
  counters_.arp_requests_sent.fetch_add(1, std::memory_order_relaxed);
}

// Asks for the MAC of every next hop the snapshot needs and does not have, once a second.
void Daemon::resolve_next_hops(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const OwnedSnapshot* live = publisher_->live();
  if (live != nullptr) {
    auto want = [&](uint32_t ip) {
      for (uint16_t i = 0; i < ifaces_.size(); ++i) {
        uint32_t hop = ip;
        if (!ifaces_[i].on_link(ip)) {
          if (ifaces_[i].gateway_be == 0) {
            continue;
          }
          hop = ifaces_[i].gateway_be;
        }
        if (neighbours_.count(hop) == 0 && wanted_.count(hop) == 0) {
          wanted_[hop] = {i, now - std::chrono::seconds(10)};
        }
        return;
      }
    };
    for (const dp::Destination& d : live->snap.destinations) {
      want(d.ip_be);
    }
    for (const dp::Iface& f : ifaces_) {
      if (f.gateway_be != 0) {
        want(f.gateway_be);
      }
    }
  }
  for (auto it = wanted_.begin(); it != wanted_.end();) {
    if (neighbours_.count(it->first) != 0) {
      it = wanted_.erase(it);
      continue;
    }
    if (force || now - it->second.second >= std::chrono::seconds(1)) {
      send_arp_request(it->second.first, it->first);
      it->second.second = now;
    }
    ++it;
  }
}

void Daemon::drain_events() {
  bool changed = false;
  for (size_t w = 0; w < event_rings_.size(); ++w) {
    dp::Event ev[64];
    unsigned n = 0;
    while ((n = rte_ring_sc_dequeue_burst_elem(event_rings_[w], ev, sizeof(dp::Event), 64,
                                               nullptr)) != 0) {
      for (unsigned i = 0; i < n; ++i) {
        if (ev[i].type == dp::Event::Type::kNeighLearned) {
          auto it = neighbours_.find(ev[i].ip_be);
          if (it == neighbours_.end() || !(it->second == ev[i].mac)) {
            neighbours_[ev[i].ip_be] = ev[i].mac;
            changed = true;
          }
        } else if (neighbours_.count(ev[i].ip_be) == 0 && wanted_.count(ev[i].ip_be) == 0) {
          wanted_[ev[i].ip_be] = {ev[i].iface, std::chrono::steady_clock::time_point{}};
        }
      }
    }
  }
  if (changed) {
    publish(loaded_);
  }
}

// The exception path of one port: a kernel TAP interface (DPDK net_tap) with the port's MAC
// and the untagged interface's address, so the host stack answers on our address what the fast
// path does not own. Queue q of the TAP belongs to the worker of the port's queue q: that
// worker punts into it and sends what the kernel writes on the port. Init time.
bool Daemon::start_exception_tap(size_t iface, const dp::PortInfo& phys,
                                 std::vector<std::vector<dp::WorkerQueue>>& queues) {
  const cfg::InterfaceSettings& is = settings_.interfaces[iface];
  std::string tap;
  for (const cfg::InterfaceSettings& o : settings_.interfaces) {
    if (o.port == is.port && !o.exception_tap.empty()) {
      if (!tap.empty() && tap != o.exception_tap) {
        VD_LOG("error", "port %s: interfaces name two exception TAPs (%s, %s); a port has one",
               is.port.c_str(), tap.c_str(), o.exception_tap.c_str());
        return false;
      }
      tap = o.exception_tap;
    }
  }
  if (tap.empty()) {
    return true;
  }
  const std::string vdev = "net_tap_" + tap;
  char mac[18];
  std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", phys.mac.b[0], phys.mac.b[1],
                phys.mac.b[2], phys.mac.b[3], phys.mac.b[4], phys.mac.b[5]);
  const std::string args = "iface=" + tap + ",mac=" + mac;
  if (rte_vdev_init(vdev.c_str(), args.c_str()) != 0) {
    VD_LOG("error", "cannot create the exception TAP %s (%s)", tap.c_str(), args.c_str());
    return false;
  }
  dp::PortConfig pc;
  pc.name = vdev;
  pc.queues = phys.queues;
  pc.mtu = is.mtu;
  auto info = dp::port_start(pc, pool_);
  if (!info || info->port_id >= dp::kMaxPorts || info->queues < phys.queues) {
    VD_LOG("error", "cannot start the exception TAP %s with %u queues", tap.c_str(),
           unsigned{phys.queues});
    return false;
  }
  tap_ports_.push_back(info->port_id);
  const uint16_t n_workers = static_cast<uint16_t>(queues.size());
  for (uint16_t q = 0; q < phys.queues; ++q) {
    queues[q % n_workers].push_back({info->port_id, q, phys.port_id});
  }
  for (size_t j = 0; j < settings_.interfaces.size(); ++j) {
    if (settings_.interfaces[j].port == is.port) {
      ifaces_[j].exception_port = info->port_id;
    }
  }
  // The kernel side: up, the untagged interface's address and MTU (tagged ones are the
  // operator's: VLAN devices on the TAP).
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  bool ok = fd >= 0;
  for (size_t j = 0; ok && j < settings_.interfaces.size(); ++j) {
    const cfg::InterfaceSettings& o = settings_.interfaces[j];
    if (o.port != is.port || o.vlan != 0) {
      continue;
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = o.ip_be;
    ok = ioctl(fd, SIOCSIFADDR, &ifr) == 0;
    sin->sin_addr.s_addr = ifaces_[j].mask_be;
    ok = ok && ioctl(fd, SIOCSIFNETMASK, &ifr) == 0;
    ifr.ifr_mtu = o.mtu;
    ok = ok && ioctl(fd, SIOCSIFMTU, &ifr) == 0;
  }
  ok = ok && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (fd >= 0) {
    close(fd);
  }
  if (!ok) {
    VD_LOG("error", "cannot configure the exception TAP %s in the kernel: %s", tap.c_str(),
           std::strerror(errno));
    return false;
  }
  VD_LOG("notice", "exception path port=%s tap=%s id=%u queues=%u", is.port.c_str(),
         tap.c_str(), info->port_id, unsigned{phys.queues});
  return true;
}

void Daemon::shutdown() {
  if (launched_) {
    stop_workers_.store(true);
    rte_eal_mp_wait_lcore();
    launched_ = false;
  }
  if (publisher_) {
    publisher_->synchronize();
  }
  exposer_.reset();
  // Worker-owned DPDK objects (reassembly tables, pools) go before the EAL does.
  workers_.clear();
  std::vector<uint16_t> stopped;  // interfaces on one port (VLANs) share it
  for (const dp::Iface& f : ifaces_) {
    if (f.mac.is_zero() ||
        std::find(stopped.begin(), stopped.end(), f.port_id) != stopped.end()) {
      continue;
    }
    dp::port_stop(f.port_id);
    stopped.push_back(f.port_id);
  }
  for (uint16_t p : tap_ports_) {
    dp::port_stop(p);
  }
  dp::eal_stop();
}

int Daemon::run(const AppOptions& o) {
  opts_ = o;
  cfg::Diagnostics diags;
  if (o.settings.empty()) {
    VD_LOG("error", "a settings file is needed to run (-s viaduct.toml)");
    return 2;
  }
  const bool settings_ok = cfg::load_settings(o.settings, settings_, diags);
  print(diags);
  if (!settings_ok || !load_script(o, loaded_)) {
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGHUP, on_signal);

  if (!start_dataplane()) {
    shutdown();
    return 1;
  }
  // The first snapshot is published before any worker starts, so current() is never null.
  if (!publish(loaded_)) {
    shutdown();
    return 1;
  }
  if (!settings_.metrics_listen.empty()) {
    auto ex = start_exposer(settings_.metrics_listen, metrics_);
    if (!ex) {
      VD_LOG("error", "%s", ex.error().message.c_str());
      shutdown();
      return 1;
    }
    exposer_ = std::move(*ex);
    VD_LOG("notice", "metrics on http://%s/metrics", settings_.metrics_listen.c_str());
  }
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (rte_eal_remote_launch(dp::Worker::launch, workers_[w].get(), worker_lcores_[w]) != 0) {
      VD_LOG("error", "cannot launch worker on lcore %u", worker_lcores_[w]);
      stop_workers_.store(true);
      launched_ = true;
      shutdown();
      return 1;
    }
  }
  launched_ = true;
  VD_LOG("notice", "running workers=%zu", workers_.size());
  resolve_next_hops(true);

  while (g_stop == 0) {
    drain_events();
    resolve_next_hops(false);
    if (g_reload != 0) {
      g_reload = 0;
      Loaded next;
      if (load_script(opts_, next) && publish(next)) {
        loaded_ = std::move(next);
        counters_.reloads.fetch_add(1);
        VD_LOG("notice", "reload applied");
      } else {
        counters_.reload_failures.fetch_add(1);
        VD_LOG("error", "reload failed; generation=%lu keeps serving",
               static_cast<unsigned long>(publisher_->generation()));
      }
    }
    publisher_->reclaim();
    counters_.retired_snapshots.store(publisher_->retired_count());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  VD_LOG("notice", "stopping");
  shutdown();
  return 0;
}

}  // namespace

std::pair<std::string, std::string> split_define(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) {
    return {arg, ""};
  }
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

int run_check(const AppOptions& o) {
  Loaded loaded;
  bool ok = load_script(o, loaded);
  if (!o.settings.empty()) {
    cfg::Settings s;
    cfg::Diagnostics diags;
    const bool settings_ok = cfg::load_settings(o.settings, s, diags);
    print(diags);
    ok = ok && settings_ok;
    if (ok) {
      // The same snapshot build the daemon does, minus the ports: listen addresses against
      // the interfaces, destination hosts, transports.
      BuildInputs in;
      in.program = loaded.program;
      in.ifaces = ifaces_from_settings(s);
      in.destinations = loaded.destinations;
      DestinationIds ids;
      auto snap = build_snapshot(in, ids);
      if (!snap) {
        std::fprintf(stderr, "%s: error: %s\n", o.settings.c_str(), snap.error().message.c_str());
        ok = false;
      }
    }
  }
  if (ok) {
    std::fprintf(stderr, "%s: configuration accepted\n", o.script.c_str());
  }
  return ok ? 0 : 1;
}

int run_daemon(const AppOptions& o) {
  Daemon d;
  return d.run(o);
}

}  // namespace viaduct::ctl
