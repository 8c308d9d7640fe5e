// SPDX-License-Identifier: Apache-2.0
// tests/control/rpc_properties.hpp: what every answer of the management API's JSON-RPC layer
// must satisfy, whatever the request text, for the fuzz target (rpc_fuzz.cpp) and the replay of
// its seed corpus (rpc_test.cpp, RpcFuzzCorpus). check_rpc() runs one request (or batch)
// against a fresh rpc_fuzz_daemon() and returns the first property broken, "" when none:
//   - the reply is JSON, and JSON-RPC 2.0: an object with "jsonrpc":"2.0", exactly one of
//     "result" and "error" (an object with an integer "code", a string "message", maybe
//     "data"), nothing else but "id"; a batch is answered with an array, one reply a request;
//   - the id: the request's when it is a string, a number or null; left out when the request
//     has none (Kamailio answers those too); null when the request is not an object or its id
//     is not one of those (an invalid request), or the text is not JSON;
//   - the codes: -32700 for text that is not JSON, -32600 for an invalid request (not an
//     object, no string "method", a bad id; an empty batch or one of more than kMaxBatch),
//     Kamailio's 500 "Method Not Found" for a method it does not know; the HTTP status 200
//     with a result, 400 to 599 with an error;
//   - the reply's size is bounded by the request's (kReplyAllowance a request, beyond what it
//     echoes): no request makes the control thread build an answer out of proportion;
//   - the daemon is asked sane things: set_state with state bits only (kDsStateBits), a
//     non-empty URI, the set the request named; pv.shvSet stores the integer it was given;
//     nothing but the state bits of a destination changes.
// A crash, a hang or a sanitizer report (in the fuzz build) is the other way to fail.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cfg/program.hpp"
#include "control/rpc.hpp"
#include "tests/control/fake_daemon.hpp"

