// SPDX-License-Identifier: Apache-2.0
// control/prober.hpp: dispatcher health probing (SIP OPTIONS keepalives, Kamailio's
// ds_ping_interval / ds_probing_mode / thresholds / reply codes) and the destination blocklist
// (use_dst_blocklist). Pure state machines over a clock the caller passes in: the daemon feeds
// them the live destinations and the events the workers post, and sends the frames they ask for
// through a worker's inject ring. No DPDK, no sockets; control thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cfg/dslist.hpp"
#include "cfg/program.hpp"
#include "dataplane/snapshot.hpp"

namespace viaduct::ctl {

using ProbeClock = std::chrono::steady_clock;
using ProbeTime = ProbeClock::time_point;

// The dispatcher's probing modparams and the core blocklist parameters of one script.
struct ProbeConfig {
  int interval_s = 0;               // ds_ping_interval; 0: no probing (Kamailio's default)
  int mode = 0;                     // ds_probing_mode 0-3
  std::string method = "OPTIONS";   // ds_ping_method
  std::string from = "sip:dispatcher@localhost";  // ds_ping_from
  int probing_threshold = 1;        // ds_probing_threshold: failures, trying -> inactive
  int inactive_threshold = 1;       // ds_inactive_threshold: successes, inactive -> active
  std::vector<int> reply_classes;   // ds_ping_reply_codes "class=N" (any 2xx always counts)
  std::vector<int> reply_codes;     // ds_ping_reply_codes "code=N"
  bool latency_stats = false;       // ds_ping_latency_stats: probe RTTs feed algorithm 13
  int latency_alpha = 900;          // ds_latency_estimator_alpha, per mille (Kamailio's default)
  bool use_blocklist = false;       // use_dst_blocklist / use_dst_blacklist
  int blocklist_expire_s = 60;      // dst_blocklist_expire / dst_blacklist_expire

  // Whether a final reply with `code` counts as a success (Kamailio's ds_options_callback: any
  // 2xx, plus the configured classes and codes).
  bool accepts(int code) const noexcept;
};

// The probe and blocklist settings of `p` (defaults where the script says nothing).
ProbeConfig probe_config(const cfg::Program& p);

// The branch of every probe: dp::kProbeBranchPrefix (dataplane/pipeline.hpp, where the workers
// recognize the replies) + 8 lowercase hex digits of the probe's sequence number.
// Builds the probe request for `uri` (also the To URI), from `via_host`:`via_port` (our
// listener), with sequence number `seq` in the branch, the From tag and the Call-ID.
// `from` overrides c.from when not empty (the destination's ping_from attribute).
std::string build_probe_request(const ProbeConfig& c, std::string_view uri,
                                std::string_view via_host, uint16_t via_port, uint32_t seq,
                                std::string_view from = {});

// A destination the prober may probe, as the live snapshot has it.
struct ProbeTarget {
  int set = 0;
  std::string uri;
  uint32_t flags = 0;     // cfg::DsFlag bits, after Prober::apply()
  uint32_t ip_be = 0;     // 0: an IPv6 destination, ip6 holds its address
  uint16_t port_be = 0;
  std::string from;       // the list's ping_from attribute; "": modparam ds_ping_from
  dp::Ip6 ip6;
};

// A probe to send now: `target` indexes the targets passed to tick().
struct ProbeSend {
  size_t target = 0;
  uint32_t seq = 0;
};

// A probe that got no final reply within the timeout.
struct ProbeTimeout {
  int set = 0;
  std::string uri;
  uint32_t ip_be = 0;    // 0: an IPv6 destination, ip6 holds its address
  uint16_t port_be = 0;
  bool changed = false;  // this destination's effective state changed
  dp::Ip6 ip6;
};

struct ProbeTick {
  std::vector<ProbeSend> send;
  std::vector<ProbeTimeout> timed_out;
  bool changed = false;  // a destination's effective state changed: publish
};

// Kamailio's per-destination latency statistics (ds_ping_latency_stats): the round trips of
// answered probes, in milliseconds. The estimate is an exponentially weighted average with
// weight alpha (per mille) on the past, started at the list's `latency` attribute when it has
// one, else at the first sample; algorithm 13 ranks destinations by
// priority - estimate / priority (control/ds_tables.hpp latency_priority).
struct LatencyStats {
  uint64_t count = 0;
  double average = 0;  // ms
  double m2 = 0;       // sum of squared deviations (Welford), for the standard deviation
  double estimate = 0; // ms
  double max = 0;      // ms
  uint64_t timeouts = 0;  // probes not answered within the interval (Kamailio's TIMEOUT)
  void add(double ms, int alpha_per_mille, int initial_estimate_ms) noexcept;
  double stdev() const noexcept;
};

// What the statistics change in a destination before a snapshot is built: algorithm 13's
// latency becomes the estimate; with the cc=1 attribute (congestion control) the congestion,
// estimate - average (>= 0, ms), replaces it, and `rweight` (algorithm 11) becomes
// weight - congestion (>= 0): Kamailio's "weight lowered by 1 per ms of congestion".
// Nothing changes before the first sample.
void apply_latency(const LatencyStats& s, cfg::DsDestination& d) noexcept;

// The latency statistics of the destinations of the loaded list, by set + URI. Kept across
// reloads for the destinations the new list still has; those it no longer has are erased, and
// none is made for a destination not in the list (a probe sent before a reload that took the
// destination away may still time out after it).
class LatencyTable {
 public:
  using Key = std::pair<int, std::string>;
  // A list was loaded: statistics of destinations it does not have are erased.
  void list_loaded(const std::vector<cfg::DsDestination>& list);
  // A destination's statistics, nullptr before its first sample or timeout.
  const LatencyStats* find(int set, const std::string& uri) const;
  // A destination's statistics, made at its first use; nullptr for one not in the list.
  LatencyStats* at(int set, const std::string& uri);
  size_t size() const noexcept { return stats_.size(); }

