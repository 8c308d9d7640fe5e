// SPDX-License-Identifier: Apache-2.0
#include "control/snapshot_builder.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

#include "cfg/dspvar.hpp"
#include "cfg/net.hpp"
#include "control/ds_tables.hpp"
#include "dataplane/pipeline.hpp"

namespace viaduct::ctl {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// A host name resolved to IPv4 now (getaddrinfo): resolve_hosts() only.
bool lookup_ipv4(const std::string& host, uint32_t& ip_be) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  ip_be = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(res);
  return true;
}

// An IPv4 literal, else a host name resolved when the list was loaded (`hosts`): a snapshot
// build never asks DNS.
bool resolve_ipv4(const std::string& host, const HostAddrs* hosts, uint32_t& ip_be) {
  if (dp::parse_ipv4(host, ip_be)) {
    return true;
  }
  if (hosts == nullptr) {
    return false;
  }
  const auto it = hosts->find(host);
  if (it == hosts->end()) {
    return false;
  }
  ip_be = it->second;
  return true;
}

// An IPv6 literal (brackets allowed), or a host name resolved to IPv6 now.
bool resolve_ipv6(const std::string& host, dp::Ip6& ip) {
  if (dp::parse_ipv6(host, ip)) {
    return true;
  }
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  std::memcpy(ip.b, reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr.s6_addr, 16);
  freeaddrinfo(res);
  return true;
}

// Dispatcher sets, grouped, each in Kamailio's index order.
std::map<int, std::vector<cfg::DsDestination>> group_sets(
    const std::vector<cfg::DsDestination>& destinations) {
  std::map<int, std::vector<cfg::DsDestination>> sets;
  for (const cfg::DsDestination& d : destinations) {
    sets[d.set].push_back(d);
  }
  for (auto& [id, entries] : sets) {
    kamailio_order(entries);
  }
  return sets;
}

// What the selection algorithms read of a destination.
void selection_fields(const cfg::DsDestination& e, dp::Destination& d) {
  d.set = e.set;
  d.port_be = htons(e.port);
  d.flags = e.flags;
  d.uri = e.uri;
  d.attrs = e.attrs;  // $xavp(_dsdst_=>attrs)
  d.priority = e.priority;
  d.weight = e.weight;
  d.rweight = e.rweight;
  d.latency_priority = latency_priority(e.priority, e.latency, e.congestion_control);
}

// socket=[udp:]IP[:PORT] (Kamailio's form, as force_send_socket): the index of that listener,
// -1 when it is none of ours.
int16_t listener_of(const std::vector<dp::Listener>& listeners, const std::string& socket) {
  cfg::SocketSpec spec;
  std::string why;
  uint32_t ip_be = 0;
  dp::Ip6 sock6;
  bool v6 = false;
  if (!cfg::parse_socket_spec(socket, spec, why) ||
      (spec.has_proto && spec.proto != cfg::Proto::kUdp) ||
      !(dp::parse_ipv4(spec.host, ip_be) || (v6 = dp::parse_ipv6(spec.host, sock6)))) {
    return -1;
  }
  const uint16_t port = spec.port != 0 ? spec.port : 5060;
  for (size_t i = 0; i < listeners.size(); ++i) {
    const dp::Listener& li = listeners[i];
    if (li.v6 == v6 && (v6 ? li.ip6 == sock6 : li.ip_be == ip_be) && ntohs(li.port_be) == port) {
      return static_cast<int16_t>(i);
    }
  }
  return -1;
}

}  // namespace

void DestinationIds::keep_only(const std::vector<cfg::DsDestination>& next,
                               const dp::Snapshot* live) {
  std::vector<std::pair<int, std::string_view>> keep;
  keep.reserve(next.size() + (live != nullptr ? live->destinations.size() : 0));
  for (const cfg::DsDestination& d : next) {
    keep.emplace_back(d.set, d.uri);
  }
  if (live != nullptr) {
    for (const dp::Destination& d : live->destinations) {
      keep.emplace_back(d.set, d.uri);
    }
  }
  std::sort(keep.begin(), keep.end(), KeyLess{});
  for (auto it = ids_.begin(); it != ids_.end();) {
    if (std::binary_search(keep.begin(), keep.end(), it->first, KeyLess{})) {
      ++it;
      continue;
    }
    used_[it->second] = false;
    it = ids_.erase(it);
  }
}

