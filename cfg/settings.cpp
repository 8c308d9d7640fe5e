// SPDX-License-Identifier: Apache-2.0
#include "cfg/settings.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>

#include "cfg/net.hpp"

namespace viaduct::cfg {
namespace {

// The prefix length after the '/' of an address: decimal, as many digits as `hi` has at most,
// in [lo, hi]. False when it is not; `out` is then left alone.
bool prefix_length(std::string_view p, int lo, int hi, uint8_t& out) {
  if (p.empty() || p.size() > (hi < 100 ? 2u : 3u)) {
    return false;
  }
  int v = 0;
  for (char ch : p) {
    if (ch < '0' || ch > '9') {
      return false;
    }
    v = v * 10 + (ch - '0');
  }
  if (v < lo || v > hi) {
    return false;
  }
  out = static_cast<uint8_t>(v);
  return true;
}

// Where a parse error lies, moved inside `text`: toml++ puts the end of a text that ends with a
// newline one column past that newline ("a = [1,\n": 1:9), where the text ends at 2:1.
void inside(std::string_view text, uint32_t& line, uint32_t& col) {
  size_t start = 0;
  for (uint32_t l = 1; l < line; ++l) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      return;
    }
    start = nl + 1;
  }
  const size_t end = text.find('\n', start);
  const size_t len = (end == std::string_view::npos ? text.size() : end) - start;
  if (line != 0 && col > len + 1) {
    if (end != std::string_view::npos) {
      ++line;
      col = 1;
    } else {
      col = static_cast<uint32_t>(len + 1);
    }
  }
}

class Checker {
 public:
  Checker(const std::string& name, Diagnostics& diags) : name_(name), diags_(diags) {}

  bool ok() const { return ok_; }

  void error(const toml::source_region& at, std::string msg) {
    diags_.push_back(Diagnostic{Diagnostic::Severity::kError, name_, at.begin.line, at.begin.column,
                                std::move(msg)});
    ok_ = false;
  }

  // A message about the whole file (no line).
  void error_file(std::string msg) {
    diags_.push_back(Diagnostic{Diagnostic::Severity::kError, name_, 0, 0, std::move(msg)});
    ok_ = false;
  }

  // Every key of `t` must be in `allowed`.
  void keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
            std::string_view where) {
    for (auto&& [k, v] : t) {
      bool known = false;
      for (std::string_view a : allowed) {
        known = known || k.str() == a;
      }
      if (!known) {
        error(k.source(), "unknown key '" + std::string(k.str()) + "'" +
                              (where.empty() ? std::string() : " in " + std::string(where)));
      }
    }
  }

  // An integer in [lo, hi]; false (with a diagnostic) when present but bad or when required
  // and absent.
  bool integer(const toml::table& t, std::string_view key, int64_t lo, int64_t hi, int64_t& out,
               bool required, std::string_view where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) {
        error(t.source(), "missing '" + std::string(key) + "' in " + std::string(where));
      }
      return false;
    }
    const auto v = n->value<int64_t>();
    if (!n->is_integer() || !v) {
      error(n->source(), "'" + std::string(key) + "' must be an integer");
      return false;
    }
    if (*v < lo || *v > hi) {
      error(n->source(), "'" + std::string(key) + "' must be " + std::to_string(lo) + ".." +
                             std::to_string(hi) + ", not " + std::to_string(*v));
      return false;
    }
    out = *v;
    return true;
  }

  bool string(const toml::table& t, std::string_view key, std::string& out, bool required,
              std::string_view where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) {
        error(t.source(), "missing '" + std::string(key) + "' in " + std::string(where));
      }
      return false;
    }
    if (!n->is_string()) {
      error(n->source(), "'" + std::string(key) + "' must be a string");
      return false;
    }
    out = *n->value<std::string>();
    return true;
  }

  // A boolean; false (with a diagnostic) when present but not a boolean.
  bool boolean(const toml::table& t, std::string_view key, bool& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    if (!n->is_boolean()) {
      error(n->source(), "'" + std::string(key) + "' must be true or false");
      return false;
    }
    out = *n->value<bool>();
    return true;
  }

  const toml::table* table(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return nullptr;
    }
    if (!n->is_table()) {
      error(n->source(), "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
      return nullptr;
    }
    return n->as_table();
  }

 private:
  const std::string& name_;
  Diagnostics& diags_;
  bool ok_ = true;
};

