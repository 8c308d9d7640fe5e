// SPDX-License-Identifier: Apache-2.0
#include "control/rpc.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "cfg/program.hpp"
#include "dataplane/dispatch.hpp"

namespace viaduct::ctl {
namespace {

// Kamailio prints members in the order it adds them; ordered_json keeps that order.
using Json = nlohmann::ordered_json;
// Requests are read into std::map objects: ordered_json looks a member up by walking all of
// them, so parsing an object of n members takes n^2 / 2 string comparisons (1 MiB of distinct
// members held the control thread for seconds).
using Request = nlohmann::json;

// Error codes and messages as Kamailio's jsonrpcs and modules send them, plus the JSON-RPC 2.0
// codes for what Kamailio does not answer at all (unparsable or malformed requests).
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kInternalError = -32603;
constexpr int kKamailioBadRequest = 400;
constexpr int kKamailioFault = 500;

struct Fault {
  int code;
  std::string message;
  Json data;  // null: left out
};

// The outcome of one method: a result or a fault.
struct Outcome {
  Json result;
  std::optional<Fault> fault;
};

Outcome ok(Json result) { return Outcome{std::move(result), std::nullopt}; }
Outcome fail(int code, std::string message, Json data = nullptr) {
  return Outcome{nullptr, Fault{code, std::move(message), std::move(data)}};
}

// Positional parameters. kamcli sends every parameter as a string unless it is written "i:N",
// so a number is accepted either as a JSON integer or as a string of decimal digits.
class Params {
 public:
  explicit Params(const Request& p) {
    if (p.is_array()) {
      for (const Request& v : p) {
        v_.push_back(&v);
      }
    }
  }
  size_t size() const { return v_.size(); }

  std::optional<std::string> str(size_t i) const {
    if (i >= v_.size()) {
      return std::nullopt;
    }
    const Request& v = *v_[i];
    if (v.is_string()) {
      return v.get<std::string>();
    }
    if (v.is_number_integer()) {
      return v.dump();
    }
    return std::nullopt;
  }