uint32_t DestinationIds::id_for(int set, const std::string& uri) {
  if (const auto it = ids_.find(std::pair<int, std::string_view>(set, uri)); it != ids_.end()) {
    return it->second;
  }
  if (used_.empty()) {
    used_.assign(dp::kMaxDestinations, false);
    used_[0] = true;  // 0: no destination
  }
  // Next fit: the free id after the last one given, so a freed id waits for every other free
  // one to be given first. What may still carry it (a worker's event, the destination a
  // CANCEL/ACK follows, remembered up to 3 minutes) is then most likely gone: only a list
  // churning about a thousand new destinations in that time brings an id back sooner.
  for (size_t n = 0; n < used_.size(); ++n) {
    cursor_ = cursor_ + 1 < used_.size() ? cursor_ + 1 : 1;
    if (!used_[cursor_]) {
      used_[cursor_] = true;
      ids_.emplace(std::make_pair(set, uri), cursor_);
      fresh_.push_back(cursor_);
      return cursor_;
    }
  }
  return 0;
}

std::vector<uint32_t> DestinationIds::take_fresh() { return std::exchange(fresh_, {}); }

std::vector<dp::Iface> ifaces_from_settings(const cfg::Settings& s) {
  std::vector<dp::Iface> out;
  std::vector<std::string> ports;  // distinct port names: interfaces on one port share its id
  for (const cfg::InterfaceSettings& i : s.interfaces) {
    dp::Iface f;
    const auto at = std::find(ports.begin(), ports.end(), i.port);
    f.port_id = static_cast<uint16_t>(at - ports.begin());
    if (at == ports.end()) {
      ports.push_back(i.port);
    }
    f.vlan = i.vlan;
    f.ip_be = i.ip_be;
    f.mask_be = i.prefix_len == 0 ? 0 : htonl(~uint32_t{0} << (32 - i.prefix_len));
    f.gateway_be = i.gateway_be;
    f.mtu = i.mtu;
    f.rx_cksum_verify = i.verify_udp_checksum;
    if (!i.address6.empty()) {
      f.has_ip6 = true;
      std::memcpy(f.ip6.b, i.ip6, 16);
      f.prefix6 = i.prefix6_len;
      if (!i.gateway6.empty()) {
        f.has_gateway6 = true;
        std::memcpy(f.gateway6.b, i.gateway6_ip, 16);
      }
    }
    out.push_back(f);
  }
  return out;
}

void kamailio_order(std::vector<cfg::DsDestination>& e) {
  std::reverse(e.begin(), e.end());
  std::stable_sort(e.begin(), e.end(), [](const cfg::DsDestination& a,
                                          const cfg::DsDestination& b) {
    return a.priority > b.priority;
  });
}

bool resolve_hosts(const std::vector<cfg::DsDestination>& destinations, const std::string& file,
                   HostAddrs& out, cfg::Diagnostics& diags, HostLookup lookup) {
  if (lookup == nullptr) {
    lookup = lookup_ipv4;
  }
  bool ok = true;
  std::set<std::string> failed;  // each name asked once; each of its lines reported
  for (const cfg::DsDestination& e : destinations) {
    uint32_t ip_be = 0;
    // Other transports are refused by build_snapshot(); IPv6 hosts are literals.
    if (e.proto != cfg::Proto::kUdp || cfg::is_ipv6(e.host) || dp::parse_ipv4(e.host, ip_be) ||
        out.count(e.host) != 0) {
      continue;
    }
    if (failed.count(e.host) != 0 || !lookup(e.host, ip_be)) {
      failed.insert(e.host);
      diags.push_back({cfg::Diagnostic::Severity::kError, file, e.line, 1,
                       "destination " + e.uri + ": cannot resolve host '" + e.host + "' to IPv4"});
      ok = false;
      continue;
    }
    out.emplace(e.host, ip_be);
  }
  return ok;
}