namespace viaduct::test {

// What one request's reply may hold beyond what it echoes from the request: the fake daemon's
// largest answers (dispatcher.list, every counter, every $shv) take about 1.5 KiB.
inline constexpr size_t kReplyAllowance = 16384;

// The daemon every input runs against, made anew for each: rpc_test's destinations and one
// more set (a URI in capitals, a non-state flag, probe latencies), two blocklist entries and a
// $shv table with integers and a string.
inline std::unique_ptr<FakeDaemon> rpc_fuzz_daemon() {
  auto d = std::make_unique<FakeDaemon>();
  ctl::RpcDestination gw{3, "sip:GW.example.com:5061;transport=tls", cfg::kDsNoPing | 2, -1,
                         "weight=1000000;socket=udp:10.0.0.1:5060;obproxy=sip:p.example.com"};
  gw.latency_samples = 12;
  gw.latency_avg = 20.5;
  gw.latency_std = 1.25;
  gw.latency_est = 21;
  gw.latency_max = 48.75;
  d->dests.push_back(gw);
  d->blocked = {{"udp", "10.0.0.13", 5060, 42, 24}, {"tcp", "2001:db8::14", 5070, 7, 8}};
  d->shv_table =
      std::make_unique<cfg::ShvTable>(std::vector<std::string>{"calls", "mode", "maint"});
  d->shv_table->set(0, true, 5, {});
  d->shv_table->set(1, false, 0, "day");
  return d;
}

namespace rpc_detail {

using nlohmann::json;

// A value as the messages show it: its first 200 characters.
inline std::string brief(const json& j) {
  const std::string s = j.dump();
  return s.size() <= 200 ? s : s.substr(0, 200) + "...";
}

inline bool valid_id(const json& id) { return id.is_string() || id.is_number() || id.is_null(); }

// Whether `v` is the integer `want` (nlohmann's == takes 2^64 - 1 for -1).
inline bool same_integer(int64_t v, const json& want) {
  if (want.is_number_unsigned()) {
    return v >= 0 && static_cast<uint64_t>(v) == want.get<uint64_t>();
  }
  return want.is_number_integer() && v == want.get<int64_t>();
}

inline bool has_code(const json& rep, int code) {
  return rep.contains("error") && rep["error"]["code"] == code;
}

// The JSON-RPC 2.0 shape of one reply object.
inline std::string check_envelope(const json& rep) {
  if (!rep.is_object()) {
    return "a reply is not an object: " + brief(rep);
  }
  for (const auto& [k, v] : rep.items()) {
    if (k != "jsonrpc" && k != "result" && k != "error" && k != "id") {
      return "a reply has a member \"" + k + "\"";
    }
  }
  if (!rep.contains("jsonrpc") || rep["jsonrpc"] != "2.0") {
    return "a reply's jsonrpc is not \"2.0\"";
  }
  if (rep.contains("result") == rep.contains("error")) {
    return "a reply has not exactly one of result and error";
  }
  if (rep.contains("error")) {
    const json& e = rep["error"];
    if (!e.is_object() || !e.contains("code") || !e["code"].is_number_integer() ||
        !e.contains("message") || !e["message"].is_string()) {
      return "an error without an integer code and a string message: " + brief(e);
    }
    for (const auto& [k, v] : e.items()) {
      if (k != "code" && k != "message" && k != "data") {
        return "an error has a member \"" + k + "\"";
      }
    }
  }
  return "";
}

// A reply to a request whose id cannot be told (not JSON, an empty or too large batch).
inline std::string check_whole_error(const json& rep, int code) {
  std::string f = check_envelope(rep);
  if (!f.empty()) {
    return f;
  }
  if (!has_code(rep, code)) {
    return "not answered " + std::to_string(code) + ": " + brief(rep);
  }
  if (!rep.contains("id") || !rep["id"].is_null()) {
    return "the id of an error without a request id is not null";
  }
  return "";
}

// One request (the whole text's value or an element of a batch) and its reply object.
inline std::string check_one(const json& req, const json& rep) {
  std::string f = check_envelope(rep);
  if (!f.empty()) {
    return f;
  }
  const bool is_object = req.is_object();
  const json* id = is_object && req.contains("id") ? &req["id"] : nullptr;
  if (is_object && id == nullptr) {
    if (rep.contains("id")) {
      return "a reply to a request without an id has one";
    }
  } else if (id != nullptr && valid_id(*id)) {
    if (!rep.contains("id") || rep["id"] != *id) {
      return "the reply's id is not the request's " + brief(*id);
    }
  } else if (!rep.contains("id") || !rep["id"].is_null()) {
    return "the id of a reply to an invalid request is not null";
  }
  const bool well_formed = is_object && req.contains("method") && req["method"].is_string() &&
                           (id == nullptr || valid_id(*id));
  if (!well_formed) {
    if (!has_code(rep, -32600)) {
      return "an invalid request is not answered -32600";
    }
    return "";
  }
  const std::vector<std::string> methods = ctl::RpcHandler::methods();
  if (std::find(methods.begin(), methods.end(), req["method"].get<std::string>()) ==
          methods.end() &&
      (!has_code(rep, 500) || rep["error"]["message"] != "Method Not Found")) {
    return "an unknown method is not answered 500 Method Not Found";
  }
  return "";
}

// What the daemon was asked, against the request (a single one) when `req` is not null.
inline std::string check_daemon(const FakeDaemon& d, const json* req, const json& rep) {
  for (const FakeDaemon::SetStateCall& c : d.set_state_calls) {
    if ((c.state & ~ctl::kDsStateBits) != 0 || c.uri.empty()) {
      return "set_state(" + std::to_string(c.set) + ", \"" + c.uri + "\", " +
             std::to_string(c.state) + ")";
    }
  }
  const std::unique_ptr<FakeDaemon> fresh = rpc_fuzz_daemon();
  for (size_t i = 0; i < d.dests.size(); ++i) {
    if ((d.dests[i].flags & ~ctl::kDsStateBits) != (fresh->dests[i].flags & ~ctl::kDsStateBits)) {
      return "a destination's non-state flags changed";
    }
  }
  if (req == nullptr || !req->is_object() || !req->contains("method") ||
      !(*req)["method"].is_string() || !req->contains("params") || !(*req)["params"].is_array()) {
    return "";
  }
  const std::string& method = (*req)["method"].get_ref<const std::string&>();
  const json& params = (*req)["params"];
  if (method == "dispatcher.set_state" && params.size() > 1 && params[1].is_number_integer()) {
    for (const FakeDaemon::SetStateCall& c : d.set_state_calls) {
      if (!same_integer(c.set, params[1])) {
        return "set_state on set " + std::to_string(c.set) + " for group " + params[1].dump();
      }
    }
  }
  if (method == "pv.shvSet" && params.size() > 2 && params[1].is_string() &&
      params[2].is_number_integer() && rep.contains("result") && params[0].is_string()) {
    std::string type = params[1].get<std::string>();
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const int k = d.shv_table->find(params[0].get<std::string>());
    if (type == "int" && k >= 0) {
      bool is_int = false;
      int64_t i = 0;
      char buf[cfg::kShvLen];
      uint32_t len = 0;
      d.shv_table->get(static_cast<size_t>(k), is_int, i, buf, len);
      if (!is_int || !same_integer(i, params[2])) {
        return "pv.shvSet stored " + std::to_string(i) + " for " + params[2].dump();
      }
    }
  }
  return "";
}

}  // namespace rpc_detail

// Runs `request` against a fresh rpc_fuzz_daemon(); the first property broken, "" when none.
inline std::string check_rpc(std::string_view request) {
  using nlohmann::json;
  using namespace rpc_detail;
  const std::unique_ptr<FakeDaemon> d = rpc_fuzz_daemon();
  ctl::RpcHandler rpc(*d);
  const ctl::RpcReply reply = rpc.handle(request);
  json rep;
  try {
    rep = json::parse(reply.body);
  } catch (const json::exception& e) {
    return std::string("the reply is not JSON: ") + e.what();
  }
  const json req = json::parse(request, nullptr, /*allow_exceptions=*/false);
  size_t requests = 1;
  std::string f;
  if (req.is_discarded()) {
    f = check_whole_error(rep, -32700);
  } else if (req.is_array() && (req.empty() || req.size() > ctl::RpcHandler::kMaxBatch)) {
    f = check_whole_error(rep, -32600);
  } else if (req.is_array()) {
    requests = req.size();
    if (!rep.is_array() || rep.size() != req.size()) {
      return "a batch of " + std::to_string(req.size()) + " is not answered with as many replies";
    }
    for (size_t i = 0; i < req.size() && f.empty(); ++i) {
      f = check_one(req[i], rep[i]);
    }
    if (f.empty() && reply.http_status != 200) {
      f = "a batch's HTTP status is " + std::to_string(reply.http_status);
    }
  } else {
    f = check_one(req, rep);
    if (f.empty() && rep.contains("result") != (reply.http_status == 200)) {
      f = "HTTP status " + std::to_string(reply.http_status) + " with " + brief(rep);
    }
  }
  if (f.empty() && rep.contains("error") &&
      (reply.http_status < 400 || reply.http_status > 599)) {
    f = "HTTP status " + std::to_string(reply.http_status) + " with an error";
  }
  if (f.empty() && reply.body.size() > requests * kReplyAllowance + 4 * request.size()) {
    f = "a reply of " + std::to_string(reply.body.size()) + " bytes to a request of " +
        std::to_string(request.size());
  }
  if (f.empty()) {
    f = check_daemon(*d, req.is_array() ? nullptr : &req, rep);
  }
  return f;
}

}  // namespace viaduct::test
