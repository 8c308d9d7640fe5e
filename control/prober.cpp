// SPDX-License-Identifier: Apache-2.0
#include "control/prober.hpp"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

#include "cfg/dslist.hpp"
#include "dataplane/pipeline.hpp"

namespace viaduct::ctl {
namespace {

constexpr uint32_t kStateBits = cfg::kDsInactive | cfg::kDsTrying | cfg::kDsProbing;
// The state bits of a list file's line that decide whether learned state still stands.
constexpr uint32_t kFileStateBits = kStateBits | cfg::kDsDisabled;

int to_int(const std::string& s, int fallback) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  return end != s.c_str() && *end == '\0' ? static_cast<int>(v) : fallback;
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// "class=2;code=403;code=488" (Kamailio's ds_ping_reply_codes). Kamailio splits it with
// parse_params, which skips the whitespace around names, '=' and values: "class=3; code=404"
// and "code=404 ;class=3" both accept 404.
void parse_reply_codes(const std::string& s, ProbeConfig& c) {
  size_t at = 0;
  while (at <= s.size()) {
    size_t end = s.find(';', at);
    if (end == std::string::npos) {
      end = s.size();
    }
    const std::string_view item = std::string_view(s).substr(at, end - at);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      const std::string name(trim(item.substr(0, eq)));
      const int v = to_int(std::string(trim(item.substr(eq + 1))), -1);
      if (v >= 0 && strcasecmp(name.c_str(), "class") == 0) {
        c.reply_classes.push_back(v);
      } else if (v >= 0 && strcasecmp(name.c_str(), "code") == 0) {
        c.reply_codes.push_back(v);
      }
    }
    at = end + 1;
  }
}

}  // namespace

bool ProbeConfig::accepts(int code) const noexcept {
  if (code >= 200 && code < 300) {
    return true;
  }
  return std::find(reply_codes.begin(), reply_codes.end(), code) != reply_codes.end() ||
         std::find(reply_classes.begin(), reply_classes.end(), code / 100) != reply_classes.end();
}

void LatencyStats::add(double ms, int alpha_per_mille, int initial_estimate_ms) noexcept {
  ++count;
  const double delta = ms - average;
  average += delta / static_cast<double>(count);
  m2 += delta * (ms - average);
  max = std::max(max, ms);
  if (count == 1) {
    estimate = initial_estimate_ms > 0 ? static_cast<double>(initial_estimate_ms) : ms;
  }
  const double a = static_cast<double>(alpha_per_mille) / 1000.0;
  estimate = a * estimate + (1.0 - a) * ms;
}

void apply_latency(const LatencyStats& s, cfg::DsDestination& d) noexcept {
  if (s.count == 0) {
    return;
  }
  if (d.congestion_control) {
    const long cong = std::max(0L, std::lround(s.estimate - s.average));
    d.rweight = d.weight > static_cast<uint32_t>(cong) ? d.weight - static_cast<uint32_t>(cong) : 0;
    d.latency = static_cast<int>(cong);
    d.congestion_control = false;  // latency_priority() then ranks by the congestion
  } else {
    d.latency = static_cast<int>(std::lround(s.estimate));
  }
}

double LatencyStats::stdev() const noexcept {
  return count > 1 ? std::sqrt(m2 / static_cast<double>(count - 1)) : 0.0;
}

void LatencyTable::list_loaded(const std::vector<cfg::DsDestination>& list) {
  listed_.clear();
  for (const cfg::DsDestination& d : list) {
    listed_.emplace(d.set, d.uri);
  }
  for (auto it = stats_.begin(); it != stats_.end();) {
    it = listed_.count(it->first) != 0 ? std::next(it) : stats_.erase(it);
  }
}

const LatencyStats* LatencyTable::find(int set, const std::string& uri) const {
  const auto it = stats_.find({set, uri});
  return it != stats_.end() ? &it->second : nullptr;
}

LatencyStats* LatencyTable::at(int set, const std::string& uri) {
  Key key{set, uri};
  if (listed_.count(key) == 0) {
    return nullptr;
  }
  return &stats_[std::move(key)];
}