 private:
  std::set<Key> listed_;
  std::map<Key, LatencyStats> stats_;
};

struct ProbeReplyResult {
  bool matched = false;  // a probe we are waiting for (late and unknown replies are not)
  bool changed = false;  // a destination's effective state changed: publish
  bool ok = false;       // the reply counts as a success (ds_ping_reply_codes)
  int set = 0;
  std::string uri;
  uint32_t ip_be = 0;    // 0: an IPv6 destination, ip6 holds its address
  uint16_t port_be = 0;
  std::chrono::nanoseconds rtt{0};
  dp::Ip6 ip6;
};

// Kamailio's probing state machine (ds_update_state), per destination by set + URI, so what it
// learned survives reloads. A probe's timeout is ds_ping_interval (Kamailio's is tm's fr_timer;
// viaduct is stateless, and a probe still unanswered when the next one is due has failed).
class Prober {
 public:
  Prober();
  // A configuration that turns probing off (ds_ping_interval 0) or changes ds_probing_mode
  // forgets what probing learned, and the probes in flight: learned states would otherwise
  // override the list for good (nothing probes them back), or stand for another mode's rules.
  // Kamailio reads these modparams only at start, when it has learned nothing.
  void configure(const ProbeConfig& c);
  const ProbeConfig& config() const noexcept { return cfg_; }

  // A list file was loaded (start, dispatcher.reload, cfg.reload): `file` are its destinations
  // as the file has them. What probing learned about a destination is kept only while the
  // file's state bits for it (I, T, D, P) are those it had when the state was learned: a
  // reload that changes them takes the destination's state from the file, as Kamailio's
  // reload takes every flag from it. Call it before the list is published.
  void list_loaded(const std::vector<cfg::DsDestination>& file);

  // The flags a destination has with what probing learned: `flags` (the list's, or the state
  // set through the API) with its inactive/trying/probing bits replaced by the learned ones.
  // A disabled destination keeps its flags (probes never override DISABLED).
  uint32_t apply(int set, const std::string& uri, uint32_t flags) const;

  // Forgets what probing learned about a destination (dispatcher.set_state replaced it).
  void forget(int set, std::string_view uri);

  // Times out probes, and when a round is due and `active` (dispatcher.ping_active), picks the
  // destinations to probe. `targets` are the live destinations; learned state of destinations
  // no longer among them is dropped.
  ProbeTick tick(ProbeTime now, const std::vector<ProbeTarget>& targets, bool active);

  // A final reply (`code` >= 200) to probe `seq` from `src_ip_be`. Provisional replies, and
  // replies from another address than the probed destination's (a forged or stray reply), are
  // ignored: they leave the probe waiting.
  ProbeReplyResult on_reply(uint32_t seq, int code, ProbeTime now, uint32_t src_ip_be);

  size_t outstanding() const noexcept { return pending_.size(); }

 private:
  struct Learned {
    uint32_t state = 0;    // kDsInactive | kDsTrying | kDsProbing, as learned
    uint32_t file_state = 0;  // the list file's I/T/D/P bits when it was learned
    int failures = 0;      // consecutive failed probes (Kamailio's probing_count)
    int successes = 0;     // consecutive successes while inactive
  };
  struct Pending {
    std::pair<int, std::string> key;
    ProbeTime sent;
    uint32_t ip_be = 0;
    uint16_t port_be = 0;
    dp::Ip6 ip6;
  };
  bool eligible(uint32_t flags) const noexcept;
  // Applies one probe result; true when the effective flags changed.
  bool result(const std::pair<int, std::string>& key, uint32_t flags, bool ok);