Result<std::unique_ptr<OwnedSnapshot>> build_snapshot(const BuildInputs& in, DestinationIds& ids) {
  auto out = std::make_unique<OwnedSnapshot>();
  out->program = in.program;
  dp::Snapshot& s = out->snap;
  s.program = in.program.get();
  s.ifaces = in.ifaces;
  for (dp::Iface& f : s.ifaces) {
    if (f.has_ip6) {
      f.ll6 = dp::link_local_of(f.mac);  // EUI-64 of the port's MAC
    }
  }
  const cfg::Program& prog = *in.program;

  for (const cfg::ListenSocket& l : prog.listens) {
    if (l.proto != cfg::Proto::kUdp) {
      continue;  // TCP/TLS listeners belong to the slow path
    }
    uint32_t ip_be = 0;
    dp::Ip6 ip6;
    if (!dp::parse_ipv4(l.addr, ip_be)) {
      if (!dp::parse_ipv6(l.addr, ip6)) {
        return Error{Error::Code::kInvalidConfig,
                     "listen address '" + l.addr +
                         "' must be an IPv4 or IPv6 literal on the fast path (names come later)",
                     ""};
      }
      // An IPv6 socket: on the iface with that address6. Our Via and Record-Route carry it
      // bracketed, as Kamailio writes them.
      bool found6 = false;
      for (size_t i = 0; i < s.ifaces.size(); ++i) {
        if (s.ifaces[i].has_ip6 && s.ifaces[i].ip6 == ip6) {
          dp::Listener dl;
          dl.v6 = true;
          dl.ip6 = ip6;
          dl.port_be = htons(l.port);
          dl.iface = static_cast<uint16_t>(i);
          char text[48];
          const std::string canon(text, dp::format_ipv6(ip6, text));
          dl.via_host = l.advertise_addr.empty()
                            ? "[" + canon + "]"
                            : (cfg::is_ipv6(l.advertise_addr) ? "[" + l.advertise_addr + "]"
                                                              : l.advertise_addr);
          dl.via_port = l.advertise_port != 0 ? l.advertise_port : l.port;
          s.listeners.push_back(dl);
          found6 = true;
        }
      }
      if (!found6) {
        return Error{Error::Code::kInvalidConfig,
                     "listen address " + l.addr +
                         " is not the address6 of any [[interface]] in the settings",
                     ""};
      }
      char text[48];
      s.myself.push_back({"[" + std::string(text, dp::format_ipv6(ip6, text)) + "]", l.port});
      if (!l.advertise_addr.empty()) {
        s.myself.push_back({lower(cfg::is_ipv6(l.advertise_addr) ? "[" + l.advertise_addr + "]"
                                                                   : l.advertise_addr),
                            l.advertise_port != 0 ? l.advertise_port : l.port});
      }
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < s.ifaces.size(); ++i) {
      if (s.ifaces[i].ip_be == ip_be) {
        dp::Listener dl;
        dl.ip_be = ip_be;
        dl.port_be = htons(l.port);
        dl.iface = static_cast<uint16_t>(i);
        dl.via_host = l.advertise_addr.empty() ? l.addr : l.advertise_addr;
        dl.via_port = l.advertise_port != 0 ? l.advertise_port : l.port;
        s.listeners.push_back(dl);
        found = true;
      }
    }
    if (!found) {
      return Error{Error::Code::kInvalidConfig,
                   "listen address " + l.addr +
                       " is not the address of any [[interface]] in the settings",
                   ""};
    }
    s.myself.push_back({lower(l.addr), l.port});
    if (!l.advertise_addr.empty()) {
      s.myself.push_back({lower(l.advertise_addr), l.advertise_port != 0 ? l.advertise_port : l.port});
    }
  }
  if (s.listeners.empty()) {
    return Error{Error::Code::kInvalidConfig,
                 "the script has no udp listen= socket; viaduct needs at least one", ""};
  }
  s.ttl = static_cast<uint8_t>(prog.udp4_raw_ttl > 0 ? prog.udp4_raw_ttl : 64);
  s.server_default = prog.server_signature && prog.server_header.empty();
  if (prog.server_signature && !s.server_default) {
    s.server_line = prog.server_header + "\r\n";
  }
  s.tos = static_cast<uint8_t>(prog.tos);
  s.raw_mtu = static_cast<uint16_t>(prog.udp4_raw_mtu);
  bool attrs_none = false;
  std::string default_socket;
  for (const cfg::ModParam& mp : prog.modparams) {
    if (mp.module == "maxfwd" && mp.name == "max_limit") {
      const long v = std::strtol(mp.value.c_str(), nullptr, 10);
      if (v < 1 || v > 256) {
        return Error{Error::Code::kInvalidConfig,
                     "modparam maxfwd max_limit must be 1..256, not " + mp.value, ""};
      }
      s.maxfwd_limit = static_cast<uint32_t>(v);
    }
    // use_default: each set's last entry is its default (Kamailio: any value but 0).
    if (mp.module == "dispatcher" && mp.name == "use_default") {
      s.dispatcher.use_default = std::strtol(mp.value.c_str(), nullptr, 10) != 0;
    }
    if (mp.module == "dispatcher" && mp.name == "flags") {
      // Bit 1 (DS_HASH_USER_ONLY) changes the URI hash keys; bit 2 (DS_FAILOVER_ON) needs the
      // failover list ds_next_dst() walks, which the fast path does not keep yet.
      const long v = std::strtol(mp.value.c_str(), nullptr, 10);
      if ((v & ~3L) != 0) {
        return Error{Error::Code::kInvalidConfig,
                     "modparam dispatcher flags=" + mp.value +
                         " is not supported (1: hash the URI user only; 2: failover list)",
                     ""};
      }
      s.dispatcher.hash_user_only = (v & 1) != 0;
      s.dispatcher.failover = (v & 2) != 0;
    }
    if (mp.module == "dispatcher" && mp.name == "xavp_dst_mode") {
      s.dispatcher.xavp_dst_attrs = (std::strtol(mp.value.c_str(), nullptr, 10) & 1) == 0;
    }
    if (mp.module == "dispatcher" && mp.name == "xavp_ctx_mode") {
      s.dispatcher.xavp_ctx_cnt = (std::strtol(mp.value.c_str(), nullptr, 10) & 1) == 0;
    }
    if (mp.module == "dispatcher" && mp.name == "ds_attrs_none") {
      attrs_none = std::strtol(mp.value.c_str(), nullptr, 10) != 0;
    }
    if (mp.module == "dispatcher" && mp.name == "ds_default_socket") {
      default_socket = mp.value;
    }
    if (mp.module == "dispatcher" && mp.name == "ds_hash_mode") {
      s.dispatcher.mode =
          mp.value == "kamailio" ? dp::DsHashMode::kKamailio : dp::DsHashMode::kMaglev;
    }
    if (mp.module == "dispatcher" && mp.name == "hash_pvar") {
      std::string why;
      size_t off = 0;
      if (!cfg::parse_ds_hash_pvar(mp.value, s.dispatcher.hash_pvar, why, off)) {
        return Error{Error::Code::kInvalidConfig, "modparam dispatcher hash_pvar: " + why, ""};
      }
    }
  }
  for (const cfg::Alias& a : prog.aliases) {
    s.myself.push_back({lower(a.host), a.port});
  }
  // The Via hosts and ports set_advertised_address() / set_advertised_port() can write (their
  // arguments are constants): replies come back with them on top (handle_reply).
  for (const cfg::FnCall& c : prog.calls) {
    if (c.fn == cfg::Fn::kSetAdvAddress && c.nargs == 1) {
      const std::string& h = prog.strings[c.args[0].idx];
      if (std::find(s.adv_hosts.begin(), s.adv_hosts.end(), h) == s.adv_hosts.end()) {
        s.adv_hosts.push_back(h);
      }
    } else if (c.fn == cfg::Fn::kSetAdvPort && c.nargs == 1) {
      const auto port = static_cast<uint16_t>(c.args[0].i);
      if (std::find(s.adv_ports.begin(), s.adv_ports.end(), port) == s.adv_ports.end()) {
        s.adv_ports.push_back(port);
      }
    }
  }

  ids.keep_only(in.destinations, in.previous);
  for (auto& [id, entries] : group_sets(in.destinations)) {
    dp::DestSet ds;
    ds.id = id;
    ds.first = static_cast<uint32_t>(s.destinations.size());
    for (const cfg::DsDestination& e : entries) {
      if (e.proto != cfg::Proto::kUdp) {
        return Error{Error::Code::kInvalidConfig,
                     "destination " + e.uri +
                         ": only UDP destinations are carried by the fast path for now",
                     ""};
      }
      dp::Destination d;
      if (cfg::is_ipv6(e.host)) {
        if (!resolve_ipv6(e.host, d.ip6)) {
          return Error{Error::Code::kInvalidConfig,
                       "destination " + e.uri + ": bad IPv6 address '" + e.host + "'", ""};
        }
        d.v6 = true;
      } else if (!resolve_ipv4(e.host, in.hosts, d.ip_be)) {
        return Error{Error::Code::kInvalidConfig,
                     "destination " + e.uri + ": cannot resolve host '" + e.host + "' to IPv4",
                     ""};
      }
      d.id = ids.id_for(e.set, e.uri);
      if (d.id == 0) {
        return Error{Error::Code::kExhausted,
                     "more than " + std::to_string(dp::kMaxDestinations - 1) +
                         " destinations in this list and the running one together",
                     ""};
      }
      selection_fields(e, d);
      if (attrs_none && d.attrs.empty()) {
        d.attrs = "none=yes";  // Kamailio's ds_attrs_none
      }
      d.ping_from = e.ping_from;
      if (!e.socket.empty()) {
        d.socket = listener_of(s.listeners, e.socket);
        if (d.socket < 0) {
          return Error{Error::Code::kInvalidConfig,
                       "destination " + e.uri + ": socket=" + e.socket +
                           " is not one of the script's udp listen sockets",
                       ""};
        }
      } else if (!default_socket.empty()) {
        // ds_default_socket: the socket of every destination without a socket= of its own.
        d.socket = listener_of(s.listeners, default_socket);
        if (d.socket < 0) {
          return Error{Error::Code::kInvalidConfig,
                       "modparam dispatcher ds_default_socket " + default_socket +
                           " is not one of the script's udp listen sockets",
                       ""};
        }
      }
      s.destinations.push_back(std::move(d));
    }
    ds.count = static_cast<uint32_t>(s.destinations.size()) - ds.first;
    if (ds.count > UINT16_MAX) {
      return Error{Error::Code::kExhausted,
                   "set " + std::to_string(id) + " has more than 65535 destinations", ""};
    }
    s.sets.push_back(std::move(ds));
  }
  build_dispatch_tables(s, in.previous);

  s.neigh = dp::NeighTable(in.neighbours.size());
  for (const auto& [ip, mac] : in.neighbours) {
    s.neigh.insert(ip, mac);
  }
  s.neigh6 = dp::NeighTable6(in.neighbours6.size());
  for (const auto& [ip, mac] : in.neighbours6) {
    s.neigh6.insert(ip, mac);
  }
  return out;
}

std::unique_ptr<dp::Snapshot> dispatcher_snapshot(
    const std::vector<cfg::DsDestination>& destinations, const dp::DsConfig& dispatcher) {
  auto s = std::make_unique<dp::Snapshot>();
  s->dispatcher = dispatcher;
  DestinationIds ids;
  for (auto& [id, entries] : group_sets(destinations)) {
    dp::DestSet ds;
    ds.id = id;
    ds.first = static_cast<uint32_t>(s->destinations.size());
    for (const cfg::DsDestination& e : entries) {
      dp::Destination d;
      d.id = ids.id_for(e.set, e.uri);
      selection_fields(e, d);
      s->destinations.push_back(std::move(d));
    }
    ds.count = static_cast<uint32_t>(s->destinations.size()) - ds.first;
    s->sets.push_back(std::move(ds));
  }
  build_dispatch_tables(*s);
  return s;
}

}  // namespace viaduct::ctl
