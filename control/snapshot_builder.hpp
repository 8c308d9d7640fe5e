// SPDX-License-Identifier: Apache-2.0
// control/snapshot_builder.hpp: script + settings + dispatcher list + learned neighbours ->
// one immutable dp::Snapshot. Control thread / tools only; allocates.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cfg/dslist.hpp"
#include "cfg/program.hpp"
#include "cfg/result.hpp"
#include "cfg/settings.hpp"
#include "control/publisher.hpp"

namespace viaduct::ctl {

// Stable destination ids (> 0) by set + URI, so per-destination counters survive a reload.
class DestinationIds {
 public:
  uint32_t id_for(int set, const std::string& uri);

 private:
  std::map<std::string, uint32_t> ids_;
  uint32_t next_ = 1;
};

struct BuildInputs {
  std::shared_ptr<const cfg::Program> program;
  std::vector<dp::Iface> ifaces;                // port ids and MACs of the started ports
  std::vector<cfg::DsDestination> destinations; // as read from dispatcher.list
  std::map<uint32_t, dp::MacAddr> neighbours;   // learned next hops, by IPv4 (network order)
  std::map<dp::Ip6, dp::MacAddr> neighbours6;   // learned IPv6 next hops (Neighbor Discovery)
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
