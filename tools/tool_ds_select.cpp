// SPDX-License-Identifier: Apache-2.0
// tools/tool_ds_select.cpp: viaduct-tool ds-select, "where would this key go?".
//
//   viaduct-tool ds-select --list FILE --set N --alg A [--down URI]... [--mode maglev|kamailio]
//
// Reads keys on stdin, one per line, and prints the chosen destination URI for each (`none`
// when nothing is selected). The key is what the algorithm hashes: the Call-ID (0), a URI (1,
// 2, 3: user and host[:port] are taken from it as from the header), the digest username (5; an
// empty line has no credentials: round robin), the printed hash_pvar (7). Other algorithms
// ignore the key and make one selection per line, with one worker's cursors.
//
// The sets and tables are built by the control thread's code (ctl::dispatcher_snapshot) and the
// choice is made by the dataplane's select_destination(), so the answer is the fast path's.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cfg/dslist.hpp"
#include "control/snapshot_builder.hpp"
#include "dataplane/dispatch.hpp"
#include "tools/tool.hpp"

namespace viaduct::tool {
namespace {

struct DsSelectOptions {
  std::string list;
  int set = 0;
  uint32_t alg = 0;
  std::vector<std::string> down;
  std::string mode = "maglev";
  bool user_only = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

int run(const DsSelectOptions& o) {
  if (o.alg == 10 || o.alg == 12 || o.alg > 15) {
    std::fprintf(stderr, "ds-select: algorithm %u is not supported (0-9, 11, 13, 14, 15)\n", o.alg);
    return 2;
  }
  std::vector<cfg::DsDestination> list;
  cfg::Diagnostics diags;
  const bool ok = cfg::load_dispatcher_list(o.list, list, diags);
  for (const cfg::Diagnostic& d : diags) {
    std::fprintf(stderr, "%s\n", d.str().c_str());
  }
  if (!ok) {
    return 1;
  }
  for (const std::string& uri : o.down) {
    bool found = false;
    for (cfg::DsDestination& d : list) {
      if (d.uri == uri && d.set == o.set) {
        d.flags |= cfg::kDsInactive;
        found = true;
      }
    }
    if (!found) {
      std::fprintf(stderr, "ds-select: --down %s: no such destination in set %d\n", uri.c_str(),
                   o.set);
      return 2;
    }
  }
  dp::DsConfig conf;
  conf.mode = o.mode == "kamailio" ? dp::DsHashMode::kKamailio : dp::DsHashMode::kMaglev;
  conf.hash_user_only = o.user_only;
  const std::unique_ptr<dp::Snapshot> snap = ctl::dispatcher_snapshot(list, conf);
  uint32_t set_index = 0;
  while (set_index < snap->sets.size() && snap->sets[set_index].id != o.set) {
    ++set_index;
  }
  if (set_index == snap->sets.size()) {
    std::fprintf(stderr, "ds-select: set %d is not in %s\n", o.set, o.list.c_str());
    return 2;
  }

  auto st = std::make_unique<dp::DispatchState>();
  std::string line;
  std::string out;
  while (std::getline(std::cin, line)) {
    const std::string_view key_text = trim(line);
    int d = -1;
    if (!dp::ds_alg_hashes(o.alg)) {
      d = dp::select_destination(*snap, set_index, o.alg, nullptr, *st);
    } else if (o.alg >= 1 && o.alg <= 3) {
      dp::DsKey key;
      if (key_text.size() < 65536 &&
          dp::ds_uri_key(key_text.data(),
                         sip::Span{0, static_cast<uint16_t>(key_text.size())}, o.user_only,
                         key)) {
        d = dp::select_destination(*snap, set_index, o.alg, &key, *st);
      }
    } else if (o.alg == 5 && key_text.empty()) {
      d = dp::select_destination(*snap, set_index, o.alg, nullptr, *st);
    } else if (!key_text.empty()) {  // 0, 5, 7 (Kamailio fails on an empty Call-ID or PV)
      const dp::DsKey key{key_text, {}};
      d = dp::select_destination(*snap, set_index, o.alg, &key, *st);
    }
    out += d < 0 ? std::string("none") : snap->destinations[static_cast<size_t>(d)].uri;
    out += '\n';
    if (out.size() >= 1 << 16) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void register_ds_select(CLI::App& app, int& rc) {
  auto o = std::make_shared<DsSelectOptions>();
  CLI::App* sub = app.add_subcommand(
      "ds-select", "keys on stdin -> the destination the dataplane would choose, one per line");
  sub->add_option("--list", o->list, "dispatcher.list file")->required();
  sub->add_option("--set", o->set, "set id")->required();
  sub->add_option("--alg", o->alg, "Kamailio algorithm: 0-9, 11, 13, 14, 15")->required();
  sub->add_option("--down", o->down, "URI (as written in the list) to treat as inactive")
      ->allow_extra_args(false);
  sub->add_option("--mode", o->mode, "hash mode: maglev (default) or kamailio")
      ->check(CLI::IsMember({"maglev", "kamailio"}));
  sub->add_flag("--user-only", o->user_only,
                "hash the URI user only (modparam dispatcher flags=1; algorithms 1-3)");
  sub->callback([o, &rc] { rc = run(*o); });
}

}  // namespace viaduct::tool