ProbeConfig probe_config(const cfg::Program& p) {
  ProbeConfig c;
  for (const cfg::ModParam& m : p.modparams) {
    if (m.module != "dispatcher") {
      continue;
    }
    if (m.name == "ds_ping_interval") {
      c.interval_s = std::max(0, to_int(m.value, 0));
    } else if (m.name == "ds_probing_mode") {
      c.mode = std::clamp(to_int(m.value, 0), 0, 3);
    } else if (m.name == "ds_ping_method" && !m.value.empty()) {
      c.method = m.value;
    } else if (m.name == "ds_ping_from" && !m.value.empty()) {
      c.from = m.value;
    } else if (m.name == "ds_probing_threshold") {
      c.probing_threshold = std::max(1, to_int(m.value, 1));
    } else if (m.name == "ds_inactive_threshold") {
      c.inactive_threshold = std::max(1, to_int(m.value, 1));
    } else if (m.name == "ds_ping_reply_codes") {
      parse_reply_codes(m.value, c);
    } else if (m.name == "ds_ping_latency_stats") {
      c.latency_stats = to_int(m.value, 0) != 0;
    } else if (m.name == "ds_latency_estimator_alpha") {
      c.latency_alpha = std::clamp(to_int(m.value, 900), 0, 1000);
    }
  }
  c.use_blocklist = p.use_dst_blocklist;
  c.blocklist_expire_s = p.dst_blocklist_expire;
  return c;
}

std::string build_probe_request(const ProbeConfig& c, std::string_view uri,
                                std::string_view via_host, uint16_t via_port, uint32_t seq,
                                std::string_view from) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", seq);
  const std::string host(via_host);
  const std::string port = std::to_string(via_port);
  std::string m;
  m.reserve(512);
  m += c.method + " " + std::string(uri) + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP " + host + ":" + port + ";branch=" + std::string(dp::kProbeBranchPrefix) +
       hex + "\r\n";
  m += "Max-Forwards: 70\r\n";
  m += "From: <" + (from.empty() ? c.from : std::string(from)) + ">;tag=vdprb" + hex + "\r\n";
  m += "To: <" + std::string(uri) + ">\r\n";
  m += "Call-ID: vdprb" + std::string(hex) + "@" + host + "\r\n";
  m += "CSeq: 10 " + c.method + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

void Prober::configure(const ProbeConfig& c) {
  if (c.interval_s <= 0 || c.mode != cfg_.mode) {
    learned_.clear();
    pending_.clear();
    next_round_.reset();
  }
  cfg_ = c;
}

void Prober::list_loaded(const std::vector<cfg::DsDestination>& file) {
  std::map<std::pair<int, std::string>, uint32_t> bits;
  for (const cfg::DsDestination& d : file) {
    bits.emplace(std::make_pair(d.set, d.uri), d.flags & kFileStateBits);
  }
  for (auto it = learned_.begin(); it != learned_.end();) {
    const auto f = bits.find(it->first);
    const bool keep = f != bits.end() && f->second == it->second.file_state;
    it = keep ? std::next(it) : learned_.erase(it);
  }
  file_ = std::move(bits);
}

// Kamailio sets P only through probe results (ds_options_callback), never for showing the
// mode: before its first probe a destination shows the list's flags (mode 1: AX for a line
// with flags 0, DX for a disabled one).
uint32_t Prober::apply(int set, const std::string& uri, uint32_t flags) const {
  if ((flags & cfg::kDsDisabled) != 0) {
    return flags;
  }
  auto it = learned_.find({set, uri});
  if (it == learned_.end()) {
    return flags;
  }
  return (flags & ~kStateBits) | it->second.state;
}

void Prober::forget(int set, std::string_view uri) {
  for (auto it = learned_.begin(); it != learned_.end();) {
    const bool match = it->first.first == set &&
                       (uri == "all" || (it->first.second.size() == uri.size() &&
                                         strncasecmp(it->first.second.data(), uri.data(),
                                                     uri.size()) == 0));
    it = match ? learned_.erase(it) : std::next(it);
  }
}

bool Prober::eligible(uint32_t flags) const noexcept {
  if (cfg_.interval_s <= 0 || (flags & (cfg::kDsDisabled | cfg::kDsNoPing)) != 0) {
    return false;
  }
  switch (cfg_.mode) {
    case 1:
      return true;
    case 2:
      return (flags & cfg::kDsInactive) != 0 && (flags & cfg::kDsProbing) != 0;
    default:  // 0 and 3
      return (flags & cfg::kDsProbing) != 0;
  }
}

