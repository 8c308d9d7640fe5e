// SPDX-License-Identifier: Apache-2.0
#include "control/metrics.hpp"

#include <cstring>
#include <limits>
#include <set>

#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <rte_cycles.h>

#include <exception>

#include "control/http_stop.hpp"

namespace viaduct::ctl {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void add(MetricFamily& f, double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

MetricsCollector::MetricsCollector(std::vector<const dp::WorkerCounters*> workers,
                                   const ControlCounters& ctl)
    : workers_(std::move(workers)), ctl_(ctl), start_(std::chrono::steady_clock::now()) {}

void MetricsCollector::set_destinations(std::vector<DestinationLabel> d) {
  std::lock_guard<std::mutex> lock(mu_);
  dests_ = std::move(d);
  std::set<std::pair<int, std::string>> present;
  for (const DestinationLabel& x : dests_) {
    present.emplace(x.set, x.uri);
  }
  std::erase_if(rtt_, [&](const auto& e) { return present.count(e.first) == 0; });
}

void MetricsCollector::rebase(const std::vector<uint32_t>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t id : ids) {
    Base& b = base_[id % dp::kMaxDestinations];
    b = Base{};
    for (const dp::WorkerCounters* w : workers_) {
      b.selected += w->selected[id % dp::kMaxDestinations].read();
      b.forwarded += w->forwarded_to[id % dp::kMaxDestinations].read();
      for (size_t c = 0; c < dp::kReplyClasses; ++c) {
        b.replies[c] += w->replies_from[id % dp::kMaxDestinations][c].read();
      }
    }
  }
}

void MetricsCollector::observe_probe_rtt(int set, const std::string& uri, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Rtt& r = rtt_[{set, uri}];
  for (size_t i = 0; i < std::size(kProbeRttBuckets); ++i) {
    if (seconds <= kProbeRttBuckets[i]) {
      ++r.buckets[i];
      break;
    }
  }
  ++r.count;
  r.sum += seconds;
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  auto sum = [this](const dp::Counter dp::WorkerCounters::*field) {
    uint64_t s = 0;
    for (const dp::WorkerCounters* w : workers_) {
      s += (w->*field).read();
    }
    return static_cast<double>(s);
  };
  std::vector<MetricFamily> out;
  struct Simple {
    const char* name;
    const char* help;
    const dp::Counter dp::WorkerCounters::*field;
  };
  static const Simple kSimple[] = {
      {"viaduct_rx_packets_total", "Frames received on all ports.",
       &dp::WorkerCounters::rx_packets},
      {"viaduct_tx_packets_total", "Frames sent on all ports.", &dp::WorkerCounters::tx_packets},
      {"viaduct_rx_bytes_total", "Bytes received on all ports.", &dp::WorkerCounters::rx_bytes},
      {"viaduct_tx_bytes_total", "Bytes sent on all ports.", &dp::WorkerCounters::tx_bytes},
      {"viaduct_sip_requests_received_total", "Valid SIP requests received.",
       &dp::WorkerCounters::sip_requests},
      {"viaduct_sip_replies_received_total", "Valid SIP replies received.",
       &dp::WorkerCounters::sip_replies},
      {"viaduct_sip_requests_forwarded_total", "SIP requests forwarded statelessly.",
       &dp::WorkerCounters::requests_forwarded},
      {"viaduct_sip_replies_forwarded_total", "SIP replies forwarded by their Via.",
       &dp::WorkerCounters::replies_forwarded},
      {"viaduct_local_replies_total", "Stateless replies sent by the script (sl_send_reply).",
       &dp::WorkerCounters::local_replies},
      {"viaduct_sl_filtered_acks_total",
       "ACKs of our local non-2xx replies, absorbed before the script (as Kamailio's sl).",
       &dp::WorkerCounters::sl_filtered_acks},
      {"viaduct_arp_replies_sent_total", "ARP replies sent for our addresses.",
       &dp::WorkerCounters::arp_replies_sent},
      {"viaduct_icmp_echo_replies_total", "ICMP echo requests to our addresses answered.",
       &dp::WorkerCounters::icmp_echo_replies},
      {"viaduct_ip_fragments_received_total", "IPv4 fragments to us taken into reassembly.",
       &dp::WorkerCounters::fragments_received},
      {"viaduct_ip_datagrams_reassembled_total", "IPv4 datagrams reassembled from fragments.",
       &dp::WorkerCounters::datagrams_reassembled},
      {"viaduct_exception_in_total",
       "Frames handed to the kernel through the exception TAP (TCP, other ports, IPv6...).",
       &dp::WorkerCounters::exception_in},
      {"viaduct_exception_out_total", "Frames from the kernel's exception TAP sent on the wire.",
       &dp::WorkerCounters::exception_out},
      {"viaduct_ip_fragments_sent_total",
       "IPv4 and IPv6 fragments sent for messages larger than the MTU (a fragment held for its "
       "next hop's MAC counts when it leaves).",
       &dp::WorkerCounters::fragments_sent},
      {"viaduct_worker_events_dropped_total", "Worker-to-control events lost to a full ring.",
       &dp::WorkerCounters::events_dropped},
      {"viaduct_probe_replies_received_total",
       "Replies to health probes taken off the fast path and handed to the control thread.",
       &dp::WorkerCounters::probe_replies},
      {"viaduct_icmp_unreachable_received_total",
       "ICMP port/host unreachable about our datagrams, handed to the control thread.",
       &dp::WorkerCounters::icmp_unreachable},
      {"viaduct_dispatcher_send_failures_total",
       "Forwards to a dispatcher destination dropped for lack of a route or of the next hop's "
       "MAC (a send error: the destination is blocklisted with use_dst_blocklist).",
       &dp::WorkerCounters::send_failures},
      {"viaduct_neighbour_held_total",
       "Frames held because their next hop's MAC was not known yet (ARP or Neighbor Discovery "
       "asked); those not sent within the hold time count as no_neighbour drops.",
       &dp::WorkerCounters::neigh_held},
      {"viaduct_neighbour_held_sent_total",
       "Held frames sent once their next hop's MAC was learned.",
       &dp::WorkerCounters::neigh_held_sent},
  };
  for (const Simple& s : kSimple) {
    MetricFamily f = family(s.name, s.help, MetricType::Counter);
    add(f, sum(s.field));
    out.push_back(std::move(f));
  }

  MetricFamily drops = family("viaduct_drops_total", "Packets dropped, by reason.",
                              MetricType::Counter);
  for (size_t r = 0; r < static_cast<size_t>(dp::Drop::kCount); ++r) {
    uint64_t s = 0;
    for (const dp::WorkerCounters* w : workers_) {
      s += w->drops[r].read();
    }
    add(drops, static_cast<double>(s), {{"reason", dp::drop_name(static_cast<dp::Drop>(r))}});
  }
  out.push_back(std::move(drops));

  MetricFamily parse = family("viaduct_sip_parse_errors_total",
                              "Malformed SIP messages, by scanner verdict.", MetricType::Counter);
  for (size_t r = 1; r < dp::kScanStatusCount; ++r) {
    uint64_t s = 0;
    for (const dp::WorkerCounters* w : workers_) {
      s += w->parse_errors[r].read();
    }
    add(parse, static_cast<double>(s),
        {{"reason", sip::scan_status_name(static_cast<sip::ScanStatus>(r))}});
  }
  out.push_back(std::move(parse));

  MetricFamily busy = family("viaduct_worker_busy_cycles_total",
                             "TSC cycles each worker spent on non-empty bursts.",
                             MetricType::Counter);
  MetricFamily busy_s = family("viaduct_worker_busy_seconds_total",
                               "Seconds each worker spent on non-empty bursts: its CPU time, "
                               "since an idle worker polls at 100%.",
                               MetricType::Counter);
  MetricFamily loops = family("viaduct_worker_loops_total", "Poll loop iterations per worker.",
                              MetricType::Counter);
  MetricFamily stalls = family("viaduct_worker_rx_stalls_total",
                               "RX calls that returned frames after 50 us or more: the worker's "
                               "thread was not running (their wait is not counted as busy).",
                               MetricType::Counter);
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  for (size_t i = 0; i < workers_.size(); ++i) {
    const double cycles = static_cast<double>(workers_[i]->busy_tsc.read());
    add(busy, cycles, {{"worker", std::to_string(i)}});
    add(busy_s, tsc_hz > 0 ? cycles / tsc_hz : 0.0, {{"worker", std::to_string(i)}});
    add(loops, static_cast<double>(workers_[i]->loops.read()), {{"worker", std::to_string(i)}});
    add(stalls, static_cast<double>(workers_[i]->rx_stalls.read()),
        {{"worker", std::to_string(i)}});
  }
  out.push_back(std::move(busy));
  out.push_back(std::move(busy_s));
  out.push_back(std::move(loops));
  out.push_back(std::move(stalls));

  {
    std::lock_guard<std::mutex> lock(mu_);
    MetricFamily sel = family("viaduct_dispatcher_selected_total",
                              "Times ds_select_dst chose a destination.", MetricType::Counter);
    MetricFamily fwd = family("viaduct_dispatcher_forwarded_total",
                              "Requests forwarded to a dispatcher destination.",
                              MetricType::Counter);
    MetricFamily replies = family("viaduct_dispatcher_replies_total",
                                  "SIP replies received from a dispatcher destination (its "
                                  "address and port), by class.",
                                  MetricType::Counter);
    MetricFamily state = family("viaduct_dispatcher_destination_up",
                                "1 when the destination may be selected (not inactive/disabled).",
                                MetricType::Gauge);
    MetricFamily states = family("viaduct_dispatcher_destination_state",
                                 "1 for the destination's current state (Kamailio's A/I/T/D).",
                                 MetricType::Gauge);
    MetricFamily probing = family("viaduct_dispatcher_destination_probing",
                                  "1 when the destination is probed (the P of dispatcher.list).",
                                  MetricType::Gauge);
    MetricFamily rtt = family("viaduct_dispatcher_probe_rtt_seconds",
                              "Round-trip time of health probes answered, per destination.",
                              MetricType::Histogram);
    for (const DestinationLabel& d : dests_) {
      const Base& b = base_[d.id % dp::kMaxDestinations];
      uint64_t s = 0;
      uint64_t f = 0;
      for (const dp::WorkerCounters* w : workers_) {
        s += w->selected[d.id % dp::kMaxDestinations].read();
        f += w->forwarded_to[d.id % dp::kMaxDestinations].read();
      }
      s -= b.selected;
      f -= b.forwarded;
      std::vector<ClientMetric::Label> labels = {{"set", std::to_string(d.set)}, {"uri", d.uri}};
      add(sel, static_cast<double>(s), labels);
      add(fwd, static_cast<double>(f), labels);
      for (size_t c = 0; c < dp::kReplyClasses; ++c) {
        uint64_t r = 0;
        for (const dp::WorkerCounters* w : workers_) {
          r += w->replies_from[d.id % dp::kMaxDestinations][c].read();
        }
        r -= b.replies[c];
        std::vector<ClientMetric::Label> l = labels;
        l.push_back({"class", std::to_string(c + 1) + "xx"});
        add(replies, static_cast<double>(r), std::move(l));
      }
      add(state, d.usable ? 1.0 : 0.0, labels);
      // Kamailio's state letter: I(nactive) wins over D(isabled), D over T(rying).
      const char* now = (d.flags & 1u) != 0   ? "inactive"
                        : (d.flags & 4u) != 0 ? "disabled"
                        : (d.flags & 2u) != 0 ? "trying"
                                              : "active";
      for (const char* st : {"active", "inactive", "trying", "disabled"}) {
        std::vector<ClientMetric::Label> l = labels;
        l.push_back({"state", st});
        add(states, std::strcmp(st, now) == 0 ? 1.0 : 0.0, std::move(l));
      }
      add(probing, (d.flags & 8u) != 0 ? 1.0 : 0.0, labels);
    }
    for (const auto& [key, r] : rtt_) {
      ClientMetric m;
      m.label = {{"set", std::to_string(key.first)}, {"uri", key.second}};
      uint64_t cum = 0;
      for (size_t i = 0; i < std::size(kProbeRttBuckets); ++i) {
        cum += r.buckets[i];
        m.histogram.bucket.push_back({cum, kProbeRttBuckets[i]});
      }
      m.histogram.bucket.push_back({r.count, std::numeric_limits<double>::infinity()});
      m.histogram.sample_count = r.count;
      m.histogram.sample_sum = r.sum;
      rtt.metric.push_back(std::move(m));
    }
    out.push_back(std::move(sel));
    out.push_back(std::move(fwd));
    out.push_back(std::move(replies));
    out.push_back(std::move(state));
    out.push_back(std::move(states));
    out.push_back(std::move(probing));
    out.push_back(std::move(rtt));
  }

  struct CtlMetric {
    const char* name;
    const char* help;
    const std::atomic<uint64_t>& v;
    MetricType type;
  };
  const CtlMetric ctl[] = {
      {"viaduct_arp_requests_sent_total", "ARP requests sent to resolve next hops.",
       ctl_.arp_requests_sent, MetricType::Counter},
      {"viaduct_config_reloads_total", "Successful reloads.", ctl_.reloads, MetricType::Counter},
      {"viaduct_config_reload_failures_total", "Reloads that failed and changed nothing.",
       ctl_.reload_failures, MetricType::Counter},
      {"viaduct_snapshot_generation", "Generation of the published snapshot.", ctl_.generation,
       MetricType::Gauge},
      {"viaduct_snapshot_retired", "Snapshots waiting for every worker to move past them.",
       ctl_.retired_snapshots, MetricType::Gauge},
      {"viaduct_neighbours", "Next hops with a known MAC address.", ctl_.neighbours,
       MetricType::Gauge},
      {"viaduct_dispatcher_probes_sent_total", "Health probes (ds_ping_method) sent.",
       ctl_.probes_sent, MetricType::Counter},
      {"viaduct_dispatcher_probe_replies_total", "Final replies received to health probes.",
       ctl_.probe_replies, MetricType::Counter},
      {"viaduct_dispatcher_probe_timeouts_total",
       "Health probes without a final reply within ds_ping_interval.", ctl_.probe_timeouts,
       MetricType::Counter},
      {"viaduct_dst_blocklist_entries", "Destinations in the blocklist (use_dst_blocklist).",
       ctl_.blocklist_entries, MetricType::Gauge},
      {"viaduct_dst_blocklist_additions_total",
       "Destinations added to the blocklist (or refreshed): ICMP unreachable, probe timeout, "
       "send failure.",
       ctl_.blocklist_additions, MetricType::Counter},
      {"viaduct_dst_blocklist_send_failures_total",
       "Blocklist additions for a send failure (no route, or the next hop unresolved by ARP).",
       ctl_.blocklist_send_failures, MetricType::Counter},
  };
  for (const CtlMetric& c : ctl) {
    MetricFamily f = family(c.name, c.help, c.type);
    add(f, static_cast<double>(c.v.load(std::memory_order_relaxed)));
    out.push_back(std::move(f));
  }
  MetricFamily script = family("viaduct_script_errors_total",
                               "Run-time errors of the routing script, by reason (the message "
                               "is dropped as script_error, but while_limit: the loop is left, "
                               "as in Kamailio).",
                               MetricType::Counter);
  for (size_t i = 0; i < std::size(kScriptErrorReasons); ++i) {
    add(script, static_cast<double>(ctl_.script_errors[i].load(std::memory_order_relaxed)),
        {{"reason", kScriptErrorReasons[i]}});
  }
  out.push_back(std::move(script));
  MetricFamily logd = family("viaduct_script_log_dropped_total",
                             "xlog/log lines lost to a full per-worker log ring.",
                             MetricType::Counter);
  add(logd, static_cast<double>(ctl_.script_log_dropped.load(std::memory_order_relaxed)));
  out.push_back(std::move(logd));
  MetricFamily rx = family("viaduct_script_regex_lookups_total",
                           "Regex-set lookups of the routing script: answered from the worker's "
                           "memo of recent operands (hit) or scanned (scan): with Hyperscan, or "
                           "with the literal matcher for a set of plain literals.",
                           MetricType::Counter);
  add(rx, static_cast<double>(ctl_.regex_memo_hits.load(std::memory_order_relaxed)),
      {{"result", "hit"}});
  add(rx, static_cast<double>(ctl_.regex_memo_misses.load(std::memory_order_relaxed)),
      {{"result", "scan"}});
  out.push_back(std::move(rx));
  MetricFamily workers = family("viaduct_workers", "Worker lcores forwarding packets.",
                                MetricType::Gauge);
  add(workers, static_cast<double>(workers_.size()));
  out.push_back(std::move(workers));
  MetricFamily up = family("viaduct_uptime_seconds", "Seconds since start.", MetricType::Gauge);
  add(up, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  out.push_back(std::move(up));
  MetricFamily info = family("viaduct_build_info", "Build information.", MetricType::Gauge);
  add(info, 1.0, {{"version", VD_VERSION}});
  out.push_back(std::move(info));
  return out;
}

Result<std::unique_ptr<prometheus::Exposer>> start_exposer(
    const std::string& listen, const std::shared_ptr<MetricsCollector>& collector) {
  try {
    // Several threads and a short socket timeout: with one thread, one connection that sent
    // half a request held /metrics for civetweb's 30 s default (a scrape then fails).
    auto exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", "4", "request_timeout_ms", "5000"});
    exposer->RegisterCollectable(collector);
    return exposer;
  } catch (const std::exception& e) {
    return Error{Error::Code::kIo, "cannot serve metrics on " + listen + ": " + e.what(), ""};
  }
}

void stop_exposer(std::unique_ptr<prometheus::Exposer>& exposer, const std::string& listen) {
  if (!exposer) {
    return;
  }
  stop_listener(listen, exposer->GetListeningPorts(), [&exposer] { exposer.reset(); });
}

std::string render_text(const prometheus::Collectable& c) {
  prometheus::TextSerializer ser;
  return ser.Serialize(c.Collect());
}

}  // namespace viaduct::ctl
