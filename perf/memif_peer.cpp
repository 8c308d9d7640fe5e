// SPDX-License-Identifier: Apache-2.0
// perf/memif_peer.cpp: viaduct-memif-peer, the far end of a DPDK memif link to viaduct, for
// the Kamailio comparison with no kernel on viaduct's path (perf/compare-kamailio.sh --io memif)
// and its end-to-end test (tests/e2e/memif_test.sh).
//
//   viaduct-memif-peer --socket PATH --count N --rate R [--size B] [--duration S] [--linger S]
//                      [--src IP:PORT] [--target IP:PORT] [--lb-mac MAC] [--backend IP=MAC]...
//                      [--record FILE] [--lcore N] [--json] [--print-invite]
//                      [--role client|server] [--go FILE] [--hold FILE] [--link-timeout S]
//
// With --role client (the default) viaduct runs a `net_memif` vdev with role=server on PATH and
// this process is the client; with --role server this process creates PATH and viaduct is the
// client, with zero-copy=yes: this process then copies frames into and out of viaduct's own
// mbufs, as a NIC's DMA would (--go FILE holds the sending until FILE exists, so the caller can
// read viaduct's counters first). Copy mode here either way, EAL with --no-huge and its own
// --file-prefix. It sends N INVITEs at
// R per second (0: as fast as the ring takes them) as Ethernet/IPv4/UDP frames from --src to
// --target (the load balancer's listen address), each with its own Call-ID, From tag and
// branch, and with a valid UDP checksum, then receives what viaduct forwards and counts it by
// destination IP, as the reflect sinks of the socket lab do. The SIP text is viaduct-gen's
// `send --kind invite --size B` (tools/viaduct_gen.cpp), line for line; `--print-invite` prints
// message 0 and exits (to compare).
//
// Every received frame is checked: IPv4 header and UDP checksums valid (a UDP checksum of 0
// counts as missing), from the load balancer to a --backend address on port 5060 and to that
// backend's MAC, a SIP INVITE whose top Via is the load balancer's and whose second Via is ours,
// Max-Forwards one less than sent (69), a Call-ID we sent and not seen before. Bounded: it stops
// after --duration seconds whatever happened, or once nothing has arrived for --linger seconds
// after the last INVITE left. --json prints one object of counters. Not part of the fast path:
// it allocates per message (the INVITE text), which is its own CPU, not viaduct's.
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/sip/sip.hpp"
#include "tests/support/packet_builder.hpp"
#include "tools/gen_message.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using viaduct::dp::MacAddr;
namespace sip = viaduct::sip;
namespace test = viaduct::test;

constexpr uint16_t kBurst = 32;
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

struct Endpoint {
  std::string ip;
  uint16_t port = 5060;
  uint32_t ip_be = 0;
  std::string str() const { return ip + ":" + std::to_string(port); }
};

bool parse_endpoint(const std::string& s, Endpoint& e) {
  if (!viaduct::tools::split_host_port(s, e.ip, e.port)) {
    return false;
  }
  return inet_pton(AF_INET, e.ip.c_str(), &e.ip_be) == 1;
}

bool parse_mac(const std::string& s, MacAddr& m) {
  unsigned b[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) !=
      6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 255) {
      return false;
    }
    m.b[i] = static_cast<uint8_t>(b[i]);
  }
  return true;
}

std::string mac_str(const MacAddr& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3],
                m.b[4], m.b[5]);
  return buf;
}

struct Options {
  std::string socket;
  Endpoint src;
  Endpoint target;
  MacAddr src_mac{{2, 0, 0, 0, 0, 0x10}};
  MacAddr lb_mac{{2, 0, 0, 0, 0, 2}};
  std::vector<std::pair<uint32_t, MacAddr>> backends;  // IP (network order), MAC
  std::vector<std::string> backend_names;
  uint64_t count = 1000;
  double rate = 1000;
  size_t size = 900;
  double duration = 60;
  double linger = 1.0;
  std::string record;
  unsigned lcore = 0;
  bool json = false;
  std::string role = "client";
  std::string go;            // a file whose existence starts the sending
  std::string hold;          // after the counters are printed, keep the link until this exists
  double link_timeout = 10;  // seconds to wait for the link
};

// viaduct-gen's INVITE n (tools/gen_message.hpp), with this process's pid in the branch and
// Call-ID.
std::string invite(const Options& o, const std::string& pid, uint64_t n) {
  return viaduct::tools::gen_invite({o.target.str(), o.src.str(), o.src.ip, pid}, n, o.size);
}

