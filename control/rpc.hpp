// SPDX-License-Identifier: Apache-2.0
// control/rpc.hpp: the management API's JSON-RPC 2.0 layer. Kamailio's command names and result
// shapes (dispatcher.*, dst_blocklist.*, core.*, cfg.reload, stats.get_statistics), so kamcli and
// scripts written against Kamailio's jsonrpcs work unchanged. No DPDK and no sockets: a request
// text in, a reply text out, against the ManagedDaemon interface (the daemon, or a fake in tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/dslist.hpp"
#include "cfg/result.hpp"

namespace viaduct::cfg {
struct ShvTable;  // cfg/program.hpp
}

namespace viaduct::ctl {

// One dispatcher destination as the API shows it.
struct RpcDestination {
  int set = 0;
  std::string uri;
  uint32_t flags = 0;  // cfg::DsFlag bits, the state set through the API included
  int priority = 0;
  std::string attrs;   // as written in the list ("duid=abc;weight=50"), "" when none
  // ds_ping_latency_stats: the probes' round trips in ms and the probes that timed out
  // (Kamailio's LATENCY object: AVG, STD, EST, MAX, TIMEOUT); shown when `latency` is set (the
  // modparam is on), zeros before the first sample, as Kamailio's.
  bool latency = false;
  uint64_t latency_samples = 0;
  uint64_t latency_timeouts = 0;
  double latency_avg = 0;
  double latency_std = 0;
  double latency_est = 0;
  double latency_max = 0;
};

// One counter of stats.get_statistics, shown as "group:name = value".
struct RpcStat {
  std::string group;
  std::string name;
  uint64_t value = 0;
};

// One destination blocklist entry (dst_blocklist.view).
struct RpcBlocklistEntry {
  std::string proto = "udp";
  std::string ip;
  uint16_t port = 0;
  int64_t expires_s = 0;  // seconds left
  uint32_t flags = 0;     // Kamailio's BLST_* reason bits (8: ICMP, 16: timeout)
};

enum class ReloadScope : uint8_t {
  kDispatcherList,  // dispatcher.reload: re-read the list, keep the compiled script
  kAll,             // cfg.reload and SIGHUP: recompile the script, re-read the list
};

// The state bits dispatcher.set_state replaces (Kamailio's DS_STATES_ALL).
inline constexpr uint32_t kDsStateBits =
    cfg::kDsInactive | cfg::kDsTrying | cfg::kDsDisabled | cfg::kDsProbing;

// What the API may see and do. The daemon implements it; every call is made on the control
// thread, so an implementation needs no lock of its own.
class ManagedDaemon {
 public:
  virtual ~ManagedDaemon() = default;

  // Every destination: sets by ascending id, each set in Kamailio's index order.
  virtual std::vector<RpcDestination> destinations() const = 0;

  // Reloads and publishes a new snapshot. On failure nothing changes and the error message holds
  // the diagnostics (file:line:col: ...), one per line.
  virtual Status reload(ReloadScope scope) = 0;

  // Replaces the state bits (kDsStateBits) of destination `uri` of `set` (URIs compare without
  // regard to case), or of every destination of the set when `uri` is "all", and publishes a new
  // snapshot. The state outlives reloads. Returns how many destinations matched (0: nothing
  // changed), or why the new snapshot could not be published (nothing changed either).
  virtual Result<size_t> set_state(int set, std::string_view uri, uint32_t state) = 0;

  virtual bool ping_active() const = 0;
  virtual void set_ping_active(bool on) = 0;

  // The destination blocklist (use_dst_blocklist), and clearing it (dst_blocklist.delete_all,
  // which publishes a snapshot without blocked destinations).
  virtual std::vector<RpcBlocklistEntry> blocklist() const { return {}; }
  virtual void clear_blocklist() {}

  virtual std::vector<RpcStat> statistics() const = 0;
  virtual std::chrono::system_clock::time_point started() const = 0;

  // The running script's $shv table (pv.shvGet / pv.shvSet), null when it has none. Written
  // here on the control thread; workers read it lock-free (cfg/program.hpp ShvTable).
  virtual cfg::ShvTable* shv() { return nullptr; }
};

struct RpcReply {
  int http_status = 200;  // Kamailio answers HTTP with the error code (500, 400) on errors
  std::string body;       // the JSON-RPC response
};

// Parses and runs one JSON-RPC request (or a batch) against the daemon. Control thread.
class RpcHandler {
 public:
  explicit RpcHandler(ManagedDaemon& daemon) : daemon_(daemon) {}

  RpcReply handle(std::string_view request);

  // The most requests one batch may hold; a larger one is refused whole (-32600). Every reply
  // of a batch is held until the last is made: with no bound, 1 MiB of dispatcher.list
  // requests would have the control thread build 37,000 copies of the list.
  static constexpr size_t kMaxBatch = 100;

  // The method names handle() knows, sorted (system.listMethods).
  static std::vector<std::string> methods();

 private:
  ManagedDaemon& daemon_;
};

// Kamailio's two-letter state of a destination: A(ctive)/I(nactive)/D(isabled)/T(rying), then
// P(robing) or X. Inactive wins over disabled, disabled over trying (dispatcher.list's FLAGS).
std::string ds_state_letters(uint32_t flags);

// dispatcher.set_state's state, as Kamailio 5.6's RPC reads it: the first character is the
// state (0/i inactive, 1/a active, 2/d disabled, 3/t trying, any case), a second "p" or "P" adds
// probing (not to disabled: "dp" is D), the rest is ignored ("inactive" is I); -1 for an
// unknown first character or an empty string.
int ds_parse_state(std::string_view s);

// The answer the server threads give when the control thread cannot take a request (shutdown,
// timeout): a JSON-RPC error without an id.
RpcReply rpc_unavailable(std::string_view why);

}  // namespace viaduct::ctl
