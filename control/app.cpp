// SPDX-License-Identifier: Apache-2.0
#include "control/app.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/ipv6.h>
#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/exposer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <thread>

#include "cfg/compile.hpp"
#include "cfg/dslist.hpp"
#include "cfg/settings.hpp"
#include "control/ds_tables.hpp"
#include "control/log.hpp"
#include "control/management.hpp"
#include "control/metrics.hpp"
#include "control/prober.hpp"
#include "control/publisher.hpp"
#include "control/rpc.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"

namespace viaduct::ctl {
namespace {

// IPv4 reassembly per worker: datagrams in flight at once, and how long a partial one waits
// for its missing fragments (Linux's ipfrag_time is 30 s; SIP retransmits after 0.5 s).
// A partial datagram holds up to RTE_LIBRTE_IP_FRAG_MAX_FRAG (8) mbufs of the RX pool, which
// also fills every RX ring: all workers' tables together may hold at most a quarter of the
// pool (kReassemblyPoolShare), else fragments that never complete (an attacker's, or a
// lossy path's) would leave the NIC nothing to receive into. Complete datagrams leave the
// table at once, so a smaller table only limits how many may wait for a lost fragment.
constexpr uint32_t kReassemblyDatagrams = 4096;
constexpr uint32_t kReassemblyMinDatagrams = 16;
constexpr uint32_t kReassemblyPoolShare = 4;
constexpr uint32_t kReassemblyTimeoutMs = 2000;

uint32_t reassembly_datagrams(uint32_t mbufs, uint32_t workers) {
  const uint32_t fit = mbufs / kReassemblyPoolShare / std::max(workers, 1u) / 8;
  return std::clamp(fit, kReassemblyMinDatagrams, kReassemblyDatagrams);
}

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
  HostAddrs hosts;  // the destinations' host names, resolved when the list was read
};

// The dispatcher list `prog` names, when it loads the dispatcher module, and the addresses of
// its host names: resolved here, at start-up and reload only, never when a snapshot is built.
bool load_list(const cfg::Program& prog, Loaded& out, cfg::Diagnostics& diags) {
  if (!dispatcher_loaded(prog) || prog.ds_list_file.empty()) {
    return true;
  }
  return cfg::load_dispatcher_list(prog.ds_list_file, out.destinations, diags) &&
         resolve_hosts(out.destinations, prog.ds_list_file, out.hosts, diags);
}

// Compiles the script and reads its list. Diagnostics go to `diags`, for the caller to print.
bool load_script(const AppOptions& o, Loaded& out, cfg::Diagnostics& diags) {
  cfg::CompileOptions copt;
  copt.defines = o.defines;
  auto prog = std::make_shared<cfg::Program>();
  if (!cfg::compile_file(o.script, copt, *prog, diags) || !load_list(*prog, out, diags)) {
    return false;
  }
  out.program = std::move(prog);
  return true;
}

// The errors of `diags`, one per line (what a failed reload answers over the management API).
std::string error_lines(const cfg::Diagnostics& diags) {
  std::string out;
  for (const cfg::Diagnostic& d : diags) {
    if (d.severity == cfg::Diagnostic::Severity::kError) {
      out += (out.empty() ? "" : "\n") + d.str();
    }
  }
  return out.empty() ? std::string("the configuration was rejected") : out;
}

std::vector<DestinationLabel> labels_of(const dp::Snapshot& s) {
  std::vector<DestinationLabel> out;
  for (const dp::Destination& d : s.destinations) {
    out.push_back({d.id, d.set, d.uri, d.usable(), d.flags});
  }
  return out;
}

// A destination state set through the management API, by set + URI. It outlives reloads until
// the list file itself changes that destination's state bits, or another set_state replaces it.
struct AdminState {
  uint32_t state = 0;       // kDsStateBits
  uint32_t file_state = 0;  // the state bits the list file had when it was set
};

// The control thread's state while running.
class Daemon final : public ManagedDaemon {
 public:
  int run(const AppOptions& o);

  // ManagedDaemon (the management API; control thread).
  std::vector<RpcDestination> destinations() const override;
  Status reload(ReloadScope scope) override;
  Result<size_t> set_state(int set, std::string_view uri, uint32_t state) override;
  bool ping_active() const override { return ping_active_; }
  void set_ping_active(bool on) override { ping_active_ = on; }
  std::vector<RpcBlocklistEntry> blocklist() const override;
  void clear_blocklist() override;
  std::vector<RpcStat> statistics() const override;
  std::chrono::system_clock::time_point started() const override { return started_; }
  cfg::ShvTable* shv() override { return loaded_.program ? loaded_.program->shv.get() : nullptr; }