struct Counters {
  uint64_t sent = 0;
  uint64_t received = 0;       // IPv4/UDP frames to a backend (counted per backend)
  uint64_t unique = 0;         // of those, Call-IDs of ours seen for the first time
  uint64_t duplicates = 0;
  uint64_t unknown_call_id = 0;
  uint64_t bad_ip_checksum = 0;
  uint64_t bad_udp_checksum = 0;
  uint64_t no_udp_checksum = 0;
  uint64_t bad_addressing = 0;  // source IP/port, destination port or backend MAC wrong
  uint64_t bad_sip = 0;         // does not scan, not an INVITE
  uint64_t bad_via = 0;         // top Via not the load balancer's, second Via not ours
  uint64_t bad_max_forwards = 0;
  uint64_t other_frames = 0;    // ARP, frames to no backend...
  uint64_t tx_ring_full = 0;    // bursts the ring did not take whole (retried)
  std::vector<uint64_t> per_backend;
};

class Peer {
 public:
  Peer(const Options& o, uint16_t port, rte_mempool* pool)
      : o_(o), port_(port), pool_(pool), pid_(std::to_string(getpid())), seen_(o.count, false) {
    c_.per_backend.assign(o.backends.size(), 0);
    if (!o.record.empty()) {
      record_.reserve(o.count);
    }
  }

  // One RX burst: every frame checked and counted; how many came.
  uint16_t receive() {
    rte_mbuf* rx[kBurst];
    const uint16_t nrx = rte_eth_rx_burst(port_, 0, rx, kBurst);
    for (uint16_t i = 0; i < nrx; ++i) {
      check(rx[i]);
      rte_pktmbuf_free(rx[i]);
    }
    return nrx;
  }

  int run() {
    if (!o_.go.empty()) {
      // The caller reads its counters' start values before it creates the file.
      const auto until = Clock::now() + std::chrono::duration<double>(o_.duration);
      while (g_stop == 0 && access(o_.go.c_str(), F_OK) != 0 && Clock::now() < until) {
        const timespec ts{0, 1000000};
        nanosleep(&ts, nullptr);
      }
    }
    // One RX before the first INVITE. As the memif client this end owns the refill of the ring
    // viaduct (the server) sends on: DPDK 22.11's driver starts it with no free slot and hands
    // the slots over in the client's RX. Sending first let viaduct forward an INVITE into a ring
    // with no room (tx_full, 1 frame lost: e2e-memif, copy mode, in CI and under load here).
    receive();
    const auto t0 = Clock::now();
    auto last_rx = t0;
    auto sent_done = t0;
    bool done_sending = false;
    rte_mbuf* pending[kBurst];
    uint16_t npending = 0;
    uint64_t started = 0;
    while (g_stop == 0) {
      const auto now = Clock::now();
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      if (elapsed > o_.duration) {
        break;
      }
      const uint64_t due =
          o_.rate <= 0 ? o_.count
                       : std::min<uint64_t>(o_.count, static_cast<uint64_t>(elapsed * o_.rate) + 1);
      bool busy = false;
      while (npending < kBurst && started < due) {
        rte_mbuf* m = frame(started);
        if (m == nullptr) {
          break;
        }
        pending[npending++] = m;
        ++started;
      }
      if (npending > 0) {
        const uint16_t n = rte_eth_tx_burst(port_, 0, pending, npending);
        c_.sent += n;
        if (n < npending) {
          ++c_.tx_ring_full;
          std::memmove(pending, pending + n, (npending - n) * sizeof(rte_mbuf*));
        }
        npending = static_cast<uint16_t>(npending - n);
        busy = n > 0;
      }
      if (!done_sending && started == o_.count && npending == 0) {
        done_sending = true;
        sent_done = Clock::now();
        last_rx = sent_done;
      }
      const uint16_t nrx = receive();
      if (nrx > 0) {
        last_rx = Clock::now();
        busy = true;
      }
      if (done_sending) {
        const double quiet = std::chrono::duration<double>(Clock::now() - last_rx).count();
        // All back: a short wait for duplicates; else the whole linger.
        if (quiet > o_.linger || (c_.unique == o_.count && quiet > 0.2)) {
          break;
        }
      }
      if (!busy) {
        // Not polling flat out: this process shares the machine with the worker it measures.
        const timespec ts{0, 20000};
        nanosleep(&ts, nullptr);
      }
    }
    if (!done_sending) {
      sent_done = Clock::now();
    }
    for (uint16_t i = 0; i < npending; ++i) {
      rte_pktmbuf_free(pending[i]);
    }
    send_seconds_ = std::chrono::duration<double>(sent_done - t0).count();
    return 0;
  }