void dpdk(Checker& c, const toml::table& root, Settings& out) {
  const toml::table* t = c.table(root, "dpdk");
  if (t == nullptr) {
    if (root.get("dpdk") == nullptr) {
      c.error_file("missing [dpdk] table (eal_args is required)");
    }
    return;
  }
  c.keys(*t, {"eal_args", "workers", "mbufs", "mbuf_data_room", "burst"}, "[dpdk]");
  const toml::node* eal = t->get("eal_args");
  if (eal == nullptr) {
    c.error(t->source(), "missing 'eal_args' in [dpdk]");
  } else if (!eal->is_array()) {
    c.error(eal->source(), "'eal_args' must be an array of strings");
  } else {
    for (const toml::node& a : *eal->as_array()) {
      if (!a.is_string()) {
        c.error(a.source(), "'eal_args' must be an array of strings");
        continue;
      }
      out.eal_args.push_back(*a.value<std::string>());
    }
  }
  if (const toml::node* w = t->get("workers")) {
    if (!w->is_array()) {
      c.error(w->source(), "'workers' must be an array of lcore ids");
    } else {
      for (const toml::node& a : *w->as_array()) {
        const auto v = a.value<int64_t>();
        if (!a.is_integer() || !v || *v < 0 || *v > 1023) {
          c.error(a.source(), "a worker lcore id must be an integer 0..1023");
          continue;
        }
        if (std::find(out.worker_lcores.begin(), out.worker_lcores.end(),
                      static_cast<uint32_t>(*v)) != out.worker_lcores.end()) {
          // Two workers cannot share an lcore (the second launch fails at start).
          c.error(a.source(), "worker lcore " + std::to_string(*v) + " is listed twice");
          continue;
        }
        out.worker_lcores.push_back(static_cast<uint32_t>(*v));
      }
    }
  }
  int64_t v = 0;
  if (c.integer(*t, "mbufs", 1023, std::numeric_limits<uint32_t>::max(), v, false, "[dpdk]")) {
    out.mbufs = static_cast<uint32_t>(v);
  }
  if (c.integer(*t, "mbuf_data_room", 1024, 65535, v, false, "[dpdk]")) {
    out.mbuf_data_room = static_cast<uint16_t>(v);
  }
  if (c.integer(*t, "burst", 1, 256, v, false, "[dpdk]")) {
    out.burst = static_cast<uint16_t>(v);
  }
}

