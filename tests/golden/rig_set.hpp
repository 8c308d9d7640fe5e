// SPDX-License-Identifier: Apache-2.0
// tests/golden/rig_set.hpp: PipelineRigs for more scripts than the golden cases' one. The
// differential test's scripts and messages (tests/e2e/data/diff: 41 scripts, 20 shared requests
// and some replies, rendered as tests/e2e/diff_kamailio.py renders them, with this file's
// addresses) give the pipeline regex, xlog, transformations, $shv, pike, reply_route,
// onsend_route, record_route, sanity and the dispatcher's algorithms and failover. RigSet holds
// one rig per script: index 0 the golden cases' script, 1..n the differential scripts in name
// order; an input's script byte picks it (modulo the count), as the fuzz corpus's seeds do.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/golden/pipeline_rig.hpp"

namespace viaduct::test {

struct DiffMessage {
  std::string src;  // "1" (C1), "2" (C2) or "b1" (a reply from B1)
  std::vector<std::string> lines;
};

// messages.txt's format: "=== NN src=S description" starts a message.
inline std::vector<DiffMessage> load_diff_messages(const std::filesystem::path& path) {
  std::vector<DiffMessage> out;
  std::ifstream is(path);
  for (std::string line; std::getline(is, line);) {
    if (line.rfind("=== ", 0) == 0) {
      std::istringstream w(line.substr(4));
      std::string num;
      std::string src;
      w >> num >> src;
      out.push_back({src.substr(src.find('=') + 1), {}});
    } else if (!out.empty()) {
      out.back().lines.push_back(line);
    }
  }
  return out;
}

// The differential lab's placeholders, on the golden world's addresses (10.0.0.2/24 us).
inline const std::map<std::string, std::string> kDiffAddrs = {
    {"LB", "10.0.0.2"}, {"C1", "10.0.0.10"}, {"C2", "10.0.0.20"},
    {"B1", "10.0.0.11"}, {"B2", "10.0.0.12"}, {"B3", "10.0.0.13"},
    {"NET", "10.0.0"}, {"DSLIST", "dispatcher.list"}};  // the list's text goes in directly

inline std::string fill(std::string text, const std::map<std::string, std::string>& subst) {
  for (const auto& [k, v] : subst) {
    const std::string key = "{" + k + "}";
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
      text.replace(at, key.size(), v);
      at += v.size();
    }
  }
  return text;
}

// One message's SIP text: CRLF lines, placeholders filled, Content-Length computed.
inline std::string render(const DiffMessage& m, const std::string& src, const std::string& id) {
  std::vector<std::string> lines = m.lines;
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  std::map<std::string, std::string> subst = kDiffAddrs;
  subst["SRC"] = src;
  subst["CID"] = id + "@test";
  subst["ID"] = id;
  std::string head;
  std::string body;
  bool in_body = false;
  for (const std::string& l : lines) {
    if (!in_body && l.empty()) {
      in_body = true;
    } else if (in_body) {
      body += fill(l, subst) + "\r\n";
    } else {
      head += fill(l, subst) + "\r\n";
    }
  }
  return fill(head, {{"CL", std::to_string(body.size())}}) + "\r\n" + body;
}

// An Ethernet/IPv4/UDP frame from src:5060 to us (10.0.0.2:5060) carrying `payload`.
inline std::vector<uint8_t> udp_bytes(rte_mempool* pool, const std::string& src,
                                      const std::string& payload) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  std::vector<uint8_t> out;
  if (m != nullptr && fill_udp_frame(m, dp::MacAddr{{2, 0, 0, 0, 0, 0x10}}, kOurMac,
                                     ipv4(src.c_str()), 5060, ipv4("10.0.0.2"), 5060,
                                     payload)) {
    const auto* b = rte_pktmbuf_mtod(m, const uint8_t*);
    out.assign(b, b + rte_pktmbuf_data_len(m));
  }
  rte_pktmbuf_free(m);
  return out;
}

struct DiffScript {
  std::string name;  // the file's stem, "10-regex"
  std::unique_ptr<ctl::OwnedSnapshot> full;  // every neighbour's MAC known
  std::unique_ptr<ctl::OwnedSnapshot> held;  // 10.0.0.11's not
  std::vector<std::vector<uint8_t>> frames;  // its messages, in order
};

