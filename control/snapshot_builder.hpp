// SPDX-License-Identifier: Apache-2.0
// control/snapshot_builder.hpp: script + settings + dispatcher list + learned neighbours ->
// one immutable dp::Snapshot. Control thread / tools only; allocates.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cfg/diagnostic.hpp"
#include "cfg/dslist.hpp"
#include "cfg/program.hpp"
#include "cfg/result.hpp"
#include "cfg/settings.hpp"
#include "control/publisher.hpp"

namespace viaduct::ctl {

// Destination ids (1 .. dp::kMaxDestinations - 1: the index of the workers' per-destination
// counters) by set + URI. A destination keeps its id while it stays in the list, so its
// counters survive reloads and health changes. Once it has left both the running snapshot and
// the list being built, its id is free for another: a daemon that sees thousands of
// destinations come and go over its life (backends renumbered by each deployment) never runs
// out. A recycled id's counters hold what its earlier destination counted; take_fresh() tells
// the caller which ids to take a new starting point for (the daemon's metrics subtract it).
class DestinationIds {
 public:
  // Before a build: forgets the set + URIs in neither `next` nor `live` (the snapshot workers
  // may still read; null when there is none), freeing their ids.
  void keep_only(const std::vector<cfg::DsDestination>& next, const dp::Snapshot* live);
  // The id of set + URI: its own while it is known, else the next free one after the last
  // given (wrapping); 0 when none is free (more than kMaxDestinations - 1 in the list and the
  // running snapshot together).
  uint32_t id_for(int set, const std::string& uri);
  // The ids given to a set + URI not known before, since the last call.
  std::vector<uint32_t> take_fresh();

 private:
  // Orders (set, URI) pairs whatever holds the URI (a string or a view): lookups build no key.
  struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return a.first != b.first ? a.first < b.first
                                : std::string_view(a.second) < std::string_view(b.second);
    }
  };
  std::map<std::pair<int, std::string>, uint32_t, KeyLess> ids_;
  std::vector<bool> used_;  // by id; sized on first use
  uint32_t cursor_ = 0;     // the id last given
  std::vector<uint32_t> fresh_;
};

// The IPv4 addresses of the dispatcher list's host names (IP literals need none), resolved
// once when the list is loaded: at start-up and on reload. The
// daemon builds a snapshot for every change the workers must see (a probe's verdict, a
// neighbour learned, an API state change), and must neither wait on DNS there nor see a name
// move to another address between two of them.
using HostAddrs = std::map<std::string, uint32_t>;  // host -> IPv4, network order

// Resolves every host name of the UDP destinations, each name once, with `lookup` (null:
// getaddrinfo, IPv4). A name that does not resolve is an error at each line of the list file
// that names it (`file`: the list's path).
using HostLookup = bool (*)(const std::string& host, uint32_t& ip_be);
bool resolve_hosts(const std::vector<cfg::DsDestination>& destinations, const std::string& file,
                   HostAddrs& out, cfg::Diagnostics& diags, HostLookup lookup = nullptr);

struct BuildInputs {
  std::shared_ptr<const cfg::Program> program;
  std::vector<dp::Iface> ifaces;                // port ids and MACs of the started ports
  std::vector<cfg::DsDestination> destinations; // as read from dispatcher.list
  std::map<uint32_t, dp::MacAddr> neighbours;   // learned next hops, by IPv4 (network order)
  std::map<dp::Ip6, dp::MacAddr> neighbours6;   // learned IPv6 next hops (Neighbor Discovery)
  // Host names of `destinations`, resolved when the list was loaded (resolve_hosts); a name
  // missing from it, or any name when it is null, is an error: a build never asks DNS.
  const HostAddrs* hosts = nullptr;
  // The live snapshot, if any: what does not depend on what changed is taken from it (each
  // set's Maglev table, see build_dispatch_tables()).
  const dp::Snapshot* previous = nullptr;
};

// Interfaces as the settings describe them (port ids in order, MACs zero until the ports start).
std::vector<dp::Iface> ifaces_from_settings(const cfg::Settings& s);

// Orders a set's destinations the way Kamailio indexes them: highest priority first and, among
// equal priorities, the later line of the list first. Hash algorithms index into this order,
// so keeping it gives the same choice for the same key.
void kamailio_order(std::vector<cfg::DsDestination>& set_entries);

// Builds the snapshot. Errors name what the operator must fix (a listen address that is not
// one of the interfaces, a destination host that does not resolve, a transport the fast path
// does not carry yet).
Result<std::unique_ptr<OwnedSnapshot>> build_snapshot(const BuildInputs& in, DestinationIds& ids);

// The dispatcher part of a snapshot alone (sets in Kamailio's order, destinations with what
// selection reads, the selection tables), built the way build_snapshot() builds it, for tools
// and tests: no address resolution and no transport check (ip_be stays 0).
std::unique_ptr<dp::Snapshot> dispatcher_snapshot(
    const std::vector<cfg::DsDestination>& destinations, const dp::DsConfig& dispatcher);

}  // namespace viaduct::ctl