void interface(Checker& c, const toml::table& t, Settings& out) {
  c.keys(t,
         {"port", "address", "gateway", "mtu", "rx_queues", "vlan", "exception_tap", "address6",
          "gateway6", "verify_udp_checksum"},
         "[[interface]]");
  InterfaceSettings s;
  c.string(t, "port", s.port, true, "[[interface]]");
  if (s.port.empty() && t.get("port") != nullptr && t.get("port")->is_string()) {
    c.error(t.get("port")->source(), "'port' must not be empty");
  }
  if (c.string(t, "address", s.address, true, "[[interface]]")) {
    const toml::source_region& at = t.get("address")->source();
    std::string_view addr = s.address;
    const size_t slash = addr.find('/');
    bool good = true;
    if (slash != std::string_view::npos) {
      good = prefix_length(addr.substr(slash + 1), 0, 32, s.prefix_len);
      addr = addr.substr(0, slash);
    }
    if (!good || !parse_ipv4(addr, s.ip_be)) {
      c.error(at,
              "'address' must be an IPv4 address with an optional prefix length "
              "(\"10.0.0.2/24\"), not \"" +
                  s.address + "\"");
    }
  }
  if (c.string(t, "gateway", s.gateway, false, "[[interface]]")) {
    const toml::source_region& at = t.get("gateway")->source();
    if (!parse_ipv4(s.gateway, s.gateway_be)) {
      c.error(at, "'gateway' must be an IPv4 address, not \"" + s.gateway + "\"");
    } else if (s.ip_be != 0) {
      const uint32_t mask = s.prefix_len == 0 ? 0 : htonl(~0u << (32 - s.prefix_len));
      if ((s.gateway_be & mask) != (s.ip_be & mask)) {
        c.error(at, "gateway " + s.gateway + " is outside the interface subnet " + s.address);
      } else if (s.gateway_be == s.ip_be) {
        c.error(at, "gateway " + s.gateway + " is the interface's own address");
      }
    }
  }
  if (c.string(t, "address6", s.address6, false, "[[interface]]")) {
    // An IPv6 address beside the IPv4 one, with its prefix length (64 when omitted).
    std::string_view addr = s.address6;
    const size_t slash = addr.find('/');
    bool good = true;
    if (slash != std::string_view::npos) {
      good = prefix_length(addr.substr(slash + 1), 1, 128, s.prefix6_len);
      addr = addr.substr(0, slash);
    }
    const std::string a(addr);
    in6_addr a6{};
    if (!good || inet_pton(AF_INET6, a.c_str(), &a6) != 1 || a6.s6_addr[0] == 0xff ||
        (a6.s6_addr[0] == 0xfe && (a6.s6_addr[1] & 0xc0) == 0x80) ||
        IN6_IS_ADDR_UNSPECIFIED(&a6)) {
      c.error(t.get("address6")->source(),
              "'address6' must be a unicast, non-link-local IPv6 address with an optional prefix "
              "length (\"2001:db8::2/64\"), not \"" + s.address6 + "\"");
    } else {
      std::memcpy(s.ip6, a6.s6_addr, 16);
    }
  }
  if (c.string(t, "gateway6", s.gateway6, false, "[[interface]]")) {
    in6_addr g{};
    if (inet_pton(AF_INET6, s.gateway6.c_str(), &g) != 1 || g.s6_addr[0] == 0xff ||
        IN6_IS_ADDR_UNSPECIFIED(&g)) {
      c.error(t.get("gateway6")->source(),
              "'gateway6' must be a unicast IPv6 address (often the router's link-local "
              "fe80:: one), not \"" + s.gateway6 + "\"");
    } else if (s.address6.empty()) {
      c.error(t.get("gateway6")->source(), "'gateway6' needs 'address6' on the interface");
    } else {
      std::memcpy(s.gateway6_ip, g.s6_addr, 16);
    }
  }
  int64_t v = 0;
  if (c.integer(t, "mtu", 576, 9000, v, false, "[[interface]]")) {
    s.mtu = static_cast<uint16_t>(v);
  }
  if (c.integer(t, "rx_queues", 0, 1024, v, false, "[[interface]]")) {
    s.rx_queues = static_cast<uint16_t>(v);
  }
  if (c.integer(t, "vlan", 1, 4094, v, false, "[[interface]]")) {
    s.vlan = static_cast<uint16_t>(v);
  }
  if (c.string(t, "exception_tap", s.exception_tap, false, "[[interface]]")) {
    const std::string& n = s.exception_tap;
    bool good = !n.empty() && n.size() < 16;  // IFNAMSIZ
    for (char ch : n) {
      good = good && ch > ' ' && ch != '/' && ch != ',' && ch != '=' && ch != ':';
    }
    if (!good) {
      c.error(t.get("exception_tap")->source(),
              "'exception_tap' must be an interface name of 1..15 characters without spaces, "
              "'/', ',', '=' or ':', not \"" + n + "\"");
    }
  }
  c.boolean(t, "verify_udp_checksum", s.verify_udp_checksum);
  // Several interfaces may share a port (one per VLAN); the same port and VLAN twice is a
  // mistake.
  for (const InterfaceSettings& o : out.interfaces) {
    if (o.port == s.port && o.vlan == s.vlan && !s.port.empty()) {
      c.error(t.get("port")->source(),
              "port " + s.port +
                  (s.vlan == 0 ? " (untagged)" : " VLAN " + std::to_string(s.vlan)) +
                  " is already an [[interface]]; give each one its own vlan");
      break;
    }
  }
  out.interfaces.push_back(std::move(s));
}