  ProbeConfig cfg_;
  std::map<std::pair<int, std::string>, Learned> learned_;
  std::map<std::pair<int, std::string>, uint32_t> file_;  // the loaded file's I/T/D/P bits
  std::map<std::pair<int, std::string>, uint32_t> flags_;  // effective flags at the last tick
  std::map<uint32_t, Pending> pending_;  // by sequence number
  uint32_t seq_ = 0;  // starts at a random value: sequence numbers are not guessable
  std::optional<ProbeTime> next_round_;
};

// Kamailio's dst_blocklist reason bits (dst_blocklist.h).
inline constexpr uint32_t kBlstErrSend = 2;
inline constexpr uint32_t kBlstIcmpRcvd = 8;
inline constexpr uint32_t kBlstErrTimeout = 16;

// The fast path's key of a blocked destination (dp::Snapshot::blocked).
inline uint64_t blocklist_key(uint32_t ip_be, uint16_t port_be) noexcept {
  return (static_cast<uint64_t>(ip_be) << 16) | port_be;
}

// Kamailio's flag of an IPv6 entry (BLST_IS_IPV6): dst_blocklist.view shows it in `flags`.
inline constexpr uint32_t kBlstIsIpv6 = 1;

// Blocked destinations by (IPv4, UDP port) and by (IPv6, UDP port), with Kamailio's semantics:
// adding again ORs the reason and refreshes the expiry. The two families are kept apart, as the
// fast path's tables are (dp::Snapshot::blocked, blocked6).
class Blocklist {
 public:
  struct Entry {
    uint32_t ip_be = 0;   // 0 for an IPv6 entry
    uint16_t port_be = 0;
    uint32_t flags = 0;   // reasons (kBlst*); kBlstIsIpv6 on an IPv6 entry
    ProbeTime expires;
    dp::Ip6 ip6;          // an IPv6 entry's address
    bool v6() const noexcept { return (flags & kBlstIsIpv6) != 0; }
  };
  // At most this many IPv4 entries, and as many IPv6 ones: a new entry past it takes the place
  // of the one closest to expiring. ICMP errors can be forged (with a forged source too), and
  // every entry rides in each snapshot; Kamailio bounds its list as well (dst_blocklist_mem).
  static constexpr size_t kMaxEntries = 4096;
  // True when the entry is new (the set of blocked destinations changed).
  bool add(uint32_t ip_be, uint16_t port_be, uint32_t reason, ProbeTime now,
           std::chrono::seconds ttl);
  bool add(const dp::Ip6& ip, uint16_t port_be, uint32_t reason, ProbeTime now,
           std::chrono::seconds ttl);
  // Removes the entry of a destination; true when there was one.
  bool remove(uint32_t ip_be, uint16_t port_be) {
    return e_.erase(blocklist_key(ip_be, port_be)) != 0;
  }
  bool remove(const dp::Ip6& ip, uint16_t port_be) {
    return e6_.erase(dp::Blocked6{ip, port_be}) != 0;
  }
  // Removes expired entries; true when any was removed.
  bool expire(ProbeTime now);
  // Removes every entry; how many there were.
  size_t clear();
  // The fast path's key of each IPv4 entry ((ip_be << 16) | port_be), sorted.
  std::vector<uint64_t> keys() const;
  // The IPv6 entries as the fast path looks them up, sorted.
  std::vector<dp::Blocked6> keys6() const;
  // IPv4 entries, then IPv6 ones.
  std::vector<Entry> entries() const;
  size_t size() const noexcept { return e_.size() + e6_.size(); }

 private:
  std::map<uint64_t, Entry> e_;
  std::map<dp::Blocked6, Entry> e6_;
};

// Send failures the workers report (dp::Event::kSendFailed), judged the way a kernel socket
// reports them to Kamailio, which blocklists on a send error: no route fails the send at once
// (ENETUNREACH); a next hop without a MAC only once ARP has gone unanswered for kArpGiveUp (the
// kernel queues the datagram meanwhile, and fails sends with EHOSTUNREACH once resolution has
// failed: three requests a second apart). The first request to a backend whose MAC is not known
// yet is dropped, not a reason to block it.
class SendFailures {
 public:
  static constexpr std::chrono::seconds kArpGiveUp{3};
  // Failures of a hop quiet this long start a new episode.
  static constexpr std::chrono::seconds kQuiet{30};
  // True when the destination is to be blocked now. `hop_ip_be`: the next hop without a MAC
  // (ignored when `no_route`).
  bool on_failure(bool no_route, uint32_t hop_ip_be, ProbeTime now);
  // The same for an IPv6 next hop that Neighbor Discovery has not resolved (the kernel gives up
  // after three solicitations a second apart too: RFC 4861's MAX_MULTICAST_SOLICIT).
  bool on_failure(bool no_route, const dp::Ip6& hop, ProbeTime now);
  // The next hop answered (its MAC was learned): its episode is over.
  void resolved(uint32_t hop_ip_be) { miss_.erase(hop_ip_be); }
  void resolved(const dp::Ip6& hop) { miss6_.erase(hop); }
  size_t size() const noexcept { return miss_.size() + miss6_.size(); }

 private:
  struct Miss {
    ProbeTime first;
    ProbeTime last;
  };
  template <class Key>
  static bool episode(std::map<Key, Miss>& m, const Key& hop, ProbeTime now);
  std::map<uint32_t, Miss> miss_;
  std::map<dp::Ip6, Miss> miss6_;
};

}  // namespace viaduct::ctl
