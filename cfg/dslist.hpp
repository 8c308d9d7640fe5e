// SPDX-License-Identifier: Apache-2.0
// cfg/dslist.hpp: Kamailio's dispatcher.list file format.
//   setid(int) destination(sip uri) flags(int,opt) priority(int,opt) attributes(str,opt)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cfg/diagnostic.hpp"
#include "cfg/program.hpp"

namespace viaduct::cfg {

// Flag bits, as Kamailio's dispatch.h.
enum DsFlag : uint32_t {
  kDsInactive = 1,
  kDsTrying = 2,
  kDsDisabled = 4,
  kDsProbing = 8,
  kDsNoDnsA = 16,
  kDsNoPing = 32,
};

// Upper bound of the `weight` and `rweight` attributes. Kamailio accepts 1..100 (a percentage,
// anything else counts as 0); viaduct's exact weights take any value up to this, so a set can
// hold any number of destinations in any ratio.
inline constexpr uint32_t kDsMaxWeight = 1000000;

struct DsDestination {
  int set = 0;
  std::string uri;        // as written
  uint32_t flags = 0;
  int priority = 0;
  std::string attrs;      // as written ("duid=abc;weight=50"), empty when none; every attribute,
                          //   the ones parsed below included (Kamailio's $xavp(_dsdst_=>attrs))
  // Special attributes (Kamailio's ds_set_attrs(), names case-insensitive):
  uint32_t weight = 0;    // weight=N: algorithms 9 and 15; 0 when absent
  uint32_t rweight = 0;   // rweight=N: algorithm 11; 0 when absent
  std::string duid;       // duid=ID: unique id (call load, algorithm 10)
  int latency = 0;        // latency=MS: initial latency estimate (algorithm 13)
  bool congestion_control = false;  // cc=1
  std::string socket;     // socket=udp:IP:PORT: the listen socket to send from (one of ours)
  std::string ping_from;  // ping_from=URI: the From of this destination's probes
  // From the URI:
  std::string host;       // IPv6 without brackets
  uint16_t port = 5060;   // 5060 (5061 for sips) when absent
  Proto proto = Proto::kUdp;  // ;transport= param, UDP by default
  uint32_t line = 0;      // line in the list file
};

// Parses a dispatcher.list. Entries keep file order. Appends diagnostics (file:line:col) for
// malformed lines; returns false when there was any error. Control thread / tools only.
bool load_dispatcher_list(const std::string& path, std::vector<DsDestination>& out,
                          Diagnostics& diags);
bool parse_dispatcher_list(const std::string& text, const std::string& name,
                           std::vector<DsDestination>& out, Diagnostics& diags);

}  // namespace viaduct::cfg
