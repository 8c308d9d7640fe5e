// SPDX-License-Identifier: Apache-2.0
#include "control/snapshot_builder.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "dataplane/pipeline.hpp"

namespace viaduct::ctl {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// An IPv4 literal, or a host name resolved now (start-up and reload only, as Kamailio does).
bool resolve_ipv4(const std::string& host, uint32_t& ip_be) {
  if (dp::parse_ipv4(host, ip_be)) {
    return true;
  }
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

}  // namespace

uint32_t DestinationIds::id_for(int set, const std::string& uri) {
  const std::string key = std::to_string(set) + " " + uri;
  auto it = ids_.find(key);
  if (it != ids_.end()) {
    return it->second;
  }
  const uint32_t id = next_++;
  ids_.emplace(key, id);
  return id;
}

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

Result<std::unique_ptr<OwnedSnapshot>> build_snapshot(const BuildInputs& in, DestinationIds& ids) {
  auto out = std::make_unique<OwnedSnapshot>();
  out->program = in.program;
  dp::Snapshot& s = out->snap;
  s.program = in.program.get();
  s.ifaces = in.ifaces;
  const cfg::Program& prog = *in.program;

  for (const cfg::ListenSocket& l : prog.listens) {
    if (l.proto != cfg::Proto::kUdp) {
      continue;  // TCP/TLS listeners belong to the slow path
    }
    uint32_t ip_be = 0;
    if (!dp::parse_ipv4(l.addr, ip_be)) {
      return Error{Error::Code::kInvalidConfig,
                   "listen address '" + l.addr +
                       "' must be an IPv4 literal on the fast path (IPv6 and names come later)",
                   ""};
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
  for (const cfg::ModParam& mp : prog.modparams) {
    if (mp.module == "maxfwd" && mp.name == "max_limit") {
      const long v = std::strtol(mp.value.c_str(), nullptr, 10);
      if (v < 1 || v > 256) {
        return Error{Error::Code::kInvalidConfig,
                     "modparam maxfwd max_limit must be 1..256, not " + mp.value, ""};
      }
      s.maxfwd_limit = static_cast<uint32_t>(v);
    }
    // Parameters that would change which destination is chosen must not be silently ignored.
    if (mp.module == "dispatcher" &&
        ((mp.name == "use_default" || mp.name == "flags") && mp.value != "0")) {
      return Error{Error::Code::kInvalidConfig,
                   "modparam dispatcher " + mp.name + "=" + mp.value +
                       " is not supported yet (only 0)",
                   ""};
    }
  }
  for (const cfg::Alias& a : prog.aliases) {
    s.myself.push_back({lower(a.host), a.port});
  }

  // Dispatcher sets, grouped, in Kamailio's index order.
  std::map<int, std::vector<cfg::DsDestination>> sets;
  for (const cfg::DsDestination& d : in.destinations) {
    sets[d.set].push_back(d);
  }
  for (auto& [id, entries] : sets) {
    kamailio_order(entries);
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
      if (!resolve_ipv4(e.host, d.ip_be)) {
        return Error{Error::Code::kInvalidConfig,
                     "destination " + e.uri + ": cannot resolve host '" + e.host + "' to IPv4",
                     ""};
      }
      d.id = ids.id_for(e.set, e.uri);
      if (d.id >= dp::kMaxDestinations) {
        return Error{Error::Code::kExhausted,
                     "more than " + std::to_string(dp::kMaxDestinations - 1) +
                         " distinct destinations",
                     ""};
      }
      d.set = e.set;
      d.port_be = htons(e.port);
      d.flags = e.flags;
      d.uri = e.uri;
      s.destinations.push_back(std::move(d));
    }
    ds.count = static_cast<uint32_t>(s.destinations.size()) - ds.first;
    s.sets.push_back(ds);
  }

  s.neigh = dp::NeighTable(in.neighbours.size());
  for (const auto& [ip, mac] : in.neighbours) {
    s.neigh.insert(ip, mac);
  }
  return out;
}

}  // namespace viaduct::ctl