  void print() const {
    const Counters& c = c_;
    if (!o_.record.empty()) {
      FILE* f = std::fopen(o_.record.c_str(), "w");
      if (f == nullptr) {
        std::perror(o_.record.c_str());
      } else {
        for (const std::string& line : record_) {
          std::fprintf(f, "%s\n", line.c_str());
        }
        std::fclose(f);
      }
    }
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    if (!o_.json) {
      std::printf("viaduct-memif-peer: %llu sent in %.3f s, %llu received (%llu unique, %llu "
                  "duplicates); bad: ip %llu udp %llu no-udp %llu addr %llu sip %llu via %llu "
                  "max-forwards %llu; other %llu\n",
                  u(c.sent), send_seconds_, u(c.received), u(c.unique), u(c.duplicates),
                  u(c.bad_ip_checksum), u(c.bad_udp_checksum), u(c.no_udp_checksum),
                  u(c.bad_addressing), u(c.bad_sip), u(c.bad_via), u(c.bad_max_forwards),
                  u(c.other_frames));
      for (size_t i = 0; i < c.per_backend.size(); ++i) {
        std::printf("  %s: %llu\n", o_.backend_names[i].c_str(), u(c.per_backend[i]));
      }
      return;
    }
    std::printf("{\"count\": %llu, \"rate\": %.1f, \"sent\": %llu, \"send_seconds\": %.6f, "
                "\"send_rate\": %.1f, \"received\": %llu, \"unique\": %llu, \"duplicates\": %llu, "
                "\"unknown_call_id\": %llu, \"bad_ip_checksum\": %llu, \"bad_udp_checksum\": %llu, "
                "\"no_udp_checksum\": %llu, \"bad_addressing\": %llu, \"bad_sip\": %llu, "
                "\"bad_via\": %llu, \"bad_max_forwards\": %llu, \"other_frames\": %llu, "
                "\"tx_ring_full\": %llu, \"per_backend\": {",
                u(o_.count), o_.rate, u(c.sent), send_seconds_,
                send_seconds_ > 0 ? static_cast<double>(c.sent) / send_seconds_ : 0.0,
                u(c.received), u(c.unique), u(c.duplicates), u(c.unknown_call_id),
                u(c.bad_ip_checksum), u(c.bad_udp_checksum), u(c.no_udp_checksum),
                u(c.bad_addressing), u(c.bad_sip), u(c.bad_via), u(c.bad_max_forwards),
                u(c.other_frames), u(c.tx_ring_full));
    for (size_t i = 0; i < c.per_backend.size(); ++i) {
      std::printf("%s\"%s\": %llu", i == 0 ? "" : ", ", o_.backend_names[i].c_str(),
                  u(c.per_backend[i]));
    }
    std::printf("}}\n");
  }