  std::optional<int64_t> integer(size_t i) const {
    if (i >= v_.size()) {
      return std::nullopt;
    }
    const Request& v = *v_[i];
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return std::nullopt;  // out of range, as the same digits in a string are
    }
    if (v.is_number_integer()) {
      return v.get<int64_t>();
    }
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      int64_t out = 0;
      const char* end = s.data() + s.size();
      auto [p, ec] = std::from_chars(s.data(), end, out);
      if (ec == std::errc() && p == end && !s.empty()) {
        return out;
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<const Request*> v_;
};

// Kamailio's ATTRS struct: the raw body and the special attributes it understands.
Json attrs_json(const std::string& body) {
  std::map<std::string, std::string> kv;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find(';', pos);
    if (end == std::string::npos) {
      end = body.size();
    }
    const std::string item = body.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq != std::string::npos) {
      std::string k = item.substr(0, eq);
      std::transform(k.begin(), k.end(), k.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      kv.emplace(std::move(k), item.substr(eq + 1));
    }
    pos = end + 1;
  }
  auto text = [&](const char* k) -> Json {
    auto it = kv.find(k);
    return it == kv.end() ? Json(nullptr) : Json(it->second);
  };
  auto number = [&](const char* k) -> Json {
    auto it = kv.find(k);
    long v = 0;
    if (it != kv.end()) {
      v = std::strtol(it->second.c_str(), nullptr, 10);
    }
    return Json(v);
  };
  Json a = Json::object();
  a["BODY"] = body;
  a["DUID"] = text("duid");
  a["MAXLOAD"] = number("maxload");
  a["WEIGHT"] = number("weight");
  a["RWEIGHT"] = number("rweight");
  a["SOCKET"] = text("socket");
  a["SOCKNAME"] = text("sockname");
  a["OBPROXY"] = text("obproxy");
  return a;
}

// dispatcher.list [short|full]
Outcome dispatcher_list(ManagedDaemon& d, const Params& p) {
  const std::string mode = p.str(0).value_or("");
  const bool with_attrs = mode != "short";
  const std::vector<RpcDestination> dests = d.destinations();
  if (dests.empty()) {
    return fail(kKamailioFault, "No Destination Sets");  // Kamailio's dispatcher_rpc_list
  }
  Json records = Json::array();
  Json* targets = nullptr;
  int current = 0;
  for (const RpcDestination& x : dests) {
    if (targets == nullptr || x.set != current) {
      Json set = Json::object();
      set["ID"] = x.set;
      set["TARGETS"] = Json::array();
      Json rec = Json::object();
      rec["SET"] = std::move(set);
      records.push_back(std::move(rec));
      targets = &records.back()["SET"]["TARGETS"];
      current = x.set;
    }
    Json dest = Json::object();
    dest["URI"] = x.uri;
    dest["FLAGS"] = ds_state_letters(x.flags);
    dest["PRIORITY"] = x.priority;
    if (with_attrs && !x.attrs.empty()) {
      dest["ATTRS"] = attrs_json(x.attrs);
    }
    if (x.latency) {
      // Kamailio's names and order.
      Json lat = Json::object();
      lat["AVG"] = x.latency_avg;
      lat["STD"] = x.latency_std;
      lat["EST"] = x.latency_est;
      lat["MAX"] = x.latency_max;
      lat["TIMEOUT"] = x.latency_timeouts;
      dest["LATENCY"] = std::move(lat);
    }
    Json item = Json::object();
    item["DEST"] = std::move(dest);
    targets->push_back(std::move(item));
  }
  Json out = Json::object();
  out["NRSETS"] = records.size();
  out["RECORDS"] = std::move(records);
  return ok(std::move(out));
}

// A failed reload: the first diagnostic in the message, all of them in data.
Outcome reload_fault(const Error& e) {
  Json lines = Json::array();
  size_t pos = 0;
  const std::string& m = e.str();
  while (pos < m.size()) {
    size_t nl = m.find('\n', pos);
    if (nl == std::string::npos) {
      nl = m.size();
    }
    if (nl > pos) {
      lines.push_back(m.substr(pos, nl - pos));
    }
    pos = nl + 1;
  }
  std::string first = lines.empty() ? std::string("unknown error") : lines[0].get<std::string>();
  return fail(kKamailioFault, "Reload Failed: " + first, std::move(lines));
}

Outcome dispatcher_reload(ManagedDaemon& d, const Params&) {
  const Status s = d.reload(ReloadScope::kDispatcherList);
  if (!s) {
    return reload_fault(s.error());
  }
  return ok("Ok. Dispatcher successfully reloaded.");
}

Outcome cfg_reload(ManagedDaemon& d, const Params&) {
  const Status s = d.reload(ReloadScope::kAll);
  if (!s) {
    return reload_fault(s.error());
  }
  return ok("Ok. Configuration successfully reloaded.");
}

// dispatcher.set_state <0-3|a|i|d|t[p]> <group> <uri|all>
Outcome dispatcher_set_state(ManagedDaemon& d, const Params& p) {
  const std::optional<std::string> state = p.str(0);
  const std::optional<int64_t> group = p.integer(1);
  if (!state || !group) {
    return fail(kKamailioFault, "Invalid Parameters");
  }
  if (state->empty()) {
    return fail(kKamailioFault, "Invalid State Parameter");
  }
  const int bits = ds_parse_state(*state);
  if (bits < 0) {
    return fail(kKamailioFault, "Unknown State Value");
  }
  const std::optional<std::string> uri = p.str(2);
  if (!uri || uri->empty()) {
    return fail(kKamailioFault, "Invalid Destination Parameter");
  }
  if (*group < INT32_MIN || *group > INT32_MAX) {
    return fail(kKamailioFault, "State Update Failed", "no set " + std::to_string(*group));
  }
  const Result<size_t> n = d.set_state(static_cast<int>(*group), *uri, static_cast<uint32_t>(bits));
  if (!n) {
    return fail(kKamailioFault, "State Update Failed", n.error().str());
  }
  if (*n == 0) {
    return fail(kKamailioFault, "State Update Failed",
                "no destination " + *uri + " in set " + std::to_string(*group));
  }
  return ok("Ok. Dispatcher state updated.");
}

// dispatcher.ping_active [0|1]
Outcome dispatcher_ping_active(ManagedDaemon& d, const Params& p) {
  const bool old = d.ping_active();
  Json out = Json::object();
  if (p.size() > 0) {
    const std::optional<int64_t> v = p.integer(0);
    if (!v) {
      return fail(kKamailioFault, "Invalid Parameters");
    }
    d.set_ping_active(*v != 0);
    out["NewPingState"] = *v != 0 ? 1 : 0;
  }
  out["OldPingState"] = old ? 1 : 0;
  return ok(std::move(out));
}

// pv.shvSet <name> <int|str> <value>: Kamailio's pv module, its answers and faults.
Outcome pv_shv_set(ManagedDaemon& d, const Params& p) {
  const std::optional<std::string> name = p.str(0);
  const std::optional<std::string> type = p.str(1);
  if (!name) {
    return fail(kKamailioFault, "Missing parameter varname (Parameters: varname type value)");
  }
  if (!type) {
    return fail(kKamailioFault, "Missing parameter type (Parameters: varname type value)");
  }
  std::string t = *type;
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool is_int = true;
  int64_t i = 0;
  std::string s;
  if (t == "int") {
    const std::optional<int64_t> v = p.integer(2);
    if (!v || *v < INT32_MIN || *v > INT32_MAX) {
      return fail(kKamailioFault, "Missing integer parameter value (Parameters: varname type value)");
    }
    i = *v;
  } else if (t == "str") {
    const std::optional<std::string> v = p.str(2);
    if (!v) {
      return fail(kKamailioFault, "Missing parameter value (Parameters: varname type value)");
    }
    is_int = false;
    s = *v;
  } else {
    return fail(kKamailioFault, "Unknown parameter type (Types: int or str)");
  }
  cfg::ShvTable* table = d.shv();
  const int k = table == nullptr ? -1 : table->find(*name);
  if (k < 0) {
    return fail(404, "Variable not found");
  }
  if (!table->set(static_cast<size_t>(k), is_int, i, s)) {
    return fail(kKamailioFault, "Invalid Parameters",
                "a string value is longer than " + std::to_string(cfg::kShvLen) + " bytes");
  }
  return ok("Ok. Variable set to new value.");
}

// pv.shvGet [name]: {name, type: int|string, value}. Without a name Kamailio 5.6.3 answers
// {"items": {"shv": {...}, "shv": {...}}}, one member per variable under the same key, which a
// JSON object cannot hold: viaduct answers {"items": [{"shv": {...}}, ...]}.
Outcome pv_shv_get(ManagedDaemon& d, const Params& p) {
  cfg::ShvTable* table = d.shv();
  const auto one = [&](size_t k) {
    bool is_int = true;
    int64_t i = 0;
    char buf[cfg::kShvLen];
    uint32_t len = 0;
    table->get(k, is_int, i, buf, len);
    Json o = Json::object();
    o["name"] = table->names[k];
    o["type"] = is_int ? "int" : "string";
    if (is_int) {
      o["value"] = i;
    } else {
      o["value"] = std::string(buf, len);
    }
    return o;
  };
  if (p.size() > 0) {
    const std::optional<std::string> name = p.str(0);
    const int k = table == nullptr || !name ? -1 : table->find(*name);
    if (k < 0) {
      return fail(404, "Variable not found");
    }
    return ok(one(static_cast<size_t>(k)));
  }
  Json all = Json::array();
  for (size_t k = 0; table != nullptr && k < table->names.size(); ++k) {
    all.push_back(Json{{"shv", one(k)}});
  }
  return ok(Json{{"items", std::move(all)}});
}

// dispatcher.hash <nslots> <value>
Outcome dispatcher_hash(ManagedDaemon&, const Params& p) {
  const std::optional<int64_t> nslots = p.integer(0);
  const std::optional<std::string> value = p.str(1);
  if (!nslots || !value || *nslots < 0) {
    return fail(kKamailioFault, "Invalid Parameters");
  }
  if (p.size() > 2) {
    // Kamailio's ds_get_hash(x, y) sums both strings before the final mix; viaduct's hash takes
    // one string, the only form its algorithms use.
    return fail(kKamailioFault, "Invalid Parameters", "a second value is not supported");
  }
  const uint32_t h = dp::kamailio_ds_hash(*value);
  Json out = Json::object();
  out["hashid"] = h;
  out["slot"] = *nslots == 0 ? 0 : h % static_cast<uint64_t>(*nslots);
  return ok(std::move(out));
}

// dst_blocklist.view: Kamailio's dst_blst_rpc_view shape, one struct per entry ("protocol",
// "ip", "port", "expires in (s)", "flags"), an array of them; with none, an empty struct (what
// Kamailio answers with the blocklist empty).
Outcome dst_blocklist_view(ManagedDaemon& d, const Params&) {
  const std::vector<RpcBlocklistEntry> entries = d.blocklist();
  if (entries.empty()) {
    return ok(Json::object());
  }
  Json out = Json::array();
  for (const RpcBlocklistEntry& e : entries) {
    Json j = Json::object();
    j["protocol"] = e.proto;
    j["ip"] = e.ip;
    j["port"] = e.port;
    j["expires in (s)"] = e.expires_s;
    j["flags"] = e.flags;
    out.push_back(std::move(j));
  }
  return ok(std::move(out));
}

// dst_blocklist.delete_all: answers an empty struct, as Kamailio does.
Outcome dst_blocklist_delete_all(ManagedDaemon& d, const Params&) {
  d.clear_blocklist();
  return ok(Json::object());
}

Outcome core_version(ManagedDaemon&, const Params&) {
  utsname u{};
  std::string platform = "unknown";
  if (uname(&u) == 0) {
    std::string sys = u.sysname;
    std::transform(sys.begin(), sys.end(), sys.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    platform = std::string(u.machine) + "/" + sys;
  }
  return ok(std::string("viaduct ") + VD_VERSION + " (" + platform + ")");
}

// ctime() without its newline.
std::string ctime_text(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm);
  return std::string(buf, n);
}

Outcome core_uptime(ManagedDaemon& d, const Params&) {
  const auto now = std::chrono::system_clock::now();
  const auto up = d.started();
  Json out = Json::object();
  out["now"] = ctime_text(now);
  out["up_since"] = ctime_text(up);
  out["uptime"] = std::chrono::duration_cast<std::chrono::seconds>(now - up).count();
  return ok(std::move(out));
}

// stats.get_statistics <all | group: | name | group:name> ... Each counter is shown once,
// where the first parameter that names it puts it: "all" repeated would otherwise answer every
// counter again for each 6 bytes of request (1 MiB of them: 140 MB of reply text).
Outcome stats_get(ManagedDaemon& d, const Params& p) {
  if (p.size() == 0) {
    return fail(kKamailioBadRequest, "Please provide which stats to retrieve");
  }
  const std::vector<RpcStat> stats = d.statistics();
  std::vector<bool> shown(stats.size());
  Json out = Json::array();
  for (size_t i = 0; i < p.size(); ++i) {
    const std::optional<std::string> want = p.str(i);
    if (!want) {
      return fail(kKamailioFault, "Invalid Parameters");
    }
    const size_t colon = want->find(':');
    for (size_t k = 0; k < stats.size(); ++k) {
      const RpcStat& s = stats[k];
      bool match = false;
      if (*want == "all") {
        match = true;
      } else if (colon == std::string::npos) {
        match = s.name == *want;
      } else if (colon + 1 == want->size()) {
        match = s.group == want->substr(0, colon);
      } else {
        match = s.group == want->substr(0, colon) && s.name == want->substr(colon + 1);
      }
      if (match && !shown[k]) {
        shown[k] = true;
        out.push_back(s.group + ":" + s.name + " = " + std::to_string(s.value));
      }
    }
  }
  return ok(std::move(out));
}

Outcome system_list_methods(ManagedDaemon&, const Params&) {
  Json out = Json::array();
  for (const std::string& m : RpcHandler::methods()) {
    out.push_back(m);
  }
  return ok(std::move(out));
}

using Method = Outcome (*)(ManagedDaemon&, const Params&);

const std::map<std::string, Method, std::less<>>& method_table() {
  static const std::map<std::string, Method, std::less<>> kMethods = {
      {"cfg.reload", cfg_reload},
      {"core.uptime", core_uptime},
      {"core.version", core_version},
      {"dispatcher.hash", dispatcher_hash},
      {"dispatcher.list", dispatcher_list},
      {"dispatcher.ping_active", dispatcher_ping_active},
      {"dispatcher.reload", dispatcher_reload},
      {"dispatcher.set_state", dispatcher_set_state},
      {"dst_blacklist.delete_all", dst_blocklist_delete_all},  // the names before Kamailio 5.5
      {"dst_blacklist.view", dst_blocklist_view},
      {"dst_blocklist.delete_all", dst_blocklist_delete_all},
      {"dst_blocklist.view", dst_blocklist_view},
      {"pv.shvGet", pv_shv_get},
      {"pv.shvSet", pv_shv_set},
      {"stats.get_statistics", stats_get},
      {"system.listMethods", system_list_methods},
  };
  return kMethods;
}

int http_status_of(int code) {
  if (code >= 400 && code <= 599) {
    return code;
  }
  return code == kParseError || code == kInvalidRequest ? 400 : 500;
}

Json envelope() {
  Json r = Json::object();
  r["jsonrpc"] = "2.0";
  return r;
}

// One request object -> one response object; `status` takes the HTTP status of a fault.
Json call_one(ManagedDaemon& d, const Request& req, int& status) {
  // JSON-RPC 2.0: an id is a string, a number or null, and the reply to a request whose id
  // cannot be told (not an object, an id of another kind) has a null id. Echoing an array or
  // an object would copy and print it recursively: a deeply nested one overflows the stack.
  const Request* id = nullptr;
  bool id_valid = req.is_object();
  if (req.is_object()) {
    auto it = req.find("id");
    if (it != req.end()) {
      id = &*it;
      id_valid = it->is_string() || it->is_number() || it->is_null();
    }
  }
  Outcome o;
  if (!id_valid || !req.contains("method") || !req["method"].is_string()) {
    o = fail(kInvalidRequest, "Invalid Request");
  } else {
    const std::string& name = req["method"].get_ref<const std::string&>();
    const auto& table = method_table();
    auto m = table.find(name);
    if (m == table.end()) {
      o = fail(kKamailioFault, "Method Not Found");
    } else {
      static const Request kNoParams = Request::array();
      const auto params = req.find("params");
      const Params p(params == req.end() ? kNoParams : *params);  // refers into req
      o = m->second(d, p);
    }
  }
  Json r = envelope();
  if (o.fault) {
    Json e = Json::object();
    e["code"] = o.fault->code;
    e["message"] = o.fault->message;
    if (!o.fault->data.is_null()) {
      e["data"] = std::move(o.fault->data);
    }
    r["error"] = std::move(e);
    status = http_status_of(o.fault->code);
  } else {
    r["result"] = std::move(o.result);
  }
  // Kamailio answers a request without an id too, leaving the id out.
  if (!id_valid) {
    r["id"] = nullptr;
  } else if (id != nullptr) {
    r["id"] = *id;
  }
  return r;
}

std::string text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// An error that answers no one request (the text is not JSON, a bad batch, the control thread
// could not answer): its id is null.
RpcReply error_reply(int code, std::string message, std::string data = {}) {
  Json r = envelope();
  Json e = Json::object();
  e["code"] = code;
  e["message"] = std::move(message);
  if (!data.empty()) {
    e["data"] = std::move(data);
  }
  r["error"] = std::move(e);
  r["id"] = nullptr;
  return RpcReply{http_status_of(code), text(r)};
}

}  // namespace

std::string ds_state_letters(uint32_t flags) {
  std::string s(2, 'A');
  if ((flags & cfg::kDsInactive) != 0) {
    s[0] = 'I';
  } else if ((flags & cfg::kDsDisabled) != 0) {
    s[0] = 'D';
  } else if ((flags & cfg::kDsTrying) != 0) {
    s[0] = 'T';
  }
  s[1] = (flags & cfg::kDsProbing) != 0 ? 'P' : 'X';
  return s;
}

int ds_parse_state(std::string_view s) {
  if (s.empty()) {
    return -1;
  }
  // Kamailio's dispatcher_rpc_set_state_helper: the first character names the state (0-3 or
  // its letter), a P or p second one adds probing except to D, and what follows is ignored.
  const bool probing = s.size() > 1 && (s[1] == 'p' || s[1] == 'P');
  const uint32_t p = probing ? uint32_t{cfg::kDsProbing} : 0u;
  switch (s[0]) {
    case '0':
    case 'i':
    case 'I':
      return static_cast<int>(cfg::kDsInactive | p);
    case '1':
    case 'a':
    case 'A':
      return static_cast<int>(p);
    case '2':
    case 'd':
    case 'D':
      return static_cast<int>(cfg::kDsDisabled);
    case '3':
    case 't':
    case 'T':
      return static_cast<int>(cfg::kDsTrying | p);
    default:
      return -1;
  }
}

std::vector<std::string> RpcHandler::methods() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : method_table()) {
    out.push_back(name);
  }
  return out;
}

RpcReply RpcHandler::handle(std::string_view request) {
  const Request req = Request::parse(request, nullptr, /*allow_exceptions=*/false);
  try {
    if (req.is_discarded()) {
      return error_reply(kParseError, "Parse error");
    }
    int status = 200;
    if (req.is_array()) {
      if (req.empty()) {
        return error_reply(kInvalidRequest, "Invalid Request");
      }
      if (req.size() > kMaxBatch) {
        return error_reply(kInvalidRequest, "Invalid Request",
                           "a batch of more than " + std::to_string(kMaxBatch) + " requests");
      }
      Json out = Json::array();
      for (const Request& one : req) {
        int ignored = 200;
        out.push_back(call_one(daemon_, one, ignored));
      }
      return RpcReply{200, text(out)};
    }
    const Json r = call_one(daemon_, req, status);
    return RpcReply{status, text(r)};
  } catch (const std::exception& e) {
    return error_reply(kInternalError, std::string("Internal error: ") + e.what());
  }
}

RpcReply rpc_unavailable(std::string_view why) {
  return error_reply(kKamailioFault, std::string(why));
}

}  // namespace viaduct::ctl
