// SPDX-License-Identifier: Apache-2.0
// tests/control/fake_daemon.hpp: a ManagedDaemon without DPDK for the JSON-RPC layer's tests
// (rpc_test.cpp) and its fuzz target (rpc_fuzz.cpp, rpc_properties.hpp): destinations in two
// sets, a blocklist, counters, an optional $shv table, and a record of what the API asked.
#pragma once

#include <strings.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cfg/program.hpp"
#include "control/rpc.hpp"

namespace viaduct::test {

class FakeDaemon : public ctl::ManagedDaemon {
 public:
  // One dispatcher.set_state as the API passed it.
  struct SetStateCall {
    int set;
    std::string uri;
    uint32_t state;
  };

  std::vector<ctl::RpcDestination> dests = {
      {1, "sip:10.0.0.11:5060", 0, 5, "duid=abc;weight=50"},
      {1, "sip:10.0.0.12:5060", 8, 0, ""},
      {2, "sip:10.0.0.13:5060", 4, 0, "foo=bar"},
  };
  std::vector<ctl::ReloadScope> reloads;
  Status next_reload = ok();
  bool ping = true;
  std::vector<ctl::RpcBlocklistEntry> blocked;
  std::vector<SetStateCall> set_state_calls;
  std::unique_ptr<cfg::ShvTable> shv_table;  // null: the script has no $shv

  std::vector<ctl::RpcDestination> destinations() const override { return dests; }
  Status reload(ctl::ReloadScope scope) override {
    reloads.push_back(scope);
    return next_reload;
  }
  // As the daemon does: URIs compare without regard to case, "all" is every one of the set.
  Result<size_t> set_state(int set, std::string_view uri, uint32_t state) override {
    set_state_calls.push_back({set, std::string(uri), state});
    const auto same = [&](const std::string& u) {
      return u.size() == uri.size() && strncasecmp(u.data(), uri.data(), uri.size()) == 0;
    };
    size_t n = 0;
    for (ctl::RpcDestination& d : dests) {
      if (d.set == set && (uri == "all" || same(d.uri))) {
        d.flags = (d.flags & ~ctl::kDsStateBits) | state;
        ++n;
      }
    }
    return n;
  }
  bool ping_active() const override { return ping; }
  void set_ping_active(bool on) override { ping = on; }
  std::vector<ctl::RpcBlocklistEntry> blocklist() const override { return blocked; }
  void clear_blocklist() override { blocked.clear(); }
  std::vector<ctl::RpcStat> statistics() const override {
    return {{"core", "rcv_requests", 24}, {"core", "fwd_requests", 20}, {"sl", "sent_replies", 4}};
  }
  std::chrono::system_clock::time_point started() const override {
    return std::chrono::system_clock::now() - std::chrono::seconds(42);
  }
  cfg::ShvTable* shv() override { return shv_table.get(); }
};

}  // namespace viaduct::test