// A "host:port" listen key of `t`; "" turns the service off. False when absent or bad.
bool listen_key(Checker& c, const toml::table& t, std::string_view where, std::string& out) {
  std::string listen;
  if (!c.string(t, "listen", listen, false, where)) {
    return false;
  }
  if (!listen.empty()) {
    SocketSpec s;
    std::string why;
    if (!parse_socket_spec(listen, s, why) || s.has_proto || s.port == 0) {
      c.error(t.get("listen")->source(),
              "'listen' must be \"address:port\" (or \"\" to disable), not \"" + listen + "\"" +
                  (why.empty() ? std::string() : ": " + why));
      return false;
    }
  }
  out = listen;
  return true;
}

void metrics(Checker& c, const toml::table& root, Settings& out) {
  const toml::table* t = c.table(root, "metrics");
  if (t == nullptr) {
    return;
  }
  c.keys(*t, {"listen"}, "[metrics]");
  listen_key(c, *t, "[metrics]", out.metrics_listen);
}

bool parse_mac(std::string_view s, uint8_t (&mac)[6]) {
  if (s.size() != 17) {
    return false;
  }
  for (size_t i = 0; i < 6; ++i) {
    if (i != 0 && s[i * 3 - 1] != ':') {
      return false;
    }
    unsigned v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char ch = s[i * 3 + j];
      const int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
      if (d < 0) {
        return false;
      }
      v = v * 16 + static_cast<unsigned>(d);
    }
    mac[i] = static_cast<uint8_t>(v);
  }
  return true;
}

void neighbours(Checker& c, const toml::table& root, Settings& out) {
  const toml::table* t = c.table(root, "neighbours");
  if (t == nullptr) {
    return;
  }
  c.keys(*t, {"timeout", "hold", "static"}, "[neighbours]");
  int64_t v = 0;
  if (c.integer(*t, "timeout", 0, 86400, v, false, "[neighbours]")) {
    out.neighbour_timeout = static_cast<uint32_t>(v);
  }
  if (c.integer(*t, "hold", 0, 60, v, false, "[neighbours]")) {
    out.neighbour_hold = static_cast<uint32_t>(v);
  }
  const toml::node* st = t->get("static");
  if (st == nullptr) {
    return;
  }
  const toml::array* arr = st->as_array();
  if (arr == nullptr) {
    c.error(st->source(), "'static' must be an array of { address = \"IP\", mac = \"MAC\" }");
    return;
  }
  for (const toml::node& n : *arr) {
    const toml::table* e = n.as_table();
    if (e == nullptr) {
      c.error(n.source(), "each static neighbour is { address = \"IP\", mac = \"MAC\" }");
      continue;
    }
    c.keys(*e, {"address", "mac"}, "[neighbours] static");
    StaticNeighbour sn;
    std::string mac;
    const bool has_ip = c.string(*e, "address", sn.address, true, "[neighbours] static");
    const bool has_mac = c.string(*e, "mac", mac, true, "[neighbours] static");
    in6_addr a6{};
    if (has_ip && !parse_ipv4(sn.address, sn.ip_be)) {
      if (inet_pton(AF_INET6, sn.address.c_str(), &a6) == 1 && a6.s6_addr[0] != 0xff &&
          !IN6_IS_ADDR_UNSPECIFIED(&a6)) {
        sn.v6 = true;
        std::memcpy(sn.ip6, a6.s6_addr, 16);
      } else {
        c.error(e->get("address")->source(),
                "'address' must be an IPv4 or IPv6 address, not \"" + sn.address + "\"");
      }
    }
    if (has_mac && !parse_mac(mac, sn.mac)) {
      c.error(e->get("mac")->source(),
              "'mac' must be six hex bytes like 02:00:00:00:00:11, not \"" + mac + "\"");
    } else if (has_mac && ((sn.mac[0] & 1) != 0 || std::all_of(std::begin(sn.mac),
                                                               std::end(sn.mac),
                                                               [](uint8_t b) { return b == 0; }))) {
      // Every frame to that neighbour would go to a group or to nobody.
      c.error(e->get("mac")->source(),
              "'mac' must be a unicast MAC address, not \"" + mac + "\" (zero or multicast)");
    }
    for (const InterfaceSettings& i : out.interfaces) {
      if (has_ip && ((!sn.v6 && sn.ip_be != 0 && sn.ip_be == i.ip_be) ||
                     (sn.v6 && !i.address6.empty() && std::memcmp(sn.ip6, i.ip6, 16) == 0))) {
        c.error(e->get("address")->source(),
                "static neighbour " + sn.address + " is an interface's own address");
      }
    }
    out.static_neighbours.push_back(sn);
  }
}