 private:
  rte_mbuf* frame(uint64_t n) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) {
      return nullptr;
    }
    const std::string msg = invite(o_, pid_, n);
    if (!test::fill_udp_frame(m, o_.src_mac, o_.lb_mac, o_.src.ip_be, o_.src.port,
                              o_.target.ip_be, o_.target.port, msg)) {
      rte_pktmbuf_free(m);
      return nullptr;
    }
    // A sender's kernel fills the UDP checksum; viaduct verifies it (memif has no RX offload).
    auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(iph + 1);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(iph, udp);
    return m;
  }

  void check(rte_mbuf* m) {
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const size_t hdrs = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
    if (m->nb_segs != 1 || m->data_len < hdrs ||
        eth->ether_type != htons(RTE_ETHER_TYPE_IPV4)) {
      ++c_.other_frames;
      return;
    }
    const auto* iph = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
    size_t b = 0;
    while (b < o_.backends.size() && o_.backends[b].first != iph->dst_addr) {
      ++b;
    }
    if (b == o_.backends.size() || iph->version_ihl != RTE_IPV4_VHL_DEF ||
        iph->next_proto_id != IPPROTO_UDP) {
      ++c_.other_frames;
      return;
    }
    ++c_.received;
    ++c_.per_backend[b];
    rte_ipv4_hdr h = *iph;
    h.hdr_checksum = 0;
    if (rte_ipv4_cksum(&h) != iph->hdr_checksum) {
      ++c_.bad_ip_checksum;
    }
    const auto* udp = reinterpret_cast<const rte_udp_hdr*>(iph + 1);
    const size_t ip_len = ntohs(iph->total_length);
    const size_t udp_len = ntohs(udp->dgram_len);
    if (ip_len + sizeof(rte_ether_hdr) > m->data_len || udp_len + 20 != ip_len) {
      ++c_.bad_addressing;
      return;
    }
    if (udp->dgram_cksum == 0) {
      ++c_.no_udp_checksum;
    } else if (rte_ipv4_udptcp_cksum_verify(iph, udp) != 0) {
      ++c_.bad_udp_checksum;
    }
    if (iph->src_addr != o_.target.ip_be || udp->src_port != htons(o_.target.port) ||
        udp->dst_port != htons(5060) ||
        std::memcmp(eth->dst_addr.addr_bytes, o_.backends[b].second.b, 6) != 0 ||
        std::memcmp(eth->src_addr.addr_bytes, o_.lb_mac.b, 6) != 0) {
      ++c_.bad_addressing;
    }
    const char* msg = reinterpret_cast<const char*>(udp + 1);
    const size_t len = udp_len - sizeof(rte_udp_hdr);
    sip::SipView v;
    if (sip::scan(msg, len, v) != sip::ScanStatus::kOk || !v.is_request ||
        v.method != sip::Method::kInvite) {
      ++c_.bad_sip;
      return;
    }
    if (v.via_count != 2 || v.via1.host.in(msg) != o_.target.ip ||
        v.via1.branch.in(msg).substr(0, 7) != "z9hG4bK" || v.via2.host.in(msg) != o_.src.ip) {
      ++c_.bad_via;
    }
    if (!v.has_max_forwards || v.max_forwards != 69) {
      ++c_.bad_max_forwards;
    }
    // Call-ID "N-PID@IP".
    const std::string_view cid = v.call_id.in(msg);
    const std::string suffix = "-" + pid_ + "@" + o_.src.ip;
    uint64_t n = 0;
    size_t i = 0;
    while (i < cid.size() && cid[i] >= '0' && cid[i] <= '9') {
      n = n * 10 + static_cast<uint64_t>(cid[i] - '0');
      ++i;
    }
    if (i == 0 || cid.substr(i) != suffix || n >= o_.count) {
      ++c_.unknown_call_id;
      return;
    }
    if (seen_[n]) {
      ++c_.duplicates;
      return;
    }
    seen_[n] = true;
    ++c_.unique;
    if (!o_.record.empty()) {
      record_.push_back(std::string(cid) + " " + o_.backend_names[b]);
    }
  }

  const Options& o_;
  uint16_t port_;
  rte_mempool* pool_;
  std::string pid_;
  std::vector<bool> seen_;
  std::vector<std::string> record_;
  Counters c_;
  double send_seconds_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"viaduct-memif-peer: INVITEs to viaduct over a DPDK memif link, counted back"};
  Options o;
  std::string src = "10.77.0.10:5060";
  std::string target = "10.77.0.2:5060";
  std::string lb_mac = mac_str(o.lb_mac);
  std::string src_mac = mac_str(o.src_mac);
  std::vector<std::string> backends;
  bool print_invite = false;
  app.add_option("--socket", o.socket, "memif control socket (viaduct's, or ours with --role server)");
  app.add_option("--src", src, "the generator's IP:PORT (frames' source, our Via)");
  app.add_option("--target", target, "the load balancer's listen IP:PORT");
  app.add_option("--lb-mac", lb_mac, "viaduct's port MAC (its vdev's mac=)");
  app.add_option("--src-mac", src_mac, "our MAC (this memif's mac=)");
  app.add_option("--backend", backends, "IP=MAC of a backend (neighbours.static), repeatable");
  app.add_option("--count", o.count, "INVITEs to send");
  app.add_option("--rate", o.rate, "INVITEs per second; 0 = as fast as the ring takes them");
  app.add_option("--size", o.size, "INVITE size in bytes (SDP padded), as viaduct-gen's");
  app.add_option("--duration", o.duration, "time limit in seconds, whatever happens");
  app.add_option("--linger", o.linger, "seconds to wait for frames after the last INVITE");
  app.add_option("--record", o.record, "write 'Call-ID backend-IP' per forwarded INVITE");
  app.add_option("--lcore", o.lcore, "the EAL lcore (CPU) to run on");
  app.add_option("--role", o.role, "this end's memif role: client (viaduct serves the socket) "
                 "or server (this process creates it; viaduct is the client, zero-copy)")
      ->check(CLI::IsMember({"client", "server"}));
  app.add_option("--go", o.go, "send only once this file exists (after the link is up)");
  app.add_option("--hold", o.hold,
                 "after printing the counters, keep the link up until this file exists (at most "
                 "--duration seconds): the other end stops first");
  app.add_option("--link-timeout", o.link_timeout, "seconds to wait for the memif link");
  app.add_flag("--json", o.json, "print one JSON object");
  app.add_flag("--print-invite", print_invite, "print INVITE 0 and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  if (!parse_endpoint(src, o.src) || !parse_endpoint(target, o.target) ||
      !parse_mac(lb_mac, o.lb_mac) || !parse_mac(src_mac, o.src_mac)) {
    std::fprintf(stderr, "viaduct-memif-peer: bad --src, --target or MAC\n");
    return 2;
  }
  if (print_invite) {
    std::fputs(invite(o, std::to_string(getpid()), 0).c_str(), stdout);
    return 0;
  }
  for (const std::string& b : backends) {
    const size_t eq = b.find('=');
    uint32_t ip = 0;
    MacAddr mac;
    if (eq == std::string::npos || inet_pton(AF_INET, b.substr(0, eq).c_str(), &ip) != 1 ||
        !parse_mac(b.substr(eq + 1), mac)) {
      std::fprintf(stderr, "viaduct-memif-peer: --backend takes IP=MAC, not '%s'\n", b.c_str());
      return 2;
    }
    o.backends.emplace_back(ip, mac);
    o.backend_names.push_back(b.substr(0, eq));
  }
  if (o.socket.empty() || o.backends.empty()) {
    std::fprintf(stderr, "viaduct-memif-peer: --socket and at least one --backend needed\n");
    return 2;
  }
  const std::string prefix = "--file-prefix=vd-memif-peer-" + std::to_string(getpid());
  // Rings of 4096 slots (rsize=12, the client's choice): 40 ms of traffic at 100 K/s, so a
  // descheduled peer or worker on a busy machine loses nothing.
  const std::string vdev = "--vdev=net_memif_peer0,role=" + o.role + ",socket=" + o.socket +
                           ",socket-abstract=no,rsize=12,mac=" + mac_str(o.src_mac);
  const std::string lcores = std::to_string(o.lcore);
  std::vector<const char*> eal = {"viaduct-memif-peer", "--no-huge", "-m", "256", "--no-pci",
                                  "--no-shconf", prefix.c_str(), "--log-level=lib.eal:error",
                                  vdev.c_str(), "-l", lcores.c_str()};
  if (rte_eal_init(static_cast<int>(eal.size()), const_cast<char**>(eal.data())) < 0) {
    std::fprintf(stderr, "viaduct-memif-peer: EAL init failed\n");
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  int rc = 1;
  uint16_t port = 0;
  rte_mempool* pool = rte_pktmbuf_pool_create("peer", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              static_cast<int>(rte_socket_id()));
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof conf);
  if (pool == nullptr || rte_eth_dev_get_port_by_name("net_memif_peer0", &port) != 0 ||
      rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(port, 0, 1024, static_cast<unsigned>(rte_socket_id()), nullptr,
                             pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, 1024, static_cast<unsigned>(rte_socket_id()), nullptr) !=
          0 ||
      rte_eth_dev_start(port) != 0) {
    std::fprintf(stderr, "viaduct-memif-peer: cannot set up the memif port\n");
  } else {
    // The link is up once viaduct (the server) has accepted us and both sides mapped the rings.
    rte_eth_link link;
    std::memset(&link, 0, sizeof link);
    const auto until = Clock::now() + std::chrono::duration<double>(o.link_timeout);
    while (g_stop == 0 && Clock::now() < until) {
      if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) {
        break;
      }
      rte_delay_ms(10);
    }
    if (link.link_status != RTE_ETH_LINK_UP) {
      std::fprintf(stderr, "viaduct-memif-peer: memif link to %s not up in %.1f s\n",
                   o.socket.c_str(), o.link_timeout);
    } else {
      {
        Peer peer(o, port, pool);
        rc = peer.run();
        peer.print();
      }
      std::fflush(stdout);
      // With DPDK 22.11's memif driver, viaduct (client or server) can crash when this end
      // leaves under its polling worker: with --hold the caller stops viaduct first.
      const auto until = Clock::now() + std::chrono::duration<double>(o.duration);
      while (!o.hold.empty() && g_stop == 0 && access(o.hold.c_str(), F_OK) != 0 &&
             Clock::now() < until) {
        const timespec ts{0, 10000000};
        nanosleep(&ts, nullptr);
      }
    }
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  std::fflush(stdout);
  rte_eal_cleanup();
  return rc;
}