// Every script of `dir` (tests/e2e/data/diff) compiled twice, with its messages as frames
// (frames from `pool`'s mbufs, given back). Empty, with `error` set, when one fails.
inline std::vector<DiffScript> load_diff_scripts(const std::filesystem::path& dir,
                                                 rte_mempool* pool, std::string& error) {
  namespace fs = std::filesystem;
  const auto slurp = [](const fs::path& p) {
    std::ifstream is(p);
    return std::string(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>());
  };
  const std::vector<DiffMessage> shared = load_diff_messages(dir / "messages.txt");
  const std::string list = fill(slurp(dir / "dispatcher.list"), kDiffAddrs);
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".cfg") {
      paths.push_back(e.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  const std::map<std::string, dp::MacAddr> all = {{"10.0.0.10", {{2, 0, 0, 0, 0, 0x10}}},
                                                  {"10.0.0.20", {{2, 0, 0, 0, 0, 0x20}}},
                                                  {"10.0.0.11", {{2, 0, 0, 0, 0, 0x11}}},
                                                  {"10.0.0.12", {{2, 0, 0, 0, 0, 0x12}}},
                                                  {"10.0.0.13", {{2, 0, 0, 0, 0, 0x13}}}};
  std::map<std::string, dp::MacAddr> some = all;
  some.erase("10.0.0.11");
  std::vector<DiffScript> out;
  for (const fs::path& path : paths) {
    DiffScript d;
    d.name = path.stem().string();
    const std::string script = fill(slurp(path), kDiffAddrs);
    d.full = make_snapshot(script, list, "10.0.0.2", kOurMac, all, error);
    d.held = d.full ? make_snapshot(script, list, "10.0.0.2", kOurMac, some, error) : nullptr;
    if (!d.held) {
      error = path.string() + ": " + error;
      return {};
    }
    std::vector<DiffMessage> msgs = shared;
    fs::path extra = path;
    extra.replace_extension(".msgs");
    if (fs::exists(extra)) {
      for (DiffMessage& m : load_diff_messages(extra)) {
        msgs.push_back(std::move(m));
      }
    }
    for (size_t i = 0; i < msgs.size(); ++i) {
      const std::string src = msgs[i].src == "b1" ? kDiffAddrs.at("B1")
                              : msgs[i].src == "2" ? kDiffAddrs.at("C2")
                                                   : kDiffAddrs.at("C1");
      d.frames.push_back(
          udp_bytes(pool, src, render(msgs[i], src, d.name.substr(0, 2) + "-" +
                                                        std::to_string(i + 1))));
      if (d.frames.back().empty()) {
        error = path.string() + ": a message does not fit a frame";
        return {};
      }
    }
    out.push_back(std::move(d));
  }
  if (out.empty() || shared.empty()) {
    error = dir.string() + ": no scripts or no messages";
  }
  return out;
}

// Index 0: the golden cases' rig; 1..n: one per differential script. run() picks by the input's script byte.
class RigSet {
 public:
  RigSet(rte_mempool* pool, rte_mempool* big_pool, const std::filesystem::path& diff_dir,
         std::string& error) {
    rigs_.push_back(std::make_unique<PipelineRig>(pool, big_pool, error));
    std::vector<DiffScript> diff = load_diff_scripts(diff_dir, pool, error);
    for (DiffScript& d : diff) {
      names_.push_back(d.name);
      messages_.push_back(std::move(d.frames));
      rigs_.push_back(std::make_unique<PipelineRig>(pool, big_pool, std::move(d.full),
                                                    std::move(d.held), error));
    }
    ok_ = !diff.empty() && std::all_of(rigs_.begin(), rigs_.end(),
                                       [](const auto& r) { return r->ok(); });
  }
  bool ok() const { return ok_; }
  size_t size() const { return rigs_.size(); }
  PipelineRig& rig(size_t i) { return *rigs_[i]; }
  PipelineRig& rig_for(const RigInput& in) { return *rigs_[in.script % rigs_.size()]; }
  const char* run(const RigInput& in) { return rig_for(in).run(in); }
  // Differential script i (1-based, as rig(i)): its name and messages.
  const std::string& name(size_t i) const { return names_[i - 1]; }
  const std::vector<std::vector<uint8_t>>& messages(size_t i) const { return messages_[i - 1]; }

 private:
  std::vector<std::unique_ptr<PipelineRig>> rigs_;
  std::vector<std::string> names_;
  std::vector<std::vector<std::vector<uint8_t>>> messages_;
  bool ok_ = false;
};

}  // namespace viaduct::test