void management(Checker& c, const toml::table& root, Settings& out) {
  const toml::table* t = c.table(root, "management");
  if (t == nullptr) {
    return;
  }
  c.keys(*t, {"listen", "socket"}, "[management]");
  listen_key(c, *t, "[management]", out.management_listen);
  std::string path;
  if (c.string(*t, "socket", path, false, "[management]")) {
    // sockaddr_un::sun_path holds 108 bytes with the terminating NUL.
    if (path.size() > 107) {
      c.error(t->get("socket")->source(),
              "'socket' must be a path of at most 107 bytes (a unix socket address), not " +
                  std::to_string(path.size()));
      return;
    }
    out.management_socket = path;
  }
}

}  // namespace

bool parse_settings(const std::string& text, const std::string& name, Settings& out,
                    Diagnostics& diags) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    uint32_t line = e.source().begin.line;
    uint32_t col = e.source().begin.column;
    inside(text, line, col);
    diags.push_back(
        Diagnostic{Diagnostic::Severity::kError, name, line, col, std::string(e.description())});
    return false;
  }
  Settings s;
  Checker c(name, diags);
  c.keys(root, {"dpdk", "interface", "metrics", "management", "neighbours"}, "");
  dpdk(c, root, s);
  const toml::node* ifs = root.get("interface");
  if (ifs == nullptr) {
    c.error_file("at least one [[interface]] is required");
  } else if (!ifs->is_array_of_tables()) {
    c.error(ifs->source(), "'interface' must be an array of tables ([[interface]])");
  } else {
    for (const toml::node& n : *ifs->as_array()) {
      interface(c, *n.as_table(), s);
    }
    if (s.interfaces.empty()) {
      c.error(ifs->source(), "at least one [[interface]] is required");
    }
  }
  metrics(c, root, s);
  management(c, root, s);
  if (!s.management_listen.empty() && s.management_listen == s.metrics_listen) {
    // Both would bind it: the second fails at start.
    c.error(root.at_path("management.listen").node()->source(),
            "[management] listen " + s.management_listen + " is also [metrics] listen");
  }
  neighbours(c, root, s);
  if (!c.ok()) {
    return false;
  }
  out = std::move(s);
  return true;
}

bool load_settings(const std::string& path, Settings& out, Diagnostics& diags) {
  std::string text;
  if (!read_file(path, text, diags)) {
    return false;
  }
  return parse_settings(text, path, out, diags);
}

}  // namespace viaduct::cfg