bool Prober::result(const std::pair<int, std::string>& key, uint32_t flags, bool ok) {
  if ((flags & cfg::kDsDisabled) != 0) {
    return false;  // DISABLED is never overridden by probes
  }
  auto [it, fresh] = learned_.try_emplace(key);
  Learned& l = it->second;
  if (fresh) {
    l.state = flags & kStateBits;
    // The list's bits it is learned against (list_loaded); a prober never told the list takes
    // the flags it was given.
    const auto f = file_.find(key);
    l.file_state = f != file_.end() ? f->second : flags & kFileStateBits;
  }
  const uint32_t before = fresh ? flags & kStateBits : l.state;
  if (ok) {
    l.failures = 0;
    if ((l.state & cfg::kDsInactive) != 0) {
      if (++l.successes >= cfg_.inactive_threshold) {
        l.state &= ~(cfg::kDsInactive | cfg::kDsTrying);
        l.successes = 0;
      }
    } else {
      l.state &= ~cfg::kDsTrying;
    }
    // Kamailio's ds_options_callback: a success sets P in mode 1 and keeps it in mode 3 (only
    // flagged destinations are probed there); in modes 0 and 2 the active state it sets has no
    // P. One still inactive below ds_inactive_threshold keeps its P (ds_update_state).
    if (cfg_.mode == 1) {
      l.state |= cfg::kDsProbing;
    } else if (cfg_.mode != 3 && (l.state & cfg::kDsInactive) == 0) {
      l.state &= ~cfg::kDsProbing;
    }
  } else {
    l.successes = 0;
    ++l.failures;
    // Kamailio sets P on a failure only when ds_probing_mode is not 0, so in mode 0 a failed
    // destination is never probed again; viaduct keeps probing it, and brings it back when it
    // answers (a deliberate difference, README "ds_probing_mode").
    l.state |= cfg::kDsProbing;
    if ((l.state & cfg::kDsInactive) == 0) {
      if (l.failures >= cfg_.probing_threshold) {
        l.state = (l.state & ~cfg::kDsTrying) | cfg::kDsInactive;
      } else {
        l.state |= cfg::kDsTrying;
      }
    }
  }
  return l.state != before;
}

ProbeTick Prober::tick(ProbeTime now, const std::vector<ProbeTarget>& targets, bool active) {
  ProbeTick out;
  std::map<std::pair<int, std::string>, uint32_t> live;
  for (const ProbeTarget& t : targets) {
    live[{t.set, t.uri}] = t.flags;
  }
  flags_ = live;
  for (auto it = learned_.begin(); it != learned_.end();) {
    it = live.count(it->first) == 0 ? learned_.erase(it) : std::next(it);
  }
  if (!active || cfg_.interval_s <= 0) {
    pending_.clear();  // switched off: unanswered probes are not failures
    next_round_.reset();
    return out;
  }
  const auto timeout = std::chrono::seconds(cfg_.interval_s);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.sent < timeout) {
      ++it;
      continue;
    }
    const Pending p = it->second;
    it = pending_.erase(it);
    auto f = live.find(p.key);
    const bool changed = f != live.end() && result(p.key, f->second, false);
    out.timed_out.push_back({p.key.first, p.key.second, p.ip_be, p.port_be, changed, p.ip6});
    out.changed = out.changed || changed;
  }
  if (!next_round_) {
    next_round_ = now + timeout;  // the first round one interval after start, as Kamailio's timer
  }
  if (now < *next_round_) {
    return out;
  }
  next_round_ = now + timeout;
  std::set<std::pair<int, std::string>> waiting;  // one probe in flight per destination
  for (const auto& [seq, p] : pending_) {
    waiting.insert(p.key);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const ProbeTarget& t = targets[i];
    std::pair<int, std::string> key{t.set, t.uri};
    if (!eligible(t.flags) || waiting.count(key) != 0) {
      continue;
    }
    const uint32_t seq = ++seq_;
    pending_[seq] = Pending{std::move(key), now, t.ip_be, t.port_be, t.ip6};
    out.send.push_back({i, seq});
  }
  return out;
}

Prober::Prober() : seq_(std::random_device{}()) {}