 private:
  bool start_dataplane();
  bool start_management();
  Status publish(const Loaded& l);
  Status do_reload(ReloadScope scope, const char* by);
  std::vector<cfg::DsDestination> with_admin_state(const std::vector<cfg::DsDestination>& d) const;
  void drain_events();
  void resolve_next_hops(bool force);
  void send_arp_request(uint16_t iface_idx, uint32_t target_be);
  uint8_t* new_frame(const dp::Iface& ifc, const uint8_t* dst_mac, uint16_t ether_type,
                     size_t l3_len, rte_mbuf*& m);
  bool inject(uint16_t iface_idx, rte_mbuf* m);
  void send_neighbor_solicitation(uint16_t iface_idx, const dp::Ip6& target);
  void probe_tick();
  void send_probe(const ProbeTarget& t, uint32_t seq);
  void send_probe6(const ProbeTarget& t, const dp::Ip6& dst, uint32_t seq);
  bool block(uint32_t ip_be, uint16_t port_be, uint32_t reason, const dp::Ip6& ip6 = {});
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
  // Ageing of learned neighbours ([neighbours] timeout): when each was last confirmed (an ARP
  // reply or request from it), and the ARP requests sent since it went stale. Static ones are
  // not aged and not overridden.
  struct NeighAge {
    std::chrono::steady_clock::time_point confirmed;
    std::chrono::steady_clock::time_point last_probe;
    int probes = 0;
  };
  std::map<uint32_t, NeighAge> neigh_age_;
  std::set<uint32_t> static_neighbours_;
  std::chrono::steady_clock::time_point last_ageing_;
  bool age_neighbours();
  // A next hop to resolve: its iface, when it was last asked and how often. Destinations' and
  // gateways' next hops are asked once a second until they answer; others (a worker's miss, a
  // probe's) are given up after a few unanswered requests, until traffic wants them again.
  struct Wanted {
    uint16_t iface = 0;
    std::chrono::steady_clock::time_point last{};
    uint32_t asked = 0;
  };
  std::map<uint32_t, Wanted> wanted_;
  // IPv6 next hops (Neighbor Discovery), kept the same way as the IPv4 ones above.
  std::map<dp::Ip6, dp::MacAddr> neighbours6_;
  std::map<dp::Ip6, NeighAge> neigh_age6_;
  std::set<dp::Ip6> static_neighbours6_;
  std::map<dp::Ip6, Wanted> wanted6_;
  // One wanted table asked (resolve_next_hops): what became `known` is dropped, the rest asked
  // once a second, given up after `give_up` requests unless `standing` holds it.
  template <class Addr, class Ask>
  void ask_wanted(std::map<Addr, Wanted>& wanted, const std::map<Addr, dp::MacAddr>& known,
                  const std::set<Addr>& standing, bool force,
                  std::chrono::steady_clock::time_point now, uint32_t give_up, Ask ask);
  template <class Addr, class Ask, class Format>
  bool age_table(std::chrono::steady_clock::time_point now, std::map<Addr, dp::MacAddr>& table,
                 std::map<Addr, NeighAge>& ages, const std::set<Addr>& statics, const char* what,
                 Ask ask, Format format);
  DestinationIds ids_;
  ControlCounters counters_;
  std::shared_ptr<MetricsCollector> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::map<std::pair<int, std::string>, AdminState> admin_state_;
  bool ping_active_ = true;  // dispatcher.ping_active
  // event_route[dispatcher:dst-down/up], run on the control thread with an interpreter state
  // of its own (as a worker's: $var, scratch, log ring), allocated at the first event.
  struct EventVm {
    dp::VmState vm;
    dp::DispatchState ds;
    dp::WorkerCounters counters;
  };
  std::unique_ptr<EventVm> event_vm_;
  // ds_ping_latency_stats: per destination (set, URI) of the loaded list, kept across reloads
  // for the destinations the new list still has.
  LatencyTable latency_;
  uint64_t events_run_ = 0;
  // (set, URI) -> usable, of the snapshot a publication replaces.
  using Usability = std::map<std::pair<int, std::string>, bool>;
  void run_dispatcher_events(const Usability& before);
  Prober prober_;            // learned probe state, by set + URI: survives reloads
  Blocklist blocklist_;      // use_dst_blocklist entries: survive reloads
  // "blocklist add" lines: at most kBlocklistLogPerSecond a second, the rest counted and said
  // in one line (forged ICMP errors could otherwise fill the log at their rate).
  static constexpr unsigned kBlocklistLogPerSecond = 10;
  std::chrono::steady_clock::time_point blocklist_log_second_{};
  unsigned blocklist_logged_ = 0;
  unsigned blocklist_unlogged_ = 0;
  SendFailures send_failures_;  // workers' send failures, by next hop (when one blocks)
  uint16_t probe_ip_id_ = 0;
  std::chrono::steady_clock::time_point next_probe_tick_{};
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  RpcHandler rpc_{*this};
  RpcInbox inbox_;
  std::unique_ptr<ManagementServer> management_;
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
  if (worker_lcores_.size() > cfg::kControlRegexScratch) {
    // Each worker, and the control thread, has a Hyperscan scratch of its own in every
    // snapshot; a worker past them would fail every regex match (script_error).
    VD_LOG("error", "%zu worker lcores: at most %u are supported", worker_lcores_.size(),
           cfg::kControlRegexScratch);
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
  for (const cfg::StaticNeighbour& n : settings_.static_neighbours) {
    dp::MacAddr mac;
    std::memcpy(mac.b, n.mac, 6);
    if (n.v6) {
      dp::Ip6 ip;
      std::memcpy(ip.b, n.ip6, 16);
      neighbours6_[ip] = mac;
      static_neighbours6_.insert(ip);
      continue;
    }
    neighbours_[n.ip_be] = mac;
    static_neighbours_.insert(n.ip_be);
  }
  std::map<std::string, dp::PortInfo> started;  // interfaces on one port (VLANs) share it
  for (size_t i = 0; i < settings_.interfaces.size(); ++i) {
    if (const auto it = started.find(settings_.interfaces[i].port); it != started.end()) {
      ifaces_[i].port_id = it->second.port_id;
      ifaces_[i].mac = it->second.mac;
      ifaces_[i].tx_cksum_offload = it->second.tx_cksum_offload;
      ifaces_[i].rx_cksum_offload = it->second.rx_udp_cksum_offload;
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
    ifaces_[i].tx_cksum_offload = info->tx_cksum_offload;
    ifaces_[i].rx_cksum_offload = info->rx_udp_cksum_offload;
    started[pc.name] = *info;
    for (uint16_t q = 0; q < info->queues; ++q) {
      queues[q % n_workers].push_back({info->port_id, q});
    }
    if (info->queues < n_workers) {
      // A worker sends only on the ports where it polls a queue: with more ports than one,
      // what a worker without a queue here has to send on this port is dropped (no_route).
      VD_LOG("warning",
             "port=%s has %u queues for %u workers: workers %u-%u cannot send on it (frames "
             "they route to it are dropped as no_route)",
             pc.name.c_str(), info->queues, n_workers, info->queues, n_workers - 1u);
    }
    if (!start_exception_tap(i, *info, queues)) {
      return false;
    }
    port_owner_.push_back(0);
    VD_LOG("notice",
           "port=%s id=%u queues=%u mac=%02x:%02x:%02x:%02x:%02x:%02x checksums=%s "
           "rx_checks=%s",
           pc.name.c_str(), info->port_id, info->queues, info->mac.b[0], info->mac.b[1],
           info->mac.b[2], info->mac.b[3], info->mac.b[4], info->mac.b[5],
           info->tx_cksum_offload ? "offload" : "software",
           info->rx_udp_cksum_offload ? (info->rx_ip_cksum_offload ? "offload" : "udp-offload")
                                      : (info->rx_ip_cksum_offload ? "ip-offload" : "software"));
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
    workers_.back()->set_neigh_hold(settings_.neighbour_hold);
    workers_.back()->set_ip_id_space(w, dp::ip_id_step_for(n_workers));
    if (!workers_.back()->enable_ip_frag(pool_, reassembly_datagrams(settings_.mbufs, n_workers),
                                         kReassemblyTimeoutMs)) {
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

std::vector<cfg::DsDestination> Daemon::with_admin_state(
    const std::vector<cfg::DsDestination>& d) const {
  std::vector<cfg::DsDestination> out = d;
  for (cfg::DsDestination& x : out) {
    auto it = admin_state_.find({x.set, x.uri});
    if (it != admin_state_.end() && it->second.file_state == (x.flags & kDsStateBits)) {
      x.flags = (x.flags & ~kDsStateBits) | it->second.state;
    }
  }
  return out;
}

Status Daemon::publish(const Loaded& l) {
  BuildInputs in;
  in.program = l.program;
  in.ifaces = ifaces_;
  const ProbeConfig old_probe_config = prober_.config();
  // Probing switched off, or another ds_probing_mode, forgets what probing learned.
  prober_.configure(probe_config(*l.program));
  in.destinations = with_admin_state(l.destinations);
  for (cfg::DsDestination& d : in.destinations) {
    d.flags = prober_.apply(d.set, d.uri, d.flags);
    if (prober_.config().latency_stats) {
      if (const LatencyStats* ls = latency_.find(d.set, d.uri); ls != nullptr) {
        apply_latency(*ls, d);
      }
    }
  }
  in.neighbours = neighbours_;
  in.neighbours6 = neighbours6_;
  in.hosts = &l.hosts;
  in.previous = publisher_->live() != nullptr ? &publisher_->live()->snap : nullptr;
  auto snap = build_snapshot(in, ids_);
  if (!snap) {
    prober_.configure(old_probe_config);
    VD_LOG("error", "%s", snap.error().str().c_str());
    return std::move(snap).error();
  }
  if (prober_.config().use_blocklist) {
    (*snap)->snap.blocked = blocklist_.keys();
    (*snap)->snap.blocked6 = blocklist_.keys6();
  }
  counters_.blocklist_entries.store(blocklist_.size());
  const std::vector<DestinationLabel> labels = labels_of((*snap)->snap);
  const size_t n_dest = (*snap)->snap.destinations.size();
  // Which destinations were usable before this publication (event_route[dispatcher:dst-*]).
  Usability before;
  if (const dp::Snapshot* cur = publisher_->generation() != 0 ? &slot_.current() : nullptr;
      cur != nullptr && (l.program->event_dst_down >= 0 || l.program->event_dst_up >= 0)) {
    for (const dp::Destination& d : cur->destinations) {
      before.emplace(std::make_pair(d.set, d.uri), d.usable());
    }
  }
  // Destinations new to the list may have taken ids earlier ones counted on (DestinationIds):
  // their series start from what those counters hold now, before any worker counts for them.
  const std::vector<uint32_t> fresh = ids_.take_fresh();
  if (metrics_) {
    metrics_->rebase(fresh);
  }
  publisher_->publish(std::move(*snap));
  if (!before.empty()) {
    run_dispatcher_events(before);
  }
  counters_.generation.store(publisher_->generation());
  counters_.neighbours.store(neighbours_.size() + neighbours6_.size());
  if (metrics_) {
    metrics_->set_destinations(labels);
  }
  VD_LOG("notice", "generation=%lu applied destinations=%zu neighbours=%zu neighbours6=%zu",
         static_cast<unsigned long>(publisher_->generation()), n_dest, neighbours_.size(),
         neighbours6_.size());
  return ok();
}

// Kamailio runs event_route[dispatcher:dst-down] when a destination stops being usable and
// [dispatcher:dst-up] when it is usable again, with a request to the destination ($rm OPTIONS,
// $ru and $du its URI). viaduct does the same on the control thread, for every transition a
// publication brings (probes, set_state, ds_mark_dst, reloads), against the new snapshot; what
// the route sends is ignored (only request_route sends), its xlog lines are printed.
void Daemon::run_dispatcher_events(const Usability& before) {
  const dp::Snapshot& snap = slot_.current();
  const cfg::Program& prog = *snap.program;
  for (size_t i = 0; i < snap.destinations.size(); ++i) {
    const dp::Destination& d = snap.destinations[i];
    const auto it = before.find({d.set, d.uri});
    if (it == before.end() || it->second == d.usable()) {  // new destinations fire nothing
      continue;
    }
    const int32_t route = d.usable() ? prog.event_dst_up : prog.event_dst_down;
    if (route < 0) {
      continue;
    }
    if (!event_vm_) {
      event_vm_ = std::make_unique<EventVm>();
    }
    ++events_run_;
    const std::string msg = "OPTIONS " + d.uri + " SIP/2.0\r\n" +
                            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKvdevt" +
                            std::to_string(events_run_) + "\r\n" +
                            "From: <sip:dispatcher@localhost>;tag=vdev\r\n" +
                            "To: <" + d.uri + ">\r\n" +
                            "Call-ID: viaduct-event-" + std::to_string(events_run_) + "\r\n" +
                            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sip::SipView v;
    if (sip::scan(msg.data(), msg.size(), v) != sip::ScanStatus::kOk) {
      VD_LOG("warning", "event_route for uri=%s: the destination's URI does not make a request",
             d.uri.c_str());
      continue;
    }
    dp::VmPacket pkt;
    pkt.src_ip_be = d.ip_be;
    pkt.src_port = ntohs(d.port_be);
    // The control thread's own Hyperscan scratch: worker 0's (the default) is in use by worker
    // 0 at the same time, and a scratch shared by two threads fails scans or corrupts them.
    pkt.worker = cfg::kControlRegexScratch;
    dp::VmResult r;
    r.du = static_cast<int32_t>(i);  // $du: the destination
    dp::vm_run(snap, msg.data(), v, pkt, event_vm_->vm, event_vm_->ds, event_vm_->counters, r,
               static_cast<uint32_t>(route));
    event_vm_->vm.log.drain([&](const dp::VmLogRecord& rec) {
      const int n = rec.len > 0 && rec.text[rec.len - 1] == '\n' ? rec.len - 1 : rec.len;
      VD_LOG("script", "[event] %.*s", n, rec.text);
    });
    if (r.error) {
      VD_LOG("warning", "event_route[dispatcher:dst-%s] uri=%s ended with a run-time error",
             d.usable() ? "up" : "down", d.uri.c_str());
    }
  }
}

// SIGHUP, cfg.reload and dispatcher.reload all come here. A failure changes nothing: the
// running generation keeps serving, with the state set through the API.
Status Daemon::do_reload(ReloadScope scope, const char* by) {
  Loaded next;
  cfg::Diagnostics diags;
  bool loaded = false;
  if (scope == ReloadScope::kAll) {
    loaded = load_script(opts_, next, diags);
    // $shv values set at run time (pv.shvSet, the script) survive the reload where the name
    // does and its shvset is unchanged (cfg::ShvTable::carry_from).
    if (loaded && next.program->shv && loaded_.program && loaded_.program->shv) {
      next.program->shv->carry_from(*loaded_.program->shv);
    }
  } else {
    next.program = loaded_.program;
    loaded = load_list(*next.program, next, diags);
  }
  print(diags);
  // What probing learned about a destination whose state bits the new file changes ends here,
  // before the list is published (Prober::list_loaded); a failed reload keeps it all.
  const Prober prober_before = prober_;
  if (loaded) {
    prober_.list_loaded(next.destinations);
  }
  Status s = loaded ? publish(next) : Status(Error{Error::Code::kInvalidConfig,
                                                   error_lines(diags), ""});
  const char* what = scope == ReloadScope::kAll ? "reload" : "dispatcher list reload";
  if (!s) {
    prober_ = prober_before;
    counters_.reload_failures.fetch_add(1);
    VD_LOG("error", "%s (%s) failed; generation=%lu keeps serving", what, by,
           static_cast<unsigned long>(publisher_->generation()));
    return s;
  }
  loaded_ = std::move(next);
  // The API state of destinations that left the list, or whose state the file changed, ends.
  for (auto it = admin_state_.begin(); it != admin_state_.end();) {
    bool keep = false;
    for (const cfg::DsDestination& d : loaded_.destinations) {
      keep = keep || (d.set == it->first.first && d.uri == it->first.second &&
                      (d.flags & kDsStateBits) == it->second.file_state);
    }
    it = keep ? std::next(it) : admin_state_.erase(it);
  }
  latency_.list_loaded(loaded_.destinations);  // statistics of destinations that left end
  counters_.reloads.fetch_add(1);
  VD_LOG("notice", "%s (%s) applied", what, by);
  return s;
}

Status Daemon::reload(ReloadScope scope) { return do_reload(scope, "rpc"); }

Result<size_t> Daemon::set_state(int set, std::string_view uri, uint32_t state) {
  const auto before = admin_state_;
  size_t n = 0;
  auto same_uri = [uri](const std::string& u) {
    return u.size() == uri.size() && strncasecmp(u.data(), uri.data(), uri.size()) == 0;
  };
  const Prober prober_before = prober_;
  for (const cfg::DsDestination& d : loaded_.destinations) {
    if (d.set == set && (uri == "all" || same_uri(d.uri))) {
      admin_state_[{d.set, d.uri}] = AdminState{state & kDsStateBits, d.flags & kDsStateBits};
      prober_.forget(d.set, d.uri);  // the API's state holds until the next probe result
      ++n;
    }
  }
  if (n == 0) {
    return size_t{0};
  }
  Status s = publish(loaded_);
  if (!s) {
    admin_state_ = before;
    prober_ = prober_before;
    return std::move(s).error();
  }
  VD_LOG("notice", "dispatcher state set=%d uri=%.*s state=%s (%zu destinations)", set,
         static_cast<int>(uri.size()), uri.data(), ds_state_letters(state).c_str(), n);
  return n;
}

std::vector<RpcDestination> Daemon::destinations() const {
  std::map<int, std::vector<cfg::DsDestination>> sets;
  for (cfg::DsDestination d : with_admin_state(loaded_.destinations)) {
    d.flags = prober_.apply(d.set, d.uri, d.flags);
    sets[d.set].push_back(d);
  }
  std::vector<RpcDestination> out;
  for (auto& [id, entries] : sets) {
    kamailio_order(entries);
    for (const cfg::DsDestination& d : entries) {
      RpcDestination r{d.set, d.uri, d.flags, d.priority, d.attrs};
      r.latency = prober_.config().latency_stats;
      if (const LatencyStats* ls = latency_.find(d.set, d.uri); r.latency && ls != nullptr) {
        r.latency_samples = ls->count;
        r.latency_timeouts = ls->timeouts;
        r.latency_avg = ls->average;
        r.latency_std = ls->stdev();
        r.latency_est = ls->estimate;
        r.latency_max = ls->max;
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<RpcStat> Daemon::statistics() const {
  auto sum = [this](const dp::Counter dp::WorkerCounters::*field) {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += (w->counters().*field).read();
    }
    return s;
  };
  using W = dp::WorkerCounters;
  // Kamailio's names where viaduct counts the same thing, viaduct's own otherwise.
  std::vector<RpcStat> out = {
      {"core", "rcv_requests", sum(&W::sip_requests)},
      {"core", "rcv_replies", sum(&W::sip_replies)},
      {"core", "fwd_requests", sum(&W::requests_forwarded)},
      {"core", "fwd_replies", sum(&W::replies_forwarded)},
      {"sl", "sent_replies", sum(&W::local_replies)},
      {"net", "rx_packets", sum(&W::rx_packets)},
      {"net", "tx_packets", sum(&W::tx_packets)},
      {"net", "rx_bytes", sum(&W::rx_bytes)},
      {"net", "tx_bytes", sum(&W::tx_bytes)},
      {"net", "arp_replies_sent", sum(&W::arp_replies_sent)},
      {"net", "arp_requests_sent", counters_.arp_requests_sent.load()},
      {"viaduct", "workers", workers_.size()},
      {"viaduct", "worker_events_dropped", sum(&W::events_dropped)},
      {"viaduct", "reloads", counters_.reloads.load()},
      {"viaduct", "reload_failures", counters_.reload_failures.load()},
      {"viaduct", "snapshot_generation", counters_.generation.load()},
      {"viaduct", "snapshots_retired", counters_.retired_snapshots.load()},
      {"viaduct", "neighbours", counters_.neighbours.load()},
      {"dispatcher", "probes_sent", counters_.probes_sent.load()},
      {"dispatcher", "probe_replies", counters_.probe_replies.load()},
      {"dispatcher", "probe_timeouts", counters_.probe_timeouts.load()},
      {"dst_blocklist", "entries", counters_.blocklist_entries.load()},
      {"dst_blocklist", "additions", counters_.blocklist_additions.load()},
  };
  for (size_t r = 0; r < static_cast<size_t>(dp::Drop::kCount); ++r) {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += w->counters().drops[r].read();
    }
    out.push_back({"drops", dp::drop_name(static_cast<dp::Drop>(r)), s});
  }
  for (size_t r = 1; r < dp::kScanStatusCount; ++r) {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += w->counters().parse_errors[r].read();
    }
    out.push_back({"parse_errors", sip::scan_status_name(static_cast<sip::ScanStatus>(r)), s});
  }
  // Per port: 1 when the device computes the IPv4/UDP checksums we send, 0 when software does.
  for (size_t i = 0; i < ifaces_.size() && i < settings_.interfaces.size(); ++i) {
    const std::string name = "tx_cksum_offload." + settings_.interfaces[i].port;
    if (std::none_of(out.begin(), out.end(), [&](const RpcStat& st) { return st.name == name; })) {
      out.push_back({"net", name, ifaces_[i].tx_cksum_offload ? 1u : 0u});
      // 1 when the device checks the UDP checksums we receive, 0 when software does (or none).
      out.push_back({"net", "rx_cksum_offload." + settings_.interfaces[i].port,
                     ifaces_[i].rx_cksum_offload ? 1u : 0u});
    }
  }
  return out;
}

bool Daemon::start_management() {
  if (settings_.management_listen.empty() && settings_.management_socket.empty()) {
    return true;
  }
  auto m = ManagementServer::start(settings_.management_listen, settings_.management_socket,
                                   inbox_);
  if (!m) {
    VD_LOG("error", "%s", m.error().message.c_str());
    return false;
  }
  management_ = std::move(*m);
  if (!settings_.management_listen.empty()) {
    VD_LOG("notice", "management API (JSON-RPC) on http://%s/RPC",
           settings_.management_listen.c_str());
  }
  if (!settings_.management_socket.empty()) {
    VD_LOG("notice", "management API (JSON-RPC) on unix datagram socket %s",
           settings_.management_socket.c_str());
  }
  return true;
}

// A frame the control thread sends on `ifc` (ARP, Neighbor Solicitations, probes): a fresh
// mbuf of the pool holding the Ethernet header (tagged on a VLAN iface) and `l3_len` zeroed
// bytes, whose start is returned; nullptr (nothing allocated) when the pool is empty.
uint8_t* Daemon::new_frame(const dp::Iface& ifc, const uint8_t* dst_mac, uint16_t ether_type,
                           size_t l3_len, rte_mbuf*& m) {
  m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    return nullptr;
  }
  const size_t l2 = ifc.l2_len();
  auto* frame = reinterpret_cast<uint8_t*>(
      rte_pktmbuf_append(m, static_cast<uint16_t>(l2 + l3_len)));
  if (frame == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(frame, 0, l2 + l3_len);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  std::memcpy(eth->dst_addr.addr_bytes, dst_mac, 6);
  std::memcpy(eth->src_addr.addr_bytes, ifc.mac.b, 6);
  eth->ether_type = htons(ether_type);
  if (ifc.vlan != 0) {
    eth->ether_type = htons(RTE_ETHER_TYPE_VLAN);
    auto* tag = reinterpret_cast<rte_vlan_hdr*>(eth + 1);
    tag->vlan_tci = htons(ifc.vlan);
    tag->eth_proto = htons(ether_type);
  }
  m->port = ifc.port_id;
  return frame + l2;
}

// Hands a frame of new_frame() to the worker that owns queue 0 of the iface's port; false (the
// frame freed) when its ring is full.
bool Daemon::inject(uint16_t iface_idx, rte_mbuf* m) {
  if (rte_ring_sp_enqueue(inject_rings_[port_owner_[iface_idx]], m) != 0) {
    rte_pktmbuf_free(m);
    return false;
  }
  return true;
}

void Daemon::send_arp_request(uint16_t iface_idx, uint32_t target_be) {
  const dp::Iface& ifc = ifaces_[iface_idx];
  static constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  rte_mbuf* m = nullptr;
  auto* arp = reinterpret_cast<rte_arp_hdr*>(
      new_frame(ifc, kBroadcast, RTE_ETHER_TYPE_ARP, sizeof(rte_arp_hdr), m));
  if (arp == nullptr) {
    return;
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
  if (inject(iface_idx, m)) {
    counters_.arp_requests_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// A Neighbor Solicitation for target (RFC 4861 7.2.2): to its solicited-node group, from our
// global address (our link-local one for a link-local target), with our MAC as source
// link-layer option; sent by the worker that owns the port's queue 0, as ARP requests are.
void Daemon::send_neighbor_solicitation(uint16_t iface_idx, const dp::Ip6& target) {
  const dp::Iface& ifc = ifaces_[iface_idx];
  if (!ifc.has_ip6) {
    return;
  }
  const dp::Ip6 group = dp::solicited_node(target);
  const uint8_t dst_mac[6] = {0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]};
  rte_mbuf* m = nullptr;
  uint8_t* l3 = new_frame(ifc, dst_mac, RTE_ETHER_TYPE_IPV6, sizeof(rte_ipv6_hdr) + 32, m);
  if (l3 == nullptr) {
    return;
  }
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(l3);
  ip->vtc_flow = htonl(6u << 28);
  ip->payload_len = htons(32);
  ip->proto = 58;  // ICMPv6
  ip->hop_limits = 255;
  const dp::Ip6 src = target.is_link_local() ? dp::link_local_of(ifc.mac) : ifc.ip6;
  std::memcpy(ip->src_addr, src.b, 16);
  std::memcpy(ip->dst_addr, group.b, 16);
  uint8_t* ns = l3 + sizeof(rte_ipv6_hdr);
  ns[0] = 135;  // Neighbor Solicitation
  std::memcpy(ns + 8, target.b, 16);
  ns[24] = 1;   // source link-layer address option, 8 bytes
  ns[25] = 1;
  std::memcpy(ns + 26, ifc.mac.b, 6);
  const uint16_t ck = rte_ipv6_udptcp_cksum(ip, ns);
  std::memcpy(ns + 2, &ck, 2);
  if (inject(iface_idx, m)) {
    counters_.arp_requests_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// Asks for the MAC of every next hop the snapshot needs and does not have, once a second.
void Daemon::resolve_next_hops(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const OwnedSnapshot* live = publisher_->live();
  std::set<uint32_t> standing;  // next hops of destinations and gateways
  std::set<dp::Ip6> standing6;
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
        standing.insert(hop);
        if (neighbours_.count(hop) == 0 && wanted_.count(hop) == 0) {
          wanted_[hop] = {i, now - std::chrono::seconds(10), 0};
        }
        return;
      }
    };
    // IPv6: the iface the destination is on the link of, else the first with a gateway6.
    auto want6 = [&](const dp::Ip6& ip) {
      for (int pass = 0; pass < 2; ++pass) {
        for (uint16_t i = 0; i < ifaces_.size(); ++i) {
          const dp::Iface& f = ifaces_[i];
          if (pass == 0 ? !f.on_link6(ip) : !f.has_gateway6) {
            continue;
          }
          const dp::Ip6 hop = pass == 0 ? ip : f.gateway6;
          standing6.insert(hop);
          if (neighbours6_.count(hop) == 0 && wanted6_.count(hop) == 0) {
            wanted6_[hop] = {i, now - std::chrono::seconds(10), 0};
          }
          return;
        }
      }
    };
    for (const dp::Destination& d : live->snap.destinations) {
      if (d.v6) {
        want6(d.ip6);
      } else {
        want(d.ip_be);
      }
    }
    for (const dp::Iface& f : ifaces_) {
      if (f.gateway_be != 0) {
        want(f.gateway_be);
      }
      if (f.has_gateway6) {
        want6(f.gateway6);
      }
    }
  }
  // A next hop nothing stands for is asked as often as a held frame waits for it (at least the
  // kernel's three solicitations), then forgotten: without that, every on-link address a worker
  // ever missed, and every next hop of a destination since removed, was asked once a second
  // for the life of the process.
  const uint32_t give_up = std::max<uint32_t>(3, settings_.neighbour_hold);
  ask_wanted(wanted6_, neighbours6_, standing6, force, now, give_up,
             [this](uint16_t iface, const dp::Ip6& ip) { send_neighbor_solicitation(iface, ip); });
  ask_wanted(wanted_, neighbours_, standing, force, now, give_up,
             [this](uint16_t iface, uint32_t ip) { send_arp_request(iface, ip); });
}

template <class Addr, class Ask>
void Daemon::ask_wanted(std::map<Addr, Wanted>& wanted, const std::map<Addr, dp::MacAddr>& known,
                        const std::set<Addr>& standing, bool force,
                        std::chrono::steady_clock::time_point now, uint32_t give_up, Ask ask) {
  for (auto it = wanted.begin(); it != wanted.end();) {
    Wanted& w = it->second;
    if (known.count(it->first) != 0) {
      it = wanted.erase(it);
      continue;
    }
    if (force || now - w.last >= std::chrono::seconds(1)) {
      if (w.asked >= give_up && standing.count(it->first) == 0) {
        it = wanted.erase(it);
        continue;
      }
      ask(w.iface, it->first);
      w.last = now;
      ++w.asked;
    }
    ++it;
  }
}

// Adds a destination to the blocklist (when use_dst_blocklist is on); true when the set of
// blocked destinations changed (publish). ip_be 0: an IPv6 destination, ip6 its address.
bool Daemon::block(uint32_t ip_be, uint16_t port_be, uint32_t reason, const dp::Ip6& ip6) {
  if (!prober_.config().use_blocklist || (ip_be == 0 && ip6.is_zero())) {
    return false;
  }
  counters_.blocklist_additions.fetch_add(1, std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  const auto ttl = std::chrono::seconds(prober_.config().blocklist_expire_s);
  const bool fresh = ip_be != 0 ? blocklist_.add(ip_be, port_be, reason, now, ttl)
                                : blocklist_.add(ip6, port_be, reason, now, ttl);
  if (fresh && now - blocklist_log_second_ >= std::chrono::seconds(1)) {
    if (blocklist_unlogged_ != 0) {
      VD_LOG("notice", "blocklist add: %u more entries since the last such line, not logged one "
                       "by one", blocklist_unlogged_);
    }
    blocklist_log_second_ = now;
    blocklist_logged_ = 0;
    blocklist_unlogged_ = 0;
  }
  if (fresh && ++blocklist_logged_ > kBlocklistLogPerSecond) {
    ++blocklist_unlogged_;
  } else if (fresh) {
    char ip[48];
    if (ip_be != 0) {
      ip[dp::format_ipv4(ip_be, ip)] = '\0';
    } else {
      ip[0] = '[';
      const size_t n = dp::format_ipv6(ip6, ip + 1);
      ip[n + 1] = ']';
      ip[n + 2] = '\0';
    }
    VD_LOG("notice", "blocklist add udp:%s:%u reason=%u for %ds", ip,
           unsigned{rte_be_to_cpu_16(port_be)}, reason, prober_.config().blocklist_expire_s);
  }
  return fresh;
}

std::vector<RpcBlocklistEntry> Daemon::blocklist() const {
  std::vector<RpcBlocklistEntry> out;
  const auto now = std::chrono::steady_clock::now();
  for (const Blocklist::Entry& e : blocklist_.entries()) {
    // An IPv6 address without brackets and flags with BLST_IS_IPV6, as Kamailio's view prints
    // them (ip_addr2a).
    char ip[48];
    ip[e.v6() ? dp::format_ipv6(e.ip6, ip) : dp::format_ipv4(e.ip_be, ip)] = '\0';
    RpcBlocklistEntry r;
    r.ip = ip;
    r.port = rte_be_to_cpu_16(e.port_be);
    r.expires_s = std::chrono::duration_cast<std::chrono::seconds>(e.expires - now).count();
    r.flags = e.flags;
    out.push_back(std::move(r));
  }
  return out;
}

void Daemon::clear_blocklist() {
  if (blocklist_.clear() != 0) {
    static_cast<void>(publish(loaded_));
  }
}

// Builds one probe (Ethernet + IPv4 + UDP + the request) from the listener on the egress
// interface, and hands it to the worker that owns that port's queue 0. A next hop without a
// known MAC is asked for (ARP) and the probe is not sent: it times out like a lost one.
void Daemon::send_probe(const ProbeTarget& t, uint32_t seq) {
  const OwnedSnapshot* live = publisher_->live();
  if (live == nullptr || live->snap.listeners.empty()) {
    return;
  }
  const dp::Listener* own = nullptr;  // the destination's socket (socket=, ds_default_socket)
  for (const dp::Destination& d : live->snap.destinations) {
    if (d.set == t.set && d.uri == t.uri) {
      if (d.v6) {
        // An IPv6 destination (its IPv4 field is 0).
        send_probe6(t, d.ip6, seq);
        return;
      }
      if (d.socket >= 0 && static_cast<size_t>(d.socket) < live->snap.listeners.size() &&
          !live->snap.listeners[static_cast<size_t>(d.socket)].v6) {
        own = &live->snap.listeners[static_cast<size_t>(d.socket)];
      }
      break;
    }
  }
  if (t.ip_be == 0) {
    return;
  }
  // As a forward: from the destination's own socket, out of its iface (Kamailio probes from
  // it too); else from the iface toward the destination (mhomed).
  uint16_t out_if = own != nullptr ? own->iface : UINT16_MAX;
  for (uint16_t i = 0; i < ifaces_.size() && out_if == UINT16_MAX; ++i) {
    if (ifaces_[i].on_link(t.ip_be)) {
      out_if = i;
    }
  }
  for (uint16_t i = 0; i < ifaces_.size() && out_if == UINT16_MAX; ++i) {
    if (ifaces_[i].gateway_be != 0) {
      out_if = i;
    }
  }
  if (out_if == UINT16_MAX || out_if >= ifaces_.size()) {
    return;
  }
  const dp::Listener* lst = own != nullptr ? own : &live->snap.listeners.front();
  for (size_t i = 0; own == nullptr && i < live->snap.listeners.size(); ++i) {
    if (live->snap.listeners[i].iface == out_if) {
      lst = &live->snap.listeners[i];
      break;
    }
  }
  const dp::Iface& ifc = ifaces_[out_if];
  const uint32_t hop = ifc.on_link(t.ip_be) ? t.ip_be : ifc.gateway_be;
  if (hop == 0) {
    return;  // the socket's iface has no way to the destination (a forward drops as no_route)
  }
  auto nb = neighbours_.find(hop);
  if (nb == neighbours_.end()) {
    if (wanted_.count(hop) == 0) {
      wanted_[hop] = {out_if, std::chrono::steady_clock::time_point{}, 0};
    }
    return;
  }
  const std::string msg = build_probe_request(prober_.config(), t.uri, lst->via_host,
                                              lst->via_port, seq, t.from);
  const size_t l3_len = sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + msg.size();
  if (l3_len + 4 > ifc.mtu) {
    return;
  }
  rte_mbuf* m = nullptr;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(
      new_frame(ifc, nb->second.b, RTE_ETHER_TYPE_IPV4, l3_len, m));
  if (ip == nullptr) {
    return;
  }
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = live->snap.tos;  // as the traffic: tos, udp4_raw_ttl
  ip->total_length = htons(static_cast<uint16_t>(l3_len));
  ip->packet_id = htons(probe_ip_id_++);
  ip->fragment_offset = 0;
  ip->time_to_live = live->snap.ttl;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = ifc.ip_be;
  ip->dst_addr = t.ip_be;
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = lst->port_be;
  udp->dst_port = t.port_be;
  udp->dgram_len = htons(static_cast<uint16_t>(sizeof(rte_udp_hdr) + msg.size()));
  udp->dgram_cksum = 0;
  std::memcpy(udp + 1, msg.data(), msg.size());
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  if (inject(out_if, m)) {
    counters_.probes_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// send_probe() to an IPv6 destination: from an IPv6 listener on the iface toward it, hop limit
// 64. Its reply comes back with source 0 in the probe-reply event, as the prober expects of a
// target whose IPv4 address is 0 (the sequence number in the branch does the matching).
void Daemon::send_probe6(const ProbeTarget& t, const dp::Ip6& dst, uint32_t seq) {
  const OwnedSnapshot* live = publisher_->live();
  uint16_t out_if = UINT16_MAX;
  for (uint16_t i = 0; i < ifaces_.size() && out_if == UINT16_MAX; ++i) {
    if (ifaces_[i].on_link6(dst)) {
      out_if = i;
    }
  }
  for (uint16_t i = 0; i < ifaces_.size() && out_if == UINT16_MAX; ++i) {
    if (ifaces_[i].has_gateway6) {
      out_if = i;
    }
  }
  if (out_if == UINT16_MAX) {
    return;
  }
  const dp::Listener* lst = nullptr;
  for (const dp::Listener& l : live->snap.listeners) {
    if (l.v6 && l.iface == out_if) {
      lst = &l;
      break;
    }
  }
  if (lst == nullptr) {
    return;
  }
  const dp::Iface& ifc = ifaces_[out_if];
  const dp::Ip6 hop = ifc.on_link6(dst) ? dst : ifc.gateway6;
  auto nb = neighbours6_.find(hop);
  if (nb == neighbours6_.end()) {
    if (wanted6_.count(hop) == 0) {
      wanted6_[hop] = {out_if, std::chrono::steady_clock::time_point{}, 0};
    }
    return;
  }
  const std::string msg = build_probe_request(prober_.config(), t.uri, lst->via_host,
                                              lst->via_port, seq, t.from);
  const size_t l3_len = sizeof(rte_ipv6_hdr) + sizeof(rte_udp_hdr) + msg.size();
  if (l3_len > ifc.mtu) {
    return;
  }
  rte_mbuf* m = nullptr;
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(
      new_frame(ifc, nb->second.b, RTE_ETHER_TYPE_IPV6, l3_len, m));
  if (ip == nullptr) {
    return;
  }
  ip->vtc_flow = htonl(6u << 28);
  ip->payload_len = htons(static_cast<uint16_t>(sizeof(rte_udp_hdr) + msg.size()));
  ip->proto = IPPROTO_UDP;
  ip->hop_limits = 64;
  const dp::Ip6 src = dst.is_link_local() ? dp::link_local_of(ifc.mac) : ifc.ip6;
  std::memcpy(ip->src_addr, src.b, 16);
  std::memcpy(ip->dst_addr, dst.b, 16);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = lst->port_be;
  udp->dst_port = t.port_be;
  udp->dgram_len = ip->payload_len;
  udp->dgram_cksum = 0;
  std::memcpy(udp + 1, msg.data(), msg.size());
  udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
  if (inject(out_if, m)) {
    counters_.probes_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// Health probes and blocklist expiry, ten times a second.
void Daemon::probe_tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_probe_tick_) {
    return;
  }
  next_probe_tick_ = now + std::chrono::milliseconds(100);
  const OwnedSnapshot* live = publisher_->live();
  if (live == nullptr) {
    return;
  }
  std::vector<ProbeTarget> targets;
  targets.reserve(live->snap.destinations.size());
  for (const dp::Destination& d : live->snap.destinations) {
    targets.push_back({d.set, d.uri, d.flags, d.ip_be, d.port_be, d.ping_from, d.ip6});
  }
  const ProbeTick t = prober_.tick(now, targets, ping_active_);
  bool changed = t.changed;
  for (const ProbeTimeout& to : t.timed_out) {
    counters_.probe_timeouts.fetch_add(1, std::memory_order_relaxed);
    if (prober_.config().latency_stats) {
      // No sample: apply_latency() ignores it. None for a destination a reload took away.
      if (LatencyStats* ls = latency_.at(to.set, to.uri); ls != nullptr) {
        ++ls->timeouts;
      }
    }
    changed = block(to.ip_be, to.port_be, kBlstErrTimeout, to.ip6) || changed;
    if (to.changed) {
      VD_LOG("notice", "dispatcher probe set=%d uri=%s timed out state=%s", to.set,
             to.uri.c_str(), ds_state_letters(prober_.apply(to.set, to.uri, 0)).c_str());
    }
  }
  for (const ProbeSend& p : t.send) {
    send_probe(targets[p.target], p.seq);
  }
  changed = blocklist_.expire(now) || changed;
  if (changed) {
    static_cast<void>(publish(loaded_));
  }
}

// Learned neighbours not confirmed for [neighbours] timeout seconds are asked again (three ARP
// requests, a second apart) and dropped when none is answered: a backend whose address moved
// to another MAC (failover) is found again instead of being sent to a MAC that is gone. Returns
// true when the table changed (publish).
bool Daemon::age_neighbours() {
  const auto now = std::chrono::steady_clock::now();
  if (settings_.neighbour_timeout == 0 || now - last_ageing_ < std::chrono::milliseconds(250)) {
    return false;
  }
  last_ageing_ = now;
  bool changed = age_table(
      now, neighbours_, neigh_age_, static_neighbours_, "ARP requests",
      [this](uint32_t ip) {
        for (uint16_t i = 0; i < ifaces_.size(); ++i) {
          if (ifaces_[i].on_link(ip)) {
            send_arp_request(i, ip);
            return;
          }
        }
      },
      [](uint32_t ip, char* text) { text[dp::format_ipv4(ip, text)] = '\0'; });
  changed = age_table(
                now, neighbours6_, neigh_age6_, static_neighbours6_, "Neighbor Solicitations",
                [this](const dp::Ip6& ip) {
                  for (uint16_t i = 0; i < ifaces_.size(); ++i) {
                    if (ifaces_[i].on_link6(ip)) {
                      send_neighbor_solicitation(i, ip);
                      return;
                    }
                  }
                },
                [](const dp::Ip6& ip, char* text) { text[dp::format_ipv6(ip, text)] = '\0'; }) ||
            changed;
  return changed;
}

// One neighbour table (IPv4 or IPv6) aged: an entry stale for the timeout is asked three
// times a second apart (`ask`), then dropped. Static entries never age.
template <class Addr, class Ask, class Format>
bool Daemon::age_table(std::chrono::steady_clock::time_point now,
                       std::map<Addr, dp::MacAddr>& table, std::map<Addr, NeighAge>& ages,
                       const std::set<Addr>& statics, const char* what, Ask ask, Format format) {
  const auto timeout = std::chrono::seconds(settings_.neighbour_timeout);
  bool changed = false;
  for (auto it = table.begin(); it != table.end();) {
    const Addr ip = it->first;
    if (statics.count(ip) != 0) {
      ++it;
      continue;
    }
    auto [age, fresh] = ages.try_emplace(ip, NeighAge{now, {}, 0});
    NeighAge& a = age->second;
    if (now - a.confirmed < timeout || now - a.last_probe < std::chrono::seconds(1)) {
      ++it;
      continue;
    }
    if (a.probes < 3) {
      ask(ip);
      ++a.probes;
      a.last_probe = now;
      ++it;
      continue;
    }
    char text[48];
    format(ip, text);
    VD_LOG("notice", "neighbour=%s expired (no answer to 3 %s)", text, what);
    ages.erase(age);
    it = table.erase(it);
    changed = true;
  }
  return changed;
}

void Daemon::drain_events() {
  bool changed = false;
  for (size_t w = 0; w < event_rings_.size(); ++w) {
    dp::Event ev[64];
    unsigned n = 0;
    while ((n = rte_ring_sc_dequeue_burst_elem(event_rings_[w], ev, sizeof(dp::Event), 64,
                                               nullptr)) != 0) {
      for (unsigned i = 0; i < n; ++i) {
        switch (ev[i].type) {
          case dp::Event::Type::kNeighLearned: {
            if (static_neighbours_.count(ev[i].ip_be) != 0) {
              break;  // configured: learning does not override it
            }
            neigh_age_[ev[i].ip_be] = NeighAge{std::chrono::steady_clock::now(), {}, 0};
            send_failures_.resolved(ev[i].ip_be);
            auto it = neighbours_.find(ev[i].ip_be);
            if (it == neighbours_.end() || !(it->second == ev[i].mac)) {
              neighbours_[ev[i].ip_be] = ev[i].mac;
              changed = true;
            }
            break;
          }
          case dp::Event::Type::kNeighMiss:
            if (neighbours_.count(ev[i].ip_be) == 0 && wanted_.count(ev[i].ip_be) == 0) {
              wanted_[ev[i].ip_be] = {ev[i].iface, std::chrono::steady_clock::time_point{}, 0};
            }
            break;
          case dp::Event::Type::kNeigh6Learned: {
            dp::Ip6 ip;
            std::memcpy(ip.b, ev[i].ip6, 16);
            if (static_neighbours6_.count(ip) != 0) {
              break;
            }
            neigh_age6_[ip] = NeighAge{std::chrono::steady_clock::now(), {}, 0};
            send_failures_.resolved(ip);
            auto it = neighbours6_.find(ip);
            if (it == neighbours6_.end() || !(it->second == ev[i].mac)) {
              neighbours6_[ip] = ev[i].mac;
              changed = true;
            }
            break;
          }
          case dp::Event::Type::kNeigh6Miss: {
            dp::Ip6 ip;
            std::memcpy(ip.b, ev[i].ip6, 16);
            if (neighbours6_.count(ip) == 0 && wanted6_.count(ip) == 0) {
              wanted6_[ip] = {ev[i].iface, std::chrono::steady_clock::time_point{}, 0};
            }
            break;
          }
          case dp::Event::Type::kProbeReply: {
            uint32_t src_ip_be = 0;
            std::memcpy(&src_ip_be, ev[i].mac.b, 4);
            const ProbeReplyResult r = prober_.on_reply(
                ev[i].ip_be, ev[i].aux, std::chrono::steady_clock::now(), src_ip_be);
            if (r.matched) {
              counters_.probe_replies.fetch_add(1, std::memory_order_relaxed);
              if (metrics_) {
                metrics_->observe_probe_rtt(r.set, r.uri,
                                            std::chrono::duration<double>(r.rtt).count());
              }
              if (prober_.config().latency_stats) {
                for (const cfg::DsDestination& d : loaded_.destinations) {
                  if (d.set != r.set || d.uri != r.uri) {
                    continue;
                  }
                  LatencyStats& ls = *latency_.at(d.set, d.uri);  // in the list: never null
                  // Algorithms 11 (cc=1) and 13 follow the statistics: publish when what they
                  // read changes.
                  cfg::DsDestination was = d;
                  apply_latency(ls, was);
                  ls.add(std::chrono::duration<double, std::milli>(r.rtt).count(),
                         prober_.config().latency_alpha, d.latency);
                  cfg::DsDestination now_d = d;
                  apply_latency(ls, now_d);
                  changed = changed || was.rweight != now_d.rweight ||
                            latency_priority(was.priority, was.latency, was.congestion_control) !=
                                latency_priority(now_d.priority, now_d.latency,
                                                 now_d.congestion_control);
                  break;
                }
              }
            }
            if (r.changed) {
              VD_LOG("notice", "dispatcher probe set=%d uri=%s reply=%u state=%s", r.set,
                     r.uri.c_str(), unsigned{ev[i].aux},
                     ds_state_letters(prober_.apply(r.set, r.uri, 0)).c_str());
            }
            // A destination that answers is reachable: what blocked it (an ICMP error, a
            // timeout) is over, so it does not wait for the entry to expire.
            if (r.ok && (r.ip_be != 0 ? blocklist_.remove(r.ip_be, r.port_be)
                                      : blocklist_.remove(r.ip6, r.port_be))) {
              changed = true;
            }
            changed = changed || r.changed;
            break;
          }
          case dp::Event::Type::kIcmpUnreachable: {
            dp::Ip6 ip6;  // ip_be 0: an ICMPv6 error, about an IPv6 destination
            std::memcpy(ip6.b, ev[i].ip6, 16);
            changed = block(ev[i].ip_be, ev[i].aux, kBlstIcmpRcvd, ip6) || changed;
            break;
          }
          case dp::Event::Type::kMarkDst: {
            uint32_t id = 0;
            std::memcpy(&id, ev[i].mac.b, sizeof(id));
            for (const dp::Destination& d : slot_.current().destinations) {
              if (d.id == id) {
                if ((d.flags & kDsStateBits) != ev[i].iface) {
                  const Result<size_t> n = set_state(d.set, d.uri, ev[i].iface);
                  if (!n) {
                    VD_LOG("warning", "ds_mark_dst set=%d uri=%s failed", d.set, d.uri.c_str());
                  }
                }
                break;
              }
            }
            break;
          }
          case dp::Event::Type::kSendFailed: {
            const bool no_route = (ev[i].pad & ~dp::kSendFailedWaited) ==
                                  static_cast<uint8_t>(dp::Drop::kNoRoute);
            // Held for the whole hold time: ARP or ND has had its chance already.
            const bool waited = (ev[i].pad & dp::kSendFailedWaited) != 0;
            const auto now = std::chrono::steady_clock::now();
            bool fail = false;
            dp::Ip6 dst6;
            if (ev[i].ip_be != 0) {
              uint32_t hop = 0;
              std::memcpy(&hop, ev[i].mac.b, 4);
              fail = prober_.config().use_blocklist &&
                     (send_failures_.on_failure(no_route, hop, now) || waited);
            } else {
              // An IPv6 destination (ip6): its next hop is the destination on the link of the
              // egress iface, else that iface's gateway6 (what the worker solicited).
              std::memcpy(dst6.b, ev[i].ip6, 16);
              const dp::Snapshot& s = slot_.current();
              dp::Ip6 hop = dst6;
              if (ev[i].iface < s.ifaces.size() && !s.ifaces[ev[i].iface].on_link6(dst6)) {
                hop = s.ifaces[ev[i].iface].gateway6;
              }
              fail = prober_.config().use_blocklist &&
                     (send_failures_.on_failure(no_route, hop, now) || waited);
            }
            if (fail) {
              counters_.blocklist_send_failures.fetch_add(1, std::memory_order_relaxed);
              changed = block(ev[i].ip_be, ev[i].aux, kBlstErrSend, dst6) || changed;
            }
            break;
          }
        }
      }
    }
  }
  if (changed) {
    static_cast<void>(publish(loaded_));
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
  // Its address6 too. IPv6 may be off for new interfaces of this namespace (`default`
  // disable_ipv6): the TAP gets it on. The address is ours on the wire already (the fast path
  // answers Neighbor Solicitations for it), so no duplicate address detection, written before
  // IPv6 starts on the TAP (its link-local address, from the same MAC, is the fast path's too);
  // and no address of its own from Router Advertisements (the fast path would not own it).
  const cfg::InterfaceSettings* v6 = nullptr;
  for (const cfg::InterfaceSettings& o : settings_.interfaces) {
    if (o.port == is.port && o.vlan == 0 && !o.address6.empty()) {
      v6 = &o;
    }
  }
  auto ipv6_conf = [&tap](const char* key, const char* value) {
    const std::string path = "/proc/sys/net/ipv6/conf/" + tap + "/" + key;
    std::FILE* f = std::fopen(path.c_str(), "w");
    const bool written = f != nullptr && std::fputs(value, f) >= 0;
    return f != nullptr && std::fclose(f) == 0 && written;
  };
  ok = ok && (v6 == nullptr || (ipv6_conf("accept_dad", "0") && ipv6_conf("autoconf", "0") &&
                                ipv6_conf("disable_ipv6", "0")));
  ok = ok && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (fd >= 0) {
    close(fd);
  }
  if (ok && v6 != nullptr) {
    const int fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
    in6_ifreq r{};
    std::memcpy(&r.ifr6_addr, v6->ip6, sizeof v6->ip6);
    r.ifr6_prefixlen = v6->prefix6_len;
    r.ifr6_ifindex = static_cast<int>(if_nametoindex(tap.c_str()));
    ok = fd6 >= 0 && r.ifr6_ifindex != 0 && ioctl(fd6, SIOCSIFADDR, &r) == 0;
    if (fd6 >= 0) {
      close(fd6);
    }
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
  // Requests waiting for the control thread are answered before the server threads are joined.
  inbox_.close();
  management_.reset();
  if (launched_) {
    stop_workers_.store(true);
    rte_eal_mp_wait_lcore();
    launched_ = false;
  }
  if (publisher_) {
    publisher_->synchronize();
  }
  stop_exposer(exposer_, settings_.metrics_listen);
  // The ports stop first: a NIC frees the mbufs still in its TX ring when it stops, and some of
  // them come from a worker's pool (a reassembled datagram forwarded whole); the workers'
  // pools and reassembly tables go after, before the EAL does.
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
  workers_.clear();
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
  const bool script_ok = settings_ok && load_script(o, loaded_, diags);
  print(diags);
  if (!script_ok) {
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGHUP, on_signal);

  if (!start_dataplane()) {
    shutdown();
    return 1;
  }
  prober_.list_loaded(loaded_.destinations);
  latency_.list_loaded(loaded_.destinations);
  // The first snapshot is published before any worker starts, so current() is never null.
  if (!publish(loaded_) || !start_management()) {
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
    uint64_t script_errors[std::size(kScriptErrorReasons)] = {};
    uint64_t log_dropped = 0;
    uint64_t rx_hits = 0;
    uint64_t rx_misses = 0;
    for (const auto& w : workers_) {  // the script's xlog/log lines (workers never write(2))
      w->vm_log().drain([&](const dp::VmLogRecord& r) {
        const int n = r.len > 0 && r.text[r.len - 1] == '\n' ? r.len - 1 : r.len;
        VD_LOG("script", "[w%u] %.*s", static_cast<unsigned>(w->id()), n, r.text);
      });
      // Single-writer plain counters of the worker, read without tearing (aligned 64 bits).
      const dp::VmState& st = w->vm_state();
      const uint64_t* const fields[] = {&st.scratch_overflow, &st.var_overflow, &st.while_limit,
                                        &st.depth_limit,      &st.stack_overflow,
                                        &st.regex_errors,     &st.other_errors};
      for (size_t i = 0; i < std::size(fields); ++i) {
        script_errors[i] += __atomic_load_n(fields[i], __ATOMIC_RELAXED);
      }
      log_dropped += w->vm_log().dropped.load(std::memory_order_relaxed);
      rx_hits += __atomic_load_n(&st.regex_memo_hits, __ATOMIC_RELAXED);
      rx_misses += __atomic_load_n(&st.regex_memo_misses, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < std::size(script_errors); ++i) {
      counters_.script_errors[i].store(script_errors[i], std::memory_order_relaxed);
    }
    counters_.script_log_dropped.store(log_dropped, std::memory_order_relaxed);
    counters_.regex_memo_hits.store(rx_hits, std::memory_order_relaxed);
    counters_.regex_memo_misses.store(rx_misses, std::memory_order_relaxed);
    if (age_neighbours()) {
      static_cast<void>(publish(loaded_));
    }
    probe_tick();
    resolve_next_hops(false);
    if (g_reload != 0) {
      g_reload = 0;
      static_cast<void>(do_reload(ReloadScope::kAll, "SIGHUP"));
    }
    inbox_.serve([this](std::string_view request) { return rpc_.handle(request); });
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
  cfg::Diagnostics script_diags;
  bool ok = load_script(o, loaded, script_diags);
  print(script_diags);
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
      in.hosts = &loaded.hosts;
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