ProbeReplyResult Prober::on_reply(uint32_t seq, int code, ProbeTime now, uint32_t src_ip_be) {
  ProbeReplyResult r;
  if (code < 200) {
    return r;
  }
  auto it = pending_.find(seq);
  if (it == pending_.end() || it->second.ip_be != src_ip_be) {
    return r;
  }
  const Pending p = it->second;
  pending_.erase(it);
  r.matched = true;
  r.set = p.key.first;
  r.uri = p.key.second;
  r.ip_be = p.ip_be;
  r.port_be = p.port_be;
  r.ip6 = p.ip6;
  r.ok = cfg_.accepts(code);
  r.rtt = std::chrono::duration_cast<std::chrono::nanoseconds>(now - p.sent);
  auto f = flags_.find(p.key);
  if (f != flags_.end()) {
    r.changed = result(p.key, f->second, r.ok);
    f->second = apply(p.key.first, p.key.second, f->second);
  }
  return r;
}

namespace {
// Makes room for one more entry in a full table: the entry closest to expiring goes.
template <class Map, class Key>
void make_room(Map& m, const Key& key) {
  if (m.size() < Blocklist::kMaxEntries || m.count(key) != 0) {
    return;
  }
  auto soonest = m.begin();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it->second.expires < soonest->second.expires) {
      soonest = it;
    }
  }
  m.erase(soonest);
}
}  // namespace

bool Blocklist::add(uint32_t ip_be, uint16_t port_be, uint32_t reason, ProbeTime now,
                    std::chrono::seconds ttl) {
  make_room(e_, blocklist_key(ip_be, port_be));
  auto [it, fresh] = e_.try_emplace(blocklist_key(ip_be, port_be));
  it->second.ip_be = ip_be;
  it->second.port_be = port_be;
  it->second.flags |= reason;
  it->second.expires = now + ttl;
  return fresh;
}

bool Blocklist::add(const dp::Ip6& ip, uint16_t port_be, uint32_t reason, ProbeTime now,
                    std::chrono::seconds ttl) {
  make_room(e6_, dp::Blocked6{ip, port_be});
  auto [it, fresh] = e6_.try_emplace(dp::Blocked6{ip, port_be});
  it->second.ip6 = ip;
  it->second.port_be = port_be;
  it->second.flags |= reason | kBlstIsIpv6;
  it->second.expires = now + ttl;
  return fresh;
}

namespace {
template <class Map>
bool expire_in(Map& m, ProbeTime now) {
  bool any = false;
  for (auto it = m.begin(); it != m.end();) {
    if (it->second.expires <= now) {
      it = m.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}
}  // namespace

bool Blocklist::expire(ProbeTime now) {
  const bool v4 = expire_in(e_, now);
  return expire_in(e6_, now) || v4;
}

size_t Blocklist::clear() {
  const size_t n = size();
  e_.clear();
  e6_.clear();
  return n;
}

std::vector<dp::Blocked6> Blocklist::keys6() const {
  std::vector<dp::Blocked6> k;
  for (const auto& [key, e] : e6_) {
    k.push_back(key);
  }
  return k;  // std::map keeps them in Blocked6's order, the one is_blocked6 searches
}

std::vector<uint64_t> Blocklist::keys() const {
  std::vector<uint64_t> k;
  for (const auto& [key, e] : e_) {
    k.push_back(key);
  }
  return k;  // std::map keeps them sorted
}

std::vector<Blocklist::Entry> Blocklist::entries() const {
  std::vector<Entry> v;
  for (const auto& [key, e] : e_) {
    v.push_back(e);
  }
  for (const auto& [key, e] : e6_) {
    v.push_back(e);
  }
  return v;
}

template <class Key>
bool SendFailures::episode(std::map<Key, Miss>& m, const Key& hop, ProbeTime now) {
  if (m.size() >= 4096) {  // hops that stopped failing without ever answering
    for (auto it = m.begin(); it != m.end();) {
      it = now - it->second.last > kQuiet ? m.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = m.try_emplace(hop, Miss{now, now});
  if (!fresh && now - it->second.last > kQuiet) {
    it->second.first = now;
  }
  it->second.last = now;
  return now - it->second.first >= kArpGiveUp;
}

bool SendFailures::on_failure(bool no_route, uint32_t hop_ip_be, ProbeTime now) {
  return no_route || episode(miss_, hop_ip_be, now);
}

bool SendFailures::on_failure(bool no_route, const dp::Ip6& hop, ProbeTime now) {
  return no_route || episode(miss6_, hop, now);
}

}  // namespace viaduct::ctl
